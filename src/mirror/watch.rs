//! Looking at upstream without caching: which versions of a name does the
//! upstream publish? Used to watch private names for dependency-confusion
//! attempts (a public package taking a private project's name).

use reqwest::Url;

use super::page;
use super::upstream::{PageFetch, Validators};
use super::{Mirror, MirrorError};
use crate::names::ProjectName;
use crate::store::indexes::IndexRow;

impl Mirror {
    /// The versions upstream lists for `name` (`Ok(None)`: upstream has no
    /// such project; offline: never asks, `Ok(None)`). Nothing is cached:
    /// the mirror keeps not serving a name a private index holds.
    pub async fn upstream_versions(
        &self,
        index: &IndexRow,
        name: &ProjectName,
    ) -> Result<Option<Vec<String>>, MirrorError> {
        if self.settings.offline {
            return Ok(None);
        }
        let upstream = self.upstream_of(&index.config);
        let what = format!("project {name}");
        let url = Url::parse(&upstream)
            .and_then(|u| u.join(&format!("{name}/")))
            .map_err(|e| MirrorError::Upstream {
                what: what.clone(),
                reason: format!("bad upstream URL {upstream}: {e}"),
            })?;
        let fetched = match self.upstream.page(&url, &Validators::default()).await {
            Ok(PageFetch::Modified(p)) => p,
            Ok(PageFetch::NotFound) => return Ok(None),
            Ok(PageFetch::NotModified) => return Ok(None),
            Err(e) => {
                return Err(MirrorError::Upstream {
                    what,
                    reason: e.to_string(),
                })
            }
        };
        let parsed = page::parse(&fetched.body, fetched.json, &fetched.url).map_err(|e| {
            MirrorError::Upstream {
                what: what.clone(),
                reason: e.to_string(),
            }
        })?;
        let mut versions: std::collections::BTreeSet<String> =
            parsed.versions.into_iter().collect();
        for f in parsed.files {
            if let Ok(d) = crate::dist::DistFilename::parse(&f.filename) {
                if d.name == *name {
                    versions.insert(d.version.to_string());
                }
            }
        }
        Ok(Some(versions.into_iter().collect()))
    }
}
