//! Test results posted to release files (`devpi test`): who may post
//! (`acl_toxresult_upload`), validation, storage, and reading them back
//! summarised (for the project JSON, push review and `tests_passed`).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Registry, RegistryError, Result};
use crate::auth::Identity;
use crate::digest::Sha256;
use crate::dist::toxresult::{parse_and_summarize, run_passed, EnvSummary, ToxResultError};
use crate::index::IndexKind;
use crate::names::{IndexPath, ProjectName};
use crate::store::releases;
use crate::store::toxresults::{self as table, ToxResultRow};

/// Most results kept per release file: each `devpi test` run adds one, and
/// anonymous posting is devpi's default, so the pile must be bounded.
pub const MAX_RESULTS_PER_FILE: usize = 100;
/// Most results one poster may attach to one file (all anonymous posters
/// together count as one), so nobody can fill the file's cap for others.
pub const MAX_RESULTS_PER_POSTER: usize = 10;
/// Most results one poster (a user, or an anonymous peer address) may post
/// per minute, across all files.
pub const MAX_POSTS_PER_MINUTE: u32 = 30;
/// Most report bytes one poster may send per minute.
pub const MAX_BYTES_PER_MINUTE: u64 = 16 * 1024 * 1024;

/// Recent posts per poster: (window start, posts, bytes).
#[derive(Default)]
pub(super) struct PostRate(std::sync::Mutex<HashMap<String, (std::time::Instant, u32, u64)>>);

impl PostRate {
    /// Count one post of `bytes` by `poster`, or say why it is refused.
    fn admit(&self, poster: &str, bytes: usize) -> Result<()> {
        let now = std::time::Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (start, _, _)| now.duration_since(*start).as_secs() < 60);
        }
        let entry = map.entry(poster.to_string()).or_insert((now, 0, 0));
        if now.duration_since(entry.0).as_secs() >= 60 {
            *entry = (now, 0, 0);
        }
        if entry.1 >= MAX_POSTS_PER_MINUTE
            || entry.2.saturating_add(bytes as u64) > MAX_BYTES_PER_MINUTE
        {
            return Err(RegistryError::RateLimited(format!(
                "{poster} posted more than {MAX_POSTS_PER_MINUTE} test results or {} MiB of \
                 reports in the last minute; try again later",
                MAX_BYTES_PER_MINUTE / (1024 * 1024)
            )));
        }
        entry.1 += 1;
        entry.2 += bytes as u64;
        Ok(())
    }
}

/// A stored test result, its summary decoded.
#[derive(Debug, Clone)]
pub struct StoredToxResult {
    pub id: i64,
    pub file_id: i64,
    pub sha256: Sha256,
    pub envs: Vec<EnvSummary>,
    pub uploader: Option<String>,
    /// Fingerprint of the client certificate the poster presented.
    pub uploader_cert: Option<String>,
    pub created: i64,
}

impl StoredToxResult {
    fn from_row(row: ToxResultRow) -> Self {
        Self {
            envs: serde_json::from_str(&row.summary).unwrap_or_default(),
            id: row.id,
            file_id: row.file_id,
            sha256: row.sha256,
            uploader: row.uploader,
            uploader_cert: row.uploader_cert,
            created: row.created,
        }
    }

    /// The run passed as a whole (see [`run_passed`]).
    pub fn passed(&self) -> bool {
        run_passed(&self.envs)
    }
}

impl From<ToxResultError> for RegistryError {
    fn from(e: ToxResultError) -> Self {
        match e {
            ToxResultError::TooLarge => RegistryError::TooLarge(e.to_string()),
            other => RegistryError::Invalid(other.to_string()),
        }
    }
}

impl Registry {
    /// Attach a tox result report to the release file `filename` of the
    /// stage index `path` (whose sha256 must start with `hash_prefix`, as
    /// in the file's URL). Returns the new result's id and its summary.
    pub async fn add_toxresult(
        self: &Arc<Self>,
        by: &super::Actor,
        path: &IndexPath,
        filename: &str,
        hash_prefix: &str,
        body: &[u8],
    ) -> Result<(i64, Vec<EnvSummary>)> {
        self.store_toxresult(by, path, filename, hash_prefix, body, true)
            .await
    }

    /// [`Registry::add_toxresult`] without the per-poster rate limit: for
    /// results carried over from another server (`airlock import`), which
    /// were posted over months, not in this minute.
    pub(crate) async fn import_toxresult(
        self: &Arc<Self>,
        by: &super::Actor,
        path: &IndexPath,
        filename: &str,
        hash_prefix: &str,
        body: &[u8],
    ) -> Result<(i64, Vec<EnvSummary>)> {
        self.store_toxresult(by, path, filename, hash_prefix, body, false)
            .await
    }

    async fn store_toxresult(
        self: &Arc<Self>,
        by: &super::Actor,
        path: &IndexPath,
        filename: &str,
        hash_prefix: &str,
        body: &[u8],
        rate_limited: bool,
    ) -> Result<(i64, Vec<EnvSummary>)> {
        let row = self.index(path)?;
        if row.config.kind == IndexKind::Mirror {
            return Err(RegistryError::Forbidden(format!(
                "index {path} is a mirror: test results can only be attached to files of stage indexes"
            )));
        }
        let actor: Option<&Identity> = by.identity();
        let user = actor.map(|a| a.user.as_str());
        if !crate::index::acl_allows(
            &row.config.acl_toxresult_upload,
            crate::index::config::Principal::of(actor),
        ) {
            // devpi's wording, which its client and tests look for.
            return Err(match actor {
                None => RegistryError::Unauthenticated(format!(
                    "no permission to upload tox results to {path}: log in as a user in its \
                     acl_toxresult_upload"
                )),
                Some(a) => RegistryError::Forbidden(format!(
                    "no permission to upload tox results to {path}: user {} is not in its \
                     acl_toxresult_upload",
                    a.user
                )),
            });
        }
        let missing = || {
            RegistryError::NotFound(format!(
                "file {} is not on index {path}",
                crate::echo::echo(filename)
            ))
        };
        let file = self.own_file(path, filename).await?.ok_or_else(missing)?;
        if !file.sha256.to_hex().starts_with(hash_prefix) {
            return Err(missing());
        }
        let poster = match (user, by.remote) {
            (Some(u), _) => format!("user {u}"),
            (None, Some(origin)) => match origin.ip() {
                Some(ip) => format!("anonymous client {ip}"),
                None => "an anonymous client".to_string(),
            },
            (None, None) => "an anonymous client".to_string(),
        };
        if rate_limited {
            self.tox_rate.admit(&poster, body.len())?;
        }
        let (value, envs) = parse_and_summarize(body)?;
        let canonical = serde_json::to_vec(&value)
            .map_err(|e| RegistryError::Invalid(format!("test result: {e}")))?;
        let summary = serde_json::to_string(&envs)
            .map_err(|e| RegistryError::Invalid(format!("test result: {e}")))?;
        let (sha, created) = {
            let blobs = Arc::clone(&self.store.blobs);
            tokio::task::spawn_blocking(move || blobs.put_bytes(&canonical))
                .await
                .map_err(|e| {
                    RegistryError::Store(crate::store::StoreError::Internal(e.to_string()))
                })??
        };
        let uploader = actor.map(|a| a.user.clone());
        let uploader_cert = actor.and_then(|a| a.cert_fingerprint.clone());
        let file_id = file.id;
        let inserted = self
            .store
            .db
            .write(move |tx| {
                // The file may have been deleted or replaced meanwhile.
                if !releases::find_file(tx, file.index_id, &file.filename)?
                    .is_some_and(|f| f.id == file_id)
                {
                    return Ok(Err(missing_after()));
                }
                if table::count_for_file_by(tx, file_id, uploader.as_deref())?
                    >= MAX_RESULTS_PER_POSTER
                {
                    let who = uploader.as_deref().unwrap_or("anonymous posters");
                    return Ok(Err(RegistryError::Conflict(format!(
                        "{} already has {MAX_RESULTS_PER_POSTER} test results from {who}; \
                         no more are accepted from them for this file",
                        file.filename
                    ))));
                }
                if table::count_for_file(tx, file_id)? >= MAX_RESULTS_PER_FILE {
                    return Ok(Err(RegistryError::Conflict(format!(
                        "{} already has {MAX_RESULTS_PER_FILE} test results; \
                         no more are accepted for this file",
                        file.filename
                    ))));
                }
                Ok(Ok(table::insert(
                    tx,
                    file_id,
                    &sha,
                    &summary,
                    uploader.as_deref(),
                    uploader_cert.as_deref(),
                )?))
            })
            .await;
        let inserted = inserted.unwrap_or_else(|e| Err(e.into()));
        match inserted {
            Ok(id) => {
                tracing::info!(index = %path, file = %filename, result = id, by = ?user, "test result stored");
                Ok((id, envs))
            }
            Err(e) => {
                if created {
                    self.collect_garbage(vec![sha]).await;
                }
                Err(e)
            }
        }
    }

    /// One stored result of `filename` on `path`, by id (for download).
    pub async fn toxresult(
        self: &Arc<Self>,
        path: &IndexPath,
        filename: &str,
        id: i64,
    ) -> Result<Option<StoredToxResult>> {
        let Some(file) = self.own_file(path, filename).await? else {
            return Ok(None);
        };
        let row = self.store.db.read(move |c| table::get(c, id)).await?;
        Ok(row
            .filter(|r| r.file_id == file.id)
            .map(StoredToxResult::from_row))
    }

    /// The results of the given stage-index files, grouped by file id,
    /// oldest first.
    pub async fn toxresults_of_files(
        self: &Arc<Self>,
        file_ids: Vec<i64>,
    ) -> Result<HashMap<i64, Vec<StoredToxResult>>> {
        if file_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .store
            .db
            .read(move |c| table::for_files(c, &file_ids))
            .await?;
        let mut out: HashMap<i64, Vec<StoredToxResult>> = HashMap::new();
        for r in rows {
            out.entry(r.file_id)
                .or_default()
                .push(StoredToxResult::from_row(r));
        }
        Ok(out)
    }

    /// Every test result of one release on the stage index `path` (not
    /// inherited), per filename, oldest first. For push review and the
    /// `tests_passed` check.
    pub async fn release_toxresults(
        self: &Arc<Self>,
        path: &IndexPath,
        project: &ProjectName,
        version: &str,
    ) -> Result<Vec<(String, Vec<StoredToxResult>)>> {
        let id = self.index(path)?.id;
        let version = super::normalize_version(version)?;
        let name = project.as_str().to_string();
        let files = self
            .store
            .db
            .read(move |c| releases::files_of_release(c, id, &name, &version))
            .await?;
        let mut by_file = self
            .toxresults_of_files(files.iter().map(|f| f.id).collect())
            .await?;
        Ok(files
            .into_iter()
            .map(|f| {
                let results = by_file.remove(&f.id).unwrap_or_default();
                (f.filename, results)
            })
            .collect())
    }
}

fn missing_after() -> RegistryError {
    RegistryError::NotFound(
        "the file was deleted or replaced while its test result was posted".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_rate_is_per_poster() {
        let rate = PostRate::default();
        for _ in 0..MAX_POSTS_PER_MINUTE {
            rate.admit("user alice", 10).unwrap();
        }
        let err = rate.admit("user alice", 10).unwrap_err();
        assert!(matches!(err, RegistryError::RateLimited(_)), "{err:?}");
        assert!(err.to_string().contains("user alice posted more than 30"));
        rate.admit("user bob", 10).expect("others are not affected");
        let big = MAX_BYTES_PER_MINUTE as usize;
        rate.admit("anonymous client 10.0.0.1", big).unwrap();
        assert!(
            rate.admit("anonymous client 10.0.0.1", 1).is_err(),
            "byte budget"
        );
    }
}
