//! The shared engine (`--database postgres://`): a pool of connections to
//! one PostgreSQL database that every airlock node uses.
//!
//! - **Reads** run in a `REPEATABLE READ READ ONLY` transaction: one
//!   consistent snapshot per read, as a SQLite reader has.
//! - **Writes** run in one `READ COMMITTED` transaction that first takes a
//!   transaction-level advisory lock ([`WRITE_LOCK`]): writes are
//!   serialised across the whole cluster, exactly as SQLite serialises
//!   them on one machine, so every "check again under the write lock" in
//!   `registry/` holds with any number of nodes (the same filename
//!   uploaded on two nodes at once: the second sees the first's row and
//!   gets the 409). Each statement after the lock sees everything
//!   committed before it was granted. The lock is released by the commit
//!   or rollback, or by PostgreSQL when a node dies mid-transaction.
//! - **Migrations** ([`crate::store::schema_pg::MIGRATIONS`], counted in
//!   `airlock_schema.version`) run in one transaction under their own
//!   advisory lock, so nodes starting together apply each exactly once.
//!
//! The driver is async; `store/` functions are synchronous and run on
//! tokio's blocking pool, so the pool's connections live on a small
//! runtime of this engine's own and each statement is waited for there
//! (see [`PgSession`]). A connection that fails to commit or roll back, or
//! whose closure panicked, is closed rather than handed to the next caller
//! in an unknown state.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod};

use super::changes::{ChangeFeed, ADVANCE_SQL};
use super::location::PgLocation;
use crate::store::schema_pg::MIGRATIONS;
use crate::store::sql::{Conn, PgSession};
use crate::store::StoreError;

/// The advisory lock key every write transaction takes ("airlock" in
/// ASCII, then "w").
pub const WRITE_LOCK: i64 = 0x0061_6972_6c6f_6377;
/// The advisory lock key migrations take ("airlock" then "m").
const MIGRATE_LOCK: i64 = 0x0061_6972_6c6f_636d;

/// How long a request waits for a pooled connection, and for a new one to
/// be made, before it is answered 503.
const WAIT: Duration = Duration::from_secs(10);
const CONNECT: Duration = Duration::from_secs(5);
/// Connections one node keeps at most for advisory locks (one per mirror
/// file being fetched at the moment).
const LOCK_CONNECTIONS: usize = 16;

pub(super) struct PgDb {
    pool: Pool,
    /// Connections that hold session-level advisory locks ([`PgDb::lock`]).
    locks: Pool,
    /// The runtime the pool's connections run on; shut down in the
    /// background when the engine is dropped (possibly inside another
    /// runtime, where dropping it would panic).
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pub(super) max_connections: usize,
    /// The cluster's change serial, as this node last read it.
    pub(super) feed: Arc<ChangeFeed>,
}

impl PgDb {
    /// Connect to `location` with `password` (from the environment, never
    /// the URL) and bring the schema up to date.
    pub(super) fn open(
        location: &PgLocation,
        password: Option<&str>,
        max_connections: usize,
    ) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("airlock-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("starting the database runtime: {e}")))?;
        let mut config = location.config().clone();
        if let Some(p) = password {
            config.password(p);
        }
        config
            .connect_timeout(CONNECT)
            .application_name("airlock")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let tls = super::tls::DbTls::for_location(location)?;
        let build = |size: usize| {
            let manager = tls.manager(
                config.clone(),
                ManagerConfig {
                    // a connection that broke is found by its first
                    // statement, which fails and closes it; checking each
                    // one out again with a round trip would cost every read
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(WAIT))
                .create_timeout(Some(CONNECT))
                .recycle_timeout(Some(CONNECT))
                .build()
                .map_err(|e| StoreError::Internal(format!("the database connection pool: {e}")))
        };
        let pool = build(max_connections)?;
        let locks = build(LOCK_CONNECTIONS)?;
        let handle = rt.handle().clone();
        let mut db = Self {
            pool,
            locks,
            rt: Some(rt),
            feed: Arc::new(ChangeFeed::idle()),
            handle,
            max_connections,
        };
        db.migrate()
            .map_err(|e| explain_connect_error(e, location))?;
        db.feed = ChangeFeed::start(&db.handle, config, tls);
        Ok(db)
    }

    fn session(&self) -> Result<PgSession, StoreError> {
        let client = self.handle.block_on(self.pool.get()).map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
            e => StoreError::Unavailable(format!("no database connection: {e}")),
        })?;
        Ok(PgSession::new(client, self.handle.clone()))
    }

    /// `f` inside one transaction opened by `begin`, committed if it returns
    /// `Ok`, rolled back otherwise. `begin` and `commit` are simple-query
    /// batches (one round trip each, whatever they hold).
    fn transaction<T>(
        &self,
        begin: &str,
        commit: &str,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut session = self.session()?;
        if let Err(e) = Conn::postgres(&session).batch(begin) {
            discard(session);
            if !matches!(e, StoreError::Unavailable(_)) {
                return Err(e);
            }
            // A pooled connection from before the server restarted fails
            // its first statement: once more on a new one (every idle one
            // may be stale, so the pool's are dropped first).
            drop(self.pool.retain(|_, _| false));
            session = self.session()?;
            if let Err(e) = Conn::postgres(&session).batch(begin) {
                discard(session);
                return Err(e);
            }
        }
        self.finish(session, commit, f)
    }

    /// `f` in one read-only snapshot. Its BEGIN goes out with `f`'s first
    /// statement, in the same round trip (most reads are one statement:
    /// two round trips instead of three), and a read that ran no statement
    /// sends nothing. A pooled connection whose link has closed (the server
    /// restarted) is replaced first; one whose link turns out closed only
    /// once used makes this read fail (503) and the pool's idle
    /// connections are dropped.
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut session = self.session()?;
        if session.client().is_closed() {
            discard(session);
            drop(self.pool.retain(|_, _| false));
            session = self.session()?;
        }
        session.defer("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        self.finish(session, "COMMIT", f)
    }

    /// Run `f` in the transaction `session` has begun (or will begin with
    /// its first statement), then end it: `commit` if `f` succeeded,
    /// ROLLBACK if not, nothing if no statement ever ran. A connection that
    /// cannot end its transaction, or that panicked, is not reused; one
    /// whose link closed takes the pool's idle ones with it.
    fn finish<T>(
        &self,
        session: PgSession,
        commit: &str,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let out = catch_unwind(AssertUnwindSafe(|| f(&Conn::postgres(&session))));
        let began = !session.begin_pending();
        match out {
            Ok(Ok(value)) if !began => Ok(value),
            Ok(Ok(value)) => match Conn::postgres(&session).batch(commit) {
                Ok(()) => Ok(value),
                Err(e) => {
                    discard(session);
                    Err(e)
                }
            },
            Ok(Err(e)) => {
                if session.client().is_closed() {
                    // the link is gone (the server restarted?): so may be
                    // every idle one's
                    discard(session);
                    drop(self.pool.retain(|_, _| false));
                } else if began && Conn::postgres(&session).batch("ROLLBACK").is_err() {
                    discard(session);
                }
                Err(e)
            }
            Err(panic) => {
                discard(session);
                resume_unwind(panic)
            }
        }
    }

    /// `f` in one write transaction; with `advance`, the transaction also
    /// advances the cluster's change serial (see [`super::changes`]).
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
        advance: bool,
    ) -> Result<T, StoreError> {
        let queued = std::time::Instant::now();
        // the lock is taken in the round trip that begins the transaction,
        // and the serial advanced in the one that commits it
        let begin = format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        );
        let commit = if advance {
            format!("{ADVANCE_SQL}; COMMIT")
        } else {
            "COMMIT".to_string()
        };
        self.transaction(&begin, &commit, |conn| {
            crate::metrics::record_db_wait(crate::metrics::DbConn::Writer, queued.elapsed());
            f(conn)
        })
    }

    /// Start `fut` on this engine's runtime (from any thread or runtime);
    /// it ends with the engine.
    pub(super) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handle.spawn(fut);
    }

    fn migrate(&self) -> Result<(), StoreError> {
        self.transaction("BEGIN", "COMMIT", |conn| {
            conn.query_one("SELECT pg_advisory_xact_lock(?1)", &[&MIGRATE_LOCK], |_| {
                Ok(())
            })?;
            conn.batch("CREATE TABLE IF NOT EXISTS airlock_schema (version BIGINT NOT NULL)")?;
            let current: Option<i64> =
                conn.query_opt("SELECT version FROM airlock_schema", &[], |r| r.get(0))?;
            let current = match current {
                Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
                None => {
                    conn.execute("INSERT INTO airlock_schema (version) VALUES (0)", &[])?;
                    0
                }
            };
            if current > MIGRATIONS.len() {
                return Err(StoreError::Internal(format!(
                    "the database's schema version {current} is newer than this airlock ({}); \
                     upgrade airlock on every node",
                    MIGRATIONS.len()
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
                conn.batch(sql)?;
                let version = (i + 1) as i64;
                conn.execute("UPDATE airlock_schema SET version = ?1", &[&version])?;
                tracing::info!(version, "applied PostgreSQL schema migration");
            }
            Ok(())
        })
    }

    pub(super) fn close(&self) {
        self.pool.close();
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        self.pool.close();
        self.locks.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Close `session`'s connection instead of returning it to the pool.
fn discard(session: PgSession) {
    drop(deadpool_postgres::Object::take(session.into_client()));
}

/// A first connection that fails says which database it tried (never the
/// password) and where the password is expected.
fn explain_connect_error(e: StoreError, location: &PgLocation) -> StoreError {
    match e {
        StoreError::Unavailable(m) if m.contains("certificate") => {
            StoreError::Unsupported(format!(
                "the database {location} did not present a certificate airlock trusts: {m} \
                 (with sslmode=require the server's certificate is verified against the \
                 system trust store and the CA file {ca} names)",
                ca = super::tls::CA_ENV
            ))
        }
        StoreError::Unavailable(m) => StoreError::Unavailable(format!(
            "cannot reach the database {location}: {m} (the password comes from \
             AIRLOCK_DATABASE_PASSWORD or AIRLOCK_DATABASE_PASSWORD_FILE)"
        )),
        StoreError::Postgres(e) => {
            let why = describe(&e);
            // the driver's wording when the server asks for a password and
            // none was given
            let hint = if why.contains("password missing") {
                " (give the password in AIRLOCK_DATABASE_PASSWORD or a file named by \
                 AIRLOCK_DATABASE_PASSWORD_FILE)"
            } else {
                ""
            };
            StoreError::Internal(format!(
                "the database {location} refused airlock: {why}{hint}"
            ))
        }
        e => e,
    }
}

/// A PostgreSQL error with the server's message, which the driver's own
/// `Display` leaves out ("db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            // the driver's own text leaves out the cause ("error performing
            // TLS handshake"): the chain says which
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let more = s.to_string();
                if !text.contains(&more) {
                    text = format!("{text}: {more}");
                }
                source = s.source();
            }
            text
        }
    }
}

/// A session-level advisory lock held on a connection of its own
/// ([`PgDb::lock`]): released by [`AdvisoryLock::release`], or, if the
/// holder never gets there (a panic, a node killed), when that connection
/// closes — PostgreSQL drops a session's locks with the session.
pub struct AdvisoryLock {
    client: Option<deadpool_postgres::Object>,
    keys: (i32, i32),
    handle: tokio::runtime::Handle,
}

impl AdvisoryLock {
    /// Unlock and give the connection back.
    pub async fn release(mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let keys = self.keys;
        let done = self
            .handle
            .spawn(async move {
                let unlocked = client
                    .execute("SELECT pg_advisory_unlock($1, $2)", &[&keys.0, &keys.1])
                    .await;
                if unlocked.is_err() {
                    drop(deadpool_postgres::Object::take(client));
                }
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "releasing an advisory lock");
        }
    }
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // closing the session releases the lock
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

impl PgDb {
    /// Wait for the advisory lock `(namespace, key)`, held on a connection
    /// of the lock pool (not the one transactions use, so long holds never
    /// starve them). `Err` when no connection could be had or the wait
    /// failed.
    pub(super) async fn lock(&self, namespace: i32, key: i32) -> Result<AdvisoryLock, StoreError> {
        let pool = self.locks.clone();
        let client = self
            .handle
            .spawn(async move {
                let client = pool.get().await.map_err(|e| match e {
                    deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
                    e => StoreError::Unavailable(format!("no database connection for a lock: {e}")),
                })?;
                client
                    .execute("SELECT pg_advisory_lock($1, $2)", &[&namespace, &key])
                    .await?;
                Ok::<_, StoreError>(client)
            })
            .await
            .map_err(|e| StoreError::Internal(format!("taking an advisory lock: {e}")))??;
        Ok(AdvisoryLock {
            client: Some(client),
            keys: (namespace, key),
            handle: self.handle.clone(),
        })
    }
}
