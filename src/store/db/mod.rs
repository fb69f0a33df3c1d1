//! The metadata database behind one interface: the embedded SQLite file
//! ([`sqlite`], the default) or a shared PostgreSQL database
//! ([`postgres`], `--database postgres://`). Callers hand a closure that
//! gets a [`Conn`] to [`Db::read`] (one consistent snapshot) or
//! [`Db::write`] (one transaction, committed if the closure returns `Ok`,
//! serialised with every other write: by SQLite's single writer, or by a
//! PostgreSQL advisory lock across all nodes); they never learn which
//! engine runs it.
//!
//! All SQL runs on tokio's blocking pool so the async runtime never waits on
//! the database.

pub mod changes;
pub mod location;
mod postgres;
mod sqlite;
pub mod tls;

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

pub use self::location::{DatabaseLocation, PgLocation};
pub use self::postgres::{describe as describe_postgres_error, AdvisoryLock, WRITE_LOCK};
use super::sql::Conn;
use super::StoreError;

/// Connections to PostgreSQL one node keeps at most.
pub const PG_CONNECTIONS: usize = 16;

/// The namespaces of cluster locks ([`Db::cluster_lock`]), the first key
/// of PostgreSQL's two-key advisory locks (distinct from the one-key
/// [`WRITE_LOCK`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum LockSpace {
    /// A mirror file being fetched from upstream (key: its sha256's first
    /// four bytes): one node fetches, the others wait and read the blob.
    MirrorFetch = 0x6d69_7272,
}

enum Engine {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

pub struct Db {
    engine: Engine,
    /// One permit per pooled connection: async reads queue here instead of
    /// opening extra connections (each with its own page cache) under load.
    read_permits: tokio::sync::Semaphore,
    /// Counts committed write transactions; followers (the audit JSON-lines
    /// export) wake on every change.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// Counts committed write transactions that may change what a page or
    /// listing shows: all but [`Db::write_log`]'s.
    content_commits: std::sync::atomic::AtomicU64,
}

impl Db {
    /// Open (creating if needed) the SQLite database at `path` and bring its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        Ok(Self::with_engine(
            Engine::Sqlite(sqlite::SqliteDb::open(path)?),
            sqlite::READERS,
        ))
    }

    /// Connect to the PostgreSQL database `location` (password from the
    /// environment: [`location::password_from_env`]) and bring its schema up
    /// to date.
    pub fn open_postgres(location: &PgLocation) -> Result<Arc<Self>, StoreError> {
        let password = location::password_from_env().map_err(StoreError::Internal)?;
        let pg = postgres::PgDb::open(location, password.as_deref(), PG_CONNECTIONS)?;
        // one connection is left for writes when reads fill the rest
        let readers = pg.max_connections.saturating_sub(1).max(1);
        let mut advanced = pg.feed.subscribe();
        let db = Self::with_engine(Engine::Postgres(pg), readers);
        // followers wake on every other node's commits too
        let commits = Arc::clone(&db.commits);
        if let Engine::Postgres(pg) = &db.engine {
            pg.spawn(async move {
                while advanced.changed().await.is_ok() {
                    commits.send_modify(|n| *n = n.wrapping_add(1));
                }
            });
        }
        Ok(db)
    }

    fn with_engine(engine: Engine, readers: usize) -> Arc<Self> {
        Arc::new(Self {
            engine,
            read_permits: tokio::sync::Semaphore::new(readers),
            commits: Arc::new(tokio::sync::watch::Sender::new(0)),
            content_commits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Whether this is the shared PostgreSQL engine.
    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// Run `f` against a read-only snapshot on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let queued = std::time::Instant::now();
        let _permit = self
            .read_permits
            .acquire()
            .await
            .map_err(|e| StoreError::Internal(format!("database closed: {e}")))?;
        crate::metrics::record_db_wait(crate::metrics::DbConn::Reader, queued.elapsed());
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }

    /// Run `f` inside one write transaction on the blocking pool; the
    /// transaction commits only if `f` returns `Ok`.
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }

    /// [`Db::write`] for a transaction that only appends to a log (audit
    /// entries, security alerts), refreshes a timestamp no page shows, or
    /// maintains lookup tables no page shows (the typosquat index): it
    /// does not advance [`Db::content_commits`], so cached pages stay valid.
    /// Anything that changes a listed project, file, release, user or index
    /// must use [`Db::write`].
    pub async fn write_log<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.commit(f, false))
            .await
            .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }

    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.engine {
            Engine::Sqlite(db) => db.read(f),
            Engine::Postgres(db) => db.read(f),
        }
    }

    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.commit(f, true)
    }

    fn commit<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
        changes_content: bool,
    ) -> Result<T, StoreError> {
        let out = match &self.engine {
            Engine::Sqlite(db) => db.write(f)?,
            Engine::Postgres(db) => db.write(f, changes_content)?,
        };
        if changes_content {
            self.content_commits
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        Ok(out)
    }

    /// A number that grows with every committed write transaction that may
    /// change what pages show (see [`Db::write_log`]): this process's, and
    /// on PostgreSQL every node's as far as this node has seen them (the
    /// change serial; [`Db::sync`] brings that up to date).
    pub fn content_commits(&self) -> u64 {
        let local = self
            .content_commits
            .load(std::sync::atomic::Ordering::SeqCst);
        match &self.engine {
            Engine::Sqlite(_) => local,
            Engine::Postgres(db) => local + db.feed.seen().max(0) as u64,
        }
    }

    /// On PostgreSQL, bring this node's view of the change serial up to date
    /// with every write committed anywhere before this call, and return it
    /// ([`changes::ChangeFeed::sync`]); `None` on SQLite, where this
    /// process makes every write itself.
    pub async fn sync(&self) -> Option<i64> {
        match &self.engine {
            Engine::Sqlite(_) => None,
            Engine::Postgres(db) => Some(db.feed.sync().await),
        }
    }

    /// On PostgreSQL, the change serial as far as this node has seen it
    /// (notifications and periodic reads), without waiting; `None` on
    /// SQLite.
    pub fn seen_serial(&self) -> Option<i64> {
        match &self.engine {
            Engine::Sqlite(_) => None,
            Engine::Postgres(db) => Some(db.feed.seen()),
        }
    }

    /// A receiver that changes after every committed write transaction.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// On PostgreSQL, wait until this node holds the cluster-wide lock
    /// `(space, key)` (a session-level advisory lock on a connection of its
    /// own, released with [`AdvisoryLock::release`] or when that connection
    /// or the node dies). `None` on SQLite (one process: its own locks
    /// suffice) and when the lock cannot be had within `wait` (logged; the
    /// caller goes on without it, as a single node would).
    pub async fn cluster_lock(
        &self,
        space: LockSpace,
        key: i32,
        wait: std::time::Duration,
    ) -> Option<AdvisoryLock> {
        let Engine::Postgres(db) = &self.engine else {
            return None;
        };
        match tokio::time::timeout(wait, db.lock(space as i32, key)).await {
            Ok(Ok(lock)) => Some(lock),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, ?space, "a cluster lock could not be taken; going on without it");
                None
            }
            Err(_) => {
                tracing::warn!(
                    ?space,
                    "a cluster lock was not granted in time; going on without it"
                );
                None
            }
        }
    }

    /// Open the SQLite file at `path` read-only, without migrating it
    /// (for inspecting a data folder while no server runs, e.g.
    /// `airlock audit verify --data DIR`).
    pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Internal(format!(
                "{} does not exist: is this an airlock data folder?",
                path.display()
            )));
        }
        sqlite::open_conn(path, true)
    }

    /// SQLite: checkpoint the WAL into the main file, so the data folder is
    /// a single consistent file when the server is stopped. PostgreSQL:
    /// close the pool's connections.
    pub fn close(&self) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sqlite(db) => db.close(),
            Engine::Postgres(db) => {
                db.close();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn log_writes_do_not_advance_the_content_counter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("airlock.db")).expect("open");
        let commits = db.subscribe_commits();
        let before = (db.content_commits(), *commits.borrow());
        db.write(|tx| tx.batch("CREATE TABLE t(x)"))
            .await
            .expect("write");
        assert_eq!(db.content_commits(), before.0 + 1);
        db.write_log(|tx| tx.execute("INSERT INTO t VALUES (1)", &[]))
            .await
            .expect("log write");
        assert_eq!(db.content_commits(), before.0 + 1, "a log append");
        assert_eq!(*commits.borrow(), before.1 + 2, "followers see both");
        let failed: Result<(), StoreError> = db
            .write(|tx| {
                tx.execute("INSERT INTO t VALUES (2)", &[])?;
                Err(StoreError::Internal("rolled back".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(db.content_commits(), before.0 + 1, "nothing committed");
    }
}
