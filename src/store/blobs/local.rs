//! The local-filesystem backend (the default): every blob under
//! `<data>/blobs/<aa>/<bb>/<sha256>`, renamed into place from `tmp/` after
//! an fsync. This is airlock's on-disk layout since its first release;
//! backup, fsck, gc, export and nginx's X-Accel-Redirect read it directly.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::digest::{Sha256, Sha256Hasher};

use super::TempBlob;
use crate::store::StoreError;

pub(super) struct LocalBlobs {
    root: PathBuf,
    /// Blobs are readable by the process's group (`share_with_group`).
    group_read: AtomicBool,
}

/// Modes of a shared blob store: the group may open a blob by its path
/// (folders: search only, no listing) and read it, nothing more.
#[cfg(unix)]
const SHARED_DIR_MODE: u32 = 0o710;
#[cfg(unix)]
const SHARED_FILE_MODE: u32 = 0o640;

impl LocalBlobs {
    pub(super) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let root = data_dir.join("blobs");
        fs::create_dir_all(&root).map_err(|e| StoreError::io("creating", &root, e))?;
        Ok(Self {
            root,
            group_read: AtomicBool::new(false),
        })
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub(super) fn path_of(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    #[cfg(unix)]
    pub(super) fn share_with_group(&self) -> Result<u64, StoreError> {
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

    pub(super) fn exists(&self, sha: &Sha256) -> bool {
        self.path_of(sha).is_file()
    }

    /// Move a finished temp file into place. Returns `true` if the blob is
    /// new, `false` if identical content was already stored.
    pub(super) fn commit(&self, mut temp: TempBlob) -> Result<bool, StoreError> {
        let sha = temp.sha256();
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

    pub(super) fn remove(&self, sha: &Sha256) -> Result<(), StoreError> {
        let p = self.path_of(sha);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("removing", &p, e)),
        }
    }

    /// Into `quarantine/` beside `blobs/`, named `<sha256>.<unix seconds>`.
    pub(super) fn quarantine(&self, sha: &Sha256) -> Result<Option<String>, StoreError> {
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
        let dest = dir.join(format!("{sha}.{}", crate::store::now()));
        match fs::rename(&p, &dest) {
            Ok(()) => Ok(Some(dest.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("quarantining", &p, e)),
        }
    }

    pub(super) fn rehash(&self, sha: &Sha256) -> Result<Sha256, StoreError> {
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
