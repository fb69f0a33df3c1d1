//! Files on demand: download from upstream into a temp blob, hashing on the
//! way, and commit only if the sha256 is the one upstream advertised.
//!
//! Each download is a *flight* running in its own task, so a client that
//! disconnects does not stop it. Clients do not receive the bytes from the
//! task directly: they tail the temp file while it grows (the first client
//! and every follower alike), up to what has been written, and always one
//! byte short until the digest is verified. A mismatch therefore never
//! reaches a client as a complete response: its body ends with an error,
//! the connection is reset and the client sees a failed download.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::Url;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::cache_use::CacheUse;
use super::upstream::{error_chain, Upstream};
use crate::digest::Sha256;
use crate::store::db::LockSpace;
use crate::store::{BlobStore, Db, StoreError, TempBlob};

/// Largest file airlock downloads from upstream.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Bytes gathered before they are written to disk (and become visible).
const FLUSH_BYTES: usize = 64 * 1024;

/// Largest piece handed to a client at once.
const READ_BYTES: u64 = 256 * 1024;

/// What to download.
#[derive(Debug, Clone)]
pub struct Job {
    pub url: Url,
    pub sha256: Sha256,
    /// Size upstream advertised, if any: more bytes than this abort early.
    pub size: Option<u64>,
    /// The file name, for logs.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Connecting,
    Receiving,
    Done,
    Failed(String),
}

#[derive(Debug, Clone)]
struct Progress {
    written: u64,
    total: Option<u64>,
    state: State,
}

struct Flight {
    temp_path: PathBuf,
    /// `None` when the blobs are not local files (object storage).
    blob_path: Option<PathBuf>,
    progress: watch::Receiver<Progress>,
}

type FlightMap = Arc<Mutex<HashMap<Sha256, Arc<Flight>>>>;

/// The downloads in progress, one per digest.
#[derive(Default)]
pub struct Downloads {
    flights: FlightMap,
}

/// A body being received: its length if upstream announced it, and the
/// bytes as they are verified-to-be-in-progress.
pub struct Streaming {
    pub total: Option<u64>,
    pub body: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which digests are being downloaded (for mirror cache retention).
pub struct InFlight(FlightMap);

impl InFlight {
    pub fn contains(&self, sha: &Sha256) -> bool {
        lock(&self.0).contains_key(sha)
    }
}

impl Downloads {
    /// A view of the downloads in progress.
    pub fn watch(&self) -> InFlight {
        InFlight(Arc::clone(&self.flights))
    }

    /// Number of downloads in progress.
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }

    /// Join the download of `job.sha256`, starting it if nobody has, and
    /// wait until upstream answered. `Ok(None)`: the blob is already stored.
    pub async fn join(
        &self,
        job: Job,
        upstream: &Arc<Upstream>,
        blobs: &Arc<BlobStore>,
        cache_use: &Arc<CacheUse>,
        db: &Arc<Db>,
    ) -> Result<Option<Streaming>, FetchError> {
        let flight = {
            let mut map = lock(&self.flights);
            if blobs.exists(&job.sha256) {
                return Ok(None);
            }
            match map.get(&job.sha256) {
                Some(f) => Arc::clone(f),
                None => {
                    let temp = blobs.create_temp()?;
                    let (tx, rx) = watch::channel(Progress {
                        written: 0,
                        total: None,
                        state: State::Connecting,
                    });
                    let flight = Arc::new(Flight {
                        temp_path: temp.path().to_path_buf(),
                        blob_path: blobs.local_path(&job.sha256),
                        progress: rx,
                    });
                    map.insert(job.sha256, Arc::clone(&flight));
                    let task = Task {
                        upstream: Arc::clone(upstream),
                        blobs: Arc::clone(blobs),
                        flights: Arc::clone(&self.flights),
                        cache_use: Arc::clone(cache_use),
                        db: Arc::clone(db),
                    };
                    tokio::spawn(run(job, task, temp, tx));
                    flight
                }
            }
        };
        reader(&flight).await
    }
}

fn lock(m: &FlightMap) -> std::sync::MutexGuard<'_, HashMap<Sha256, Arc<Flight>>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a download task works with.
struct Task {
    upstream: Arc<Upstream>,
    blobs: Arc<BlobStore>,
    flights: FlightMap,
    cache_use: Arc<CacheUse>,
    db: Arc<Db>,
}

/// How long a node waits for another node's fetch of the same file.
const CLUSTER_FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The download task: runs to the end whatever its clients do. With several
/// nodes on one database, the file's cluster lock is taken first: of all
/// the nodes asked for it at once, one fetches it from upstream and the
/// others, once the lock is theirs, find it stored and serve that.
async fn run(job: Job, task: Task, temp: TempBlob, tx: watch::Sender<Progress>) {
    let Task {
        upstream,
        blobs,
        flights,
        cache_use,
        db,
    } = task;
    let key = i32::from_be_bytes(job.sha256.as_bytes()[..4].try_into().expect("4 bytes"));
    let cluster = db
        .cluster_lock(LockSpace::MirrorFetch, key, CLUSTER_FETCH_WAIT)
        .await;
    let stored_meanwhile = cluster.is_some() && {
        let (b, sha) = (Arc::clone(&blobs), job.sha256);
        tokio::task::spawn_blocking(move || b.exists(&sha))
            .await
            .unwrap_or(false)
    };
    let outcome = if stored_meanwhile {
        tracing::info!(file = %job.label, "fetched by another node meanwhile");
        drop(temp);
        Ok(None)
    } else {
        download(&job, &upstream, &blobs, temp, &tx).await
    };
    if let Some(held) = cluster {
        held.release().await;
    }
    if let Ok(Some(bytes)) = outcome {
        // used now: retention sees the fetch before the flight ends
        cache_use.touch(&job.sha256);
        cache_use.added(bytes);
    }
    lock(&flights).remove(&job.sha256);
    let state = match outcome {
        Ok(_) => State::Done,
        Err(e) => State::Failed(e),
    };
    tx.send_modify(|p| p.state = state);
}

async fn download(
    job: &Job,
    upstream: &Upstream,
    blobs: &Arc<BlobStore>,
    temp: TempBlob,
    tx: &watch::Sender<Progress>,
) -> Result<Option<u64>, String> {
    let (mut resp, _permit) = upstream.file(&job.url).await.map_err(|e| {
        tracing::warn!(file = %job.label, error = %e, "mirror download failed");
        e.to_string()
    })?;
    let limit = job.size.unwrap_or(MAX_FILE_BYTES).min(MAX_FILE_BYTES);
    let total = resp.content_length();
    if total.is_some_and(|t| t > limit) {
        return Err(too_big(job, limit));
    }
    tx.send_modify(|p| {
        p.total = total;
        p.state = State::Receiving;
    });
    let mut temp = Some(temp);
    let mut pending: Vec<u8> = Vec::with_capacity(FLUSH_BYTES);
    let mut received: u64 = 0;
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            let msg = format!(
                "download of {} from {} broke off: {}",
                job.label,
                job.url,
                error_chain(&e)
            );
            tracing::warn!("{msg}");
            msg
        })?;
        let end = chunk.is_none();
        if let Some(c) = chunk {
            received += c.len() as u64;
            crate::metrics::count_upstream_bytes(c.len());
            if received > limit {
                return Err(too_big(job, limit));
            }
            pending.extend_from_slice(&c);
        }
        if pending.len() >= FLUSH_BYTES || (end && !pending.is_empty()) {
            let data = std::mem::take(&mut pending);
            let mut t = temp.take().ok_or("temp blob lost")?;
            let n = data.len() as u64;
            t = tokio::task::spawn_blocking(move || t.write_all(&data).map(|()| t))
                .await
                .map_err(|e| format!("writing {}: {e}", job.label))?
                .map_err(|e| format!("writing {}: {e}", job.label))?;
            temp = Some(t);
            tx.send_modify(|p| p.written += n);
        }
        if end {
            break;
        }
    }
    let temp = temp.ok_or("temp blob lost")?;
    let actual = temp.sha256();
    if actual != job.sha256 {
        tracing::warn!(
            target: "security",
            file = %job.label,
            url = %job.url,
            expected_sha256 = %job.sha256,
            actual_sha256 = %actual,
            "upstream sent bytes that do not match the advertised sha256; download aborted, nothing cached"
        );
        return Err(format!(
            "{} from upstream does not match its advertised sha256; refusing to serve it",
            job.label
        ));
    }
    let b = Arc::clone(blobs);
    let created = tokio::task::spawn_blocking(move || b.commit(temp))
        .await
        .map_err(|e| format!("storing {}: {e}", job.label))?
        .map_err(|e| format!("storing {}: {e}", job.label))?;
    tracing::info!(file = %job.label, sha256 = %job.sha256, bytes = received, "mirrored file cached");
    Ok(created.then_some(received))
}

fn too_big(job: &Job, limit: u64) -> String {
    let msg = format!(
        "{} from upstream is larger than {limit} bytes (its advertised size or airlock's limit)",
        job.label
    );
    tracing::warn!("{msg}");
    msg
}

/// Wait until upstream answered, then tail the download. `Ok(None)`: it
/// was stored meanwhile, and the blob is not a local file to tail (read it
/// from the store).
async fn reader(flight: &Flight) -> Result<Option<Streaming>, FetchError> {
    let mut rx = flight.progress.clone();
    let p = rx
        .wait_for(|p| p.state != State::Connecting)
        .await
        .map_err(|_| FetchError::Upstream("the download task ended unexpectedly".into()))?
        .clone();
    if let State::Failed(msg) = p.state {
        return Err(FetchError::Upstream(msg));
    }
    let file = match tokio::fs::File::open(&flight.temp_path).await {
        Ok(f) => f,
        // committed (renamed) or failed (deleted) meanwhile
        Err(_) => {
            let state = rx.borrow().state.clone();
            if let State::Failed(msg) = state {
                return Err(FetchError::Upstream(msg));
            }
            let Some(blob_path) = &flight.blob_path else {
                return Ok(None);
            };
            tokio::fs::File::open(blob_path)
                .await
                .map_err(|e| StoreError::io("opening", blob_path, e))?
        }
    };
    let total = p.total;
    let tail = Tail {
        rx,
        file,
        pos: 0,
        finished: false,
    };
    let body = futures_util::stream::unfold(tail, |mut t| async move {
        if t.finished {
            return None;
        }
        match t.next_piece().await {
            Ok(Some(b)) => Some((Ok(b), t)),
            Ok(None) => None,
            Err(e) => {
                t.finished = true;
                Some((Err(e), t))
            }
        }
    });
    Ok(Some(Streaming {
        total,
        body: Box::pin(body),
    }))
}

struct Tail {
    rx: watch::Receiver<Progress>,
    file: tokio::fs::File,
    pos: u64,
    finished: bool,
}

impl Tail {
    async fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let (written, state) = {
                let p = self.rx.borrow_and_update();
                (p.written, p.state.clone())
            };
            if let State::Failed(msg) = state {
                return Err(io::Error::other(msg));
            }
            let done = state == State::Done;
            // Until the digest is verified, the last byte is held back, so an
            // unverified body can never look complete to the client.
            let limit = if done {
                written
            } else {
                written.saturating_sub(1)
            };
            if self.pos < limit {
                let want = (limit - self.pos).min(READ_BYTES) as usize;
                let mut buf = vec![0u8; want];
                let n = self.file.read(&mut buf).await?;
                if n == 0 {
                    return Err(io::Error::other("the cached file is shorter than written"));
                }
                buf.truncate(n);
                self.pos += n as u64;
                return Ok(Some(Bytes::from(buf)));
            }
            if done {
                return Ok(None);
            }
            if self.rx.changed().await.is_err() {
                return Err(io::Error::other("the download task ended unexpectedly"));
            }
        }
    }
}
