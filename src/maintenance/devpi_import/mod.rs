//! `airlock import --from-devpi DIR --data DATA` (issue 18): a devpi-server
//! 6.x export (`devpi-export`, dumpversion "2") into a new airlock data
//! folder. Users (devpi's argon2 hashes kept until the first login, see
//! `auth::legacy`), indexes with bases, ACLs, volatility and mirror
//! whitelist, release files (sha256 re-checked against the bytes), doc zips,
//! tox results and the upload/push history of each file.
//!
//! Everything goes through the registry's own operations (archive
//! inspection, doc-zip and tox-report validation, audit log) on a fresh
//! data folder built next to DATA and renamed into place only when the
//! import finished: a fatal error leaves nothing behind. What cannot be
//! carried over is listed in the [`Report`], item by item.
//!
//! * [`read`]: the export's format, checked (paths, names, numbers).
//! * [`apply`]: writing it into the new data folder.
//! * [`report`]: what was carried over and what not, and why.

mod apply;
pub mod read;
pub mod report;

use std::path::{Path, PathBuf};

pub use report::Report;

/// What to import, where, under which policies.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The folder `devpi-export` wrote.
    pub export_dir: PathBuf,
    /// The new airlock data folder (absent or empty).
    pub data_dir: PathBuf,
    /// The policies the server will run with (production indexes never
    /// inherit from a mirror).
    pub policies: crate::policy::Policies,
}

#[derive(Debug, thiserror::Error)]
pub enum DevpiImportError {
    #[error("the devpi export cannot be read: {0}")]
    Export(String),
    #[error(
        "{0} is not empty: the import only writes into an empty or new folder, nothing was written"
    )]
    NotEmpty(PathBuf),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Registry(#[from] crate::registry::RegistryError),
    #[error(
        "the imported indexes would break the production invariant (a bug in the import): {0}"
    )]
    Invariant(String),
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> DevpiImportError {
    DevpiImportError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Import the export into `opts.data_dir`. On success the data folder is
/// complete and the report says what was left out; on an error nothing
/// is left in (or next to) `opts.data_dir`.
pub async fn import(opts: ImportOptions) -> Result<Report, DevpiImportError> {
    let target = &opts.data_dir;
    match std::fs::read_dir(target) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(DevpiImportError::NotEmpty(target.clone()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("reading", target, e)),
    }
    // Read the whole index first: a broken export writes nothing at all.
    let export_dir = opts.export_dir.clone();
    let export = tokio::task::spawn_blocking(move || read::read_export(&export_dir))
        .await
        .map_err(|e| DevpiImportError::Export(format!("reading failed: {e}")))??;

    let staging = staging_dir(target)?;
    let result = build(&staging, export, &opts.policies).await;
    match result {
        Ok(report) => {
            // An empty target folder is replaced by the finished one.
            if target.exists() {
                std::fs::remove_dir(target).map_err(|e| {
                    let _ = std::fs::remove_dir_all(&staging);
                    io("replacing the empty folder", target, e)
                })?;
            }
            std::fs::rename(&staging, target).map_err(|e| {
                let _ = std::fs::remove_dir_all(&staging);
                io("moving the imported data folder to", target, e)
            })?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// A new private folder next to `target` (same file system, so the final
/// rename is atomic).
fn staging_dir(target: &Path) -> Result<PathBuf, DevpiImportError> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io("creating", &parent, e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let mut rnd = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
        .map_err(|_| crate::store::StoreError::Internal("no system randomness".into()))?;
    let staging = parent.join(format!(
        ".{name}.devpi-import-{}-{}",
        std::process::id(),
        hex::encode(rnd)
    ));
    // Never an existing path (no link, no leftover is reused or removed).
    std::fs::create_dir(&staging).map_err(|e| io("creating", &staging, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restricting", &staging, e))?;
    }
    Ok(staging)
}

/// Open a registry on the staging folder, import, close it cleanly.
async fn build(
    staging: &Path,
    export: read::Export,
    policies: &crate::policy::Policies,
) -> Result<Report, DevpiImportError> {
    use std::sync::Arc;
    let store = crate::store::Store::open(staging)?;
    let signer = crate::auth::TokenSigner::load_or_create(staging)
        .map_err(|e| io("creating the token secret in", staging, e))?;
    let auth = Arc::new(crate::auth::Authenticator::new(
        signer,
        std::time::Duration::from_secs(3600),
    ));
    let settings = crate::registry::RegistrySettings {
        mirror: crate::mirror::MirrorSettings {
            offline: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let reg = crate::registry::Registry::new(store, auth, settings).await?;
    let db = Arc::clone(&reg.store.db);
    let report = apply::apply(&reg, export, policies).await;
    drop(reg);
    db.close()?;
    report
}
