//! Writing an export (`airlock export DIR`), while the server may run:
//!
//! 1. The database is opened read-only and every table is read inside
//!    **one read transaction**: the records are one consistent state,
//!    whatever the server commits meanwhile.
//! 2. Each table becomes `tables/<name>.ndjson`, one record per line,
//!    columns in the documented order; its SHA-256 and record count go to
//!    the manifest.
//! 3. Every blob a record names is hard-linked (or copied: `--copy`, or
//!    another filesystem) to `files/aa/bb/<sha256>` and **re-hashed there**;
//!    content that does not match its name fails the export.
//! 4. The manifest is written last: a folder without it is not a finished
//!    export. On any failure, what was written is removed.
//!
//! A blob the server's garbage collection removes between the snapshot and
//! its linking (its file was deleted meanwhile) fails the export with a
//! message to run it again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rusqlite::types::ValueRef;

use super::format::{self, BlobsEntry, Check, Manifest, TableEntry, Ty};
use super::ExportError;
use crate::audit::{Head, GENESIS_HASH};
use crate::maintenance::refs;
use crate::maintenance::{MaintenanceError, DB_FILE};

#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Include the mirror tables and the mirror blobs cached now.
    pub with_mirror_files: bool,
    /// Copy blobs even where they could be hard-linked.
    pub copy: bool,
}

#[derive(Debug)]
pub struct ExportReport {
    pub manifest: Manifest,
    pub blobs_linked: u64,
    pub blobs_copied: u64,
}

/// Export the data folder `data` into `dir` (absent or empty).
pub fn export(data: &Path, dir: &Path, opts: ExportOptions) -> Result<ExportReport, ExportError> {
    crate::store::blobs::require_local(data, "airlock export")?;
    crate::store::require_embedded(data, "airlock export")?;
    if !data.join(DB_FILE).is_file() {
        return Err(MaintenanceError::NotADataFolder(data.to_path_buf()).into());
    }
    if !crate::maintenance::is_absent_or_empty(dir)? {
        return Err(ExportError::NotEmpty(dir.to_path_buf(), "export"));
    }
    let conn = crate::maintenance::open_db(data)?;
    let existed = dir.exists();
    let result = export_into(&conn, data, dir, opts);
    if result.is_err() {
        super::remove_written(dir, existed);
    }
    result
}

/// A blob named by the records, and the first record naming it.
struct Wanted {
    required: bool,
    what: String,
}

fn export_into(
    conn: &rusqlite::Connection,
    data: &Path,
    dir: &Path,
    opts: ExportOptions,
) -> Result<ExportReport, ExportError> {
    // Password hashes and webhook secrets: private, like a data folder.
    crate::maintenance::create_private_dir(dir)?;
    let tables_dir = dir.join(format::TABLES_DIR);
    std::fs::create_dir(&tables_dir).map_err(|e| ExportError::io("creating", &tables_dir, e))?;

    // 1. One read transaction for every table.
    conn.execute_batch("BEGIN DEFERRED")?;
    crate::maintenance::check_schema(conn, false)?;
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut audit_head = Head {
        seq: 0,
        hash: GENESIS_HASH.to_string(),
    };
    for table in format::tables(opts.with_mirror_files) {
        let entry = write_table(conn, table, dir, &mut wanted, &mut audit_head)?;
        entries.push(entry);
    }

    // 3. The blobs, re-hashed where they land.
    let src_root = data.join("blobs");
    let dst_root = dir.join(format::FILES_DIR);
    let mut blobs = BlobsEntry::default();
    let (mut linked, mut copied) = (0u64, 0u64);
    let mut link = !opts.copy;
    for (sha, w) in &wanted {
        let from = refs::blob_path(&src_root, sha);
        if !from.is_file() {
            if w.required {
                return Err(ExportError::SourceBlobMissing {
                    sha: sha.clone(),
                    what: w.what.clone(),
                });
            }
            continue; // a mirror file not cached: fetched again on demand
        }
        let to = refs::blob_path(&dst_root, sha);
        if put(&from, &to, &mut link)? {
            linked += 1;
        } else {
            copied += 1;
        }
        let (actual, size) = refs::hash_file(&to)?;
        if actual != *sha {
            return Err(ExportError::BlobMismatch { path: from, actual });
        }
        blobs.count += 1;
        blobs.bytes += size;
    }
    conn.execute_batch("COMMIT")?;

    // 4. The manifest, last.
    let manifest = Manifest {
        format: format::FORMAT_NAME.to_string(),
        format_version: format::FORMAT_VERSION,
        airlock_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: crate::store::schema_version() as u64,
        exported_at: crate::store::now(),
        with_mirror_files: opts.with_mirror_files,
        tables: entries,
        blobs,
        audit_head,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ExportError::Manifest(e.to_string()))?;
    write_synced(
        &dir.join(format::MANIFEST_FILE),
        format!("{text}\n").as_bytes(),
    )?;
    Ok(ExportReport {
        manifest,
        blobs_linked: linked,
        blobs_copied: copied,
    })
}

fn write_table(
    conn: &rusqlite::Connection,
    table: &format::Table,
    dir: &Path,
    wanted: &mut BTreeMap<String, Wanted>,
    audit_head: &mut Head,
) -> Result<TableEntry, ExportError> {
    let path = dir.join(table.file());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| ExportError::io("creating", &path, e))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = crate::digest::Sha256Hasher::default();
    let mut records = 0u64;
    let mut stmt = conn.prepare(&table.select_sql())?;
    let mut rows = stmt.query([])?;
    let mut line = String::new();
    while let Some(row) = rows.next()? {
        records += 1;
        line.clear();
        line.push('{');
        for (i, column) in table.columns.iter().enumerate() {
            let value =
                json_value(row.get_ref(i)?, column).map_err(|reason| ExportError::Malformed {
                    table: table.name,
                    line: records,
                    reason,
                })?;
            if let (Some(sha), Check::Blob | Check::OptionalBlob) = (value.as_str(), column.check) {
                let required = column.check == Check::Blob;
                let w = wanted.entry(sha.to_string()).or_insert_with(|| Wanted {
                    required,
                    what: format!("{}.{} line {records}", table.name, column.name),
                });
                w.required |= required;
            }
            if i > 0 {
                line.push(',');
            }
            line.push_str(&serde_json::to_string(column.name).expect("a string"));
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push_str("}\n");
        if table.name == "audit_log" {
            audit_head.seq = row.get(0)?;
            audit_head.hash = row.get(9)?;
        }
        hasher.update(line.as_bytes());
        out.write_all(line.as_bytes())
            .map_err(|e| ExportError::io("writing", &path, e))?;
    }
    let file = out
        .into_inner()
        .map_err(|e| ExportError::io("writing", &path, e.into_error()))?;
    file.sync_all()
        .map_err(|e| ExportError::io("syncing", &path, e))?;
    Ok(TableEntry {
        name: table.name.to_string(),
        file: table.file(),
        records,
        sha256: hasher.finish().to_hex(),
    })
}

/// A stored value as the format's JSON value for `column`.
fn json_value(v: ValueRef<'_>, column: &format::Column) -> Result<serde_json::Value, String> {
    match (v, column.ty) {
        (ValueRef::Null, _) if column.nullable => Ok(serde_json::Value::Null),
        (ValueRef::Integer(i), Ty::Int) => Ok(i.into()),
        (ValueRef::Text(bytes), Ty::Text) => std::str::from_utf8(bytes)
            .map(|s| serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("{} is not UTF-8 text", column.name)),
        (other, _) => Err(format!(
            "{} holds a {:?} value, the format has {:?}{}",
            column.name,
            other.data_type(),
            column.ty,
            if column.nullable { " or null" } else { "" }
        )),
    }
}

/// Hard-link `from` to `to` while `link` holds (turned off at the first
/// refusal: another filesystem), else copy. Returns whether it linked.
fn put(from: &Path, to: &Path, link: &mut bool) -> Result<bool, ExportError> {
    let parent = to.parent().expect("blob path has a parent");
    std::fs::create_dir_all(parent).map_err(|e| ExportError::io("creating", parent, e))?;
    if *link {
        match std::fs::hard_link(from, to) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ExportError::io("linking", from, e))
            }
            Err(_) => *link = false,
        }
    }
    std::fs::copy(from, to).map_err(|e| ExportError::io("copying", from, e))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| ExportError::io("syncing", to, e))?;
    Ok(false)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| ExportError::io("creating", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| ExportError::io("writing", path, e))
}
