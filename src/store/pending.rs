//! The `pending_pushes` table: pushes waiting for approvals.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct PendingRow {
    pub id: i64,
    pub created: i64,
    pub source: String,
    pub target: String,
    pub project: String,
    pub version: String,
    pub pusher: String,
    pub pusher_cert: Option<String>,
    /// The groups the trusted front proxy put the pusher in when they
    /// pushed (empty otherwise): the push is re-authorised with them when
    /// approvals land it.
    pub pusher_groups: Vec<String>,
    pub review: String,
    pub status: String,
    /// JSON list of approver user names.
    pub approvals: String,
    pub decided: Option<i64>,
    pub reason: Option<String>,
}

const SELECT: &str = "SELECT id, created, source, target, project, version, pusher, pusher_cert, \
    review, status, approvals, decided, reason, pusher_groups FROM pending_pushes";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PendingRow> {
    Ok(PendingRow {
        id: r.get(0)?,
        created: r.get(1)?,
        source: r.get(2)?,
        target: r.get(3)?,
        project: r.get(4)?,
        version: r.get(5)?,
        pusher: r.get(6)?,
        pusher_cert: r.get(7)?,
        review: r.get(8)?,
        status: r.get(9)?,
        approvals: r.get(10)?,
        decided: r.get(11)?,
        reason: r.get(12)?,
        pusher_groups: split_groups(&r.get::<_, String>(13)?),
    })
}

/// Stored comma-separated (group names cannot contain a comma).
fn split_groups(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &Connection,
    source: &str,
    target: &str,
    project: &str,
    version: &str,
    pusher: &str,
    pusher_cert: Option<&str>,
    pusher_groups: &[String],
    review: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO pending_pushes (created, source, target, project, version, pusher, pusher_cert, review, status, pusher_groups)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)",
        params![super::now(), source, target, project, version, pusher, pusher_cert, review, pusher_groups.join(",")],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Record a push that landed without waiting for approvals, so that
/// `airlock pushes --status landed` lists every landed push.
#[allow(clippy::too_many_arguments)]
pub fn record_landed(
    conn: &Connection,
    source: &str,
    target: &str,
    project: &str,
    version: &str,
    pusher: &str,
    pusher_cert: Option<&str>,
    review: &str,
) -> Result<i64, StoreError> {
    let now = super::now();
    conn.execute(
        "INSERT INTO pending_pushes (created, source, target, project, version, pusher, pusher_cert, review, status, decided)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'landed', ?1)",
        params![now, source, target, project, version, pusher, pusher_cert, review],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<PendingRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn list(conn: &Connection, status: Option<&str>) -> Result<Vec<PendingRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE (?1 IS NULL OR status = ?1) ORDER BY id"
    ))?;
    let rows = stmt.query_map([status], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_approvals(conn: &Connection, id: i64, approvals: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE pending_pushes SET approvals = ?2 WHERE id = ?1",
        params![id, approvals],
    )?;
    Ok(())
}

/// Close a pending push: `landed`, `rejected` or `failed`.
pub fn decide(
    conn: &Connection,
    id: i64,
    status: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE pending_pushes SET status = ?2, reason = ?3, decided = ?4 WHERE id = ?1 AND status = 'pending'",
        params![id, status, reason, super::now()],
    )?;
    Ok(())
}

/// How many pushes wait for a review decision (the metrics gauge).
pub fn count_pending(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM pending_pushes WHERE status = 'pending'")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}
