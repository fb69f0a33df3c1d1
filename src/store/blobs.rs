//! Content-addressed file storage: every release file and metadata file is
//! kept once, under `blobs/<aa>/<bb>/<sha256>`, and never changes.
//!
//! New content is first written to `tmp/` (streamed, hashed on the way),
//! fsynced, then renamed into place; a `TempBlob` that is dropped without
//! being committed deletes itself, so a failed upload leaves nothing behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::digest::{Sha256, Sha256Hasher};

use super::StoreError;

pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
    /// Blobs are readable by the process's group (`share_with_group`).
    group_read: AtomicBool,
}

/// Modes of a shared blob store: the group may open a blob by its path
/// (folders: search only, no listing) and read it, nothing more.
#[cfg(unix)]
const SHARED_DIR_MODE: u32 = 0o710;
#[cfg(unix)]
const SHARED_FILE_MODE: u32 = 0o640;

impl BlobStore {
    /// Open the store below `data_dir`, creating `blobs/` and `tmp/`, and
    /// removing temp files an earlier crash may have left.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let root = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        fs::create_dir_all(&root).map_err(|e| StoreError::io("creating", &root, e))?;
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| StoreError::io("cleaning", &tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io("creating", &tmp, e))?;
        Ok(Self {
            root,
            tmp,
            counter: AtomicU64::new(0),
            group_read: AtomicBool::new(false),
        })
    }

    /// Where the blob with this digest lives (whether or not it exists).
    /// Can the store take a file now? (Creates and removes a temp file.)
    pub fn probe_writable(&self) -> Result<(), StoreError> {
        let mut t = self.create_temp()?;
        t.write_all(b"probe")?;
        drop(t);
        Ok(())
    }

    pub fn path_of(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Let the process's group read blobs by path (for a front proxy that
    /// sends them, `--accel-redirect`): every folder of the store becomes
    /// 0710 and every blob 0640, now and for each blob committed later.
    /// Returns how many entries were changed.
    #[cfg(unix)]
    pub fn share_with_group(&self) -> Result<u64, StoreError> {
        use std::os::unix::fs::PermissionsExt;
        self.group_read.store(true, Ordering::Relaxed);
        fn set(path: &Path, mode: u32, changed: &mut u64) -> Result<(), StoreError> {
            let meta =
                fs::symlink_metadata(path).map_err(|e| StoreError::io("reading", path, e))?;
            if meta.permissions().mode() & 0o7777 != mode {
                fs::set_permissions(path, fs::Permissions::from_mode(mode))
                    .map_err(|e| StoreError::io("sharing", path, e))?;
                *changed += 1;
            }
            Ok(())
        }
        fn walk(dir: &Path, changed: &mut u64) -> Result<(), StoreError> {
            set(dir, SHARED_DIR_MODE, changed)?;
            for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing", dir, e))? {
                let entry = entry.map_err(|e| StoreError::io("listing", dir, e))?;
                let kind = entry
                    .file_type()
                    .map_err(|e| StoreError::io("reading", &entry.path(), e))?;
                if kind.is_dir() {
                    walk(&entry.path(), changed)?;
                } else if kind.is_file() {
                    set(&entry.path(), SHARED_FILE_MODE, changed)?;
                }
            }
            Ok(())
        }
        let mut changed = 0;
        walk(&self.root, &mut changed)?;
        Ok(changed)
    }

    pub fn exists(&self, sha: &Sha256) -> bool {
        self.path_of(sha).is_file()
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

    /// Move a finished temp file into place. Returns `true` if the blob is
    /// new, `false` if identical content was already stored.
    pub fn commit(&self, mut temp: TempBlob) -> Result<bool, StoreError> {
        let sha = temp.hasher_snapshot();
        let dest = self.path_of(&sha);
        let file = temp.file.take().expect("temp blob committed twice");
        let shared = self.group_read.load(Ordering::Relaxed);
        #[cfg(unix)]
        if shared {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(SHARED_FILE_MODE))
                .map_err(|e| StoreError::io("sharing", &temp.path, e))?;
        }
        file.sync_all()
            .map_err(|e| StoreError::io("syncing", &temp.path, e))?;
        drop(file);
        if dest.is_file() {
            return Ok(false); // temp is deleted by its Drop
        }
        let parent = dest.parent().expect("blob path has a parent");
        fs::create_dir_all(parent).map_err(|e| StoreError::io("creating", parent, e))?;
        #[cfg(unix)]
        if shared {
            use std::os::unix::fs::PermissionsExt;
            for dir in [parent, parent.parent().expect("blobs/aa")] {
                fs::set_permissions(dir, fs::Permissions::from_mode(SHARED_DIR_MODE))
                    .map_err(|e| StoreError::io("sharing", dir, e))?;
            }
        }
        fs::rename(&temp.path, &dest).map_err(|e| StoreError::io("storing", &dest, e))?;
        temp.path = PathBuf::new(); // renamed: nothing left to delete
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
        Ok(true)
    }

    /// Delete a blob (used to undo a commit whose database write failed, and
    /// when the last file referring to it is deleted).
    pub fn remove(&self, sha: &Sha256) -> Result<(), StoreError> {
        let p = self.path_of(sha);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("removing", &p, e)),
        }
    }

    /// Move a blob whose bytes no longer hash to its name out of the store
    /// into `quarantine/` beside `blobs/` (kept for inspection, named
    /// `<sha256>.<unix seconds>`), so the mirror fetches and verifies it
    /// again. It is re-hashed first: a blob a concurrent fetch has already
    /// put back right is left alone. `Ok(None)`: nothing was moved.
    pub fn quarantine(&self, sha: &Sha256) -> Result<Option<PathBuf>, StoreError> {
        let p = self.path_of(sha);
        match self.rehash(sha) {
            Ok(actual) if actual == *sha => return Ok(None),
            Ok(_) => {}
            Err(_) if !p.exists() => return Ok(None),
            Err(e) => return Err(e),
        }
        let dir = self
            .root
            .parent()
            .expect("blobs/ has a parent")
            .join("quarantine");
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating", &dir, e))?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let dest = dir.join(format!("{sha}.{secs}"));
        match fs::rename(&p, &dest) {
            Ok(()) => Ok(Some(dest)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("quarantining", &p, e)),
        }
    }

    /// Re-hash a stored blob from disk (push verification, `audit`).
    pub fn rehash(&self, sha: &Sha256) -> Result<Sha256, StoreError> {
        let p = self.path_of(sha);
        let mut f = fs::File::open(&p).map_err(|e| StoreError::io("opening", &p, e))?;
        let mut h = Sha256Hasher::default();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)
                .map_err(|e| StoreError::io("reading", &p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finish())
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

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The digest of everything written so far.
    pub fn sha256(&self) -> Sha256 {
        self.hasher_snapshot()
    }

    fn hasher_snapshot(&self) -> Sha256 {
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
            let p = store.blobs.path_of(&sha);
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
