//! When each cached mirror blob was last used (served, fetched, pushed),
//! for the least-recently-used rule of mirror cache retention.
//!
//! Cheap on the request path: a use is a lock and a map insert. A blob's
//! time is written at most once per [`WRITE_EVERY`] (the first use after a
//! quiet minute is queued, later ones are not), and queued times are
//! written together by one short-lived task, [`FLUSH_DELAY`] after the
//! first of them, in one transaction that does not invalidate page caches.
//! The stored time is therefore never more than a minute and a second
//! behind, which the retention's `min_idle` (10 minutes by default) covers;
//! within this process [`CacheUse::recent`] knows the exact time.
//!
//! Also kept here: an estimate of the cache's size between retention runs
//! (grown by each fetch, set exactly by each run) and the signal that
//! wakes the retention task when a fetch took the cache over its cap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::digest::Sha256;
use crate::store::Db;

/// A blob's last-use time is written at most this often.
pub const WRITE_EVERY: i64 = 60;
/// Queued times are written this long after the first of them.
const FLUSH_DELAY: Duration = Duration::from_secs(1);
/// Past this many remembered blobs, those not used for a minute are forgotten.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Default)]
struct Uses {
    /// Not written yet.
    pending: HashMap<Sha256, i64>,
    /// Latest use seen, written or not (`recent`), and when it was last queued.
    seen: HashMap<Sha256, (i64, i64)>,
}

pub struct CacheUse {
    db: Arc<Db>,
    uses: Mutex<Uses>,
    flushing: AtomicBool,
    /// Estimated bytes of evictable cached blobs.
    bytes: AtomicU64,
    /// Retention runs: the size estimate is kept (and shown).
    tracking: bool,
    /// A retention run has measured the cache (the estimate is shown from then on).
    measured_once: AtomicBool,
    /// `--mirror-cache-max-gb` in bytes, if set.
    max_bytes: Option<u64>,
    over_cap: tokio::sync::Notify,
}

impl CacheUse {
    pub fn new(db: Arc<Db>, policy: &super::retention::RetentionPolicy) -> Self {
        Self {
            db,
            uses: Mutex::new(Uses::default()),
            flushing: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            tracking: policy.is_active(),
            measured_once: AtomicBool::new(false),
            max_bytes: policy.max_bytes,
            over_cap: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Uses> {
        self.uses.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `sha` is being used now.
    pub fn touch(self: &Arc<Self>, sha: &Sha256) {
        self.touch_at(sha, crate::store::now());
    }

    fn touch_at(self: &Arc<Self>, sha: &Sha256, now: i64) {
        let queue = {
            let mut u = self.lock();
            if u.seen.len() >= MAX_REMEMBERED {
                u.seen.retain(|_, (used, _)| now - *used < WRITE_EVERY);
            }
            let entry = u.seen.entry(*sha).or_insert((now, i64::MIN));
            entry.0 = entry.0.max(now);
            let due = now.saturating_sub(entry.1) >= WRITE_EVERY;
            if due {
                entry.1 = now;
                u.pending.insert(*sha, now);
            }
            due
        };
        if queue && !self.flushing.swap(true, Ordering::AcqRel) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let me = Arc::clone(self);
                rt.spawn(async move {
                    tokio::time::sleep(FLUSH_DELAY).await;
                    me.flushing.store(false, Ordering::Release);
                    me.flush().await;
                });
            } else {
                self.flushing.store(false, Ordering::Release);
            }
        }
    }

    /// The latest use of `sha` this process has seen.
    pub fn recent(&self, sha: &Sha256) -> Option<i64> {
        self.lock().seen.get(sha).map(|(used, _)| *used)
    }

    /// Write every queued use now (also at shutdown).
    pub async fn flush(&self) {
        let batch: Vec<(Sha256, i64)> = std::mem::take(&mut self.lock().pending)
            .into_iter()
            .collect();
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        let written = self
            .db
            .write_log(move |tx| crate::store::mirror_cache::record_use(tx, &batch))
            .await;
        if let Err(e) = written {
            // Not retried: the blob's file time stands in, and the next use
            // a minute later is queued again.
            tracing::warn!(error = %e, uses = n, "recording mirror cache use failed");
        }
    }

    /// A fetch stored `bytes` new bytes; wakes retention when over the cap.
    pub fn added(&self, bytes: u64) {
        if !self.tracking {
            return;
        }
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if self.measured_once.load(Ordering::Relaxed) {
            crate::metrics::set_mirror_cache_bytes(total);
        }
        if self.max_bytes.is_some_and(|max| total > max) {
            self.over_cap.notify_one();
        }
    }

    /// What a retention run measured.
    pub fn measured(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
        self.measured_once.store(true, Ordering::Relaxed);
        crate::metrics::set_mirror_cache_bytes(bytes);
    }

    /// Resolves when a fetch took the cache over its cap.
    pub async fn over_cap(&self) {
        self.over_cap.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn uses_are_queued_at_most_once_a_minute_and_written_in_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let u = Arc::new(CacheUse::new(Arc::clone(&db), &Default::default()));
        let (a, b) = (Sha256::of(b"a"), Sha256::of(b"b"));
        u.touch_at(&a, 1000);
        u.touch_at(&a, 1030); // within the minute: remembered, not queued
        u.touch_at(&b, 1010);
        assert_eq!(u.recent(&a), Some(1030));
        assert_eq!(u.lock().pending.len(), 2);
        assert_eq!(u.lock().pending[&a], 1000);
        u.flush().await;
        assert!(u.lock().pending.is_empty());
        let stored = |sha: Sha256| {
            db.read_blocking(move |c| crate::store::mirror_cache::last_used(c, &sha))
                .unwrap()
        };
        assert_eq!(stored(a), Some(1000));
        assert_eq!(stored(b), Some(1010));
        u.touch_at(&a, 1061); // a minute after the last write: queued again
        u.flush().await;
        assert_eq!(stored(a), Some(1061));
        // an older time never replaces a newer one
        db.write_blocking(|tx| crate::store::mirror_cache::record_use(tx, &[(a, 5)]))
            .unwrap();
        assert_eq!(stored(a), Some(1061));
    }

    #[tokio::test]
    async fn the_cap_signal_fires_when_a_fetch_goes_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let policy = super::super::retention::RetentionPolicy {
            max_bytes: Some(100),
            ..Default::default()
        };
        let u = CacheUse::new(db, &policy);
        u.measured(60);
        u.added(30);
        let woke = tokio::time::timeout(Duration::from_millis(50), u.over_cap()).await;
        assert!(woke.is_err(), "90 of 100 bytes: no signal");
        u.added(30);
        tokio::time::timeout(Duration::from_secs(1), u.over_cap())
            .await
            .expect("over the cap: signalled");
    }
}
