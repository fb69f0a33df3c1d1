//! Project pages on demand: served from the cache while fresh, revalidated
//! with upstream (conditionally) once expired, fetched once for all
//! concurrent requests, and served stale when upstream fails.

use std::time::{Duration, Instant};

use reqwest::Url;

use super::freshness::{backing_off, freshness, Freshness};
use super::page::{self, Skipped};
use super::upstream::{PageFetch, Validators};
use super::{Mirror, MirrorError, MirrorProject, DEFAULT_CACHE_EXPIRY_SECS};
use crate::names::ProjectName;
use crate::store::indexes::IndexRow;
use crate::store::mirror::{self as mirror_table, MirrorFileRow, MirrorLinkRow, PageRow};

/// Most versions kept from one upstream page.
const MAX_VERSIONS: usize = 100_000;

/// What the cache holds about one project: its page, its files and its
/// unverified links (loaded only under `--mirror-unverified-files`).
type Cached = (Option<PageRow>, Vec<MirrorFileRow>, Vec<MirrorLinkRow>);

impl Mirror {
    /// A project of the mirror `index`: `Ok(None)` if upstream has no such
    /// project (now or, negatively cached, recently).
    pub async fn project(
        &self,
        index: &IndexRow,
        name: &ProjectName,
    ) -> Result<Option<MirrorProject>, MirrorError> {
        let expiry = Duration::from_secs(
            index
                .config
                .mirror_cache_expiry
                .unwrap_or(DEFAULT_CACHE_EXPIRY_SECS),
        );
        let negative_ttl = self.settings.negative_ttl;
        let is_fresh =
            |c: &Cached| freshness(c.0.as_ref(), crate::store::now(), expiry, negative_ttl);

        let cached = self.load(index.id, name).await?;
        match is_fresh(&cached) {
            Freshness::Fresh => return Ok(present(cached, false)),
            state if self.settings.offline => {
                return match cached.0 {
                    Some(_) => Ok(present(cached, state == Freshness::Expired)),
                    None => Err(MirrorError::NotCachedOffline {
                        what: format!("project {name}"),
                    }),
                };
            }
            _ => {}
        }

        let waiting_since = Instant::now();
        let mut guard = self.pages.lock((index.id, name.as_str().to_string())).await;
        // Whoever held the lock before may have refreshed the page.
        let cached = self.load(index.id, name).await?;
        if is_fresh(&cached) == Freshness::Fresh {
            return Ok(present(cached, false));
        }
        if backing_off(guard.last_failure(), waiting_since, expiry) {
            let why = guard.last_failure_reason().unwrap_or("").to_string();
            return fallback(cached, name, format!("upstream failed moments ago: {why}"));
        }

        let upstream = self.upstream_of(&index.config);
        let url = Url::parse(&upstream)
            .and_then(|u| u.join(&format!("{name}/")))
            .map_err(|e| MirrorError::Upstream {
                what: format!("project {name}"),
                reason: format!("bad upstream URL {upstream}: {e}"),
            })?;
        let validators = match &cached.0 {
            Some(p) if p.found => Validators {
                etag: p.etag.clone(),
                last_modified: p.last_modified.clone(),
            },
            _ => Validators::default(),
        };
        let outcome = match self.upstream.page(&url, &validators).await {
            Ok(answer) => self.apply(index, name, &cached, answer).await,
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(Some(fresh)) => {
                guard.record_success();
                Ok(fresh)
            }
            Ok(None) => {
                // upstream confirmed the cached page
                guard.record_success();
                let id = index.id;
                let project = name.as_str().to_string();
                let now = crate::store::now();
                self.db
                    .write_log(move |tx| mirror_table::touch_page(tx, id, &project, now))
                    .await?;
                let mut confirmed = cached;
                if let Some(p) = confirmed.0.as_mut() {
                    p.fetched = now;
                }
                Ok(present(confirmed, false))
            }
            Err(reason) => {
                guard.record_failure(&reason);
                tracing::warn!(
                    index = %index.path, project = %name, %reason,
                    "upstream failed; serving the cached page if there is one"
                );
                fallback(cached, name, reason)
            }
        }
    }

    async fn load(&self, index_id: i64, name: &ProjectName) -> Result<Cached, MirrorError> {
        let project = name.as_str().to_string();
        let with_links = self.settings.unverified_files;
        Ok(self
            .db
            .read(move |c| {
                let page = mirror_table::page(c, index_id, &project)?;
                let (files, links) = match &page {
                    Some(p) if p.found => (
                        mirror_table::files_of_project(c, index_id, &project)?,
                        if with_links {
                            mirror_table::links_of_project(c, index_id, &project)?
                        } else {
                            Vec::new()
                        },
                    ),
                    _ => (Vec::new(), Vec::new()),
                };
                Ok((page, files, links))
            })
            .await?)
    }

    /// Store upstream's answer. `Ok(Some(answer))`: a new page or a
    /// negative one; `Ok(None)`: the cached page is confirmed (304);
    /// `Err`: the answer is unusable (treated like an upstream failure).
    async fn apply(
        &self,
        index: &IndexRow,
        name: &ProjectName,
        cached: &Cached,
        answer: PageFetch,
    ) -> Result<Option<Option<MirrorProject>>, String> {
        let now = crate::store::now();
        let old = cached.0.as_ref();
        let (row, files, links) = match answer {
            PageFetch::NotModified => {
                return match old {
                    Some(p) if p.found => Ok(None),
                    _ => Err("upstream answered 304 to an unconditional request".into()),
                }
            }
            PageFetch::NotFound
                if self.settings.unverified_files && old.is_some_and(|p| p.found) =>
            {
                // devpi's model: links upstream once listed stay served
                // (stale) when it no longer has the project.
                tracing::info!(
                    index = %index.path, project = %name,
                    "upstream no longer has this project; serving the links it listed before \
                     (--mirror-unverified-files)"
                );
                return Ok(Some(present(cached.clone(), true)));
            }
            PageFetch::NotFound => {
                tracing::info!(index = %index.path, project = %name, "upstream has no such project");
                let row = PageRow {
                    project: name.as_str().to_string(),
                    display_name: name.as_str().to_string(),
                    found: false,
                    etag: None,
                    last_modified: None,
                    serial: None,
                    versions: Vec::new(),
                    fetched: now,
                };
                (row, Vec::new(), Vec::new())
            }
            PageFetch::Modified(fetched) => {
                if let (Some(had), Some(got)) = (old.and_then(|p| p.serial), fetched.serial) {
                    if got < had {
                        return Err(format!(
                            "upstream sent an older page (serial {got}, cached {had})"
                        ));
                    }
                }
                let parsed = page::parse(&fetched.body, fetched.json, &fetched.url)
                    .map_err(|e| format!("{}: {e}", fetched.url))?;
                let display_name = parsed
                    .name
                    .filter(|n| ProjectName::new(n).is_ok_and(|p| p == *name))
                    .or_else(|| old.map(|p| p.display_name.clone()))
                    .unwrap_or_else(|| name.as_str().to_string());
                let vetted = page::vet(name, parsed.files, self.settings.unverified_files);
                log_skipped(index, name, &vetted.skipped);
                let mut versions = parsed.versions;
                versions.truncate(MAX_VERSIONS);
                versions.retain(|v| v.len() <= 128);
                let row = PageRow {
                    project: name.as_str().to_string(),
                    display_name,
                    found: true,
                    etag: fetched.etag.filter(|e| e.len() <= 1024),
                    last_modified: fetched.last_modified.filter(|l| l.len() <= 128),
                    serial: fetched.serial,
                    versions,
                    fetched: now,
                };
                (row, vetted.files, vetted.links)
            }
        };
        let id = index.id;
        let (r, f, l) = (row.clone(), files.clone(), links.clone());
        self.db
            .write(move |tx| mirror_table::replace_page(tx, id, &r, &f, &l))
            .await
            .map_err(|e| format!("storing the page: {e}"))?;
        let links = if self.settings.unverified_files {
            // pins kept by the refresh
            let project = name.as_str().to_string();
            self.db
                .read(move |c| mirror_table::links_of_project(c, id, &project))
                .await
                .map_err(|e| format!("reading the page back: {e}"))?
        } else {
            links
        };
        Ok(Some(present((Some(row), files, links), false)))
    }
}

fn present(cached: Cached, stale: bool) -> Option<MirrorProject> {
    let (page, files, links) = cached;
    let page = page.filter(|p| p.found)?;
    Some(MirrorProject {
        display_name: page.display_name,
        files,
        links,
        versions: page.versions,
        fetched: page.fetched,
        stale,
    })
}

/// Upstream could not be used: serve what is cached, marked stale.
fn fallback(
    cached: Cached,
    name: &ProjectName,
    reason: String,
) -> Result<Option<MirrorProject>, MirrorError> {
    match &cached.0 {
        Some(_) => Ok(present(cached, true)),
        None => Err(MirrorError::Upstream {
            what: format!("project {name}"),
            reason,
        }),
    }
}

fn log_skipped(index: &IndexRow, name: &ProjectName, skipped: &[Skipped]) {
    for s in skipped {
        match s {
            Skipped::NoSha256(f) => tracing::info!(
                index = %index.path, project = %name, file = %f,
                "upstream lists a file without a sha256; airlock does not offer unverifiable files"
            ),
            Skipped::MalformedSha256(f) => tracing::info!(
                index = %index.path, project = %name, file = %f,
                "upstream declares a malformed sha256 for a file that cannot be listed; skipped"
            ),
            Skipped::UnsafeFilename(f) => tracing::warn!(
                target: "security", index = %index.path, project = %name, file = %f,
                "upstream lists a file whose name is not a safe file name; skipped"
            ),
            Skipped::OtherProject { filename, project } => tracing::warn!(
                target: "security", index = %index.path, project = %name, file = %filename,
                file_project = %project,
                "upstream lists another project's file on this project's page; skipped"
            ),
            Skipped::Duplicate(f) => tracing::debug!(
                index = %index.path, project = %name, file = %f, "duplicate file entry skipped"
            ),
        }
    }
}
