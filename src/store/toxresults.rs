//! Test results attached to release files (`toxresults`). The report itself
//! is a blob; the row holds its per-environment summary as JSON.

use rusqlite::{params, Connection, OptionalExtension};

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

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ToxResultRow> {
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
    conn: &Connection,
    file_id: i64,
    sha: &Sha256,
    summary: &str,
    uploader: Option<&str>,
    uploader_cert: Option<&str>,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO toxresults (file_id, sha256, summary, uploader, created, uploader_cert)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        file_id,
        sha.to_hex(),
        summary,
        uploader,
        super::now(),
        uploader_cert
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn count_for_file(conn: &Connection, file_id: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM toxresults WHERE file_id = ?1")?
        .query_row([file_id], |r| r.get::<_, i64>(0))? as usize)
}

/// How many results of a file one poster (`None`: anonymous) has posted.
pub fn count_for_file_by(
    conn: &Connection,
    file_id: i64,
    uploader: Option<&str>,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM toxresults WHERE file_id = ?1 AND uploader IS ?2")?
        .query_row(params![file_id, uploader], |r| r.get::<_, i64>(0))? as usize)
}

/// The results of the given files, oldest first.
pub fn for_files(conn: &Connection, file_ids: &[i64]) -> Result<Vec<ToxResultRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE file_id = ?1 ORDER BY id"))?;
    let mut out = Vec::new();
    for id in file_ids {
        for row in stmt.query_map([id], from_row)? {
            out.push(row?);
        }
    }
    Ok(out)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<ToxResultRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

fn shas(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Sha256>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.extend(r?.parse::<Sha256>().ok());
    }
    Ok(out)
}

/// Blobs of a file's results (they go when the file goes).
pub fn shas_of_file(conn: &Connection, file_id: i64) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT sha256 FROM toxresults WHERE file_id = ?1",
        [file_id],
    )
}

/// Blobs of every result in an index.
pub fn shas_of_index(conn: &Connection, index_id: i64) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT t.sha256 FROM toxresults t JOIN files f ON f.id = t.file_id WHERE f.index_id = ?1",
        [index_id],
    )
}

pub fn blob_referenced(conn: &Connection, sha: &Sha256) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM toxresults WHERE sha256 = ?1)")?
        .query_row([sha.to_hex()], |r| r.get::<_, bool>(0))?)
}
