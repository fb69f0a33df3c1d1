//! Mirror indexes (`type: mirror`, such as `root/pypi`): a caching,
//! hash-verifying, offline-capable copy of an upstream simple index.
//!
//! - [`upstream`]: the HTTP client (timeouts, retries, concurrency, offline).
//! - [`page`] and [`html`]: upstream project pages (PEP 691 JSON, PEP 503
//!   HTML) parsed and vetted.
//! - [`freshness`]: when a cached page is served as is.
//! - `pages`: project pages on demand (single-flight, conditional
//!   revalidation, negative cache, stale fallback).
//! - [`fetch`]: files on demand, streamed while verified and cached.
//! - [`unverified`]: files without a usable sha256, under
//!   `--mirror-unverified-files` (trust on first use).
//! - [`single_flight`]: per-key async locks.
//!
//! No HTTP serving here: the registry merges mirror projects into index
//! reads, and the server streams what [`Mirror::open_file`] returns.

pub mod cache_use;
pub mod fetch;
pub mod freshness;
pub mod html;
pub mod page;
mod pages;
pub mod retention;
pub mod settings;
pub mod single_flight;
pub mod unverified;
pub mod upstream;
mod watch;

use std::sync::Arc;

use reqwest::Url;

pub use fetch::Streaming;
pub use settings::{MirrorArgs, MirrorSettings, DEFAULT_CACHE_EXPIRY_SECS};
pub use unverified::LinkPath;
pub use upstream::UpstreamError;

use crate::digest::Sha256;
use crate::index::IndexConfig;
use crate::store::mirror::{self as mirror_table, MirrorFileRow, MirrorLinkRow};
use crate::store::releases::ProjectRow;
use crate::store::{BlobStore, Db, StoreError};

/// `https://pypi.org/simple/` → `https://pypi.org/pypi/<name>/json`.
fn facts_url(simple: &str, name: &str) -> Option<Url> {
    let base = simple.trim_end_matches('/').strip_suffix("/simple")?;
    Url::parse(&format!("{base}/pypi/{name}/json")).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Offline and not cached: for the client, it does not exist.
    #[error("{what} is not in the mirror's cache, and airlock runs --offline (it never contacts upstream)")]
    NotCachedOffline { what: String },
    /// Upstream failed and nothing is cached to fall back on.
    #[error("{what} is not cached and upstream failed: {reason}")]
    Upstream { what: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A mirrored project as airlock serves it.
#[derive(Debug, Clone)]
pub struct MirrorProject {
    pub display_name: String,
    pub files: Vec<MirrorFileRow>,
    /// Files without a usable sha256 (only under `--mirror-unverified-files`).
    pub links: Vec<MirrorLinkRow>,
    /// Versions upstream listed (PEP 700), possibly empty.
    pub versions: Vec<String>,
    /// Unix seconds of upstream's last confirmation.
    pub fetched: i64,
    /// Served from the cache because upstream could not be asked.
    pub stale: bool,
}

/// Which bytes of a mirrored file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilePart {
    Dist,
    /// The PEP 658 core metadata file.
    CoreMetadata,
}

/// Where the bytes of a mirrored file come from.
pub enum MirroredFile {
    /// Verified and stored: serve the blob.
    Cached(Sha256),
    /// Being downloaded and verified right now.
    Streaming(Streaming),
}

pub struct Mirror {
    settings: MirrorSettings,
    db: Arc<Db>,
    blobs: Arc<BlobStore>,
    upstream: Arc<upstream::Upstream>,
    pages: single_flight::KeyedLocks<(i64, String)>,
    downloads: fetch::Downloads,
    link_downloads: single_flight::KeyedLocks<(i64, String)>,
    /// Last uses of cached blobs and the cache's size (retention).
    cache_use: Arc<cache_use::CacheUse>,
}

impl Mirror {
    pub fn new(
        settings: MirrorSettings,
        db: Arc<Db>,
        blobs: Arc<BlobStore>,
    ) -> Result<Self, UpstreamError> {
        Ok(Self {
            upstream: Arc::new(upstream::Upstream::new(&settings)?),
            cache_use: Arc::new(cache_use::CacheUse::new(
                Arc::clone(&db),
                &settings.retention,
            )),
            settings,
            db,
            blobs,
            pages: Default::default(),
            downloads: Default::default(),
            link_downloads: Default::default(),
        })
    }

    /// What upstream was asked since start and how it went.
    pub fn upstream_stats(&self) -> upstream::UpstreamStats {
        self.upstream.stats()
    }

    pub fn settings(&self) -> &MirrorSettings {
        &self.settings
    }

    /// The upstream simple index of a mirror index (its `mirror_url`, else
    /// `--upstream`), with a trailing '/'.
    pub fn upstream_of(&self, config: &IndexConfig) -> String {
        config
            .mirror_url
            .as_deref()
            .and_then(|u| settings::normalize_upstream(u).ok())
            .unwrap_or_else(|| self.settings.upstream.clone())
    }

    /// Upstream's facts about a project, from the PyPI JSON API next to the
    /// mirror's simple index (`…/simple/` → `…/pypi/<name>/json`), for
    /// weighing a weak look-alike before anything of it is fetched.
    /// `Ok(None)`: upstream has no such project. Only the JSON document is
    /// asked for, never a project page or a file.
    pub async fn upstream_facts(
        &self,
        config: &IndexConfig,
        name: &str,
    ) -> Result<Option<crate::typo::evidence::UpstreamFacts>, MirrorError> {
        let url =
            facts_url(&self.upstream_of(config), name).ok_or_else(|| MirrorError::Upstream {
                what: format!("facts about {name}"),
                reason: "the upstream URL has no /simple/ to find its JSON API from".into(),
            })?;
        let failed = |reason: String| MirrorError::Upstream {
            what: format!("facts about {name}"),
            reason,
        };
        match self.upstream.json_document(&url).await {
            Ok(Some(body)) => crate::typo::evidence::UpstreamFacts::from_pypi_json(&body)
                .map(Some)
                .map_err(|e| failed(format!("unreadable JSON from {url}: {e}"))),
            Ok(None) => Ok(None),
            Err(UpstreamError::Offline) => Err(MirrorError::NotCachedOffline {
                what: format!("facts about {name}"),
            }),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// The projects of a mirror that are cached (not all of upstream).
    pub async fn cached_projects(&self, index_id: i64) -> Result<Vec<ProjectRow>, StoreError> {
        self.db
            .read(move |c| mirror_table::cached_projects(c, index_id))
            .await
    }

    /// The listed file behind a `+f/{h1}/{h2}/{filename}` URL of a mirror.
    pub async fn find_file(
        &self,
        index_id: i64,
        filename: &str,
        h1: &str,
        h2: &str,
    ) -> Result<Option<MirrorFileRow>, StoreError> {
        if h1.len() != 3 || h2.len() != 13 {
            return Ok(None);
        }
        let prefix = format!("{h1}{h2}");
        let name = filename.to_string();
        let rows = self
            .db
            .read(move |c| mirror_table::files_named(c, index_id, &name))
            .await?;
        Ok(rows
            .into_iter()
            .find(|r| r.sha256.to_hex().starts_with(&prefix)))
    }

    /// The bytes of a listed file (or of its PEP 658 metadata): from the
    /// blob store, or streamed from upstream while being verified and
    /// cached. `Ok(None)`: upstream offers no metadata for this file.
    pub async fn open_file(
        &self,
        file: &MirrorFileRow,
        part: FilePart,
    ) -> Result<Option<MirroredFile>, MirrorError> {
        let (sha, label, size) = match part {
            FilePart::Dist => (file.sha256, file.filename.clone(), file.size),
            FilePart::CoreMetadata => match file.metadata_sha256 {
                Some(m) => (
                    m,
                    format!("{}.metadata", file.filename),
                    Some(crate::dist::MAX_METADATA_BYTES as u64),
                ),
                None => return Ok(None),
            },
        };
        self.cache_use.touch(&sha);
        if self.blobs.exists(&sha) {
            return Ok(Some(MirroredFile::Cached(sha)));
        }
        if self.settings.offline {
            return Err(MirrorError::NotCachedOffline { what: label });
        }
        let bad_url = |why: String| MirrorError::Upstream {
            what: label.clone(),
            reason: why,
        };
        let mut url =
            Url::parse(&file.url).map_err(|e| bad_url(format!("bad URL {}: {e}", file.url)))?;
        if part == FilePart::CoreMetadata {
            // PEP 658: the metadata lives at the file's URL plus ".metadata".
            let path = format!("{}.metadata", url.path());
            url.set_path(&path);
        }
        let job = fetch::Job {
            url,
            sha256: sha,
            size,
            label: label.clone(),
        };
        match self
            .downloads
            .join(job, &self.upstream, &self.blobs, &self.cache_use, &self.db)
            .await
        {
            Ok(None) => Ok(Some(MirroredFile::Cached(sha))),
            Ok(Some(s)) => Ok(Some(MirroredFile::Streaming(s))),
            Err(fetch::FetchError::Upstream(reason)) => Err(MirrorError::Upstream {
                what: label,
                reason,
            }),
            Err(fetch::FetchError::Store(e)) => Err(e.into()),
        }
    }

    /// Make sure the bytes of a listed file are in the blob store (verified
    /// against upstream's digest), downloading them if needed; returns the
    /// digest. Used by pushes, which copy only stored, verified bytes.
    pub async fn ensure_cached(
        &self,
        file: &MirrorFileRow,
        part: FilePart,
    ) -> Result<Option<Sha256>, MirrorError> {
        use futures_util::StreamExt;
        let sha = match part {
            FilePart::Dist => file.sha256,
            FilePart::CoreMetadata => match file.metadata_sha256 {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        match self.open_file(file, part).await? {
            None => return Ok(None),
            Some(MirroredFile::Cached(_)) => return Ok(Some(sha)),
            Some(MirroredFile::Streaming(mut s)) => {
                while let Some(chunk) = s.body.next().await {
                    chunk.map_err(|e| MirrorError::Upstream {
                        what: file.filename.clone(),
                        reason: e.to_string(),
                    })?;
                }
            }
        }
        // The download task commits right after the last verified byte.
        for _ in 0..100 {
            if self.blobs.exists(&sha) {
                return Ok(Some(sha));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(MirrorError::Upstream {
            what: file.filename.clone(),
            reason: "the download finished but was not stored (verification failed?)".into(),
        })
    }

    /// Last uses of cached blobs, the cache's size, the over-cap signal.
    pub fn cache_use(&self) -> &Arc<cache_use::CacheUse> {
        &self.cache_use
    }

    /// What mirror cache retention must know of this process: downloads in
    /// flight and uses not yet written.
    pub fn in_use(&self) -> InUse {
        InUse {
            flights: self.downloads.watch(),
            cache_use: Arc::clone(&self.cache_use),
        }
    }

    /// Downloads in progress (for tests and diagnostics).
    pub fn downloads_in_flight(&self) -> usize {
        self.downloads.in_flight()
    }
}

/// The server's side of `maintenance::gc::InUse`.
pub struct InUse {
    flights: fetch::InFlight,
    cache_use: Arc<cache_use::CacheUse>,
}

impl crate::maintenance::gc::InUse for InUse {
    fn in_flight(&self, sha: &Sha256) -> bool {
        self.flights.contains(sha)
    }
    fn recent(&self, sha: &Sha256) -> Option<i64> {
        self.cache_use.recent(sha)
    }
}

impl MirrorProject {
    /// The files in the form stage indexes use, so reads can merge them.
    pub fn file_rows(&self, index_id: i64) -> Vec<crate::store::releases::FileRow> {
        self.files
            .iter()
            .map(|f| {
                let parsed = crate::dist::DistFilename::parse(&f.filename).ok();
                crate::store::releases::FileRow {
                    id: 0,
                    index_id,
                    project: f.project.clone(),
                    display_name: self.display_name.clone(),
                    version: parsed
                        .as_ref()
                        .map(|p| p.version.to_string())
                        .unwrap_or_default(),
                    filename: f.filename.clone(),
                    kind: match parsed.map(|p| p.kind) {
                        Some(crate::dist::DistKind::Wheel) => "wheel",
                        _ => "sdist",
                    }
                    .to_string(),
                    sha256: f.sha256,
                    size: f.size.unwrap_or(0),
                    requires_python: f.requires_python.clone(),
                    metadata_sha256: f.metadata_sha256,
                    yanked: f.yanked.clone(),
                    uploader: "upstream".to_string(),
                    created: f.upload_time.unwrap_or(self.fetched),
                    provenance: serde_json::json!([{
                        "op": "mirror", "url": f.url, "sha256": f.sha256.to_hex(),
                        "verified": "upstream-sha256",
                    }])
                    .to_string(),
                }
            })
            .collect()
    }

    /// One release per version (from upstream's version list and the
    /// files' names), with minimal metadata: upstream pages carry no more.
    pub fn release_rows(&self) -> Vec<crate::store::releases::ReleaseRow> {
        let mut versions: std::collections::BTreeSet<String> = self
            .files
            .iter()
            .map(|f| &f.filename)
            .chain(self.links.iter().map(|l| &l.filename))
            .filter_map(|f| crate::dist::DistFilename::parse(f).ok())
            .map(|p| p.version.to_string())
            .collect();
        versions.extend(self.versions.iter().cloned());
        versions
            .into_iter()
            .map(|v| crate::store::releases::ReleaseRow {
                metadata: serde_json::json!({"name": self.display_name, "version": v}).to_string(),
                version: v,
                created: self.fetched,
            })
            .collect()
    }
}

#[cfg(test)]
mod facts_url_tests {
    #[test]
    fn json_api_next_to_the_simple_index() {
        assert_eq!(
            super::facts_url("https://pypi.org/simple/", "reqeusts").map(|u| u.to_string()),
            Some("https://pypi.org/pypi/reqeusts/json".to_string())
        );
        assert_eq!(
            super::facts_url("http://127.0.0.1:8080/root/simple", "x").map(|u| u.to_string()),
            Some("http://127.0.0.1:8080/root/pypi/x/json".to_string())
        );
        assert_eq!(super::facts_url("https://example.com/index/", "x"), None);
    }
}
