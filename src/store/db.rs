//! SQLite access: one writer connection, a small pool of readers, WAL mode,
//! and schema migrations versioned in code (`PRAGMA user_version`).
//!
//! All SQL runs on tokio's blocking pool so the async runtime never waits on
//! disk. Writes are serialised through the single writer connection, which is
//! exactly SQLite's own rule; readers run concurrently thanks to WAL.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::sql::Conn;

use super::schema::MIGRATIONS;
use super::StoreError;

const READERS: usize = 4;

pub struct Db {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per pooled reader: async reads queue here instead of
    /// opening extra connections (each with its own page cache) under load.
    read_permits: tokio::sync::Semaphore,
    path: std::path::PathBuf,
    /// Counts committed write transactions; followers (the audit JSON-lines
    /// export) wake on every change.
    commits: tokio::sync::watch::Sender<u64>,
    /// Counts committed write transactions that may change what a page or
    /// listing shows: all but [`Db::write_log`]'s.
    content_commits: std::sync::atomic::AtomicU64,
}

impl Db {
    /// Open (creating if needed) the database at `path` and bring its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        let mut writer = open_conn(path, false)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_conn(path, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Self {
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            read_permits: tokio::sync::Semaphore::new(READERS),
            path: path.to_path_buf(),
            commits: tokio::sync::watch::Sender::new(0),
            content_commits: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Run `f` against a read-only connection on the blocking pool.
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
        let conn = self.readers.lock().map_err(poisoned)?.pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path, true)?,
        };
        let out = f(&Conn::sqlite(&conn));
        let mut pool = self.readers.lock().map_err(poisoned)?;
        if pool.len() < READERS {
            pool.push(conn);
        }
        out
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
        let queued = std::time::Instant::now();
        let mut conn = self.writer.lock().map_err(poisoned)?;
        crate::metrics::record_db_wait(crate::metrics::DbConn::Writer, queued.elapsed());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&Conn::sqlite(&tx))?;
        tx.commit()?;
        if changes_content {
            self.content_commits
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        Ok(out)
    }

    /// How many write transactions that may change what pages show this
    /// process has committed so far (see [`Db::write_log`]).
    pub fn content_commits(&self) -> u64 {
        self.content_commits
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A receiver that changes after every committed write transaction.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Open the database file at `path` read-only, without migrating it
    /// (for inspecting a data folder while no server runs, e.g.
    /// `airlock audit verify --data DIR`).
    pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Internal(format!(
                "{} does not exist: is this an airlock data folder?",
                path.display()
            )));
        }
        open_conn(path, true)
    }

    /// Checkpoint the WAL into the main file; called at shutdown so the data
    /// folder is a single consistent file when the server is stopped.
    pub fn close(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().map_err(poisoned)?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Internal("database lock poisoned by an earlier panic".into())
}

fn open_conn(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;",
        )?;
    }
    // 4 MiB of page cache per connection (five of them): the hot paths are
    // point lookups by index, and the OS page cache holds the rest of the
    // file; at 16 MiB each, a 100,000-project database grew the server's
    // RSS by ~60 MiB under load for no measurable gain.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -4000;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the data folder's schema version {current} is newer than this airlock ({}); \
             upgrade airlock or use another data folder",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
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
