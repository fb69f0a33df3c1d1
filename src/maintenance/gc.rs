//! Mirror cache retention on a data folder (`airlock gc`, and the server's
//! periodic run): evict cached mirror blobs by the rules of
//! [`crate::mirror::retention`], least recently used first.
//!
//! Only the *blob* goes: the mirror rows stay, so an evicted file is an
//! uncached row again and the mirror fetches and verifies it on the next
//! request, as it does for any file it never downloaded.
//!
//! Safe while the server runs (and the server runs it itself, on its own
//! connection):
//! * A blob a stage row (release file, core metadata, test result, doc zip)
//!   references is never a candidate, and each eviction checks again inside
//!   a write transaction (SQLite's write lock, shared with the server). A
//!   push that lands a mirror blob checks, in its own write transaction,
//!   that the blob is still stored (`registry::push`), so either the push
//!   sees the eviction and fails cleanly, or the eviction sees the new row.
//! * A blob used since the scan (its recorded use moved, a download of it
//!   is in flight in this process, or its file changed: evicted and fetched
//!   again meanwhile) is skipped. A blob used within `min_idle` is never
//!   chosen: the window covers a download between its cache lookup and
//!   opening the file (or nginx opening it under `--accel-redirect`), and a
//!   push between gathering and landing.
//! * A download already streaming a blob keeps its open file (unlink on
//!   Linux does not take the bytes from an open file).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use super::{source, MaintenanceError, DB_FILE};
use crate::digest::Sha256;
use crate::mirror::cache_use::CacheUse;
use crate::mirror::retention::{self, Candidate, Reason, RetentionPolicy};
use crate::store::sql::Conn;
use crate::store::{mirror_cache, releases, BlobStore, DatabaseLocation, Db, StoreError};

/// Evictions per write transaction (keeps the server's writer waiting briefly).
const BATCH: usize = 64;

/// What this process knows about blobs beyond the database (the server:
/// downloads in flight, uses not yet written).
pub trait InUse: Send + Sync {
    /// Is a download of `sha` in progress?
    fn in_flight(&self, sha: &Sha256) -> bool;
    /// The latest use of `sha` this process has seen.
    fn recent(&self, sha: &Sha256) -> Option<i64>;
}

/// `airlock gc`: nothing beyond the database.
pub struct NoUse;

impl InUse for NoUse {
    fn in_flight(&self, _: &Sha256) -> bool {
        false
    }
    fn recent(&self, _: &Sha256) -> Option<i64> {
        None
    }
}

#[derive(Debug, Clone)]
pub struct GcOptions {
    pub policy: RetentionPolicy,
    /// Report what would be evicted; change nothing.
    pub dry_run: bool,
}

/// One evicted (or, in a dry run, evictable) blob.
#[derive(Debug, Clone, Serialize)]
pub struct Evicted {
    pub sha256: String,
    /// A file name it is listed under.
    pub file: String,
    pub bytes: u64,
    /// Unix seconds of its last use.
    pub last_used: i64,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// Cached blobs only mirror rows name (the cache retention manages).
    pub cached_files: u64,
    pub cached_bytes: u64,
    pub evicted: Vec<Evicted>,
    pub evicted_bytes: u64,
    /// Bytes of the cache after the run.
    pub kept_bytes: u64,
    /// Chosen but kept: used, referenced or replaced since the scan.
    pub skipped: u64,
}

impl GcReport {
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would evict"
        } else {
            "evicted"
        };
        let mut s = String::new();
        for e in &self.evicted {
            s.push_str(&format!(
                "{verb} {} ({} bytes, {}, last used {}) sha256 {}\n",
                e.file,
                e.bytes,
                e.reason,
                utc(e.last_used),
                e.sha256
            ));
        }
        s.push_str(&format!(
            "gc: {verb} {} of {} cached mirror files, {} of {} bytes; {} bytes cached{}\n",
            self.evicted.len(),
            self.cached_files,
            self.evicted_bytes,
            self.cached_bytes,
            self.kept_bytes,
            if self.skipped > 0 {
                format!(" ({} kept: in use since the scan)", self.skipped)
            } else {
                String::new()
            }
        ));
        s
    }
}

/// `2026-12-03T08:00:00Z`.
fn utc(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

/// A cached candidate as scanned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Scanned {
    sha: Sha256,
    name: String,
    mtime: i64,
}

/// Open the data folder's database for writing, without migrating it: the
/// schema must be this airlock's (the running server's). An embedded
/// database is checked first, then opened as the server opens it; a
/// cluster node's folder opens the PostgreSQL database it records.
fn open_db(dir: &Path) -> Result<Arc<Db>, MaintenanceError> {
    match source::recorded_database(dir)? {
        DatabaseLocation::Local => {
            let file = dir.join(DB_FILE);
            if !file.is_file() {
                return Err(MaintenanceError::NotADataFolder(dir.to_path_buf()));
            }
            let conn = Connection::open_with_flags(
                &file,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            super::check_schema(&conn, false)?;
            drop(conn);
            Ok(Db::open(&file)?)
        }
        DatabaseLocation::Postgres(l) => Ok(Db::open_postgres(&l)?),
    }
}

/// Apply `opts.policy` to the mirror cache of the data folder `dir`
/// (`airlock gc`; the server may be running on it).
pub fn sweep(
    dir: &Path,
    opts: &GcOptions,
    in_use: &dyn InUse,
) -> Result<GcReport, MaintenanceError> {
    let db = open_db(dir)?;
    // the server's tmp/ is its own: this command's temp files go elsewhere
    let work = tempfile::Builder::new()
        .prefix("airlock-gc-")
        .tempdir()
        .map_err(|e| MaintenanceError::io("creating", &std::env::temp_dir(), e))?;
    let blobs = BlobStore::open_beside(dir, &source::recorded_blobs(dir)?, work.path())?;
    let report = sweep_store(&db, &blobs, opts, in_use);
    db.close()?;
    report
}

/// Apply `opts.policy` to the mirror cache of `db` and `blobs` (the
/// server's own store, or what [`sweep`] opened).
pub fn sweep_store(
    db: &Db,
    blobs: &BlobStore,
    opts: &GcOptions,
    in_use: &dyn InUse,
) -> Result<GcReport, MaintenanceError> {
    let now = crate::store::now();
    let mut report = GcReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };

    // Scan: stored blobs only mirror rows name, with their last use.
    let named = db.read_blocking(|c| {
        let mut out = Vec::new();
        for b in mirror_cache::named_blobs(c)? {
            if !releases::stage_referenced(c, &b.sha256)? {
                out.push(b);
            }
        }
        Ok(out)
    })?;
    let stats = stat_all(blobs, named.iter().map(|b| &b.sha256))?;
    let mut cands = Vec::new();
    for b in named {
        let Some(&(size, mtime)) = stats.get(&b.sha256) else {
            continue; // not cached
        };
        let last_used = if in_use.in_flight(&b.sha256) {
            now
        } else {
            // no record (cached before airlock recorded uses): when it was stored
            b.last_used
                .unwrap_or(mtime)
                .max(in_use.recent(&b.sha256).unwrap_or(i64::MIN))
        };
        report.cached_files += 1;
        report.cached_bytes += size;
        cands.push(Candidate {
            key: Scanned {
                sha: b.sha256,
                name: b.name,
                mtime,
            },
            size,
            last_used,
        });
    }
    let chosen = retention::select(cands, &opts.policy, now);
    report.kept_bytes = chosen.total_bytes;
    if opts.dry_run {
        for (c, reason) in chosen.evict {
            report.kept_bytes -= c.size;
            report.evicted_bytes += c.size;
            report.evicted.push(evicted(&c, reason));
        }
        return Ok(report);
    }

    // Evict, re-checking each blob inside a write transaction (SQLite's
    // write lock, PostgreSQL's cluster write lock: shared with pushes).
    for batch in chosen.evict.chunks(BATCH) {
        let (gone, skipped) = db.write_blocking(|tx| {
            let mut gone = Vec::new();
            let mut skipped = 0u64;
            for (c, reason) in batch {
                if !still_evictable(tx, blobs, c, in_use)? {
                    skipped += 1;
                    continue;
                }
                blobs.remove(&c.key.sha)?;
                mirror_cache::forget(tx, &c.key.sha)?;
                gone.push(evicted(c, *reason));
            }
            Ok((gone, skipped))
        })?;
        report.skipped += skipped;
        for e in gone {
            tracing::info!(
                file = %e.file,
                sha256 = %e.sha256,
                bytes = e.bytes,
                reason = e.reason,
                last_used = e.last_used,
                "mirror cache: evicted"
            );
            crate::metrics::count_mirror_cache_eviction(e.bytes);
            report.kept_bytes -= e.bytes;
            report.evicted_bytes += e.bytes;
            report.evicted.push(e);
        }
    }
    Ok(report)
}

/// Size and modification time of each of `shas` that is stored: one stat
/// each on local files, one listing of the bucket (rather than a request
/// per blob) on object storage.
fn stat_all<'a>(
    blobs: &BlobStore,
    shas: impl Iterator<Item = &'a Sha256>,
) -> Result<HashMap<Sha256, (u64, i64)>, MaintenanceError> {
    let mut out = HashMap::new();
    if blobs.is_local() {
        for sha in shas {
            if let Some(st) = blobs.stat(sha)? {
                out.insert(*sha, st);
            }
        }
        return Ok(out);
    }
    let wanted: std::collections::HashSet<&Sha256> = shas.collect();
    for o in blobs.list()? {
        if let Some(sha) = o.sha.filter(|s| wanted.contains(s)) {
            out.insert(sha, (o.size, o.modified));
        }
    }
    Ok(out)
}

/// How often the server applies retention (and once soon after start).
pub const RUN_EVERY: Duration = Duration::from_secs(600);
const FIRST_RUN: Duration = Duration::from_secs(10);
/// Least time between two runs (fetches over the cap wake the task).
const MIN_SPACING: Duration = Duration::from_secs(5);

/// The server's retention task: every [`RUN_EVERY`], and soon after a fetch
/// took the cache over its size cap.
pub fn spawn_periodic(
    db: Arc<Db>,
    blobs: Arc<BlobStore>,
    policy: RetentionPolicy,
    in_use: Arc<dyn InUse>,
    cache_use: Arc<CacheUse>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut next = tokio::time::Instant::now() + FIRST_RUN;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = cache_use.over_cap() => {
                    // let the fetches of one install land first
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            let started = tokio::time::Instant::now();
            cache_use.flush().await;
            let opts = GcOptions {
                policy,
                dry_run: false,
            };
            let (d, b, iu) = (Arc::clone(&db), Arc::clone(&blobs), Arc::clone(&in_use));
            match tokio::task::spawn_blocking(move || sweep_store(&d, &b, &opts, &*iu)).await {
                Ok(Ok(r)) => {
                    cache_use.measured(r.kept_bytes);
                    if r.evicted.is_empty() {
                        tracing::debug!(
                            cached_bytes = r.cached_bytes,
                            "mirror cache: nothing to evict"
                        );
                    } else {
                        tracing::info!(
                            evicted = r.evicted.len(),
                            freed_bytes = r.evicted_bytes,
                            cached_bytes = r.kept_bytes,
                            skipped = r.skipped,
                            "mirror cache retention: evicted least recently used files"
                        );
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "mirror cache retention failed"),
                Err(e) => tracing::warn!(error = %e, "mirror cache retention task failed"),
            }
            next = tokio::time::Instant::now() + RUN_EVERY;
            tokio::time::sleep(MIN_SPACING.saturating_sub(started.elapsed())).await;
        }
    })
}

fn evicted(c: &Candidate<Scanned>, reason: Reason) -> Evicted {
    Evicted {
        sha256: c.key.sha.to_hex(),
        file: c.key.name.clone(),
        bytes: c.size,
        last_used: c.last_used,
        reason: reason.as_str(),
    }
}

/// Inside the eviction's transaction: still only mirror rows name it, not
/// used and not replaced since the scan?
fn still_evictable(
    tx: &Conn<'_>,
    blobs: &BlobStore,
    c: &Candidate<Scanned>,
    in_use: &dyn InUse,
) -> Result<bool, StoreError> {
    let sha = &c.key.sha;
    if in_use.in_flight(sha) || releases::stage_referenced(tx, sha)? {
        return Ok(false);
    }
    let used = mirror_cache::last_used(tx, sha)?
        .into_iter()
        .chain(in_use.recent(sha))
        .max();
    if used.is_some_and(|u| u > c.last_used) {
        return Ok(false);
    }
    Ok(blobs.stat(sha)? == Some((c.size, c.key.mtime)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A data folder with three cached mirror blobs (one also a stage
    /// file's), each with a recorded use.
    fn folder() -> (tempfile::TempDir, Store, [Sha256; 3]) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, _) = store.blobs.put_bytes(&[1u8; 100]).unwrap();
        let (b, _) = store.blobs.put_bytes(&[2u8; 100]).unwrap();
        let (s, _) = store.blobs.put_bytes(&[3u8; 100]).unwrap();
        let (ah, bh, sh) = (a.to_hex(), b.to_hex(), s.to_hex());
        store
            .db
            .write_blocking(move |tx| {
                tx.batch(&format!(
                    "INSERT INTO users (id, name, created) VALUES (1, 'u', 0);
                     INSERT INTO indexes (id, user_id, name, config, created)
                       VALUES (1, 1, 'pypi', '{{}}', 0), (2, 1, 'dev', '{{}}', 0);
                     INSERT INTO mirror_files (index_id, project, filename, url, sha256)
                       VALUES (1, 'p', 'a.whl', 'http://x/a', '{ah}'),
                              (1, 'p', 'b.whl', 'http://x/b', '{bh}'),
                              (1, 'p', 's.whl', 'http://x/s', '{sh}');
                     INSERT INTO projects (id, index_id, name, display_name, created)
                       VALUES (1, 2, 'p', 'p', 0);
                     INSERT INTO releases (id, project_id, version, metadata, created)
                       VALUES (1, 1, '1', '{{}}', 0);
                     INSERT INTO files (index_id, release_id, filename, kind, sha256, size,
                                        uploader, created)
                       VALUES (2, 1, 's.whl', 'wheel', '{sh}', 100, 'u', 0);"
                ))?;
                // s is the oldest, then a, then b
                mirror_cache::record_use(tx, &[(s, 100), (a, 200), (b, 300)])
            })
            .unwrap();
        (dir, store, [a, b, s])
    }

    fn opts(max_bytes: Option<u64>, dry_run: bool) -> GcOptions {
        GcOptions {
            policy: RetentionPolicy {
                max_bytes,
                max_age: None,
                min_idle: Duration::ZERO,
            },
            dry_run,
        }
    }

    #[test]
    fn evicts_the_least_recently_used_blob_only_mirror_rows_name() {
        let (dir, store, [a, b, s]) = folder();
        let dry = sweep(dir.path(), &opts(Some(150), true), &NoUse).unwrap();
        assert_eq!(
            (dry.cached_files, dry.cached_bytes),
            (2, 200),
            "s is a stage file's"
        );
        assert_eq!(dry.evicted.len(), 1);
        assert_eq!(dry.evicted[0].sha256, a.to_hex());
        assert!(store.blobs.exists(&a), "a dry run changes nothing");

        let r = sweep(dir.path(), &opts(Some(150), false), &NoUse).unwrap();
        assert_eq!(r.evicted.len(), 1);
        assert_eq!((r.evicted_bytes, r.kept_bytes), (100, 100));
        assert!(!store.blobs.exists(&a));
        assert!(store.blobs.exists(&b) && store.blobs.exists(&s));
        let use_a = store
            .db
            .read_blocking(move |c| mirror_cache::last_used(c, &a))
            .unwrap();
        assert_eq!(use_a, None, "its use record goes with it");
        // nothing left to do; a cap of 0 takes b but never s
        assert!(sweep(dir.path(), &opts(Some(150), false), &NoUse)
            .unwrap()
            .evicted
            .is_empty());
        let r = sweep(dir.path(), &opts(Some(0), false), &NoUse).unwrap();
        assert_eq!(r.evicted.len(), 1);
        assert!(!store.blobs.exists(&b) && store.blobs.exists(&s));
    }

    struct Busy(Sha256);
    impl InUse for Busy {
        fn in_flight(&self, sha: &Sha256) -> bool {
            *sha == self.0
        }
        fn recent(&self, _: &Sha256) -> Option<i64> {
            None
        }
    }

    #[test]
    fn blobs_in_use_are_kept() {
        let (dir, store, [a, b, _]) = folder();
        let r = sweep(dir.path(), &opts(Some(0), false), &Busy(a)).unwrap();
        assert_eq!(r.evicted.len(), 1);
        assert!(store.blobs.exists(&a) && !store.blobs.exists(&b));
        // a use recorded after the scan is seen under the write lock
        let (dir, store, [a, _, _]) = folder();
        let c = Candidate {
            key: Scanned {
                sha: a,
                name: "a.whl".into(),
                mtime: store.blobs.stat(&a).unwrap().unwrap().1,
            },
            size: 100,
            last_used: 200,
        };
        let raw = crate::store::Db::open_read_only(&dir.path().join(DB_FILE)).unwrap();
        let conn = Conn::sqlite(&raw);
        assert!(still_evictable(&conn, &store.blobs, &c, &NoUse).unwrap());
        store
            .db
            .write_blocking(move |tx| mirror_cache::record_use(tx, &[(a, 201)]))
            .unwrap();
        assert!(!still_evictable(&conn, &store.blobs, &c, &NoUse).unwrap());
        let moved = Candidate {
            last_used: 201,
            size: 99,
            ..c
        };
        assert!(
            !still_evictable(&conn, &store.blobs, &moved, &NoUse).unwrap(),
            "another file than the one scanned"
        );
    }
}
