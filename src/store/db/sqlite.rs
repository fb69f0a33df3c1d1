//! The embedded engine: one SQLite file in the data folder, one writer
//! connection, a small pool of readers, WAL mode, and schema migrations
//! versioned in code (`PRAGMA user_version`).
//!
//! Writes are serialised through the single writer connection, which is
//! exactly SQLite's own rule; readers run concurrently thanks to WAL.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::store::schema::MIGRATIONS;
use crate::store::sql::Conn;
use crate::store::StoreError;

/// Pooled read-only connections (async reads queue for one of them).
pub(super) const READERS: usize = 4;

pub(super) struct SqliteDb {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

impl SqliteDb {
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = open_conn(path, false)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_conn(path, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            path: path.to_path_buf(),
        })
    }

    pub(super) fn read<T>(
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

    /// `f` in one immediate transaction on the writer, committed if it
    /// returns `Ok`.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let queued = std::time::Instant::now();
        let mut conn = self.writer.lock().map_err(poisoned)?;
        crate::metrics::record_db_wait(crate::metrics::DbConn::Writer, queued.elapsed());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&Conn::sqlite(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    pub(super) fn close(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().map_err(poisoned)?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Internal("database lock poisoned by an earlier panic".into())
}

pub(super) fn open_conn(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
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
