//! `airlock fsck`: check a data folder, optionally removing unreferenced
//! blobs.
//!
//! Safe while the server runs: the database is opened read-only, and
//! because hashing a large store takes a while, every candidate problem
//! found against the first read of the references (a missing blob, an
//! orphan) is checked again against the database as it is at the end, so
//! an upload or a delete during the run is not reported as damage.
//!
//! An upload renames its blob into place just before committing the row
//! that references it, so an unreferenced blob younger than `min_age`
//! (default an hour) is reported but not counted as a problem, and never
//! removed. `--repair` removes only blobs that nothing references at that
//! moment *and* that are older than `min_age`, and temp files older than
//! `min_age`. Nothing referenced is ever touched.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::refs::{self, BlobEntry};
use super::source::{Blobs, Metadata};
use super::{MaintenanceError, Pace};
use crate::digest::Sha256;
use crate::store::sql::Conn;
use crate::store::StoreError;

/// The schema version (migration number) that created `audit_log`.
const AUDIT_LOG_SCHEMA: i64 = 7;

#[derive(Debug, Clone)]
pub struct FsckOptions {
    /// Remove unreferenced blobs and stray temp files (older than `min_age`).
    pub repair: bool,
    /// Compare each release file's stored core metadata with the
    /// METADATA / PKG-INFO inside the archive.
    pub check_metadata: bool,
    /// Only blobs and temp files at least this old are removed by `repair`.
    pub min_age: Duration,
    /// Print progress to stderr (only when it is a terminal).
    pub progress: bool,
    /// Look at `tmp/` (a backup has none).
    pub check_tmp: bool,
    /// Threads, and how much of the machine they may take (beside a live
    /// server: see [`super::pace`]).
    pub pace: Pace,
}

impl Default for FsckOptions {
    fn default() -> Self {
        Self {
            repair: false,
            check_metadata: true,
            min_age: Duration::from_secs(3600),
            progress: true,
            check_tmp: true,
            pace: Pace::full(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct FsckReport {
    pub blobs: u64,
    pub bytes: u64,
    /// Blobs whose content does not hash to their name.
    pub corrupt: Vec<String>,
    /// Rows whose blob is not stored: "column: row (sha)".
    pub missing: Vec<String>,
    /// Blobs nothing references, older than `min_age` (after `repair`:
    /// those still there).
    pub orphans: Vec<String>,
    /// Blobs nothing references yet, younger than `min_age`: on a running
    /// server most likely an upload about to commit its row. Reported, not
    /// counted, never removed; `--min-age 0` counts them.
    pub recent_unreferenced: Vec<String>,
    pub orphans_removed: u64,
    /// Files below blobs/ that are not named like blobs.
    pub stray: Vec<String>,
    /// Temp files older than `min_age` (after `repair`: still there).
    pub stale_tmp: Vec<String>,
    pub tmp_removed: u64,
    /// Release files whose stored core metadata differs from the archive's.
    pub metadata_mismatch: Vec<String>,
    /// Release files whose archive could not be inspected today (reported,
    /// not counted: the archive rules may have tightened since upload).
    pub metadata_unreadable: Vec<String>,
    pub metadata_checked: u64,
    /// Mirror rows whose blob is not cached (not a problem: fetched again).
    pub mirror_not_cached: u64,
    pub audit_entries: u64,
    pub audit_problems: Vec<String>,
    /// `PRAGMA quick_check` findings.
    pub database: Vec<String>,
}

impl FsckReport {
    pub fn problems(&self) -> usize {
        self.corrupt.len()
            + self.missing.len()
            + self.orphans.len()
            + self.stray.len()
            + self.stale_tmp.len()
            + self.metadata_mismatch.len()
            + self.audit_problems.len()
            + self.database.len()
    }

    pub fn is_clean(&self) -> bool {
        self.problems() == 0
    }

    /// A human summary: counts, then each problem.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} blobs ({} bytes) re-hashed; {} corrupt, {} missing, {} unreferenced ({} removed, \
             {} too recent to judge), {} stray, {} stale temp ({} removed); metadata: {} checked, {} mismatched, {} unreadable; \
             mirror rows not cached: {}; audit log: {} entries, {} problems; database: {}\n",
            self.blobs,
            self.bytes,
            self.corrupt.len(),
            self.missing.len(),
            self.orphans.len(),
            self.orphans_removed,
            self.recent_unreferenced.len(),
            self.stray.len(),
            self.stale_tmp.len(),
            self.tmp_removed,
            self.metadata_checked,
            self.metadata_mismatch.len(),
            self.metadata_unreadable.len(),
            self.mirror_not_cached,
            self.audit_entries,
            self.audit_problems.len(),
            if self.database.is_empty() {
                "ok".to_string()
            } else {
                format!("{} problems", self.database.len())
            },
        );
        let sections: [(&str, &Vec<String>); 10] = [
            ("corrupt blob", &self.corrupt),
            ("missing blob", &self.missing),
            ("unreferenced blob", &self.orphans),
            (
                "recently written unreferenced blob (not counted)",
                &self.recent_unreferenced,
            ),
            ("stray file", &self.stray),
            ("stale temp file", &self.stale_tmp),
            ("metadata mismatch", &self.metadata_mismatch),
            ("metadata unreadable (warning)", &self.metadata_unreadable),
            ("audit log", &self.audit_problems),
            ("database", &self.database),
        ];
        for (what, list) in sections {
            for item in list {
                s.push_str(&format!("  {what}: {item}\n"));
            }
        }
        s
    }
}

/// Check the data folder `dir` (see the module documentation): its
/// embedded database and `blobs/`, or the PostgreSQL database and bucket
/// a cluster node's folder records (docs/scale-out.md).
pub fn fsck(dir: &Path, opts: &FsckOptions) -> Result<FsckReport, MaintenanceError> {
    let metadata = Metadata::open(dir, true)?;
    let blobs = Blobs::open(dir)?;
    let report = fsck_opened(dir, opts, &metadata, &blobs);
    metadata.close()?;
    report
}

fn fsck_opened(
    dir: &Path,
    opts: &FsckOptions,
    metadata: &Metadata,
    blobs: &Blobs,
) -> Result<FsckReport, MaintenanceError> {
    if !matches!(metadata, Metadata::Embedded(_)) {
        // PostgreSQL checks its own pages (checksums, amcheck): no
        // `quick_check` here
        return check(dir, opts, metadata, blobs);
    }
    let quick_conn = super::open_db(dir)?;
    if opts.pace.is_limited() {
        // Paced: one thing after another, every part within the pace.
        let mut report = check(dir, opts, metadata, blobs)?;
        report.database = quick_check(&quick_conn, opts.pace)?;
        return Ok(report);
    }
    // `PRAGMA quick_check` reads the whole database on one core and needs
    // no particular snapshot: it runs on its own connection beside the
    // rest, which is single-threaded too until the blobs are hashed.
    std::thread::scope(|scope| {
        let quick = scope.spawn(move || quick_check(&quick_conn, opts.pace));
        let report = check(dir, opts, metadata, blobs);
        let database = quick.join().expect("the quick_check thread panicked");
        let mut report = report?;
        report.database = database?;
        Ok(report)
    })
}

/// `PRAGMA quick_check`'s findings (none when it says "ok"); a limited
/// `pace` is kept through SQLite's progress handler.
fn quick_check(conn: &rusqlite::Connection, pace: Pace) -> Result<Vec<String>, MaintenanceError> {
    if pace.is_limited() {
        let mut pacer = pace.pacer();
        conn.progress_handler(
            1000,
            Some(move || {
                pacer.step();
                false
            }),
        );
    }
    let found: Vec<String> = conn
        .prepare("PRAGMA quick_check")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    conn.progress_handler(1000, None::<fn() -> bool>);
    Ok(found.into_iter().filter(|l| l != "ok").collect())
}

/// A stored blob found by the walk of `blobs/` or the bucket's listing.
struct Stored {
    sha: String,
    at: Place,
}

enum Place {
    File(PathBuf),
    Object {
        key: String,
        size: u64,
        modified: i64,
    },
}

impl Stored {
    fn describe(&self) -> String {
        match &self.at {
            Place::File(p) => p.display().to_string(),
            Place::Object { key, .. } => format!("object {key}"),
        }
    }

    /// Written at least `age` before `now`?
    fn older_than(&self, now: SystemTime, age: Duration) -> bool {
        match &self.at {
            Place::File(p) => older_than(p, now, age),
            Place::Object { modified, .. } => {
                let at = UNIX_EPOCH + Duration::from_secs((*modified).max(0) as u64);
                now.duration_since(at).map(|d| d >= age).unwrap_or(false)
            }
        }
    }
}

/// Everything but `quick_check` (see [`fsck`]).
fn check(
    dir: &Path,
    opts: &FsckOptions,
    metadata: &Metadata,
    source: &Blobs,
) -> Result<FsckReport, MaintenanceError> {
    let mut report = FsckReport::default();

    let refs = metadata.read(refs::load)?;
    let mut blobs = Vec::new();
    match source {
        Blobs::Dir(root) => {
            for e in refs::walk_blobs_paced(root, opts.pace)? {
                match e {
                    BlobEntry::Stray(p) => report.stray.push(p.display().to_string()),
                    BlobEntry::Blob { sha, path } => blobs.push(Stored {
                        sha,
                        at: Place::File(path),
                    }),
                }
            }
        }
        Blobs::Bucket { store, .. } => {
            for o in store.list()? {
                match o.sha {
                    None => report.stray.push(format!("object {}", o.key)),
                    Some(sha) => blobs.push(Stored {
                        sha: sha.to_hex(),
                        at: Place::Object {
                            key: o.key,
                            size: o.size,
                            modified: o.modified,
                        },
                    }),
                }
            }
        }
    }
    let progress = Progress::new(opts.progress, blobs.len());
    let now = SystemTime::now();

    // The files whose core metadata is checked: their archives are read
    // once, whole, for both the re-hash and the metadata comparison.
    let metadata_rows = if opts.check_metadata {
        metadata.read(metadata_rows)?
    } else {
        Vec::new()
    };
    let archives: HashMap<&str, &str> = metadata_rows
        .iter()
        .map(|r| (r.sha.as_str(), r.filename.as_str()))
        .collect();
    let limits = crate::dist::Limits::default();
    // Re-hash every blob, on every core.
    let hashed = hash_all(&blobs, source, &archives, &limits, opts.pace, &progress)?;
    progress.done();
    let mut good: HashSet<String> = HashSet::new();
    let mut present: HashSet<String> = HashSet::new();
    let mut orphan_candidates: Vec<Stored> = Vec::new();
    let mut quick_metadata: HashMap<String, String> = HashMap::new();
    for (stored, result) in blobs.into_iter().zip(hashed) {
        let Some(Hashed {
            digest: actual,
            size,
            metadata,
        }) = result
        else {
            continue; // removed by the server's garbage collection meanwhile
        };
        let sha = stored.sha.clone();
        if let Some(m) = metadata {
            quick_metadata.insert(sha.clone(), m);
        }
        report.blobs += 1;
        report.bytes += size;
        present.insert(sha.clone());
        if actual != sha {
            report.corrupt.push(format!(
                "{} (content hashes to {actual})",
                stored.describe()
            ));
        } else {
            good.insert(sha.clone());
        }
        if !refs.all.contains(&sha) {
            orphan_candidates.push(stored);
        }
    }

    // Rows without their blob (checked again against the database now).
    let mut missing: Vec<&refs::RequiredRef> = Vec::new();
    for (sha, rows) in &refs.required {
        if !present.contains(sha) && metadata.read(|c| refs::referenced_now(c, sha))? {
            missing.extend(rows.iter());
        }
    }
    missing.sort_by(|a, b| (a.column, &a.row).cmp(&(b.column, &b.row)));
    report.missing = missing
        .iter()
        .map(|r| format!("{}: {} ({})", r.column, r.row, r.sha))
        .collect();
    report.mirror_not_cached = refs
        .all
        .iter()
        .filter(|s| !refs.required.contains_key(*s) && !present.contains(*s))
        .count() as u64;

    // Unreferenced blobs.
    for stored in orphan_candidates {
        let sha = &stored.sha;
        if metadata.read(|c| refs::referenced_now(c, sha))? {
            continue; // referenced since the first read: an upload
        }
        if !stored.older_than(now, opts.min_age) {
            // maybe an upload between writing its blob and its row
            report
                .recent_unreferenced
                .push(format!("{sha} ({})", stored.describe()));
            continue;
        }
        if opts.repair {
            match (&stored.at, source) {
                (Place::File(path), _) => match std::fs::remove_file(path) {
                    Ok(()) => {
                        report.orphans_removed += 1;
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(MaintenanceError::io("removing", path, e)),
                },
                (Place::Object { .. }, Blobs::Bucket { store, .. }) => {
                    let digest: Sha256 = sha.parse().expect("listed as a blob");
                    store.remove(&digest)?;
                    report.orphans_removed += 1;
                    continue;
                }
                (Place::Object { .. }, Blobs::Dir(_)) => unreachable!("objects come from a bucket"),
            }
        }
        report
            .orphans
            .push(format!("{sha} ({})", stored.describe()));
    }

    // Temp files an upload in progress or a crash left.
    let tmp = dir.join("tmp");
    if opts.check_tmp {
        if let Ok(rd) = std::fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let path = e.path();
                if !older_than(&path, now, opts.min_age) {
                    continue; // maybe an upload in progress
                }
                if opts.repair && path.is_file() && std::fs::remove_file(&path).is_ok() {
                    report.tmp_removed += 1;
                    continue;
                }
                report.stale_tmp.push(path.display().to_string());
            }
        }
    }

    if opts.check_metadata {
        let quick = QuickMetadata {
            digests: &quick_metadata,
            filenames: &archives,
        };
        check_metadata(
            &metadata_rows,
            source,
            &good,
            &quick,
            opts.pace,
            &mut report,
        )?;
    }

    let Metadata::Embedded(conn) = metadata else {
        // a PostgreSQL database is brought to this airlock's schema on open
        let audit = metadata.snapshot(crate::audit::verify)?;
        report.audit_entries = audit.entries;
        report.audit_problems = audit.problems.iter().map(|p| p.to_string()).collect();
        return Ok(report);
    };
    // The audit log exists from schema version 7 on (an older data folder
    // that no server of this version has opened yet has none).
    let has_log: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log')",
        [],
        |r| r.get(0),
    )?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if has_log {
        let audit = crate::audit::verify(&crate::store::sql::Conn::sqlite(conn))?;
        report.audit_entries = audit.entries;
        report.audit_problems = audit.problems.iter().map(|p| p.to_string()).collect();
    } else if version >= AUDIT_LOG_SCHEMA {
        report
            .audit_problems
            .push("the audit_log table is gone (schema version says it was created)".into());
    }
    Ok(report)
}

fn older_than(path: &Path, now: SystemTime, age: Duration) -> bool {
    match std::fs::symlink_metadata(path).and_then(|m| m.modified()) {
        Ok(m) => now.duration_since(m).map(|d| d >= age).unwrap_or(false),
        Err(_) => false,
    }
}

/// A release file whose stored core metadata fsck compares.
struct MetadataRow {
    filename: String,
    sha: String,
    meta_sha: String,
    index: String,
}

fn metadata_rows(conn: &Conn<'_>) -> Result<Vec<MetadataRow>, MaintenanceError> {
    Ok(conn.query_map(
        "SELECT f.filename, f.sha256, f.metadata_sha256, i.name FROM files f
           JOIN indexes i ON i.id = f.index_id
          WHERE f.metadata_sha256 IS NOT NULL ORDER BY f.id",
        &[],
        |r| {
            Ok(MetadataRow {
                filename: r.get(0)?,
                sha: r.get::<String>(1)?.to_ascii_lowercase(),
                meta_sha: r.get::<String>(2)?.to_ascii_lowercase(),
                index: r.get(3)?,
            })
        },
    )?)
}

/// What the re-hash already found inside the archives it read whole: the
/// digest of the metadata member (found without the archive rules) of each
/// intact archive, and the filename it was read as.
struct QuickMetadata<'a> {
    digests: &'a HashMap<String, String>,
    filenames: &'a HashMap<&'a str, &'a str>,
}

/// Compare `files.metadata_sha256` with the digest of the METADATA /
/// PKG-INFO inside the archive, for files whose blobs are both intact.
fn check_metadata(
    rows: &[MetadataRow],
    source: &Blobs,
    good: &HashSet<String>,
    quick: &QuickMetadata<'_>,
    pace: Pace,
    report: &mut FsckReport,
) -> Result<(), MaintenanceError> {
    // Only files whose blobs are both intact (the others are reported as
    // missing or corrupt already).
    let rows: Vec<&MetadataRow> = rows
        .iter()
        .filter(|r| good.contains(&r.sha) && good.contains(&r.meta_sha))
        .collect();
    let limits = crate::dist::Limits::default();
    let found = super::par_map(
        &rows,
        pace,
        Vec::new,
        |buf,
         MetadataRow {
             filename,
             sha,
             meta_sha,
             ..
         }| {
            // Found while re-hashing (the archive read once, verified, under
            // this filename): a match is the answer, with no more reading.
            if quick.filenames.get(sha.as_str()) == Some(&filename.as_str())
                && quick.digests.get(sha) == Some(meta_sha)
            {
                return Ok(Ok(meta_sha.clone()));
            }
            // a blob in a bucket: a verified download, deleted on drop
            let copy;
            let path = match source {
                Blobs::Dir(root) => refs::blob_path(root, sha),
                Blobs::Bucket { store, .. } => {
                    let digest: Sha256 = sha.parse().map_err(|_| {
                        StoreError::Corrupt(format!("a row names blob {sha:?}, not a sha256"))
                    })?;
                    copy = store.local_copy(&digest)?;
                    copy.path().to_path_buf()
                }
            };
            // The quick way first: the archive read once, still its
            // verified bytes, and its metadata member found without the
            // archive rules (checked at upload); a match is the answer.
            if read_small(&path, buf) && Sha256::of(buf).to_hex() == *sha {
                if let Some(m) = crate::dist::stored_metadata(buf, filename, &limits) {
                    let digest = Sha256::of(&m).to_hex();
                    if digest == *meta_sha {
                        return Ok(Ok(digest));
                    }
                }
            }
            // Anything else: the full inspection's verdict.
            Ok(match crate::dist::inspect(&path, filename) {
                Ok(found) => Ok(Sha256::of(&found.metadata_bytes).to_hex()),
                Err(e) => Err(e.to_string()),
            })
        },
    )?;
    for (
        MetadataRow {
            filename,
            meta_sha,
            index,
            ..
        },
        result,
    ) in rows.iter().zip(found)
    {
        report.metadata_checked += 1;
        match result {
            Ok(actual) => {
                if actual != *meta_sha {
                    report.metadata_mismatch.push(format!(
                        "{index} {filename}: stored metadata {meta_sha}, the archive's is {actual}"
                    ));
                }
            }
            Err(e) => report
                .metadata_unreadable
                .push(format!("{index} {filename}: {e}")),
        }
    }
    Ok(())
}

/// Archives up to this size are read into memory for the quick metadata
/// check; larger ones go straight to the streaming inspection.
const QUICK_READ_MAX: u64 = 16 * 1024 * 1024;

/// Read the file at `path` into `buf` if it is at most [`QUICK_READ_MAX`].
fn read_small(path: &Path, buf: &mut Vec<u8>) -> bool {
    use std::io::Read;
    buf.clear();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.metadata().map_or(true, |m| m.len() > QUICK_READ_MAX) {
        return false;
    }
    file.take(QUICK_READ_MAX + 1).read_to_end(buf).is_ok() && buf.len() as u64 <= QUICK_READ_MAX
}

/// One blob re-hashed.
struct Hashed {
    digest: String,
    size: u64,
    /// For an archive in `archives` read whole and intact: the digest of
    /// its metadata member, if one was found.
    metadata: Option<String>,
}

/// Each blob re-hashed, in order, `None` for one that vanished (collected
/// by a running server). An archive whose metadata is checked (`archives`:
/// digest → filename) and that fits [`QUICK_READ_MAX`] is read whole once
/// for both checks. Hashing, not the disk, is the bottleneck on SSDs: see
/// [`super::par_map`].
fn hash_all(
    blobs: &[Stored],
    source: &Blobs,
    archives: &HashMap<&str, &str>,
    limits: &crate::dist::Limits,
    pace: Pace,
    progress: &Progress,
) -> Result<Vec<Option<Hashed>>, MaintenanceError> {
    super::par_map(
        blobs,
        pace,
        || (vec![0u8; refs::HASH_BUFFER], Vec::new()),
        |(buf, whole), Stored { sha, at }| {
            let r = match (at, source) {
                (Place::File(path), _) => {
                    if let Some(filename) = archives.get(sha.as_str()) {
                        if read_small(path, whole) {
                            let digest = Sha256::of(whole).to_hex();
                            let metadata = (digest == *sha)
                                .then(|| crate::dist::stored_metadata(whole, filename, limits))
                                .flatten()
                                .map(|m| Sha256::of(&m).to_hex());
                            progress.tick();
                            return Ok(Some(Hashed {
                                digest,
                                size: whole.len() as u64,
                                metadata,
                            }));
                        }
                    }
                    match refs::hash_file_with(path, buf) {
                        Ok((digest, size)) => Some(Hashed {
                            digest,
                            size,
                            metadata: None,
                        }),
                        Err(MaintenanceError::Io { source, .. })
                            if source.kind() == std::io::ErrorKind::NotFound =>
                        {
                            None
                        }
                        Err(e) => return Err(e),
                    }
                }
                (Place::Object { size, .. }, Blobs::Bucket { store, .. }) => {
                    let digest: Sha256 = sha.parse().expect("listed as a blob");
                    match store.rehash(&digest) {
                        Ok(actual) => Some(Hashed {
                            digest: actual.to_hex(),
                            size: *size,
                            metadata: None,
                        }),
                        Err(StoreError::NotFound(_)) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                (Place::Object { .. }, Blobs::Dir(_)) => unreachable!("objects come from a bucket"),
            };
            progress.tick();
            Ok(r)
        },
    )
}

/// "hashed N/M blobs" on stderr, at most five times a second, only on a
/// terminal.
struct Progress {
    on: bool,
    total: usize,
    done: AtomicUsize,
    last: Mutex<Instant>,
}

impl Progress {
    fn new(wanted: bool, total: usize) -> Self {
        Self {
            on: wanted && std::io::stderr().is_terminal(),
            total,
            done: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.on {
            return;
        }
        if let Ok(mut last) = self.last.try_lock() {
            if last.elapsed() >= Duration::from_millis(200) {
                *last = Instant::now();
                eprint!("\rfsck: hashed {done}/{} blobs", self.total);
            }
        }
    }

    fn done(&self) {
        if self.on {
            eprintln!(
                "\rfsck: hashed {}/{} blobs",
                self.done.load(Ordering::Relaxed),
                self.total
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data folder of an older airlock (schema version 6: no audit log,
    /// no test results, doc zips or mirror links yet) that no server of
    /// this version has migrated: fsck checks what there is.
    #[test]
    fn an_unmigrated_older_data_folder_is_checked_with_the_tables_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
        for sql in &crate::store::schema::MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        drop(conn);
        let opts = FsckOptions {
            progress: false,
            ..FsckOptions::default()
        };
        let report = fsck(dir.path(), &opts).unwrap();
        assert!(report.is_clean(), "{}", report.summary());
        assert_eq!(report.audit_entries, 0);

        // a newer schema that lost its audit log is a problem
        let conn = rusqlite::Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        drop(conn);
        let report = fsck(dir.path(), &opts).unwrap();
        assert_eq!(report.audit_problems.len(), 1, "{}", report.summary());
    }
}
