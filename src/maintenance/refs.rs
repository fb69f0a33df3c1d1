//! Which rows refer to blobs, and the blob tree on disk.
//!
//! Every column holding a sha256 of stored content is listed in [`COLUMNS`]
//! (see src/store/schema.rs). Keep it in step with
//! `store::releases::blob_referenced`, which the server's garbage
//! collection uses: a column missing here would make fsck call live blobs
//! orphans (and `--repair` delete them).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{MaintenanceError, Pace};
use crate::store::sql::{Conn, Dialect};

/// A column that names a blob.
pub struct RefColumn {
    /// For reports: `files.sha256`.
    pub name: &'static str,
    /// Yields (sha256 hex, a description of the row).
    pub sql: &'static str,
    /// Must the blob be stored? Release files, their core metadata, test
    /// results and doc zips must; mirror rows name what upstream declared
    /// (or what was pinned), and a blob that is not cached is fetched again.
    pub required: bool,
}

pub const COLUMNS: &[RefColumn] = &[
    RefColumn {
        name: "files.sha256",
        sql: "SELECT f.sha256, i.name || ' ' || f.filename FROM files f JOIN indexes i ON i.id = f.index_id",
        required: true,
    },
    RefColumn {
        name: "files.metadata_sha256",
        sql: "SELECT f.metadata_sha256, 'core metadata of ' || f.filename FROM files f WHERE f.metadata_sha256 IS NOT NULL",
        required: true,
    },
    RefColumn {
        name: "toxresults.sha256",
        sql: "SELECT t.sha256, 'test result ' || t.id || ' of ' || f.filename FROM toxresults t JOIN files f ON f.id = t.file_id",
        required: true,
    },
    RefColumn {
        name: "doczips.sha256",
        sql: "SELECT d.sha256, 'doc zip of ' || p.name || ' ' || r.version FROM doczips d \
              JOIN releases r ON r.id = d.release_id JOIN projects p ON p.id = r.project_id",
        required: true,
    },
    RefColumn {
        name: "mirror_files.sha256",
        sql: "SELECT sha256, 'mirrored ' || filename FROM mirror_files",
        required: false,
    },
    RefColumn {
        name: "mirror_files.metadata_sha256",
        sql: "SELECT metadata_sha256, 'mirrored metadata of ' || filename FROM mirror_files WHERE metadata_sha256 IS NOT NULL",
        required: false,
    },
    RefColumn {
        name: "mirror_links.pinned_sha256",
        sql: "SELECT pinned_sha256, 'pinned ' || filename FROM mirror_links WHERE pinned_sha256 IS NOT NULL",
        required: false,
    },
];

/// A row that must have its blob.
#[derive(Debug, Clone)]
pub struct RequiredRef {
    pub sha: String,
    pub column: &'static str,
    pub row: String,
}

/// Every blob the database refers to.
#[derive(Default)]
pub struct References {
    /// All referenced digests (lower-case hex), required or not.
    pub all: HashSet<String>,
    /// The rows whose blob must exist, by digest.
    pub required: HashMap<String, Vec<RequiredRef>>,
    /// Rows of optional (mirror cache) columns.
    pub optional_rows: u64,
}

pub fn load(conn: &Conn<'_>) -> Result<References, MaintenanceError> {
    let mut out = References::default();
    for col in available(conn)? {
        conn.for_each(col.sql, &[], |r| {
            let sha: String = r.get::<String>(0)?.to_ascii_lowercase();
            if col.required {
                let row: String = r.get(1)?;
                out.required
                    .entry(sha.clone())
                    .or_default()
                    .push(RequiredRef {
                        sha: sha.clone(),
                        column: col.name,
                        row,
                    });
            } else {
                out.optional_rows += 1;
            }
            out.all.insert(sha);
            Ok(())
        })?;
    }
    Ok(out)
}

/// Is `sha` referenced right now (a fresh query: the server may have
/// changed things since [`load`])? The same question as the garbage
/// collector's `store::releases::blob_referenced`, asked only of the
/// columns this database has (a data folder of an older airlock, not yet
/// migrated, lacks some tables).
pub fn referenced_now(conn: &Conn<'_>, sha: &str) -> Result<bool, MaintenanceError> {
    for col in available(conn)? {
        let (table, column) = col.name.split_once('.').expect("table.column");
        let hit: bool = conn.query_one(
            &format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE {column} = ?1)"),
            &[&sha],
            |r| r.get(0),
        )?;
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The [`COLUMNS`] this database has.
pub fn available(conn: &Conn<'_>) -> Result<Vec<&'static RefColumn>, MaintenanceError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "SELECT EXISTS(SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        Dialect::Postgres => {
            "SELECT EXISTS(SELECT 1 FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2)"
        }
    };
    let mut out = Vec::new();
    for col in COLUMNS {
        let (table, column) = col.name.split_once('.').expect("table.column");
        let exists: bool = conn.query_one(sql, &[&table, &column], |r| r.get(0))?;
        if exists {
            out.push(col);
        }
    }
    Ok(out)
}

/// A file below `blobs/`.
pub enum BlobEntry {
    /// `aa/bb/<sha256>` with matching prefixes.
    Blob { sha: String, path: PathBuf },
    /// Anything else (reported, never removed).
    Stray(PathBuf),
}

/// Where a blob lives below `root` (the `blobs/` folder).
pub fn blob_path(root: &Path, sha: &str) -> PathBuf {
    root.join(&sha[0..2]).join(&sha[2..4]).join(sha)
}

fn is_sha_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every file below `root`, classified, in path order. A missing `root`
/// is empty. The 256 top-level folders are read on every core (a store of
/// a million blobs has 65,536 leaf folders).
pub fn walk_blobs(root: &Path) -> Result<Vec<BlobEntry>, MaintenanceError> {
    walk_blobs_paced(root, Pace::full())
}

/// [`walk_blobs`] by `pace`'s threads, paced after each top-level folder.
pub fn walk_blobs_paced(root: &Path, pace: Pace) -> Result<Vec<BlobEntry>, MaintenanceError> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MaintenanceError::io("reading", root, e)),
    };
    let mut entries: Vec<_> = rd
        .collect::<Result<_, _>>()
        .map_err(|e| MaintenanceError::io("reading", root, e))?;
    entries.sort_by_key(|e| e.file_name());
    let found = super::par_map(
        &entries,
        pace,
        || (),
        |_, e| {
            let path = e.path();
            let ft = e
                .file_type()
                .map_err(|err| MaintenanceError::io("reading", &path, err))?;
            let mut out = Vec::new();
            if ft.is_dir() {
                walk(root, &path, 1, &mut out)?;
            } else {
                out.push(BlobEntry::Stray(path));
            }
            Ok(out)
        },
    )?;
    Ok(found.into_iter().flatten().collect())
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<BlobEntry>,
) -> Result<(), MaintenanceError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth == 0 => return Ok(()),
        Err(e) => return Err(MaintenanceError::io("reading", dir, e)),
    };
    let mut entries: Vec<_> = rd
        .collect::<Result<_, _>>()
        .map_err(|e| MaintenanceError::io("reading", dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let ft = e
            .file_type()
            .map_err(|err| MaintenanceError::io("reading", &path, err))?;
        if ft.is_dir() {
            walk(root, &path, depth + 1, out)?;
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let well_placed =
            ft.is_file() && depth == 2 && is_sha_hex(&name) && blob_path(root, &name) == path;
        out.push(if well_placed {
            BlobEntry::Blob { sha: name, path }
        } else {
            BlobEntry::Stray(path)
        });
    }
    Ok(())
}

/// Bytes read at a time by [`hash_file_with`].
pub const HASH_BUFFER: usize = 256 * 1024;

/// Re-hash a file, streaming (bounded memory).
pub fn hash_file(path: &Path) -> Result<(String, u64), MaintenanceError> {
    hash_file_with(path, &mut vec![0u8; HASH_BUFFER])
}

/// [`hash_file`] reading through `buf`: a caller hashing many files
/// allocates it once (a fresh 256 KiB buffer per small blob cost more
/// than hashing the blob).
pub fn hash_file_with(path: &Path, buf: &mut [u8]) -> Result<(String, u64), MaintenanceError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| MaintenanceError::io("opening", path, e))?;
    let mut h = crate::digest::Sha256Hasher::default();
    let mut total = 0u64;
    loop {
        let n = f
            .read(buf)
            .map_err(|e| MaintenanceError::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finish().to_hex(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row in every table that names a blob, each with its own digest:
    /// [`load`] must see all of them, and so must the garbage collector's
    /// `blob_referenced` (else `fsck --repair` and the server disagree on
    /// what may be deleted).
    #[test]
    fn every_blob_column_is_known_to_fsck_and_to_garbage_collection() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Db::open(&dir.path().join("airlock.sqlite3")).unwrap();
        let sha = |n: u8| format!("{:02x}", n).repeat(32);
        let shas: Vec<String> = (1..=7).map(sha).collect();
        let s = shas.clone();
        db.write_blocking(move |tx| {
            tx.batch(&format!(
                "INSERT INTO users (id, name, created) VALUES (1, 'u', 0);
                 INSERT INTO indexes (id, user_id, name, config, created) VALUES (1, 1, 'i', '{{}}', 0);
                 INSERT INTO projects (id, index_id, name, display_name, created) VALUES (1, 1, 'p', 'p', 0);
                 INSERT INTO releases (id, project_id, version, metadata, created) VALUES (1, 1, '1', '{{}}', 0);
                 INSERT INTO files (id, index_id, release_id, filename, kind, sha256, size, metadata_sha256, uploader, created)
                   VALUES (1, 1, 1, 'p-1.tar.gz', 'sdist', '{}', 1, '{}', 'u', 0);
                 INSERT INTO toxresults (file_id, sha256, summary, created) VALUES (1, '{}', '{{}}', 0);
                 INSERT INTO doczips (release_id, sha256, size, uploader, created) VALUES (1, '{}', 1, 'u', 0);
                 INSERT INTO mirror_files (index_id, project, filename, url, sha256, metadata_sha256)
                   VALUES (1, 'p', 'p-1.zip', 'http://x', '{}', '{}');
                 INSERT INTO mirror_links (index_id, project, filename, url, pinned_sha256)
                   VALUES (1, 'p', 'p-2.zip', 'http://x', '{}');",
                s[0], s[1], s[2], s[3], s[4], s[5], s[6]
            ))?;
            Ok(())
        })
        .unwrap();
        let raw = crate::store::Db::open_read_only(&dir.path().join("airlock.sqlite3")).unwrap();
        let conn = crate::store::sql::Conn::sqlite(&raw);
        let refs = load(&conn).unwrap();
        assert_eq!(refs.all.len(), COLUMNS.len(), "one digest per column");
        for sha in &shas {
            assert!(refs.all.contains(sha), "{sha} not loaded");
            assert!(referenced_now(&conn, sha).unwrap(), "{sha}");
            let d: crate::digest::Sha256 = sha.parse().unwrap();
            assert!(
                crate::store::releases::blob_referenced(&conn, &d).unwrap(),
                "{sha} not seen by garbage collection"
            );
        }
        assert_eq!(refs.required.len(), 4, "files x2, toxresults, doczips");
        // mirror cache retention may evict exactly the blobs of the optional columns
        for (i, sha) in shas.iter().enumerate() {
            let d: crate::digest::Sha256 = sha.parse().unwrap();
            let stage = crate::store::releases::stage_referenced(&conn, &d).unwrap();
            assert_eq!(
                stage,
                i < 4,
                "{sha}: only files, toxresults and doczips are a stage's"
            );
        }
        assert!(!referenced_now(&conn, &sha(9)).unwrap());
        let d: crate::digest::Sha256 = sha(9).parse().unwrap();
        assert!(!crate::store::releases::blob_referenced(&conn, &d).unwrap());

        // A column added later that holds a sha256 must be listed above
        // (or here, if it does not name a stored blob).
        const NOT_BLOBS: &[&str] = &[
            "mirror_links.malformed_sha256",
            // when a cached mirror blob was last used: keeps nothing stored
            "mirror_blob_use.sha256",
        ];
        let tables: Vec<String> = raw
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for t in tables {
            let cols: Vec<String> = raw
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for c in cols.iter().filter(|c| c.contains("sha256")) {
                let name = format!("{t}.{c}");
                assert!(
                    COLUMNS.iter().any(|k| k.name == name) || NOT_BLOBS.contains(&name.as_str()),
                    "{name} holds a sha256 but neither fsck nor backup knows it"
                );
            }
        }
    }
}
