//! The `audit_log` table: insert and read only (the table's triggers refuse
//! UPDATE and DELETE). Hashing and verification live in `crate::audit`.

use super::sql::{Conn, Row};

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

fn from_row(r: &Row<'_>) -> Result<AuditRow, StoreError> {
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

pub fn insert(conn: &Conn<'_>, row: &AuditRow) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        &[
            &row.seq,
            &row.time,
            &row.actor,
            &row.cert_fingerprint,
            &row.remote,
            &row.action,
            &row.target,
            &row.details,
            &row.prev_hash,
            &row.hash,
        ],
    )?;
    Ok(())
}

/// The highest sequence number (0 for an empty log), without reading the entry.
pub fn head_seq(conn: &Conn<'_>) -> Result<i64, StoreError> {
    conn.query_one("SELECT COALESCE(MAX(seq), 0) FROM audit_log", &[], |r| {
        r.get(0)
    })
}

/// The entry with the highest sequence number.
pub fn last(conn: &Conn<'_>) -> Result<Option<AuditRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"),
        &[],
        from_row,
    )
}

pub fn get(conn: &Conn<'_>, seq: i64) -> Result<Option<AuditRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM audit_log WHERE seq = ?1"),
        &[&seq],
        from_row,
    )
}

/// Call `f` for every entry with `seq > after`, in sequence order, without
/// loading the whole log into memory.
pub fn for_each_after<E: From<StoreError>>(
    conn: &Conn<'_>,
    after: i64,
    mut f: impl FnMut(AuditRow) -> Result<(), E>,
) -> Result<(), E> {
    let mut failed: Option<E> = None;
    conn.for_each(
        &format!("SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq"),
        &[&after],
        |r| {
            if failed.is_none() {
                if let Err(e) = f(from_row(r)?) {
                    failed = Some(e);
                }
            }
            Ok(())
        },
    )?;
    failed.map_or(Ok(()), Err)
}

/// At most `limit` entries with `seq > after`, in sequence order.
pub fn list_after(conn: &Conn<'_>, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn.query_map(
        &format!("SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
        &[&after, &limit],
        from_row,
    )?;
    Ok(rows)
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
    conn: &Conn<'_>,
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
    let rows = conn.query_map(
        &format!(
            "SELECT {COLUMNS} FROM audit_log
         WHERE (CAST(?1 AS BIGINT) IS NULL OR seq < ?1)
           AND (CAST(?2 AS TEXT) IS NULL OR target = ?2 OR target LIKE ?3 ESCAPE '\\')
           AND (CAST(?4 AS TEXT) IS NULL OR actor = ?4)
           AND (CAST(?5 AS TEXT) IS NULL OR action = ?5)
         ORDER BY seq DESC LIMIT ?6"
        ),
        &[
            &f.before,
            &f.target_prefix,
            &like,
            &f.actor,
            &f.action,
            &limit,
        ],
        from_row,
    )?;
    Ok(rows)
}

#[cfg(test)]
mod filter_tests {
    use super::*;
    use rusqlite::Connection;

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
        let c_ = Connection::open_in_memory().unwrap();
        for m in crate::store::schema::MIGRATIONS {
            c_.execute_batch(m).unwrap();
        }
        let c = Conn::sqlite(&c_);
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
