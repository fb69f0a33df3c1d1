//! The `audit_log` table: insert and read only (the table's triggers refuse
//! UPDATE and DELETE). Hashing and verification live in `crate::audit`.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// One stored audit entry, exactly as in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub time: i64,
    pub actor: Option<String>,
    pub cert_fingerprint: Option<String>,
    pub remote: Option<String>,
    pub action: String,
    pub target: String,
    /// JSON text, hashed byte for byte.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

const COLUMNS: &str =
    "seq, time, actor, cert_fingerprint, remote, action, target, details, prev_hash, hash";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        seq: r.get(0)?,
        time: r.get(1)?,
        actor: r.get(2)?,
        cert_fingerprint: r.get(3)?,
        remote: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        details: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

pub fn insert(conn: &Connection, row: &AuditRow) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        row.seq,
        row.time,
        row.actor,
        row.cert_fingerprint,
        row.remote,
        row.action,
        row.target,
        row.details,
        row.prev_hash,
        row.hash
    ])?;
    Ok(())
}

/// The entry with the highest sequence number.
pub fn last(conn: &Connection) -> Result<Option<AuditRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"
        ))?
        .query_row([], from_row)
        .optional()?)
}

pub fn get(conn: &Connection, seq: i64) -> Result<Option<AuditRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq = ?1"))?
        .query_row([seq], from_row)
        .optional()?)
}

/// Call `f` for every entry with `seq > after`, in sequence order, without
/// loading the whole log into memory.
pub fn for_each_after<E: From<StoreError>>(
    conn: &Connection,
    after: i64,
    mut f: impl FnMut(AuditRow) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq"
        ))
        .map_err(StoreError::from)?;
    let rows = stmt
        .query_map([after], from_row)
        .map_err(StoreError::from)?;
    for row in rows {
        f(row.map_err(StoreError::from)?)?;
    }
    Ok(())
}

/// At most `limit` entries with `seq > after`, in sequence order.
pub fn list_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<AuditRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
