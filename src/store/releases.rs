//! Projects, releases and their files (`projects`, `releases`, `files`).

use super::sql::{Conn, Row};

use super::StoreError;
use crate::digest::Sha256;

/// One stored distribution file, with the project and release it belongs to.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: i64,
    pub index_id: i64,
    pub project: String,
    pub display_name: String,
    pub version: String,
    pub filename: String,
    pub kind: String,
    pub sha256: Sha256,
    pub size: u64,
    pub requires_python: Option<String>,
    pub metadata_sha256: Option<Sha256>,
    pub yanked: Option<String>,
    pub uploader: String,
    pub created: i64,
    /// JSON list of the hops that brought the file here.
    pub provenance: String,
}

const FILE_SELECT: &str = "SELECT f.id, f.index_id, p.name, p.display_name, r.version, f.filename, \
    f.kind, f.sha256, f.size, f.requires_python, f.metadata_sha256, f.yanked, f.uploader, f.created, f.provenance \
    FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id";

fn file_from_row(r: &Row<'_>) -> Result<FileRow, StoreError> {
    let sha: String = r.get(7)?;
    let meta: Option<String> = r.get(10)?;
    let bad = |i, s: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad sha256 {s:?}").into(),
        )
    };
    Ok(FileRow {
        id: r.get(0)?,
        index_id: r.get(1)?,
        project: r.get(2)?,
        display_name: r.get(3)?,
        version: r.get(4)?,
        filename: r.get(5)?,
        kind: r.get(6)?,
        sha256: sha.parse().map_err(|_| bad(7, &sha))?,
        size: r.get::<i64>(8)? as u64,
        requires_python: r.get(9)?,
        metadata_sha256: match meta {
            Some(m) => Some(m.parse().map_err(|_| bad(10, &m))?),
            None => None,
        },
        yanked: r.get(11)?,
        uploader: r.get(12)?,
        created: r.get(13)?,
        provenance: r.get(14)?,
    })
}

pub fn find_file(
    conn: &Conn<'_>,
    index_id: i64,
    filename: &str,
) -> Result<Option<FileRow>, StoreError> {
    conn.query_opt(
        &format!("{FILE_SELECT} WHERE f.index_id = ?1 AND f.filename = ?2"),
        &[&index_id, &filename],
        file_from_row,
    )
}

pub fn files_of_project(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
) -> Result<Vec<FileRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{FILE_SELECT} WHERE p.index_id = ?1 AND p.name = ?2 ORDER BY f.filename"),
        &[&index_id, &project],
        file_from_row,
    )?;
    Ok(rows)
}

pub fn files_of_release(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Vec<FileRow>, StoreError> {
    let rows = conn.query_map(
        &format!(
        "{FILE_SELECT} WHERE p.index_id = ?1 AND p.name = ?2 AND r.version = ?3 ORDER BY f.filename"
    ),
        &[&index_id, &project, &version],
        file_from_row,
    )?;
    Ok(rows)
}

/// The release of `project` whose version equals `version` under PEP 440
/// (`1.0` and `1.0.0` are one release): its stored version string and the
/// files of every such release (older data may hold more than one).
pub fn equal_release(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &pep440_rs::Version,
) -> Result<(Option<String>, Vec<FileRow>), StoreError> {
    let mut stored = None;
    let mut files = Vec::new();
    let mut equal: Vec<String> = releases(conn, index_id, project)?
        .into_iter()
        .map(|r| r.version)
        .filter(|v| v.parse::<pep440_rs::Version>().is_ok_and(|p| p == *version))
        .collect();
    equal.sort();
    for v in equal {
        files.extend(files_of_release(conn, index_id, project, &v)?);
        stored.get_or_insert(v);
    }
    Ok((stored, files))
}

/// Remove one file row (its test results go with it), leaving its release
/// in place for the file that replaces it. Returns possibly unreferenced
/// blobs.
pub fn remove_replaced_file(conn: &Conn<'_>, file: &FileRow) -> Result<Vec<Sha256>, StoreError> {
    let mut out = vec![file.sha256];
    out.extend(file.metadata_sha256);
    out.extend(super::toxresults::shas_of_file(conn, file.id)?);
    conn.execute("DELETE FROM files WHERE id = ?1", &[&file.id])?;
    Ok(out)
}

/// A project of an index: normalised and display name.
#[derive(Debug, Clone)]
pub struct ProjectRow {
    pub name: String,
    pub display_name: String,
}

pub fn projects(conn: &Conn<'_>, index_id: i64) -> Result<Vec<ProjectRow>, StoreError> {
    let rows = conn.query_map(
        "SELECT name, display_name FROM projects WHERE index_id = ?1 ORDER BY name",
        &[&index_id],
        |r| {
            Ok(ProjectRow {
                name: r.get(0)?,
                display_name: r.get(1)?,
            })
        },
    )?;
    Ok(rows)
}

pub fn project(
    conn: &Conn<'_>,
    index_id: i64,
    name: &str,
) -> Result<Option<ProjectRow>, StoreError> {
    conn.query_opt(
        "SELECT name, display_name FROM projects WHERE index_id = ?1 AND name = ?2",
        &[&index_id, &name],
        |r| {
            Ok(ProjectRow {
                name: r.get(0)?,
                display_name: r.get(1)?,
            })
        },
    )
}

/// A release: its version and the JSON of its core metadata.
#[derive(Debug, Clone)]
pub struct ReleaseRow {
    pub version: String,
    pub metadata: String,
    pub created: i64,
}

pub fn releases(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
) -> Result<Vec<ReleaseRow>, StoreError> {
    let rows = conn.query_map("SELECT r.version, r.metadata, r.created FROM releases r JOIN projects p ON p.id = r.project_id
         WHERE p.index_id = ?1 AND p.name = ?2", &[&index_id, &project], |r| {
        Ok(ReleaseRow {
            version: r.get(0)?,
            metadata: r.get(1)?,
            created: r.get(2)?,
        })
    })?;
    Ok(rows)
}

/// What to insert for one uploaded (or pushed) file.
pub struct NewFile<'a> {
    pub index_id: i64,
    pub project: &'a str,
    pub display_name: &'a str,
    pub version: &'a str,
    pub release_metadata: &'a str,
    /// The release's description (`descriptions.key`, stored first).
    pub description_key: Option<&'a str>,
    pub filename: &'a str,
    pub kind: &'a str,
    pub sha256: &'a Sha256,
    pub size: u64,
    pub requires_python: Option<&'a str>,
    pub metadata_sha256: Option<&'a Sha256>,
    pub uploader: &'a str,
    pub provenance: &'a str,
}

/// A release to create (with its project) when it is not there yet.
pub struct NewRelease<'a> {
    pub index_id: i64,
    pub project: &'a str,
    pub display_name: &'a str,
    pub version: &'a str,
    /// JSON core metadata of the release.
    pub metadata: &'a str,
    /// Its description (`descriptions.key`, stored first); goes with the
    /// metadata (replaced or kept with it).
    pub description_key: Option<&'a str>,
}

/// What an existing release's metadata becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataOnConflict {
    /// The newest upload's metadata wins.
    Replace,
    /// An existing release keeps what it has (documentation alone says
    /// nothing about the release).
    Keep,
}

/// The id of a release, creating the project and the release as needed.
pub fn ensure_release(
    conn: &Conn<'_>,
    r: &NewRelease<'_>,
    on_conflict: MetadataOnConflict,
) -> Result<i64, StoreError> {
    let now = super::now();
    conn.execute(
        "INSERT INTO projects (index_id, name, display_name, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(index_id, name) DO NOTHING",
        &[&r.index_id, &r.project, &r.display_name, &now],
    )?;
    let project_id: i64 = conn.query_one(
        "SELECT id FROM projects WHERE index_id = ?1 AND name = ?2",
        &[&r.index_id, &r.project],
        |row| row.get(0),
    )?;
    let sql = match on_conflict {
        MetadataOnConflict::Replace => {
            "INSERT INTO releases (project_id, version, metadata, created, description_key)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(project_id, version) DO UPDATE SET metadata = excluded.metadata,
               description_key = excluded.description_key"
        }
        MetadataOnConflict::Keep => {
            "INSERT INTO releases (project_id, version, metadata, created, description_key)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(project_id, version) DO NOTHING"
        }
    };
    conn.execute(
        sql,
        &[
            &project_id,
            &r.version,
            &r.metadata,
            &now,
            &r.description_key,
        ],
    )?;
    conn.query_one(
        "SELECT id FROM releases WHERE project_id = ?1 AND version = ?2",
        &[&project_id, &r.version],
        |row| row.get(0),
    )
}

/// Insert a file, creating its project and release as needed; the release's
/// metadata is replaced by the newest upload's. An existing file row with the
/// same filename in the index is replaced (the caller has decided that this
/// is allowed). Returns the digests of blobs that may now be unreferenced.
pub fn insert_file(conn: &Conn<'_>, f: &NewFile<'_>) -> Result<Vec<Sha256>, StoreError> {
    let release_id = ensure_release(
        conn,
        &NewRelease {
            index_id: f.index_id,
            project: f.project,
            display_name: f.display_name,
            version: f.version,
            metadata: f.release_metadata,
            description_key: f.description_key,
        },
        MetadataOnConflict::Replace,
    )?;

    let mut orphans = Vec::new();
    if let Some(old) = find_file(conn, f.index_id, f.filename)? {
        orphans.push(old.sha256);
        orphans.extend(old.metadata_sha256);
        // test results were for the old bytes; they go with the file row
        orphans.extend(super::toxresults::shas_of_file(conn, old.id)?);
        conn.execute("DELETE FROM files WHERE id = ?1", &[&old.id])?;
    }
    conn.execute(
        "INSERT INTO files (index_id, release_id, filename, kind, sha256, size, requires_python,
                            metadata_sha256, yanked, uploader, created, provenance)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10, ?11)",
        &[
            &f.index_id,
            &release_id,
            &f.filename,
            &f.kind,
            &f.sha256.to_hex(),
            &(f.size as i64),
            &f.requires_python,
            &f.metadata_sha256.map(|s| s.to_hex()),
            &f.uploader,
            &super::now(),
            &f.provenance,
        ],
    )?;
    Ok(orphans)
}

/// Replace the recorded history of the file `filename` on an index (a file
/// carried over from another server keeps its own upload and push hops and
/// its upload time). `Ok(false)`: no such file.
pub fn set_history(
    conn: &Conn<'_>,
    index_id: i64,
    filename: &str,
    provenance: &str,
    created: Option<i64>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE files SET provenance = ?3, created = COALESCE(?4, created)
         WHERE index_id = ?1 AND filename = ?2",
        &[&index_id, &filename, &provenance, &created],
    )?;
    Ok(n == 1)
}

/// Delete one file; its release and project go too when left empty.
/// Returns the digests of blobs that may now be unreferenced.
pub fn delete_file(conn: &Conn<'_>, file: &FileRow) -> Result<Vec<Sha256>, StoreError> {
    let mut out = vec![file.sha256];
    out.extend(file.metadata_sha256);
    out.extend(super::toxresults::shas_of_file(conn, file.id)?);
    conn.execute("DELETE FROM files WHERE id = ?1", &[&file.id])?;
    out.extend(prune_empty(conn, file.index_id)?);
    Ok(out)
}

/// Delete a release with all its files. Returns possibly unreferenced blobs.
pub fn delete_release(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Vec<Sha256>, StoreError> {
    let files = files_of_release(conn, index_id, project, version)?;
    let mut out = super::doczips::shas_of_release(conn, index_id, project, version)?;
    for f in &files {
        out.extend(super::toxresults::shas_of_file(conn, f.id)?);
        conn.execute("DELETE FROM files WHERE id = ?1", &[&f.id])?;
        out.push(f.sha256);
        out.extend(f.metadata_sha256);
    }
    conn.execute(
        "DELETE FROM releases WHERE version = ?3 AND project_id =
           (SELECT id FROM projects WHERE index_id = ?1 AND name = ?2)",
        &[&index_id, &project, &version],
    )?;
    out.extend(prune_empty(conn, index_id)?);
    Ok(out)
}

/// Delete everything an index holds (before deleting the index itself).
pub fn delete_all_of_index(conn: &Conn<'_>, index_id: i64) -> Result<Vec<Sha256>, StoreError> {
    let mut out = super::toxresults::shas_of_index(conn, index_id)?;
    out.extend(super::doczips::shas_of_index(conn, index_id)?);
    let rows = conn.query_map(
        "SELECT sha256, metadata_sha256 FROM files WHERE index_id = ?1",
        &[&index_id],
        |r| Ok((r.get::<String>(0)?, r.get::<Option<String>>(1)?)),
    )?;
    for row in rows {
        let (sha, meta) = row;
        out.extend(sha.parse::<Sha256>().ok());
        out.extend(meta.and_then(|m| m.parse::<Sha256>().ok()));
    }
    conn.execute("DELETE FROM files WHERE index_id = ?1", &[&index_id])?;
    conn.execute(
        "DELETE FROM releases WHERE project_id IN (SELECT id FROM projects WHERE index_id = ?1)",
        &[&index_id],
    )?;
    conn.execute("DELETE FROM projects WHERE index_id = ?1", &[&index_id])?;
    Ok(out)
}

/// Remove releases left without files (their doc zips go too) and projects
/// left without releases. Returns the doc zip blobs that may now be unused.
fn prune_empty(conn: &Conn<'_>, index_id: i64) -> Result<Vec<Sha256>, StoreError> {
    let orphans = super::doczips::shas_of_empty_releases(conn, index_id)?;
    conn.execute(
        "DELETE FROM releases WHERE project_id IN (SELECT id FROM projects WHERE index_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM files f WHERE f.release_id = releases.id)",
        &[&index_id],
    )?;
    conn.execute(
        "DELETE FROM projects WHERE index_id = ?1
           AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.project_id = projects.id)",
        &[&index_id],
    )?;
    Ok(orphans)
}

/// Is a blob still referenced by any file (as content or as metadata)?
pub fn blob_referenced(conn: &Conn<'_>, sha: &Sha256) -> Result<bool, StoreError> {
    // a mirrored file may share the blob
    Ok(stage_referenced(conn, sha)? || super::mirror::blob_referenced(conn, sha)?)
}

/// Is a blob referenced by a row of a stage index: a file (content or
/// metadata), a test result or a doc zip? Such a blob must stay stored;
/// one only mirror rows name may be evicted from the mirror cache.
pub fn stage_referenced(conn: &Conn<'_>, sha: &Sha256) -> Result<bool, StoreError> {
    let hex = sha.to_hex();
    Ok(conn.query_one(
        "SELECT EXISTS(SELECT 1 FROM files WHERE sha256 = ?1)
                 OR EXISTS(SELECT 1 FROM files WHERE metadata_sha256 = ?1)",
        &[&hex],
        |r| r.get::<bool>(0),
    )? || super::toxresults::blob_referenced(conn, sha)?
        || super::doczips::blob_referenced(conn, sha)?)
}
