//! The mirror cache's use record (`mirror_blob_use`): when each cached
//! mirror blob was last used, and which blobs mirror rows name (the
//! candidates of mirror cache retention, `maintenance::gc`).

use super::sql::Conn;

use super::StoreError;
use crate::digest::Sha256;

/// Record uses (digest, unix seconds); a later time never gives way to an
/// earlier one.
pub fn record_use(conn: &Conn<'_>, uses: &[(Sha256, i64)]) -> Result<(), StoreError> {
    for (sha, at) in uses {
        conn.execute(
            "INSERT INTO mirror_blob_use (sha256, last_used) VALUES (?1, ?2)
         ON CONFLICT(sha256) DO UPDATE SET last_used =
           CASE WHEN excluded.last_used > mirror_blob_use.last_used
                THEN excluded.last_used ELSE mirror_blob_use.last_used END",
            &[&sha.to_hex(), &at],
        )?;
    }
    Ok(())
}

/// The recorded last use of a blob.
pub fn last_used(conn: &Conn<'_>, sha: &Sha256) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT last_used FROM mirror_blob_use WHERE sha256 = ?1",
        &[&sha.to_hex()],
        |r| r.get(0),
    )
}

/// Forget the use record of an evicted blob.
pub fn forget(conn: &Conn<'_>, sha: &Sha256) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM mirror_blob_use WHERE sha256 = ?1",
        &[&sha.to_hex()],
    )?;
    Ok(())
}

/// A blob some mirror row names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorBlob {
    pub sha256: Sha256,
    /// One file name it is listed under (for logs).
    pub name: String,
    pub last_used: Option<i64>,
}

/// Every digest a mirror row names (a listed file, its PEP 658 metadata, a
/// pinned unverified link), with its recorded last use. Whether the blob is
/// stored, and whether a stage row shares it, the caller finds out.
pub fn named_blobs(conn: &Conn<'_>) -> Result<Vec<MirrorBlob>, StoreError> {
    let rows = conn.query_map(
        "WITH m(sha, name) AS (
             SELECT sha256, filename FROM mirror_files
             UNION ALL
             SELECT metadata_sha256, filename || '.metadata' FROM mirror_files
              WHERE metadata_sha256 IS NOT NULL
             UNION ALL
             SELECT pinned_sha256, filename FROM mirror_links WHERE pinned_sha256 IS NOT NULL
         )
         SELECT m.sha, MIN(m.name), u.last_used
         FROM m LEFT JOIN mirror_blob_use u ON u.sha256 = m.sha
         GROUP BY m.sha, u.last_used",
        &[],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<Option<i64>>(2)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (sha, name, last_used) = row;
        let sha256 = sha
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("mirror sha256 {sha:?} of {name}")))?;
        out.push(MirrorBlob {
            sha256,
            name,
            last_used,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_blobs_are_distinct_with_their_use() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Db::open(&dir.path().join("db")).unwrap();
        let (a, m, p) = (Sha256::of(b"a"), Sha256::of(b"m"), Sha256::of(b"p"));
        let (ah, mh, ph) = (a.to_hex(), m.to_hex(), p.to_hex());
        db.write_blocking(move |tx| {
            tx.batch(&format!(
                "INSERT INTO users (id, name, created) VALUES (1, 'u', 0);
                 INSERT INTO indexes (id, user_id, name, config, created)
                   VALUES (1, 1, 'i', '{{}}', 0), (2, 1, 'j', '{{}}', 0);
                 INSERT INTO mirror_files (index_id, project, filename, url, sha256, metadata_sha256)
                   VALUES (1, 'p', 'p-1.whl', 'http://x', '{ah}', '{mh}'),
                          (2, 'p', 'p-1.whl', 'http://y', '{ah}', NULL);
                 INSERT INTO mirror_links (index_id, project, filename, url, pinned_sha256)
                   VALUES (1, 'p', 'p-2.zip', 'http://x', '{ph}');"
            ))?;
            record_use(tx, &[(a, 10)])
        })
        .unwrap();
        let mut got = db.read_blocking(named_blobs).unwrap();
        got.sort_by_key(|b| b.name.clone());
        let summary: Vec<(Sha256, &str, Option<i64>)> = got
            .iter()
            .map(|b| (b.sha256, b.name.as_str(), b.last_used))
            .collect();
        assert_eq!(
            summary,
            vec![
                (a, "p-1.whl", Some(10)),
                (m, "p-1.whl.metadata", None),
                (p, "p-2.zip", None)
            ]
        );
        db.write_blocking(move |tx| forget(tx, &a)).unwrap();
        assert_eq!(db.read_blocking(move |c| last_used(c, &a)).unwrap(), None);
    }
}
