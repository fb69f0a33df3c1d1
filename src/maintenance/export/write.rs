//! Writing an export (`airlock export DIR`), while the server may run:
//!
//! 1. The database is opened read-only (or, for a cluster node's folder,
//!    the PostgreSQL database it records) and every table is read inside
//!    **one read transaction**: the records are one consistent state,
//!    whatever the server (or any node) commits meanwhile.
//! 2. Each table becomes `tables/<name>.ndjson`, one record per line,
//!    columns in the documented order; its SHA-256 and record count go to
//!    the manifest.
//! 3. Every blob a record names is hard-linked (or copied: `--copy`,
//!    another filesystem, or downloaded from the bucket) to
//!    `files/aa/bb/<sha256>` and **re-hashed there**;
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

use super::format::{self, BlobsEntry, Check, Manifest, TableEntry, Ty};
use super::ExportError;
use crate::audit::{Head, GENESIS_HASH};
use crate::maintenance::refs;
use crate::maintenance::source::{self, Blobs, Metadata};
use crate::maintenance::{MaintenanceError, DB_FILE};
use crate::store::sql::{Conn, Row};

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

/// Export the data folder `data` into `dir` (absent or empty). A folder
/// whose metadata is in PostgreSQL or whose files are in a bucket (a
/// cluster node's, docs/scale-out.md) is read from there.
pub fn export(data: &Path, dir: &Path, opts: ExportOptions) -> Result<ExportReport, ExportError> {
    if !source::is_cluster(data) && !data.join(DB_FILE).is_file() {
        return Err(MaintenanceError::NotADataFolder(data.to_path_buf()).into());
    }
    if !crate::maintenance::is_absent_or_empty(dir)? {
        return Err(ExportError::NotEmpty(dir.to_path_buf(), "export"));
    }
    let metadata = Metadata::open(data, false)?;
    let blobs = Blobs::open(data)?;
    let existed = dir.exists();
    let result = metadata.snapshot(|c| export_into(c, &blobs, dir, opts));
    let closed = metadata.close();
    if result.is_err() {
        super::remove_written(dir, existed);
    }
    let report = result?;
    closed?;
    Ok(report)
}

/// A blob named by the records, and the first record naming it.
struct Wanted {
    required: bool,
    what: String,
}

/// The export, inside the read snapshot `conn`.
fn export_into(
    conn: &Conn<'_>,
    source: &Blobs,
    dir: &Path,
    opts: ExportOptions,
) -> Result<ExportReport, ExportError> {
    // Password hashes and webhook secrets: private, like a data folder.
    crate::maintenance::create_private_dir(dir)?;
    let tables_dir = dir.join(format::TABLES_DIR);
    std::fs::create_dir(&tables_dir).map_err(|e| ExportError::io("creating", &tables_dir, e))?;

    // 1. Every table from the one snapshot.
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
    let dst_root = dir.join(format::FILES_DIR);
    let mut blobs = BlobsEntry::default();
    let (mut linked, mut copied) = (0u64, 0u64);
    let mut link = !opts.copy;
    for (sha, w) in &wanted {
        let to = refs::blob_path(&dst_root, sha);
        let parent = to.parent().expect("blob path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| ExportError::io("creating", parent, e))?;
        match source.copy_to(sha, &to, &mut link)? {
            Some(true) => linked += 1,
            Some(false) => copied += 1,
            None if w.required => {
                return Err(ExportError::SourceBlobMissing {
                    sha: sha.clone(),
                    what: w.what.clone(),
                });
            }
            None => continue, // a mirror file not cached: fetched again on demand
        }
        let (actual, size) = refs::hash_file(&to)?;
        if actual != *sha {
            return Err(ExportError::BlobMismatch {
                path: source.describe(sha),
                actual,
            });
        }
        blobs.count += 1;
        blobs.bytes += size;
    }

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
    conn: &Conn<'_>,
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
    let mut line = String::new();
    // the closure's errors must be StoreErrors: the export's own is kept aside
    let mut failed: Option<ExportError> = None;
    let read = conn.for_each_streamed(&table.select_sql(), &[], |row| {
        let mut record = || -> Result<(), ExportError> {
            records += 1;
            line.clear();
            line.push('{');
            for (i, column) in table.columns.iter().enumerate() {
                let value =
                    json_value(row, i, column).map_err(|reason| ExportError::Malformed {
                        table: table.name,
                        line: records,
                        reason,
                    })?;
                if let (Some(sha), Check::Blob | Check::OptionalBlob) =
                    (value.as_str(), column.check)
                {
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
                .map_err(|e| ExportError::io("writing", &path, e))
        };
        record().map_err(|e| {
            let shown = e.to_string();
            failed = Some(e);
            crate::store::StoreError::Internal(shown)
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    read?;
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

/// Column `i` of `row` as the format's JSON value for `column`.
fn json_value(
    row: &Row<'_>,
    i: usize,
    column: &format::Column,
) -> Result<serde_json::Value, String> {
    let value = match column.ty {
        Ty::Int => row
            .get::<Option<i64>>(i)
            .map(|v| v.map(serde_json::Value::from)),
        Ty::Text => row
            .get::<Option<String>>(i)
            .map(|v| v.map(serde_json::Value::String)),
    };
    match value {
        Ok(Some(v)) => Ok(v),
        Ok(None) if column.nullable => Ok(serde_json::Value::Null),
        Ok(None) => Err(format!(
            "{} is null, the format has {:?}",
            column.name, column.ty
        )),
        Err(e) => Err(format!(
            "{}: {e} (the format has {:?}{})",
            column.name,
            column.ty,
            if column.nullable { " or null" } else { "" }
        )),
    }
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
