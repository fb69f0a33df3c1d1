//! The `pending_pushes` table: pushes waiting for approvals.

use super::sql::{Conn, Row};

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

fn from_row(r: &Row<'_>) -> Result<PendingRow, StoreError> {
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
        pusher_groups: split_groups(&r.get::<String>(13)?),
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
    conn: &Conn<'_>,
    source: &str,
    target: &str,
    project: &str,
    version: &str,
    pusher: &str,
    pusher_cert: Option<&str>,
    pusher_groups: &[String],
    review: &str,
) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO pending_pushes (created, source, target, project, version, pusher, pusher_cert, review, status, pusher_groups)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9) RETURNING id",
        &[&super::now(), &source, &target, &project, &version, &pusher, &pusher_cert, &review, &pusher_groups.join(",")],
        |r| r.get(0),
    )
}

/// Record a push that landed without waiting for approvals, so that
/// `airlock pushes --status landed` lists every landed push.
#[allow(clippy::too_many_arguments)]
pub fn record_landed(
    conn: &Conn<'_>,
    source: &str,
    target: &str,
    project: &str,
    version: &str,
    pusher: &str,
    pusher_cert: Option<&str>,
    review: &str,
) -> Result<i64, StoreError> {
    let now = super::now();
    conn.query_one(
        "INSERT INTO pending_pushes (created, source, target, project, version, pusher, pusher_cert, review, status, decided)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'landed', ?1) RETURNING id",
        &[&now, &source, &target, &project, &version, &pusher, &pusher_cert, &review],
        |r| r.get(0),
    )
}

pub fn get(conn: &Conn<'_>, id: i64) -> Result<Option<PendingRow>, StoreError> {
    conn.query_opt(&format!("{SELECT} WHERE id = ?1"), &[&id], from_row)
}

pub fn list(conn: &Conn<'_>, status: Option<&str>) -> Result<Vec<PendingRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{SELECT} WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) ORDER BY id"),
        &[&status],
        from_row,
    )?;
    Ok(rows)
}

pub fn set_approvals(conn: &Conn<'_>, id: i64, approvals: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE pending_pushes SET approvals = ?2 WHERE id = ?1",
        &[&id, &approvals],
    )?;
    Ok(())
}

/// Record an approval of the pending push `id` if nobody changed it since
/// it was read: its approvals are still `expected` and it is still pending
/// (a compare-and-set under the write lock, so two approvers racing on any
/// nodes cannot both count). With `landed`, it is closed as landed in the
/// same statement. `Conflict` when it changed.
pub fn claim(
    conn: &Conn<'_>,
    id: i64,
    expected: &str,
    approvals: &str,
    landed: bool,
) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE pending_pushes SET approvals = ?3,
                status = CASE WHEN ?4 = 1 THEN 'landed' ELSE status END,
                decided = CASE WHEN ?4 = 1 THEN ?5 ELSE decided END
         WHERE id = ?1 AND status = 'pending' AND approvals = ?2",
        &[
            &id,
            &expected,
            &approvals,
            &i64::from(landed),
            &super::now(),
        ],
    )?;
    if n != 1 {
        return Err(StoreError::Conflict(format!(
            "push #{id} was approved or decided by someone else meanwhile; nothing was \
             recorded: look at it again (airlock pushes)"
        )));
    }
    Ok(())
}

/// Close a pending push: `landed`, `rejected` or `failed`.
pub fn decide(
    conn: &Conn<'_>,
    id: i64,
    status: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE pending_pushes SET status = ?2, reason = ?3, decided = ?4 WHERE id = ?1 AND status = 'pending'",
        &[&id, &status, &reason, &super::now()],
    )?;
    Ok(())
}

/// How many pushes wait for a review decision (the metrics gauge).
pub fn count_pending(conn: &Conn<'_>) -> Result<u64, StoreError> {
    let n: i64 = conn.query_one(
        "SELECT COUNT(*) FROM pending_pushes WHERE status = 'pending'",
        &[],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}
