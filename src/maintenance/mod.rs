//! Keeping and moving a data folder (issue 18): `airlock backup`,
//! `airlock restore` and `airlock fsck`. Everything here works on a data
//! folder's data directly — the database opened read-only (the server
//! may be running), the blob tree walked on disk, or for a cluster node's
//! folder the PostgreSQL database and bucket it records ([`source`]) —
//! and never through the registry.
//!
//! * [`fsck`] checks a data folder: every blob re-hashed, every row's blob
//!   present, unreferenced blobs, core metadata against the archive, the
//!   audit chain. Its `--repair` removes unreferenced blobs only.
//! * [`gc`] evicts least recently used mirror cache blobs (`airlock gc`,
//!   and the server's periodic run); it writes, under the database's write
//!   lock, and never touches a blob a stage row references.
//! * [`backup`] takes a consistent copy while the server runs, verifies it
//!   with [`fsck`], and restores one into an empty folder.
//! * [`export`] writes airlock's data in a stable, versioned format
//!   (docs/export-format.md) and imports it into an empty folder.

pub mod backup;
pub mod devpi_import;
pub mod export;
pub mod fsck;
pub mod gc;
pub mod migrate;
pub mod pace;
mod refs;
pub(crate) mod source;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::store::StoreError;
pub use pace::Pace;

pub use crate::store::DB_FILE;
/// The token-signing secret inside a data folder (see `auth::token`).
pub const SECRET_FILE: &str = "secret";

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} has no {DB_FILE}: is it an airlock data folder (or backup)?")]
    NotADataFolder(PathBuf),
    #[error("{0} is not empty: {1} only writes into an empty or new folder, nothing was written")]
    NotEmpty(PathBuf, &'static str),
    #[error("the database's schema version {found} is newer than this airlock ({known}); use a newer airlock")]
    SchemaTooNew { found: i64, known: usize },
    #[error("the database's schema version {found} is older than this airlock's ({known}): start this airlock's server once to migrate it")]
    SchemaTooOld { found: i64, known: usize },
    #[error(transparent)]
    Export(Box<export::ExportError>),
    #[error("{what} failed verification ({problems} problem(s)):\n{summary}")]
    VerificationFailed {
        what: String,
        problems: usize,
        summary: String,
    },
}

impl MaintenanceError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Is `dir` absent or an empty directory? (A file is neither.)
pub(crate) fn is_absent_or_empty(dir: &Path) -> Result<bool, MaintenanceError> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(MaintenanceError::io("reading", dir, e)),
    }
}

/// Create `dir` (and parents) with mode 0700 for the last component: it
/// will hold the database and the token secret.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), MaintenanceError> {
    std::fs::create_dir_all(dir).map_err(|e| MaintenanceError::io("creating", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| MaintenanceError::io("restricting", dir, e))?;
    }
    Ok(())
}

/// Copy the secret file with mode 0600 (created so, never widened first).
pub(crate) fn copy_private(from: &Path, to: &Path) -> Result<(), MaintenanceError> {
    let bytes = std::fs::read(from).map_err(|e| MaintenanceError::io("reading", from, e))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(to)
        .map_err(|e| MaintenanceError::io("creating", to, e))?;
    std::io::Write::write_all(&mut f, &bytes)
        .map_err(|e| MaintenanceError::io("writing", to, e))?;
    f.sync_all()
        .map_err(|e| MaintenanceError::io("syncing", to, e))?;
    Ok(())
}

/// Open a data folder's database read-only and refuse one from a newer
/// airlock (its tables may mean something else).
pub(crate) fn open_db(dir: &Path) -> Result<rusqlite::Connection, MaintenanceError> {
    crate::store::require_embedded(dir, "this command")?;
    let file = dir.join(DB_FILE);
    if !file.is_file() {
        return Err(MaintenanceError::NotADataFolder(dir.to_path_buf()));
    }
    let conn = crate::store::Db::open_read_only(&file)?;
    check_schema(&conn, true)?;
    Ok(conn)
}

/// Refuse a database from a newer airlock and, unless `older_ok`, one that
/// this airlock's server has not migrated yet (commands that write or read
/// every table rely on this airlock's schema).
pub(crate) fn check_schema(
    conn: &rusqlite::Connection,
    older_ok: bool,
) -> Result<(), MaintenanceError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = crate::store::schema_version();
    if version as usize > known {
        return Err(MaintenanceError::SchemaTooNew {
            found: version,
            known,
        });
    }
    if !older_ok && (version as usize) < known {
        return Err(MaintenanceError::SchemaTooOld {
            found: version,
            known,
        });
    }
    Ok(())
}

/// `f` applied to every item by `pace`'s threads (by default one per core,
/// at most 8), each thread with its own scratch value from `init` (a read
/// buffer) and paced after every item; the results in the items' order.
/// The first error stops every thread.
pub(crate) fn par_map<T, R, S>(
    items: &[T],
    pace: Pace,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> Result<R, MaintenanceError> + Sync,
) -> Result<Vec<R>, MaintenanceError>
where
    T: Sync,
    R: Send,
{
    let workers = pace.threads().min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut out: Vec<Option<R>> = Vec::with_capacity(items.len());
    out.resize_with(items.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut scratch = init();
                    let mut pacer = pace.pacer();
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            break;
                        };
                        let result = f(&mut scratch, item);
                        pacer.step();
                        match result {
                            Ok(r) => done.push((i, r)),
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        let mut first_error = None;
        for h in handles {
            match h.join().expect("an fsck worker thread panicked") {
                Ok(done) => {
                    for (i, r) in done {
                        out[i] = Some(r);
                    }
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out
                .into_iter()
                .map(|r| r.expect("every item was processed"))
                .collect()),
        }
    })
}
