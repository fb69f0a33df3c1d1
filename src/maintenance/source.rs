//! A data folder opened for reading by a maintenance command, wherever its
//! data lives: the folder records it (`database.location`,
//! `blobs.location`, written by the server when it was started with
//! `--database postgres://` or `--blobs s3://`), so `airlock export --data
//! NODE` reads the cluster that node serves. Credentials come from the
//! environment, as for the server (docs/scale-out.md).
//!
//! Nothing here writes to the folder: the embedded database is opened
//! read-only, and the object store is opened with its temp files in a
//! private work folder of the command's (the node's own `tmp/` belongs to
//! the server that may be running on it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::MaintenanceError;
use crate::digest::Sha256;
use crate::store::sql::Conn;
use crate::store::{blobs, db, BlobLocation, BlobStore, DatabaseLocation, Db, StoreError};

/// Where a data folder's metadata is, opened for reading.
pub(crate) enum Metadata {
    /// The embedded SQLite file, read-only.
    Embedded(rusqlite::Connection),
    /// The cluster's PostgreSQL database.
    Postgres(Arc<Db>),
}

/// Where a data folder's blobs are.
pub(crate) enum Blobs {
    /// `<data>/blobs/`, read in place.
    Dir(PathBuf),
    /// A bucket, with downloads staged in `_work`.
    Bucket {
        store: Box<BlobStore>,
        _work: tempfile::TempDir,
    },
}

/// The recorded location of the folder's metadata.
pub(crate) fn recorded_database(dir: &Path) -> Result<DatabaseLocation, MaintenanceError> {
    match std::fs::read_to_string(dir.join(db::location::LOCATION_FILE)) {
        Ok(url) => url.trim().parse().map_err(|e: String| {
            MaintenanceError::Store(StoreError::Unsupported(format!(
                "{}: {e}",
                dir.join(db::location::LOCATION_FILE).display()
            )))
        }),
        Err(_) => Ok(DatabaseLocation::Local),
    }
}

/// The recorded location of the folder's blobs.
pub(crate) fn recorded_blobs(dir: &Path) -> Result<BlobLocation, MaintenanceError> {
    match std::fs::read_to_string(dir.join(blobs::LOCATION_FILE)) {
        Ok(url) => url.trim().parse().map_err(|e: String| {
            MaintenanceError::Store(StoreError::Unsupported(format!(
                "{}: {e}",
                dir.join(blobs::LOCATION_FILE).display()
            )))
        }),
        Err(_) => Ok(BlobLocation::Local),
    }
}

/// Whether the folder's data is (partly) outside it: metadata in
/// PostgreSQL or blobs in a bucket.
pub(crate) fn is_cluster(dir: &Path) -> bool {
    dir.join(db::location::LOCATION_FILE).exists() || dir.join(blobs::LOCATION_FILE).exists()
}

impl Metadata {
    /// Open the metadata of the data folder `dir` for reading (an embedded
    /// one must be at this airlock's schema unless `older_ok`).
    pub(crate) fn open(dir: &Path, older_ok: bool) -> Result<Self, MaintenanceError> {
        match recorded_database(dir)? {
            DatabaseLocation::Local => {
                let conn = super::open_db(dir)?;
                super::check_schema(&conn, older_ok)?;
                Ok(Self::Embedded(conn))
            }
            // brought to this airlock's schema as a node would on start-up
            DatabaseLocation::Postgres(l) => Ok(Self::Postgres(Db::open_postgres(&l)?)),
        }
    }

    /// `f` on one consistent read snapshot of everything. `E` carries the
    /// command's own errors; a [`StoreError`] of the snapshot itself is
    /// turned into one with `From`.
    pub(crate) fn snapshot<T, E>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        match self {
            Self::Embedded(conn) => {
                let c = Conn::sqlite(conn);
                c.batch("BEGIN DEFERRED")?;
                let out = f(&c);
                // a read transaction: nothing to keep either way
                let _ = c.batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
                out
            }
            Self::Postgres(db) => {
                // the closure's errors must be StoreErrors: the command's
                // own is kept aside and returned as it was
                let failed: Mutex<Option<E>> = Mutex::new(None);
                let out = db.read_blocking(|c| {
                    f(c).map_err(|e| {
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        StoreError::Internal("the snapshot's reader failed".into())
                    })
                });
                match out {
                    Ok(v) => Ok(v),
                    Err(e) => Err(failed
                        .into_inner()
                        .unwrap_or_else(|p| p.into_inner())
                        .unwrap_or_else(|| E::from(e))),
                }
            }
        }
    }

    /// `f` on the database as it is now: each call sees what was committed
    /// before it (a question asked again at the end of a long check).
    pub(crate) fn read<T, E>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        match self {
            // autocommit: every statement reads the latest commit
            Self::Embedded(conn) => f(&Conn::sqlite(conn)),
            Self::Postgres(_) => self.snapshot(f),
        }
    }

    /// Close the connection pool (PostgreSQL).
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        match self {
            Self::Embedded(_) => Ok(()),
            Self::Postgres(db) => db.close(),
        }
    }
}

impl Blobs {
    /// Open the blobs of the data folder `dir` for reading.
    pub(crate) fn open(dir: &Path) -> Result<Self, MaintenanceError> {
        match recorded_blobs(dir)? {
            BlobLocation::Local => Ok(Self::Dir(dir.join("blobs"))),
            location => {
                let work = tempfile::Builder::new()
                    .prefix("airlock-maintenance-")
                    .tempdir()
                    .map_err(|e| MaintenanceError::io("creating", &std::env::temp_dir(), e))?;
                let store = BlobStore::open_beside(dir, &location, work.path())?;
                Ok(Self::Bucket {
                    store: Box::new(store),
                    _work: work,
                })
            }
        }
    }

    /// Copy the blob `sha` to the new file `to` (its folder exists), by a
    /// hard link where `link` allows and the source is a local file (`link`
    /// is turned off at the first refusal: another filesystem). `Ok(None)`
    /// when the blob is not stored; else whether it was linked. The bytes
    /// are not checked here: the caller re-hashes `to`.
    pub(crate) fn copy_to(
        &self,
        sha: &str,
        to: &Path,
        link: &mut bool,
    ) -> Result<Option<bool>, MaintenanceError> {
        match self {
            Self::Dir(root) => {
                let from = super::refs::blob_path(root, sha);
                if !from.is_file() {
                    return Ok(None);
                }
                if *link {
                    match std::fs::hard_link(&from, to) {
                        Ok(()) => return Ok(Some(true)),
                        // removed meanwhile
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                        Err(_) => *link = false,
                    }
                }
                match std::fs::copy(&from, to) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(MaintenanceError::io("copying", &from, e)),
                }
                sync(to)?;
                Ok(Some(false))
            }
            Self::Bucket { store, .. } => {
                let digest: Sha256 = sha.parse().map_err(|_| {
                    StoreError::Corrupt(format!("a row names blob {sha:?}, not a sha256"))
                })?;
                let copy = match store.local_copy(&digest) {
                    Ok(c) => c,
                    Err(StoreError::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                std::fs::copy(copy.path(), to)
                    .map_err(|e| MaintenanceError::io("copying", copy.path(), e))?;
                sync(to)?;
                Ok(Some(false))
            }
        }
    }

    /// Where the blob `sha` is, for messages.
    pub(crate) fn describe(&self, sha: &str) -> PathBuf {
        match self {
            Self::Dir(root) => super::refs::blob_path(root, sha),
            Self::Bucket { .. } => PathBuf::from(format!("object {sha}")),
        }
    }
}

fn sync(path: &Path) -> Result<(), MaintenanceError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| MaintenanceError::io("syncing", path, e))
}
