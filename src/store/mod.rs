//! Persistent state: SQLite metadata ([`db`], repository modules) and the
//! content-addressed blob store ([`blobs`]). Every SQL statement of airlock
//! lives in this module.

pub mod alerts;
pub mod audit;
pub mod blobs;
pub mod cluster_secrets;
pub mod db;
pub mod descriptions;
pub mod doczips;
pub mod indexes;
pub mod mirror;
pub mod mirror_cache;
pub mod overview;
pub mod pending;
pub mod releases;
pub(crate) mod schema;
pub mod schema_pg;
pub mod search;
pub mod sessions;
pub mod sql;
pub mod toxresults;
pub mod typo_index;
pub mod typo_rules;
pub mod user_certs;
pub mod users;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use blobs::{BlobLocation, BlobStore, Listed, TempBlob};
pub use db::{DatabaseLocation, Db, PgLocation};

/// How many schema migrations this airlock knows (`PRAGMA user_version`
/// of an up-to-date database).
pub fn schema_version() -> usize {
    schema::MIGRATIONS.len()
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", db::describe_postgres_error(.0))]
    Postgres(tokio_postgres::Error),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Internal(String),
    /// The blob storage cannot be reached or failed (object storage down):
    /// answered as 503, the request may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// A stored object that is not there (object storage).
    #[error("{0}")]
    NotFound(String),
    /// Something this configuration cannot do (a feature that needs the
    /// blobs as local files with `--blobs s3://`).
    #[error("{0}")]
    Unsupported(String),
    /// What a write transaction found changed since the caller looked (a
    /// compare-and-set that failed): answered 409, nothing was written.
    #[error("{0}")]
    Conflict(String),
}

impl From<tokio_postgres::Error> for StoreError {
    /// A database that cannot be reached (connection refused or lost, the
    /// server shutting down or starting, too many connections) is
    /// [`StoreError::Unavailable`], answered 503 so clients retry; anything
    /// else the server said is [`StoreError::Postgres`].
    fn from(e: tokio_postgres::Error) -> Self {
        if postgres_unreachable(&e) {
            Self::Unavailable(format!(
                "the database is unavailable: {}",
                db::describe_postgres_error(&e)
            ))
        } else {
            Self::Postgres(e)
        }
    }
}

fn postgres_unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // class 08: connection exception; 57P01-03: shutting down, crash
        // recovery, cannot connect now; 53300: too many connections
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            false
        }
    }
}

impl StoreError {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The embedded database's file in a data folder.
pub const DB_FILE: &str = "airlock.sqlite3";

/// What a command that opens the embedded database file directly says
/// about a data folder whose metadata is in PostgreSQL; `Ok` otherwise.
pub fn require_embedded(data_dir: &Path, what: &str) -> Result<(), StoreError> {
    match std::fs::read_to_string(data_dir.join(db::location::LOCATION_FILE)) {
        Ok(url) => Err(StoreError::Unsupported(format!(
            "{what} works on the embedded database only: the metadata of {} is in {} \
             (docs/scale-out.md)",
            data_dir.display(),
            url.trim()
        ))),
        Err(_) => Ok(()),
    }
}

/// The data folder: database plus blobs.
pub struct Store {
    pub db: Arc<Db>,
    /// Shared with the mirror's background downloads.
    pub blobs: Arc<BlobStore>,
    pub data_dir: PathBuf,
}

impl Store {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_blobs(data_dir, &BlobLocation::Local)
    }

    /// Open the data folder with its blobs at `blobs` (`--blobs`).
    pub fn open_with_blobs(data_dir: &Path, blobs: &BlobLocation) -> Result<Self, StoreError> {
        Self::open_with(data_dir, &DatabaseLocation::Local, blobs)
    }

    /// Open the data folder with its metadata at `database` (`--database`)
    /// and its blobs at `blobs` (`--blobs`). A folder records where its
    /// metadata is ([`db::location::LOCATION_FILE`]): one whose metadata is
    /// in PostgreSQL is refused without `--database`, and one that holds an
    /// embedded database is refused with it (its data would silently stay
    /// behind).
    pub fn open_with(
        data_dir: &Path,
        database: &DatabaseLocation,
        blobs: &BlobLocation,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io("creating", data_dir, e))?;
        restrict_permissions(data_dir);
        let marker = data_dir.join(db::location::LOCATION_FILE);
        let sqlite_file = data_dir.join(DB_FILE);
        let db = match database {
            DatabaseLocation::Local => {
                if let Ok(url) = std::fs::read_to_string(&marker) {
                    // both settings missing are said at once
                    let blobs_too = match (
                        blobs,
                        std::fs::read_to_string(data_dir.join(blobs::LOCATION_FILE)),
                    ) {
                        (BlobLocation::Local, Ok(b)) => {
                            format!(
                                "; its files are in {}: add --blobs '{}'",
                                b.trim(),
                                b.trim()
                            )
                        }
                        _ => String::new(),
                    };
                    return Err(StoreError::Unsupported(format!(
                        "the metadata of {} is in {}: start airlock with --database {} (or \
                         delete {} to start an embedded database there){blobs_too}",
                        data_dir.display(),
                        url.trim(),
                        url.trim(),
                        marker.display()
                    )));
                }
                Db::open(&sqlite_file)?
            }
            DatabaseLocation::Postgres(l) => {
                if sqlite_file.exists() {
                    return Err(StoreError::Unsupported(format!(
                        "{} holds an embedded database ({}); with --database its data would \
                         stay behind: give a new data folder for this node",
                        data_dir.display(),
                        sqlite_file.display()
                    )));
                }
                let db = Db::open_postgres(l)?;
                std::fs::write(&marker, format!("{l}\n"))
                    .map_err(|e| StoreError::io("writing", &marker, e))?;
                db
            }
        };
        let blobs = Arc::new(BlobStore::open_at(data_dir, blobs)?);
        Ok(Self {
            db,
            blobs,
            data_dir: data_dir.to_path_buf(),
        })
    }
}

impl Store {
    /// Open the blobs, and only the blobs, to the process's group (a front
    /// proxy sending files after `--accel-redirect`): the data folder
    /// becomes 0710 (its group may pass through, not list it), `blobs/`
    /// is shared (`BlobStore::share_with_group`), and everything else in
    /// the data folder (database, secret, tmp/) loses any group or other
    /// permission. Returns how many blob entries changed.
    #[cfg(unix)]
    pub fn share_blobs_with_group(&self) -> Result<u64, StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = &self.data_dir;
        for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io("listing", dir, e))? {
            let entry = entry.map_err(|e| StoreError::io("listing", dir, e))?;
            let path = entry.path();
            if entry.file_name() == "blobs" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| StoreError::io("reading", &path, e))?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|e| StoreError::io("restricting", &path, e))?;
            }
        }
        let changed = self.blobs.share_with_group()?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710))
            .map_err(|e| StoreError::io("sharing", dir, e))?;
        Ok(changed)
    }
}

#[cfg(unix)]
fn restrict_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_permissions(_dir: &Path) {}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
