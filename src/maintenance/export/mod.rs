//! `airlock export DIR` and `airlock import DIR --data DATA`: airlock's
//! own data in a stable, versioned format (docs/export-format.md) — to
//! move to another machine or airlock version, to inspect, or to keep.
//!
//! * [`format`]: the manifest, the tables and columns, the value checks.
//! * [`write`]: the export, from a (possibly live) data folder, in one read
//!   transaction; every blob re-hashed as it is written.
//! * [`read`]: the import into an empty or new data folder; everything
//!   validated (manifest, version, every record, every name, every blob
//!   re-hashed, the audit chain), the import recorded as a new audit
//!   entry; on any failure nothing is left behind.

pub mod format;
pub mod read;
pub mod write;

use std::path::{Path, PathBuf};

use super::MaintenanceError;

pub use read::{import, ImportReport};
pub use write::{export, ExportOptions, ExportReport};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Maintenance(#[from] MaintenanceError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not empty: {1} only writes into an empty or new folder, nothing was written")]
    NotEmpty(PathBuf, &'static str),
    #[error("{0}")]
    TargetInUse(String),
    #[error("{0} has no {m}: is it an airlock export?", m = format::MANIFEST_FILE)]
    NotAnExport(PathBuf),
    #[error(
        "the export's format_version is {0}; this airlock reads version {v} only",
        v = format::FORMAT_VERSION
    )]
    UnknownVersion(String),
    #[error("the manifest {m} is malformed: {0}", m = format::MANIFEST_FILE)]
    Manifest(String),
    #[error("{table} line {line}: {reason}")]
    Malformed {
        table: &'static str,
        line: u64,
        reason: String,
    },
    #[error("{table} line {line}: duplicate key {key}")]
    DuplicateKey {
        table: &'static str,
        line: u64,
        key: String,
    },
    #[error("{table} line {line}: {column} {value:?} is not a safe name: {reason}")]
    UnsafeName {
        table: &'static str,
        line: u64,
        column: &'static str,
        value: String,
        reason: String,
    },
    #[error("{table}: {reason}")]
    TableMismatch { table: String, reason: String },
    #[error("blob {path} hashes to {actual}, not to its name")]
    BlobMismatch { path: PathBuf, actual: String },
    #[error("{table} line {line}: blob {sha} is not in the export")]
    BlobMissing {
        table: &'static str,
        line: u64,
        sha: String,
    },
    #[error("{0} does not belong in an export's files/ (only regular files files/aa/bb/<sha256>)")]
    StrayFile(PathBuf),
    #[error("blob {0} is in the export but no record refers to it")]
    Unreferenced(String),
    #[error("the exported audit chain is broken: {0}")]
    AuditChain(String),
    #[error(
        "blob {sha} ({what}) is missing from the data folder: it was removed while the \
         export ran (run the export again) or is lost (run airlock fsck)"
    )]
    SourceBlobMissing { sha: String, what: String },
}

impl ExportError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Remove what an export or import wrote into `dir`, which was empty or
/// absent (`existed`) before: everything in it is ours.
pub(crate) fn remove_written(dir: &Path, existed: bool) {
    if existed {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = match e.file_type() {
                    Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                    _ => std::fs::remove_file(&p),
                };
            }
        }
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}
