//! The `security_alerts` table.

use rusqlite::{params, Connection};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: i64,
    pub created: i64,
    pub kind: String,
    pub severity: String,
    pub index_path: String,
    pub project: String,
    pub message: String,
    pub detail: String,
}

/// Insert an alert unless one with the same `dedupe` key exists; `true` if new.
#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &Connection,
    kind: &str,
    severity: &str,
    index_path: &str,
    project: &str,
    message: &str,
    detail: &str,
    dedupe: &str,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "INSERT INTO security_alerts (created, kind, severity, index_path, project, message, detail, dedupe)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(dedupe) DO NOTHING",
        params![super::now(), kind, severity, index_path, project, message, detail, dedupe],
    )? == 1)
}

pub fn list(conn: &Connection, since_id: i64) -> Result<Vec<AlertRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created, kind, severity, index_path, project, message, detail
         FROM security_alerts WHERE id > ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([since_id], |r| {
        Ok(AlertRow {
            id: r.get(0)?,
            created: r.get(1)?,
            kind: r.get(2)?,
            severity: r.get(3)?,
            index_path: r.get(4)?,
            project: r.get(5)?,
            message: r.get(6)?,
            detail: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
