//! What an index page lists: each project the index holds with its latest
//! version, how many files that has, whether its tests passed and whether
//! it has documentation.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Registry, Result};
use crate::names::IndexPath;
use crate::store::overview::{self, ReleaseLine};

/// The test state of a release: no results, all runs passed, some failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestState {
    None,
    Passed,
    Failed,
}

/// One line of an index's project list.
#[derive(Debug, Clone)]
pub struct ProjectLine {
    pub latest: ReleaseLine,
    /// How many versions the index holds.
    pub versions: usize,
    pub tests: TestState,
}

/// A page of an index's projects.
#[derive(Debug, Clone)]
pub struct IndexOverview {
    pub total: i64,
    pub projects: Vec<ProjectLine>,
}

/// The highest PEP 440 version among `versions` (unparseable ones lose to
/// any parseable one).
pub fn latest_version<'a>(versions: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    versions
        .map(|v| (v.parse::<pep440_rs::Version>().ok(), v))
        .max_by(|a, b| match (&a.0, &b.0) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (None, None) => a.1.cmp(b.1),
        })
        .map(|(_, v)| v)
}

impl Registry {
    /// Projects `offset..offset+limit` (by name) that `path` holds itself.
    pub async fn index_overview(
        self: &Arc<Self>,
        path: &IndexPath,
        limit: i64,
        offset: i64,
    ) -> Result<IndexOverview> {
        let id = self.index(path)?.id;
        let (total, lines) = self
            .store
            .db
            .read(move |c| {
                Ok((
                    overview::project_count(c, id)?,
                    overview::releases_of_projects(c, id, limit, offset)?,
                ))
            })
            .await?;
        let mut by_project: Vec<(String, Vec<ReleaseLine>)> = Vec::new();
        for l in lines {
            match by_project.last_mut() {
                Some((name, v)) if *name == l.project => v.push(l),
                _ => by_project.push((l.project.clone(), vec![l])),
            }
        }
        let mut projects: Vec<ProjectLine> = by_project
            .into_iter()
            .filter_map(|(_, rels)| {
                let latest = latest_version(rels.iter().map(|r| r.version.as_str()))?.to_string();
                let versions = rels.len();
                let latest = rels.into_iter().find(|r| r.version == latest)?;
                Some(ProjectLine {
                    latest,
                    versions,
                    tests: TestState::None,
                })
            })
            .collect();
        let release_ids: Vec<i64> = projects.iter().map(|p| p.latest.release_id).collect();
        let files = self
            .store
            .db
            .read(move |c| overview::files_of_releases(c, &release_ids))
            .await?;
        let release_of: HashMap<i64, i64> = files.iter().map(|(r, f)| (*f, *r)).collect();
        let results = self
            .toxresults_of_files(files.iter().map(|(_, f)| *f).collect())
            .await?;
        let mut state: HashMap<i64, TestState> = HashMap::new();
        for (file, runs) in results {
            let Some(release) = release_of.get(&file) else {
                continue;
            };
            for run in runs {
                let s = state.entry(*release).or_insert(TestState::Passed);
                if !run.passed() {
                    *s = TestState::Failed;
                }
            }
        }
        for p in &mut projects {
            p.tests = state
                .get(&p.latest.release_id)
                .copied()
                .unwrap_or(TestState::None);
        }
        Ok(IndexOverview { total, projects })
    }
}

#[cfg(test)]
mod tests {
    use super::latest_version;

    #[test]
    fn latest_is_by_pep440_not_by_string() {
        let v = ["1.9", "1.10", "1.10rc1", "junk"];
        assert_eq!(latest_version(v.iter().copied()), Some("1.10"));
        assert_eq!(latest_version(["junk"].iter().copied()), Some("junk"));
        assert_eq!(latest_version(std::iter::empty()), None);
    }
}

/// What one mirror index holds and how fresh it is.
#[derive(Debug, Clone)]
pub struct MirrorStatus {
    pub path: IndexPath,
    pub upstream: String,
    pub expiry_secs: u64,
    pub offline: bool,
    pub cache: crate::store::mirror::CacheSummary,
}

impl Registry {
    /// Every mirror index with its cache summary.
    pub async fn mirror_status(self: &Arc<Self>) -> Result<Vec<MirrorStatus>> {
        let now = crate::store::now();
        let mut out = Vec::new();
        for row in self.all_indexes() {
            if row.config.kind != crate::index::IndexKind::Mirror {
                continue;
            }
            let expiry = row
                .config
                .mirror_cache_expiry
                .unwrap_or(crate::mirror::settings::DEFAULT_CACHE_EXPIRY_SECS);
            let id = row.id;
            let stale_before = now - expiry as i64;
            let cache = self
                .store
                .db
                .read(move |c| crate::store::mirror::cache_summary(c, id, stale_before))
                .await?;
            out.push(MirrorStatus {
                upstream: self.mirror.upstream_of(&row.config),
                offline: self.mirror.settings().offline,
                path: row.path,
                expiry_secs: expiry,
                cache,
            });
        }
        Ok(out)
    }
}

/// Whether the engines under the registry answer (`/+ready`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// `None`: the database answered a read.
    pub database: Option<String>,
    /// `None`: the blob store took a temp file.
    pub blobs: Option<String>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database.is_none() && self.blobs.is_none()
    }
}

impl Registry {
    /// Ask the database for a read and the blob store for a temp file.
    pub async fn readiness(self: &Arc<Self>) -> Readiness {
        let database = self
            .store
            .db
            .read(|c| c.query_one("SELECT 1", &[], |r| r.get::<i64>(0)))
            .await
            .err()
            .map(|e| e.to_string());
        let blobs = Arc::clone(&self.store.blobs);
        let blobs = tokio::task::spawn_blocking(move || blobs.probe_writable())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .err();
        Readiness { database, blobs }
    }
}

impl Registry {
    /// The values `/+metrics` reads at scrape time: pending reviews and the
    /// audit head from the database (absent if it does not answer), the
    /// mirror's own upstream counters.
    pub async fn metrics_gauges(self: &Arc<Self>) -> crate::metrics::ScrapeGauges {
        let from_db = self
            .store
            .db
            .read(|c| {
                Ok((
                    crate::store::pending::count_pending(c)?,
                    crate::store::audit::head_seq(c)?,
                ))
            })
            .await;
        let (pending, head) = match from_db {
            Ok((p, h)) => (Some(p), Some(u64::try_from(h).unwrap_or(0))),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the database did not answer");
                (None, None)
            }
        };
        let up = self.mirror.upstream_stats();
        crate::metrics::ScrapeGauges {
            pending_reviews: pending,
            audit_head_seq: head,
            upstream_requests: up.requests,
            upstream_errors: up.failures,
        }
    }
}
