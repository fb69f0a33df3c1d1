//! Content-addressed file storage: every release file, metadata file, doc
//! zip and toxresult is kept once, named by its sha256, and never changes.
//!
//! [`BlobStore`] is the one interface the rest of airlock uses; which
//! backend holds the bytes is chosen at start-up (`--blobs`):
//! - [`local`] (the default): `<data>/blobs/<aa>/<bb>/<sha256>`, today's
//!   layout, which backup, fsck, gc, export and nginx read directly;
//! - [`s3`]: objects `<prefix>/<aa>/<bb>/<sha256>` in an S3-compatible
//!   bucket (`object_store`), for several airlock nodes sharing one bucket.
//!
//! **Why an enum, not a trait object.** There are exactly two backends,
//! both known at compile time; the interface is synchronous (its callers
//! run on the blocking pool or the database thread) and a few operations
//! exist for one backend only (a local path for nginx, group sharing).
//! An enum keeps those visible as `Option`/`Unsupported` answers instead
//! of trait methods that half the implementations refuse, and every
//! `match` names both backends, so adding one is checked by the compiler.
//!
//! New content is always first written to a local temp file in
//! `<data>/tmp/` (streamed and hashed on the way): the local backend
//! fsyncs and renames it into place; the S3 backend uploads it
//! (create-only) and deletes it. Either way [`BlobStore::commit`] returns
//! only once the blob is durable, and callers commit metadata only after
//! it has; a `TempBlob` that is dropped without being committed deletes
//! itself, so a failed upload leaves nothing behind.
//!
//! Reads that serve a client go through [`BlobStore::open_read`] and are
//! verified against the sha256 while they stream (`server::blob_body`):
//! neither the disk nor the bucket is trusted.

mod local;
pub mod read_cache;
pub mod s3;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Sha256, Sha256Hasher};

use super::StoreError;

pub use s3::S3Location;

/// Where the blobs live (`--blobs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlobLocation {
    /// `<data>/blobs/` (the default).
    #[default]
    Local,
    S3(S3Location),
}

impl std::str::FromStr for BlobLocation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "local" || s.is_empty() {
            return Ok(Self::Local);
        }
        if s.starts_with("s3://") {
            return s.parse().map(Self::S3);
        }
        Err(format!(
            "--blobs takes 'local' or 's3://bucket/prefix?endpoint=...&region=...', not {s:?}"
        ))
    }
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::S3(l) => l.fmt(f),
        }
    }
}

/// The file in a data folder that records that its blobs are in a bucket
/// (tools that read `blobs/` directly refuse such a folder).
pub const LOCATION_FILE: &str = "blobs.location";

/// What a command that needs the blobs as local files says about a data
/// folder whose blobs are in a bucket; `Ok` for a local folder.
pub fn require_local(data_dir: &Path, what: &str) -> Result<(), StoreError> {
    match fs::read_to_string(data_dir.join(LOCATION_FILE)) {
        Ok(url) => Err(StoreError::Unsupported(format!(
            "{what} is not yet supported with --blobs s3://: the files of {} are in {} \
             (docs/scale-out.md)",
            data_dir.display(),
            url.trim()
        ))),
        Err(_) => Ok(()),
    }
}

enum Backend {
    Local(local::LocalBlobs),
    S3(s3::S3Blobs),
}

pub struct BlobStore {
    tmp: PathBuf,
    counter: AtomicU64,
    backend: Backend,
    /// Verified copies of small objects (S3 only; set once at start-up by
    /// [`BlobStore::enable_read_cache`]).
    read_cache: std::sync::OnceLock<read_cache::ReadCache>,
}

/// A blob as a local file, for code that reads archives by path (push
/// checks, doc zips): the stored file itself with the local backend, a
/// verified temp copy (deleted on drop) with S3.
pub struct LocalCopy {
    path: PathBuf,
    _temp: Option<TempBlob>,
}

impl LocalCopy {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An object of a bucket store ([`BlobStore::list`]).
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its key below the store's prefix (`aa/bb/<sha256>` for a blob).
    pub key: String,
    /// The blob it holds, if its key is a blob's (`aa/bb/<sha256>` with
    /// matching prefixes).
    pub sha: Option<Sha256>,
    pub size: u64,
    /// Last modified, in Unix seconds.
    pub modified: i64,
}

/// How a download reads a blob (`server::blob_body` verifies either).
pub enum BlobRead {
    /// A local file, opened and read by `blob_body`.
    File(PathBuf),
    /// An object's GET, already started.
    Object(s3::ObjectRead),
    /// A small object's bytes this node read and verified before
    /// ([`read_cache`]).
    Verified(bytes::Bytes),
}

impl BlobStore {
    /// The local store below `data_dir` (creating `blobs/` and `tmp/`).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_at(data_dir, &BlobLocation::Local)
    }

    /// Open the store at `location`, with its temp files in `data_dir/tmp/`
    /// (emptied of what an earlier crash left).
    pub fn open_at(data_dir: &Path, location: &BlobLocation) -> Result<Self, StoreError> {
        let tmp = data_dir.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| StoreError::io("cleaning", &tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io("creating", &tmp, e))?;
        let marker = data_dir.join(LOCATION_FILE);
        let backend = match location {
            BlobLocation::Local => {
                if let Ok(url) = fs::read_to_string(&marker) {
                    return Err(StoreError::Unsupported(format!(
                        "the files of {} are in {}: start airlock with --blobs {} (or move \
                         them back and delete {})",
                        data_dir.display(),
                        url.trim(),
                        url.trim(),
                        marker.display()
                    )));
                }
                Backend::Local(local::LocalBlobs::open(data_dir)?)
            }
            BlobLocation::S3(l) => {
                let s3 = s3::S3Blobs::open(l)?;
                fs::write(&marker, format!("{l}\n"))
                    .map_err(|e| StoreError::io("writing", &marker, e))?;
                Backend::S3(s3)
            }
        };
        Ok(Self {
            tmp,
            counter: AtomicU64::new(0),
            backend,
            read_cache: std::sync::OnceLock::new(),
        })
    }

    /// The store at `location` of the data folder `data_dir` for a command
    /// that runs beside its server (`airlock gc`): temp files go to `tmp`
    /// (the command's own), and the server's `data_dir/tmp/` is left alone.
    pub fn open_beside(
        data_dir: &Path,
        location: &BlobLocation,
        tmp: &Path,
    ) -> Result<Self, StoreError> {
        fs::create_dir_all(tmp).map_err(|e| StoreError::io("creating", tmp, e))?;
        let backend = match location {
            BlobLocation::Local => Backend::Local(local::LocalBlobs::open(data_dir)?),
            BlobLocation::S3(l) => Backend::S3(s3::S3Blobs::open(l)?),
        };
        Ok(Self {
            tmp: tmp.to_path_buf(),
            counter: AtomicU64::new(0),
            backend,
            read_cache: std::sync::OnceLock::new(),
        })
    }

    /// The object-storage backend over object_store's in-memory store, with
    /// its temp files in `data_dir/tmp/` (unit tests).
    #[cfg(test)]
    pub(crate) fn in_memory(data_dir: &Path) -> Result<Self, StoreError> {
        let tmp = data_dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io("creating", &tmp, e))?;
        Ok(Self {
            tmp,
            counter: AtomicU64::new(0),
            backend: Backend::S3(s3::S3Blobs::in_memory("unit")?),
            read_cache: std::sync::OnceLock::new(),
        })
    }

    /// Keep verified copies of small objects read for downloads, up to
    /// about `max_bytes` ([`read_cache`]); object storage only (local files
    /// have the kernel's page cache), and only the first call counts.
    /// Returns whether a cache is on.
    pub fn enable_read_cache(&self, max_bytes: u64) -> bool {
        if self.is_local() {
            return false;
        }
        if let Some(cache) = read_cache::ReadCache::new(max_bytes) {
            let _ = self.read_cache.set(cache);
        }
        self.read_cache.get().is_some()
    }

    /// Bytes held by the read cache (metrics, tests).
    pub fn read_cache_bytes(&self) -> u64 {
        self.read_cache.get().map_or(0, |c| c.weight())
    }

    /// `true` with the default local backend.
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local(_))
    }

    /// Can the store take a file now? (Creates and removes a temp file,
    /// and with S3 a probe object.)
    pub fn probe_writable(&self) -> Result<(), StoreError> {
        let mut t = self.create_temp()?;
        t.write_all(b"probe")?;
        drop(t);
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::S3(s) => s.probe(),
        }
    }

    /// The local file of a blob (whether or not it exists); `None` when
    /// the blobs are not local files.
    /// A presigned URL that downloads the object of `sha` straight from the
    /// bucket for `ttl` (`--blobs-redirect`); `None` with local files or a
    /// store that cannot sign.
    pub fn presigned_get(
        &self,
        sha: &Sha256,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Local(_) => Ok(None),
            Backend::S3(s) => s.presigned_get(sha, ttl),
        }
    }

    pub fn local_path(&self, sha: &Sha256) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(l) => Some(l.path_of(sha)),
            Backend::S3(_) => None,
        }
    }

    /// Let the process's group read blobs by path (for a front proxy that
    /// sends them, `--accel-redirect`): every folder of the store becomes
    /// 0710 and every blob 0640, now and for each blob committed later.
    /// Returns how many entries were changed.
    #[cfg(unix)]
    pub fn share_with_group(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Local(l) => l.share_with_group(),
            Backend::S3(_) => Err(StoreError::Unsupported(
                "--accel-redirect is not yet supported with --blobs s3:// (nginx needs the \
                 files on local disk)"
                    .into(),
            )),
        }
    }

    /// Is the blob stored? (With S3 an unreachable bucket answers `false`,
    /// logged.)
    pub fn exists(&self, sha: &Sha256) -> bool {
        match &self.backend {
            Backend::Local(l) => l.exists(sha),
            Backend::S3(s) => s.exists(sha),
        }
    }

    /// A new, empty temp file to stream content into.
    pub fn create_temp(&self) -> Result<TempBlob, StoreError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut rnd = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
            .map_err(|_| StoreError::Internal("no system randomness".into()))?;
        let path = self.tmp.join(format!(
            "{}-{n}-{}.part",
            std::process::id(),
            hex::encode(rnd)
        ));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io("creating", &path, e))?;
        Ok(TempBlob {
            path,
            file: Some(file),
            hasher: Sha256Hasher::default(),
            size: 0,
        })
    }

    /// Store `bytes` (small content such as core metadata) and return its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Sha256, bool), StoreError> {
        let mut t = self.create_temp()?;
        t.write_all(bytes)?;
        let sha = t.sha256();
        let created = self.commit(t)?;
        Ok((sha, created))
    }

    /// Make a finished temp file a durable blob. Returns `true` if the blob
    /// is new, `false` if identical content was already stored.
    pub fn commit(&self, temp: TempBlob) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Local(l) => l.commit(temp),
            Backend::S3(s) => s.commit(temp),
        }
    }

    /// The first of `shas` that is not stored (`None`: all are). With object
    /// storage the lookups run at the same time.
    pub fn first_missing(&self, shas: &[Sha256]) -> Option<Sha256> {
        match &self.backend {
            Backend::Local(l) => shas.iter().find(|s| !l.exists(s)).copied(),
            Backend::S3(s) => s.first_missing(shas),
        }
    }

    /// Delete a blob (used to undo a commit whose database write failed, and
    /// when the last file referring to it is deleted).
    pub fn remove(&self, sha: &Sha256) -> Result<(), StoreError> {
        if let Some(c) = self.read_cache.get() {
            c.forget(sha);
        }
        match &self.backend {
            Backend::Local(l) => l.remove(sha),
            Backend::S3(s) => s.remove(sha),
        }
    }

    /// Move a blob whose bytes no longer hash to its name out of the store
    /// (kept for inspection: `quarantine/<sha256>.<unix seconds>` beside
    /// `blobs/`, or below the bucket prefix), so the mirror fetches and
    /// verifies it again. It is re-hashed first: a blob a concurrent fetch
    /// has already put back right is left alone. `Ok(None)`: nothing was
    /// moved; `Some`: where it went.
    pub fn quarantine(&self, sha: &Sha256) -> Result<Option<String>, StoreError> {
        if let Some(c) = self.read_cache.get() {
            c.forget(sha);
        }
        match &self.backend {
            Backend::Local(l) => l.quarantine(sha),
            Backend::S3(s) => s.quarantine(sha),
        }
    }

    /// Re-hash a stored blob (push verification, `audit`).
    pub fn rehash(&self, sha: &Sha256) -> Result<Sha256, StoreError> {
        match &self.backend {
            Backend::Local(l) => l.rehash(sha),
            Backend::S3(s) => s.rehash(sha),
        }
    }

    /// The blob as a local file, for reading archives by path; with S3 a
    /// downloaded copy whose sha256 was checked.
    pub fn local_copy(&self, sha: &Sha256) -> Result<LocalCopy, StoreError> {
        match &self.backend {
            Backend::Local(l) => Ok(LocalCopy {
                path: l.path_of(sha),
                _temp: None,
            }),
            Backend::S3(s) => {
                let mut temp = self.create_temp()?;
                s.download_into(sha, &mut temp)?;
                let got = temp.sha256();
                if got != *sha {
                    return Err(StoreError::Corrupt(format!(
                        "object {} hashes to {got}, not to its name",
                        s.key_of(sha)
                    )));
                }
                temp.flush()?;
                Ok(LocalCopy {
                    path: temp.path.clone(),
                    _temp: Some(temp),
                })
            }
        }
    }

    /// Start reading a blob for a download (async: called from handlers).
    pub async fn open_read(&self, sha: &Sha256) -> Result<BlobRead, StoreError> {
        match &self.backend {
            Backend::Local(l) => Ok(BlobRead::File(l.path_of(sha))),
            Backend::S3(s) => {
                let cache = self.read_cache.get();
                if let Some(bytes) = cache.and_then(|c| c.get(sha)) {
                    return Ok(BlobRead::Verified(bytes));
                }
                let read = s.open_read(sha).await?;
                if let (Some(c), s3::ObjectBody::Whole(bytes)) = (cache, &read.body) {
                    c.offer(sha, bytes);
                }
                Ok(BlobRead::Object(read))
            }
        }
    }

    /// Every object of a bucket store, for `airlock fsck` and `airlock gc`
    /// (a local store is walked on disk instead: `Unsupported`).
    pub fn list(&self) -> Result<Vec<Listed>, StoreError> {
        match &self.backend {
            Backend::Local(_) => Err(StoreError::Unsupported(
                "listing a local blob store: walk its blobs/ folder".into(),
            )),
            Backend::S3(s) => s.list(),
        }
    }

    /// Size and last modification (Unix seconds) of a stored blob, `None`
    /// if it is not stored (mirror cache retention: a blob replaced since
    /// it was looked at is another file).
    pub fn stat(&self, sha: &Sha256) -> Result<Option<(u64, i64)>, StoreError> {
        match &self.backend {
            Backend::Local(l) => {
                let p = l.path_of(sha);
                match fs::metadata(&p) {
                    Ok(m) if m.is_file() => {
                        let mtime = m
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_secs() as i64);
                        Ok(Some((m.len(), mtime)))
                    }
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(StoreError::io("reading", &p, e)),
                }
            }
            Backend::S3(s) => s.stat(sha),
        }
    }

    /// Size of a stored blob.
    pub fn size_of(&self, sha: &Sha256) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Local(l) => {
                let p = l.path_of(sha);
                fs::metadata(&p)
                    .map(|m| m.len())
                    .map_err(|e| StoreError::io("reading", &p, e))
            }
            Backend::S3(s) => s.size_of(sha),
        }
    }
}

/// A file being written into `tmp/`. Deleted on drop unless committed.
pub struct TempBlob {
    path: PathBuf,
    file: Option<fs::File>,
    hasher: Sha256Hasher,
    size: u64,
}

impl TempBlob {
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let file = self.file.as_mut().expect("write after commit");
        file.write_all(bytes)
            .map_err(|e| StoreError::io("writing", &self.path, e))?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(f) = self.file.as_mut() {
            f.flush()
                .map_err(|e| StoreError::io("writing", &self.path, e))?;
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The digest of everything written so far.
    pub fn sha256(&self) -> Sha256 {
        self.hasher.clone_finish()
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        self.file.take();
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn a_shared_store_lets_the_group_read_blobs_by_path_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = super::super::Store::open(dir.path()).expect("store");
        let (before, _) = store.blobs.put_bytes(b"before").expect("put");
        fs::set_permissions(
            dir.path().join("airlock.sqlite3"),
            fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert!(store.share_blobs_with_group().expect("share") >= 3);
        let (after, _) = store.blobs.put_bytes(b"after").expect("put");
        for sha in [before, after] {
            let p = store.blobs.local_path(&sha).expect("local");
            assert_eq!(mode(&p), 0o640, "{}", p.display());
            assert_eq!(mode(p.parent().expect("bb")), 0o710);
            assert_eq!(mode(p.parent().and_then(Path::parent).expect("aa")), 0o710);
        }
        assert_eq!(mode(&dir.path().join("blobs")), 0o710);
        assert_eq!(mode(dir.path()), 0o710);
        // nothing else in the data folder is open to the group
        assert_eq!(mode(&dir.path().join("airlock.sqlite3")), 0o600);
        assert_eq!(mode(&dir.path().join("tmp")) & 0o077, 0);
        // a second pass changes nothing
        assert_eq!(store.share_blobs_with_group().expect("share"), 0);
    }
}
