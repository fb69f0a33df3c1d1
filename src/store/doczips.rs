//! Documentation zips of releases (`doczips`): one per release, the zip
//! itself a blob.

use super::sql::{Conn, Param};

use super::StoreError;
use crate::digest::Sha256;

#[derive(Debug, Clone)]
pub struct DocZipRow {
    pub version: String,
    pub sha256: Sha256,
    pub size: u64,
    pub uploader: String,
    pub created: i64,
}

/// Attach a doc zip to a release of a project on an index, replacing the
/// previous one. `Ok(None)`: no such release. `Ok(Some(old))`: stored; the
/// replaced zip's digest, if any.
/// Attach documentation to `project` `version` on an index, creating the
/// project and a release without files when they are not there yet (as
/// devpi does: documentation may come before the release files). Returns
/// the digest of the doc zip it replaced, if any.
pub fn set(conn: &Conn<'_>, doc: &NewDocZip<'_>) -> Result<Option<Sha256>, StoreError> {
    let now = super::now();
    let metadata =
        serde_json::json!({"name": doc.display_name, "version": doc.version}).to_string();
    let release = super::releases::ensure_release(
        conn,
        &super::releases::NewRelease {
            index_id: doc.index_id,
            project: doc.project,
            display_name: doc.display_name,
            version: doc.version,
            metadata: &metadata,
            description_key: None,
        },
        super::releases::MetadataOnConflict::Keep,
    )?;
    let (sha, size, uploader) = (doc.sha256, doc.size, doc.uploader);
    let old: Option<String> = conn.query_opt(
        "SELECT sha256 FROM doczips WHERE release_id = ?1",
        &[&release],
        |r| r.get(0),
    )?;
    conn.execute("INSERT INTO doczips (release_id, sha256, size, uploader, created) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(release_id) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
           uploader = excluded.uploader, created = excluded.created", &[&release, &sha.to_hex(), &(size as i64), &uploader, &now])?;
    Ok(old.and_then(|o| o.parse().ok()))
}

/// A doc zip to attach with [`set`].
pub struct NewDocZip<'a> {
    pub index_id: i64,
    pub project: &'a str,
    pub display_name: &'a str,
    pub version: &'a str,
    pub sha256: &'a Sha256,
    pub size: u64,
    pub uploader: &'a str,
}

/// The digest of the doc zip of one release, if it has one.
pub fn current(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Option<Sha256>, StoreError> {
    let sha: Option<String> = conn.query_opt(
        "SELECT d.sha256 FROM doczips d JOIN releases r ON r.id = d.release_id
             JOIN projects p ON p.id = r.project_id
             WHERE p.index_id = ?1 AND p.name = ?2 AND r.version = ?3",
        &[&index_id, &project, &version],
        |r| r.get(0),
    )?;
    Ok(sha.and_then(|s| s.parse().ok()))
}

/// The doc zips of a project's releases on one index.
pub fn of_project(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
) -> Result<Vec<DocZipRow>, StoreError> {
    let rows = conn.query_map(
        "SELECT r.version, d.sha256, d.size, d.uploader, d.created FROM doczips d
         JOIN releases r ON r.id = d.release_id JOIN projects p ON p.id = r.project_id
         WHERE p.index_id = ?1 AND p.name = ?2 ORDER BY r.version",
        &[&index_id, &project],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<i64>(2)?,
                r.get::<String>(3)?,
                r.get::<i64>(4)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (version, sha, size, uploader, created) = row;
        out.push(DocZipRow {
            version,
            sha256: sha
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("doczips: bad sha256 {sha:?}")))?,
            size: size as u64,
            uploader,
            created,
        });
    }
    Ok(out)
}

fn shas(conn: &Conn<'_>, sql: &str, p: &[&dyn Param]) -> Result<Vec<Sha256>, StoreError> {
    let rows = conn.query_map(sql, p, |r| r.get::<String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.extend(r.parse::<Sha256>().ok());
    }
    Ok(out)
}

/// Doc zip blobs of an index's releases that have no file left (about to
/// be pruned with their release).
pub fn shas_of_empty_releases(conn: &Conn<'_>, index_id: i64) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT d.sha256 FROM doczips d JOIN releases r ON r.id = d.release_id
         JOIN projects p ON p.id = r.project_id
         WHERE p.index_id = ?1 AND NOT EXISTS (SELECT 1 FROM files f WHERE f.release_id = r.id)",
        &[&index_id],
    )
}

/// Doc zip blob of one release.
pub fn shas_of_release(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT d.sha256 FROM doczips d JOIN releases r ON r.id = d.release_id
         JOIN projects p ON p.id = r.project_id
         WHERE p.index_id = ?1 AND p.name = ?2 AND r.version = ?3",
        &[&index_id, &project, &version],
    )
}

pub fn shas_of_index(conn: &Conn<'_>, index_id: i64) -> Result<Vec<Sha256>, StoreError> {
    shas(
        conn,
        "SELECT d.sha256 FROM doczips d JOIN releases r ON r.id = d.release_id
         JOIN projects p ON p.id = r.project_id WHERE p.index_id = ?1",
        &[&index_id],
    )
}

pub fn blob_referenced(conn: &Conn<'_>, sha: &Sha256) -> Result<bool, StoreError> {
    conn.query_one(
        "SELECT EXISTS(SELECT 1 FROM doczips WHERE sha256 = ?1)",
        &[&sha.to_hex()],
        |r| r.get::<bool>(0),
    )
}
