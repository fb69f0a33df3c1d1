//! The change serial of a cluster (`--database postgres://`): how one node
//! learns, before it answers, that another node changed something.
//!
//! Every write transaction that may change what a page shows advances
//! `change_serial.serial` and sends `NOTIFY airlock_changes`, inside the
//! transaction (both take effect at its commit, never before). Each node
//! keeps one connection of its own for this feed:
//!
//! - **A request that must see every acknowledged write** asks
//!   [`ChangeFeed::sync`]: its ask joins the next read of the serial, which
//!   starts only after the ask was made, so the answer counts every write
//!   committed before the request arrived, on any node. Asks that arrive
//!   while a read is running share the one after it: the database sees at
//!   most one such read per round trip however many requests wait, and a
//!   request waits at most two round trips.
//! - **Followers** (the webhook worker, the audit export) are woken by the
//!   notifications (`LISTEN`), and by a read every [`POLL`] in case one was
//!   missed; after any reconnect the serial is read again before anything
//!   else, so a notification lost while disconnected costs nothing.
//!
//! When the database cannot be reached, `sync` answers with the last
//! serial seen: at once while the feed knows its connection is down, after
//! at most [`SYNC_TIMEOUT`] when it is lost during a read. Reads go on with
//! what the node has (writes fail on their own, with a 503).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{oneshot, Notify};

/// The channel of the notifications.
pub const CHANNEL: &str = "airlock_changes";
/// How often the serial is read without a notification.
pub const POLL: Duration = Duration::from_secs(1);
/// How long [`ChangeFeed::sync`] waits for the database.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait between reconnection attempts.
const RECONNECT: Duration = Duration::from_millis(500);

/// The statements a content write adds to its transaction.
pub const ADVANCE_SQL: &str =
    "UPDATE change_serial SET serial = serial + 1 WHERE id = 1; NOTIFY airlock_changes";

pub struct ChangeFeed {
    /// The highest serial read so far.
    seen: AtomicI64,
    /// Whether the feed's connection answered its last read: while it is
    /// down, asks are answered at once with `seen` instead of waiting.
    connected: AtomicBool,
    asks: Mutex<Vec<oneshot::Sender<i64>>>,
    wake: Notify,
    /// Advanced whenever `seen` grows (for followers).
    advanced: tokio::sync::watch::Sender<i64>,
}

impl ChangeFeed {
    /// Start the feed's task on `rt`, connecting with `config`.
    pub fn start(
        rt: &tokio::runtime::Handle,
        config: tokio_postgres::Config,
        tls: super::tls::DbTls,
    ) -> Arc<Self> {
        let feed = Arc::new(Self::idle());
        // the first asks wait for the first read (up to SYNC_TIMEOUT)
        feed.connected.store(true, Ordering::SeqCst);
        rt.spawn(run(Arc::clone(&feed), config, tls));
        feed
    }

    /// A feed that is never started (until the schema is in place).
    pub(super) fn idle() -> Self {
        Self {
            seen: AtomicI64::new(0),
            connected: AtomicBool::new(false),
            asks: Mutex::new(Vec::new()),
            wake: Notify::new(),
            advanced: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The highest serial read so far (no waiting).
    pub fn seen(&self) -> i64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// A receiver that changes whenever the serial is seen to grow.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.advanced.subscribe()
    }

    /// The serial as of a read that started after this call (see the
    /// module documentation); the last one seen if the database does not
    /// answer within [`SYNC_TIMEOUT`].
    pub async fn sync(&self) -> i64 {
        if !self.connected.load(Ordering::SeqCst) {
            return self.seen();
        }
        let (tx, rx) = oneshot::channel();
        self.asks.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        self.wake.notify_one();
        match tokio::time::timeout(SYNC_TIMEOUT, rx).await {
            Ok(Ok(serial)) => serial,
            _ => self.seen(),
        }
    }

    fn observe(&self, serial: i64) {
        let before = self.seen.fetch_max(serial, Ordering::SeqCst);
        if serial > before {
            self.advanced.send_replace(serial);
        }
    }
}

async fn run(feed: Arc<ChangeFeed>, config: tokio_postgres::Config, tls: super::tls::DbTls) {
    loop {
        match connect(&config, &tls, &feed).await {
            Ok((client, connection)) => {
                serve(&feed, &client, connection).await;
                tracing::warn!("the change feed's database connection was lost; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %crate::store::StoreError::from(e), "change feed: cannot connect");
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

type Connection = tokio::task::JoinHandle<()>;

async fn connect(
    config: &tokio_postgres::Config,
    tls: &super::tls::DbTls,
    feed: &Arc<ChangeFeed>,
) -> Result<(tokio_postgres::Client, Connection), tokio_postgres::Error> {
    let (client, task) = match tls {
        super::tls::DbTls::Plain => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            (client, drive(connection, Arc::clone(feed)))
        }
        super::tls::DbTls::Verified(t) => {
            let (client, connection) = config.connect(t.clone()).await?;
            (client, drive(connection, Arc::clone(feed)))
        }
    };
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok((client, task))
}

/// The connection's messages: notifications wake the feed; the task ends
/// when the connection does.
fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notified: Arc<ChangeFeed>,
) -> Connection
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => notified.wake.notify_one(),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "change feed connection ended");
                    break;
                }
            }
        }
    })
}

/// Answer asks and notifications on one connection until it fails.
async fn serve(feed: &ChangeFeed, client: &tokio_postgres::Client, connection: Connection) {
    let statement = match client
        .prepare("SELECT serial FROM change_serial WHERE id = 1")
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %crate::store::StoreError::from(e), "change feed: preparing");
            connection.abort();
            return;
        }
    };
    loop {
        // the asks made before this read starts are answered by it
        let asks = std::mem::take(&mut *feed.asks.lock().unwrap_or_else(|p| p.into_inner()));
        match client.query_one(&statement, &[]).await {
            Ok(row) => {
                let serial: i64 = row.get(0);
                feed.observe(serial);
                feed.connected.store(true, Ordering::SeqCst);
                for ask in asks {
                    let _ = ask.send(serial);
                }
            }
            Err(e) => {
                // the asks are dropped: they fall back to the serial seen
                feed.connected.store(false, Ordering::SeqCst);
                tracing::warn!(error = %crate::store::StoreError::from(e), "change feed: reading the serial");
                connection.abort();
                return;
            }
        }
        if connection.is_finished() {
            feed.connected.store(false, Ordering::SeqCst);
            return;
        }
        let _ = tokio::time::timeout(POLL, feed.wake.notified()).await;
    }
}
