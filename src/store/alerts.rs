//! The `security_alerts` table.

use super::sql::Conn;

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
    /// When, by whom and why it was acknowledged.
    pub acked: Option<(i64, String, String)>,
}

/// Insert an alert unless one with the same `dedupe` key exists; `true` if new.
#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &Conn<'_>,
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
        &[&super::now(), &kind, &severity, &index_path, &project, &message, &detail, &dedupe],
    )? == 1)
}

/// Alerts after `since_id`; acknowledged ones only with `include_acked`.
pub fn list(
    conn: &Conn<'_>,
    since_id: i64,
    include_acked: bool,
) -> Result<Vec<AlertRow>, StoreError> {
    let rows = conn.query_map(
        "SELECT id, created, kind, severity, index_path, project, message, detail,
                acked, acked_by, ack_note
         FROM security_alerts WHERE id > ?1 AND (?2 OR acked IS NULL) ORDER BY id",
        &[&since_id, &include_acked],
        |r| {
            let acked: Option<i64> = r.get(8)?;
            Ok(AlertRow {
                acked: match acked {
                    Some(t) => Some((
                        t,
                        r.get::<Option<String>>(9)?.unwrap_or_default(),
                        r.get::<Option<String>>(10)?.unwrap_or_default(),
                    )),
                    None => None,
                },
                id: r.get(0)?,
                created: r.get(1)?,
                kind: r.get(2)?,
                severity: r.get(3)?,
                index_path: r.get(4)?,
                project: r.get(5)?,
                message: r.get(6)?,
                detail: r.get(7)?,
            })
        },
    )?;
    Ok(rows)
}

/// What acknowledging an alert found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    Acked,
    AlreadyAcked,
    NoSuchAlert,
}

pub fn ack(conn: &Conn<'_>, id: i64, by: &str, note: &str) -> Result<AckOutcome, StoreError> {
    let n = conn.execute(
        "UPDATE security_alerts SET acked = ?2, acked_by = ?3, ack_note = ?4
         WHERE id = ?1 AND acked IS NULL",
        &[&id, &super::now(), &by, &note],
    )?;
    if n == 1 {
        return Ok(AckOutcome::Acked);
    }
    let exists: i64 = conn.query_one(
        "SELECT COUNT(*) FROM security_alerts WHERE id = ?1",
        &[&id],
        |r| r.get(0),
    )?;
    Ok(if exists > 0 {
        AckOutcome::AlreadyAcked
    } else {
        AckOutcome::NoSuchAlert
    })
}
