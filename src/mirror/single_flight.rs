//! Per-key async locks: N tasks working on the same key (one mirrored
//! project page) run one after another, so the first does the upstream
//! fetch and the others find its result in the cache. Entries disappear
//! when nobody holds or waits for them.
//!
//! File downloads use their own flight table (`fetch.rs`), because there the
//! followers must read the leader's bytes while they arrive.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Beyond this many keys, idle entries (remembered failures) are dropped.
const MAX_IDLE_KEYS: usize = 10_000;

/// When the last attempt failed, and why.
type Failure = Option<(Instant, String)>;
type Entry = Arc<tokio::sync::Mutex<Failure>>;

pub struct KeyedLocks<K> {
    map: Mutex<HashMap<K, Entry>>,
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// Holding the lock of one key. Records, for the next holder, when the last
/// upstream attempt for this key failed.
pub struct KeyGuard<'a, K: Eq + Hash + Clone> {
    locks: &'a KeyedLocks<K>,
    key: K,
    guard: Option<tokio::sync::OwnedMutexGuard<Failure>>,
}

impl<K: Eq + Hash + Clone> KeyedLocks<K> {
    pub async fn lock(&self, key: K) -> KeyGuard<'_, K> {
        let entry = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_IDLE_KEYS {
                // idle entries only remember failures: forget them first
                map.retain(|_, e| Arc::strong_count(e) > 1);
            }
            Arc::clone(map.entry(key.clone()).or_default())
        };
        let guard = match Arc::clone(&entry).try_lock_owned() {
            Ok(free) => free,
            Err(_) => {
                // someone else is fetching this key: wait for them
                let waited = std::time::Instant::now();
                let guard = entry.lock_owned().await;
                crate::metrics::record_single_flight_wait(waited.elapsed());
                guard
            }
        };
        KeyGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }

    /// Number of keys with holders or waiters (for tests).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Eq + Hash + Clone> KeyGuard<'_, K> {
    /// When an earlier holder last recorded a failed attempt.
    pub fn last_failure(&self) -> Option<Instant> {
        self.guard
            .as_ref()
            .and_then(|g| g.as_ref().map(|(t, _)| *t))
    }

    /// Why the last recorded attempt failed.
    pub fn last_failure_reason(&self) -> Option<&str> {
        self.guard
            .as_ref()
            .and_then(|g| g.as_ref().map(|(_, r)| r.as_str()))
    }

    pub fn record_failure(&mut self, reason: &str) {
        if let Some(g) = self.guard.as_mut() {
            **g = Some((Instant::now(), reason.to_string()));
        }
    }

    pub fn record_success(&mut self) {
        if let Some(g) = self.guard.as_mut() {
            **g = None;
        }
    }
}

impl<K: Eq + Hash + Clone> Drop for KeyGuard<'_, K> {
    fn drop(&mut self) {
        let mut map = self.locks.map.lock().unwrap_or_else(|p| p.into_inner());
        let keep_failure = self.guard.as_ref().is_some_and(|g| g.is_some());
        self.guard = None; // unlock before deciding whether the entry is idle
        if let Some(entry) = map.get(&self.key) {
            // Only the map holds it: nobody waits. A recorded failure is
            // kept for a while so that the next request backs off.
            if Arc::strong_count(entry) == 1 && !keep_failure {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_holder_at_a_time_and_entries_go_away() {
        let locks = Arc::new(KeyedLocks::<String>::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (locks, inside, max_inside) = (locks.clone(), inside.clone(), max_inside.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock("page".to_string()).await;
                let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max_inside.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_inside.load(Ordering::SeqCst), 1);
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn other_keys_do_not_wait_and_failures_are_remembered() {
        let locks = KeyedLocks::<u32>::default();
        let mut a = locks.lock(1).await;
        let b = locks.lock(2).await; // would hang if keys shared a lock
        assert_eq!(b.last_failure(), None);
        drop(b);
        a.record_failure("refused");
        drop(a);
        assert_eq!(locks.len(), 1, "a failure is kept for the next holder");
        let mut again = locks.lock(1).await;
        assert!(again.last_failure().is_some());
        assert_eq!(again.last_failure_reason(), Some("refused"));
        again.record_success();
        drop(again);
        assert!(locks.is_empty());
    }
}
