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

/// The highest sequence number (0 for an empty log), without reading the entry.
pub fn head_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM audit_log")?
        .query_row([], |r| r.get(0))?)
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

/// Filters of a newest-first audit listing (all optional).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries with `seq < before`.
    pub before: Option<i64>,
    /// Targets equal to this or starting with it and a `/`.
    pub target_prefix: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// At most `limit` entries matching `f`, newest first.
pub fn list_filtered(
    conn: &Connection,
    f: &AuditFilter,
    limit: usize,
) -> Result<Vec<AuditRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // LIKE with an escape character, so `_` and `%` in names match literally.
    let like = f.target_prefix.as_ref().map(|p| {
        let escaped = p
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("{escaped}/%")
    });
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit_log
         WHERE (?1 IS NULL OR seq < ?1)
           AND (?2 IS NULL OR target = ?2 OR target LIKE ?3 ESCAPE '\\')
           AND (?4 IS NULL OR actor = ?4)
           AND (?5 IS NULL OR action = ?5)
         ORDER BY seq DESC LIMIT ?6"
    ))?;
    let rows = stmt.query_map(
        params![f.before, f.target_prefix, like, f.actor, f.action, limit],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    fn row(seq: i64, actor: &str, action: &str, target: &str) -> AuditRow {
        AuditRow {
            seq,
            time: seq,
            actor: Some(actor.into()),
            cert_fingerprint: None,
            remote: None,
            action: action.into(),
            target: target.into(),
            details: "{}".into(),
            prev_hash: String::new(),
            hash: format!("{seq}"),
        }
    }

    #[test]
    fn filters_combine_and_names_match_literally() {
        let c = Connection::open_in_memory().unwrap();
        for m in crate::store::schema::MIGRATIONS {
            c.execute_batch(m).unwrap();
        }
        insert(&c, &row(1, "alice", "upload", "alice/dev/pkg/1.0")).unwrap();
        insert(&c, &row(2, "bob", "push", "root/prod/pkg/1.0")).unwrap();
        insert(&c, &row(3, "alice", "upload", "alice/dev_x/pkg/1.0")).unwrap();
        insert(&c, &row(4, "alice", "index_create", "alice/dev")).unwrap();
        let seqs = |f: AuditFilter| -> Vec<i64> {
            list_filtered(&c, &f, 10)
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect()
        };
        assert_eq!(seqs(AuditFilter::default()), vec![4, 3, 2, 1]);
        let dev = AuditFilter {
            target_prefix: Some("alice/dev".into()),
            ..Default::default()
        };
        assert_eq!(
            seqs(dev.clone()),
            vec![4, 1],
            "alice/dev_x is another index"
        );
        assert_eq!(
            seqs(AuditFilter {
                action: Some("upload".into()),
                ..dev.clone()
            }),
            vec![1]
        );
        assert_eq!(
            seqs(AuditFilter {
                actor: Some("bob".into()),
                ..Default::default()
            }),
            vec![2]
        );
        assert_eq!(
            seqs(AuditFilter {
                before: Some(3),
                ..Default::default()
            }),
            vec![2, 1]
        );
    }
}
