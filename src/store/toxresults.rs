//! Test results attached to release files (`toxresults`). The report itself
//! is a blob; the row holds its per-environment summary as JSON.

use super::sql::{Conn, Param, Row};

use super::StoreError;
use crate::digest::Sha256;

#[derive(Debug, Clone)]
pub struct ToxResultRow {
    pub id: i64,
    pub file_id: i64,
    pub sha256: Sha256,
    /// JSON list of `dist::toxresult::EnvSummary`.
    pub summary: String,
    /// `None` for an anonymous post (allowed by `:ANONYMOUS:`).
    pub uploader: Option<String>,
    /// SHA-256 fingerprint of the verified client certificate the poster
    /// presented, if any.
    pub uploader_cert: Option<String>,
    pub created: i64,
}

const SELECT: &str =
    "SELECT id, file_id, sha256, summary, uploader, created, uploader_cert FROM toxresults";

fn from_row(r: &Row<'_>) -> Result<ToxResultRow, StoreError> {
    let sha: String = r.get(2)?;
    Ok(ToxResultRow {
        id: r.get(0)?,
        file_id: r.get(1)?,
        sha256: sha.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("bad sha256 {sha:?}").into(),
            )
        })?,
        summary: r.get(3)?,
        uploader: r.get(4)?,
        created: r.get(5)?,
        uploader_cert: r.get(6)?,
    })
}

/// Record a result for a file; returns its id.
pub fn insert(
    conn: &Conn<'_>,
    file_id: i64,
    sha: &Sha256,
    summary: &str,
    uploader: Option<&str>,
    uploader_cert: Option<&str>,
) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO toxresults (file_id, sha256, summary, uploader, created, uploader_cert)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        &[
            &file_id,
            &sha.to_hex(),
            &summary,
            &uploader,
            &super::now(),
            &uploader_cert,
        ],
        |r| r.get(0),
    )
}

pub fn count_for_file(conn: &Conn<'_>, file_id: i64) -> Result<usize, StoreError> {
    Ok(conn.query_one(
        "SELECT COUNT(*) FROM toxresults WHERE file_id = ?1",
        &[&file_id],
        |r| r.get::<i64>(0),
    )? as usize)
}

/// How many results of a file one poster (`None`: anonymous) has posted.
pub fn count_for_file_by(
    conn: &Conn<'_>,
    file_id: i64,
    uploader: Option<&str>,
) -> Result<usize, StoreError> {
    Ok(conn.query_one(
        "SELECT COUNT(*) FROM toxresults WHERE file_id = ?1 AND uploader IS NOT DISTINCT FROM ?2",
        &[&file_id, &uploader],
        |r| r.get::<i64>(0),
    )? as usize)
}

/// The results of the given files, oldest first.
pub fn for_files(conn: &Conn<'_>, file_ids: &[i64]) -> Result<Vec<ToxResultRow>, StoreError> {
    let mut out = Vec::new();
    for id in file_ids {
        out.extend(conn.query_map(
            &format!("{SELECT} WHERE file_id = ?1 ORDER BY id"),
            &[&id],
            from_row,
        )?);
    }
    Ok(out)
}

pub fn get(conn: &Conn<'_>, id: i64) -> Result<Option<ToxResultRow>, StoreError> {
    conn.query_opt(&format!("{SELECT} WHERE id = ?1"), &[&id], from_row)
}

fn shas(conn: &Conn<'_>, sql: &str, p: &[&dyn Param]) -> Result<Vec<Sha256>, StoreError> {
    let rows = conn.query_map(sql, p, |r| r.get::<String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.extend(r.parse::<Sha256>().ok());
    }
    Ok(out)
}

/// Blobs of a file's results (they go when the file goes).
pub fn shas_of_file(conn: &Conn<'_>, file_id: i64) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT sha256 FROM toxresults WHERE file_id = ?1",
        &[&file_id],
    )
}

/// Blobs of every result in an index.
pub fn shas_of_index(conn: &Conn<'_>, index_id: i64) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT t.sha256 FROM toxresults t JOIN files f ON f.id = t.file_id WHERE f.index_id = ?1",
        &[&index_id],
    )
}

pub fn blob_referenced(conn: &Conn<'_>, sha: &Sha256) -> Result<bool, StoreError> {
    conn.query_one(
        "SELECT EXISTS(SELECT 1 FROM toxresults WHERE sha256 = ?1)",
        &[&sha.to_hex()],
        |r| r.get::<bool>(0),
    )
}
