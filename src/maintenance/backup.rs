//! `airlock backup` and `airlock restore`.
//!
//! A backup is a data folder without `tmp/`: `airlock.sqlite3` (a
//! single-file database, rollback journal mode), `blobs/` with exactly the
//! blobs that database refers to, and `secret` (mode 0600). It is taken
//! while the server runs:
//!
//! 1. **Link (or copy) every blob present now.** Blobs are immutable and
//!    content-addressed, so a hard link is a safe copy of the content.
//! 2. **Snapshot the database** with SQLite's online backup API in one
//!    step (one read transaction: a consistent state, whatever the server
//!    writes meanwhile).
//! 3. **Link the blobs the snapshot refers to that step 1 did not see**
//!    (uploaded in between), then remove from the backup the blobs the
//!    snapshot does not refer to.
//! 4. Copy `secret`, then **verify** the backup with [`fsck`]: every
//!    referenced blob present and re-hashing to its name, the audit chain
//!    intact, the database passing `quick_check`.
//!
//! Why blobs before the snapshot: the server's garbage collection removes
//! a blob as soon as no row refers to it. Had we snapshotted first, a file
//! deleted between the snapshot and the linking would lose its blob while
//! the snapshot still lists it. Linked first, the backup holds its own
//! link to every blob that existed before the snapshot. The remaining gap
//! — a blob uploaded after step 1, then deleted and collected before
//! step 3, while the snapshot lists it — fails verification, and running
//! the backup again succeeds.
//!
//! Hard links share the inode with the live store: the backup protects
//! against deletion and a broken database, not against the disk. Pass
//! `copy` (`--copy`) to force real copies on the same filesystem;
//! across filesystems blobs are always copied.

use std::path::Path;

use super::fsck::{fsck, FsckOptions, FsckReport};
use super::pace::Pacer;
use super::refs::{self, BlobEntry};
use super::{MaintenanceError, Pace, DB_FILE, SECRET_FILE};

#[derive(Debug, Default)]
pub struct BackupReport {
    pub blobs_linked: u64,
    pub blobs_copied: u64,
    /// Linked in step 1 but not referenced by the snapshot (removed again).
    pub blobs_pruned: u64,
    pub secret: bool,
    pub verified: FsckReport,
}

/// Back up the data folder `data` into `dest` (absent or empty), taking
/// at most what `pace` allows of the machine (the server runs beside it).
pub fn backup(
    data: &Path,
    dest: &Path,
    force_copy: bool,
    pace: Pace,
) -> Result<BackupReport, MaintenanceError> {
    if super::source::is_cluster(data) {
        return backup_cluster(data, dest, pace);
    }
    // Refuse before writing anything.
    let src_db = data.join(DB_FILE);
    if !src_db.is_file() {
        return Err(MaintenanceError::NotADataFolder(data.to_path_buf()));
    }
    if !super::is_absent_or_empty(dest)? {
        return Err(MaintenanceError::NotEmpty(dest.to_path_buf(), "backup"));
    }
    let source = super::open_db(data)?;
    super::create_private_dir(dest)?;
    let mut report = BackupReport::default();
    let mut linker = Linker {
        link: !force_copy,
        report: &mut report,
        pacer: pace.pacer(),
    };

    // 1. Every blob present now.
    let src_root = data.join("blobs");
    let dst_root = dest.join("blobs");
    for e in refs::walk_blobs_paced(&src_root, pace)? {
        if let BlobEntry::Blob { sha, path } = e {
            linker.put(&path, &refs::blob_path(&dst_root, &sha))?;
        }
    }

    // 2. The database, in one step.
    let dst_db = dest.join(DB_FILE);
    {
        let mut target = rusqlite::Connection::open(&dst_db)?;
        {
            let b = rusqlite::backup::Backup::new(&source, &mut target)?;
            loop {
                match b.step(-1)? {
                    rusqlite::backup::StepResult::Done => break,
                    _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        }
        // One self-contained file, no -wal/-shm beside it.
        target.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    }
    drop(source);

    // 3. What the snapshot refers to, and nothing else.
    let snapshot = super::open_db(dest)?;
    let wanted = refs::load(&crate::store::sql::Conn::sqlite(&snapshot))?;
    drop(snapshot);
    for sha in &wanted.all {
        let to = refs::blob_path(&dst_root, sha);
        let from = refs::blob_path(&src_root, sha);
        if !to.exists() && from.exists() {
            linker.put(&from, &to)?;
        }
    }
    for e in refs::walk_blobs_paced(&dst_root, pace)? {
        if let BlobEntry::Blob { sha, path } = e {
            if !wanted.all.contains(&sha) {
                std::fs::remove_file(&path)
                    .map_err(|e| MaintenanceError::io("removing", &path, e))?;
                linker.report.blobs_pruned += 1;
            }
        }
    }

    // 4. The secret, then verification.
    let secret = data.join(SECRET_FILE);
    if secret.is_file() {
        super::copy_private(&secret, &dest.join(SECRET_FILE))?;
        report.secret = true;
    }
    report.verified = verify(dest, pace)?;
    Ok(report)
}

/// The backup of a cluster node's folder (metadata in PostgreSQL, files in
/// a bucket: docs/scale-out.md): an embedded data folder holding the
/// cluster's data, so that `airlock restore` (one machine) or `airlock
/// store migrate --from` (a new cluster) brings it back. It is an export of
/// one consistent snapshot of the database, with the mirror files and every
/// blob re-hashed as it arrives (`export`), imported into `dest`
/// (re-verified, the audit chain too, the copy appended to it as a
/// `data_import` entry), then verified like any backup. The export is
/// staged in a work folder beside `dest` and removed afterwards.
fn backup_cluster(data: &Path, dest: &Path, pace: Pace) -> Result<BackupReport, MaintenanceError> {
    use super::export::{self, ExportOptions};
    if !super::is_absent_or_empty(dest)? {
        return Err(MaintenanceError::NotEmpty(dest.to_path_buf(), "backup"));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let work = tempfile::Builder::new()
        .prefix(".airlock-backup-")
        .tempdir_in(parent)
        .map_err(|e| MaintenanceError::io("creating a work folder in", parent, e))?;
    let staged = work.path().join("export");
    let exported = export::export(
        data,
        &staged,
        ExportOptions {
            with_mirror_files: true,
            copy: false,
        },
    )
    .map_err(|e| MaintenanceError::Export(Box::new(e)))?;
    let existed = dest.exists();
    let result = (|| {
        export::import(&staged, dest).map_err(|e| MaintenanceError::Export(Box::new(e)))?;
        let secret = data.join(SECRET_FILE);
        let has_secret = secret.is_file();
        if has_secret {
            super::copy_private(&secret, &dest.join(SECRET_FILE))?;
        }
        Ok::<_, MaintenanceError>(has_secret)
    })();
    let secret = match result {
        Ok(s) => s,
        Err(e) => {
            // `import` removes what it wrote itself; the secret came after
            export::remove_written(dest, existed);
            return Err(e);
        }
    };
    drop(work);
    Ok(BackupReport {
        blobs_linked: 0,
        blobs_copied: exported.manifest.blobs.count,
        blobs_pruned: 0,
        secret,
        verified: verify(dest, pace)?,
    })
}

/// The checks a backup must pass (before it is trusted, and before a
/// restore): [`fsck`] without the metadata comparison, which re-reads
/// every archive and is `airlock fsck`'s job.
pub fn verify(dir: &Path, pace: Pace) -> Result<FsckReport, MaintenanceError> {
    let opts = FsckOptions {
        repair: false,
        check_metadata: false,
        check_tmp: false,
        pace,
        ..FsckOptions::default()
    };
    let report = fsck(dir, &opts)?;
    if !report.is_clean() {
        return Err(MaintenanceError::VerificationFailed {
            what: dir.display().to_string(),
            problems: report.problems(),
            summary: report.summary(),
        });
    }
    Ok(report)
}

#[derive(Debug, Default)]
pub struct RestoreReport {
    pub blobs: u64,
    pub secret: bool,
    pub verified: FsckReport,
}

/// Restore the backup `backup` into `data` (absent or empty): verify the
/// backup, copy it (blobs re-hashed on the way), verify the result. On
/// failure, what was written is removed again.
pub fn restore(backup: &Path, data: &Path) -> Result<RestoreReport, MaintenanceError> {
    if !backup.join(DB_FILE).is_file() {
        return Err(MaintenanceError::NotADataFolder(backup.to_path_buf()));
    }
    if !super::is_absent_or_empty(data)? {
        return Err(MaintenanceError::NotEmpty(data.to_path_buf(), "restore"));
    }
    verify(backup, Pace::full())?;
    let existed = data.exists();
    let result = restore_into(backup, data);
    if result.is_err() {
        // `data` was empty or absent: everything in it is ours.
        if existed {
            if let Ok(rd) = std::fs::read_dir(data) {
                for e in rd.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(data);
        }
    }
    result
}

fn restore_into(backup: &Path, data: &Path) -> Result<RestoreReport, MaintenanceError> {
    super::create_private_dir(data)?;
    let mut report = RestoreReport::default();
    let (src_root, dst_root) = (backup.join("blobs"), data.join("blobs"));
    for e in refs::walk_blobs(&src_root)? {
        if let BlobEntry::Blob { sha, path } = e {
            copy_checked(&path, &refs::blob_path(&dst_root, &sha), &sha)?;
            report.blobs += 1;
        }
    }
    let secret = backup.join(SECRET_FILE);
    if secret.is_file() {
        super::copy_private(&secret, &data.join(SECRET_FILE))?;
        report.secret = true;
    }
    // The database last, under a temporary name: a folder without it is
    // recognisably not a finished restore.
    let part = data.join(format!("{DB_FILE}.restoring"));
    let from = backup.join(DB_FILE);
    std::fs::copy(&from, &part).map_err(|e| MaintenanceError::io("copying", &from, e))?;
    sync(&part)?;
    let db = data.join(DB_FILE);
    std::fs::rename(&part, &db).map_err(|e| MaintenanceError::io("renaming", &part, e))?;
    report.verified = verify(data, Pace::full())?;
    Ok(report)
}

/// Copy a blob, re-hashing it on the way; refuses content that does not
/// match its name (the backup changed since it was verified).
fn copy_checked(from: &Path, to: &Path, sha: &str) -> Result<(), MaintenanceError> {
    use std::io::{Read, Write};
    let parent = to.parent().expect("blob path has a parent");
    std::fs::create_dir_all(parent).map_err(|e| MaintenanceError::io("creating", parent, e))?;
    let mut src =
        std::fs::File::open(from).map_err(|e| MaintenanceError::io("opening", from, e))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| MaintenanceError::io("creating", to, e))?;
    let mut h = crate::digest::Sha256Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| MaintenanceError::io("reading", from, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .map_err(|e| MaintenanceError::io("writing", to, e))?;
    }
    dst.sync_all()
        .map_err(|e| MaintenanceError::io("syncing", to, e))?;
    let actual = h.finish().to_hex();
    if actual != sha {
        return Err(MaintenanceError::VerificationFailed {
            what: from.display().to_string(),
            problems: 1,
            summary: format!("content hashes to {actual}, not its name\n"),
        });
    }
    Ok(())
}

fn sync(path: &Path) -> Result<(), MaintenanceError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| MaintenanceError::io("syncing", path, e))
}

/// Puts blobs into the backup: hard links while the filesystem allows,
/// copies from the first refusal on.
struct Linker<'a> {
    link: bool,
    report: &'a mut BackupReport,
    pacer: Pacer,
}

impl Linker<'_> {
    /// Link or copy one blob, then keep to the pace.
    fn put(&mut self, from: &Path, to: &Path) -> Result<(), MaintenanceError> {
        let r = self.put_now(from, to);
        self.pacer.step();
        r
    }

    fn put_now(&mut self, from: &Path, to: &Path) -> Result<(), MaintenanceError> {
        let parent = to.parent().expect("blob path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| MaintenanceError::io("creating", parent, e))?;
        if self.link {
            match std::fs::hard_link(from, to) {
                Ok(()) => {
                    self.report.blobs_linked += 1;
                    return Ok(());
                }
                // Collected by the server meanwhile: nothing to keep (if
                // the snapshot still lists it, verification says so).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                // Another filesystem (EXDEV) or no hard links there.
                Err(_) => self.link = false,
            }
        }
        match std::fs::copy(from, to) {
            Ok(_) => {
                sync(to)?;
                self.report.blobs_copied += 1;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !from.exists() => {
                let _ = std::fs::remove_file(to);
                Ok(())
            }
            Err(e) => Err(MaintenanceError::io("copying", from, e)),
        }
    }
}
