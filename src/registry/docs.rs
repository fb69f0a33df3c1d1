//! Documentation zips of releases: upload (validated in full before it is
//! stored) and pages served straight out of the stored zip.

use std::sync::Arc;

use super::{Registry, RegistryError, Result};
use crate::auth::Identity;
use crate::digest::Sha256;
use crate::dist::doczip::{
    for_each_html_page, lookup_doc, validate_doc_zip, DocLookup, DocZipError, DocZipLimits,
};
use crate::names::{IndexPath, ProjectName};
use crate::search::text::{self as search_text, DocsText};
use crate::store::doczips::{self as table, DocZipRow};
use crate::store::{releases, StoreError, TempBlob};

/// A stored documentation zip.
#[derive(Debug, Clone)]
pub struct DocsStored {
    pub project: ProjectName,
    pub version: String,
    pub sha256: Sha256,
    pub files: usize,
}

fn blocking_failed(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::Internal(format!("background task failed: {e}")))
}

impl From<DocZipError> for RegistryError {
    fn from(e: DocZipError) -> Self {
        match e {
            DocZipError::Io(_) => RegistryError::Store(StoreError::Internal(e.to_string())),
            other => RegistryError::Invalid(other.to_string()),
        }
    }
}

impl Registry {
    /// Store `temp` as the documentation of `project` `version` on the
    /// stage index `path`. Without a version, the newest release of the
    /// project on that index. The release must already be on the index.
    pub async fn upload_docs(
        self: &Arc<Self>,
        actor: &Identity,
        path: &IndexPath,
        project: Option<&str>,
        version: Option<&str>,
        temp: TempBlob,
    ) -> Result<DocsStored> {
        let result = self.store_docs(actor, path, project, version, temp).await;
        crate::metrics::count_upload(match &result {
            Ok(_) => crate::metrics::Outcome::Accepted,
            Err(_) => crate::metrics::Outcome::Refused,
        });
        result
    }

    async fn store_docs(
        self: &Arc<Self>,
        actor: &Identity,
        path: &IndexPath,
        project: Option<&str>,
        version: Option<&str>,
        temp: TempBlob,
    ) -> Result<DocsStored> {
        let index = self.writable_stage(Some(actor), path, "upload documentation to")?;
        let display_name = project
            .ok_or_else(|| {
                RegistryError::Invalid("the documentation upload has no 'name' field".into())
            })?
            .to_string();
        let project = ProjectName::new(&display_name)?;
        let version = match version.filter(|v| !v.is_empty()) {
            Some(v) => super::normalize_version(v)?,
            // devpi's wording
            None => self
                .newest_version(index.id, &project)
                .await?
                .ok_or_else(|| {
                    RegistryError::Invalid(format!(
                        "doczip has no version and '{project}' has no releases to derive one from"
                    ))
                })?,
        };
        // Documentation may create the project (and a release without
        // files): a new name passes the same look-alike gate as an upload.
        let by = super::Actor::new(Some(actor.clone()), None);
        let is_new = self.gate_new_project(&by, index.id, path, &project).await?;
        if temp.size() == 0 {
            return Err(RegistryError::Invalid(
                "the documentation zip is empty".into(),
            ));
        }
        // `1.0.0` names the release stored as `1.0` (PEP 440 equality).
        let version = {
            let (id, name) = (index.id, project.as_str().to_string());
            let wanted: Option<pep440_rs::Version> = version.parse().ok();
            let stored = match wanted {
                Some(v) => {
                    self.store
                        .db
                        .read(move |c| Ok(releases::equal_release(c, id, &name, &v)?.0))
                        .await?
                }
                None => None,
            };
            stored.unwrap_or(version)
        };
        // Validated in full first; then the visible text of its pages for
        // the search index (bounded: see `search::text`).
        let (checked, temp) = tokio::task::spawn_blocking(move || {
            let r = validate_doc_zip(temp.path(), &DocZipLimits::default()).and_then(|summary| {
                let mut text = DocsText::new(search_text::MAX_DOCS_BYTES);
                for_each_html_page(temp.path(), search_text::MAX_DOCS_HTML_BYTES, |page| {
                    text.add_html(page);
                    !text.full()
                })?;
                Ok((summary, text.finish()))
            });
            (r, temp)
        })
        .await
        .map_err(blocking_failed)?;
        let (summary, docs_text) = checked?;
        let sha = temp.sha256();
        let size = temp.size();
        let blobs = Arc::clone(&self.store.blobs);
        let created = tokio::task::spawn_blocking(move || blobs.commit(temp))
            .await
            .map_err(blocking_failed)??;
        let (id, name, v, who) = (
            index.id,
            project.as_str().to_string(),
            version.clone(),
            actor.user.clone(),
        );
        let volatile = index.config.volatile;
        // On a non-volatile index the documentation of a release, once
        // stored, never changes (like its files): checked under the write
        // lock, so two racing uploads cannot both win.
        let stored = self
            .store
            .db
            .write(move |tx| {
                if !volatile {
                    if let Some(old) = table::current(tx, id, &name, &v)? {
                        if old != sha {
                            return Ok(Err(old));
                        }
                    }
                }
                let old = table::set(
                    tx,
                    &table::NewDocZip {
                        index_id: id,
                        project: &name,
                        display_name: &display_name,
                        version: &v,
                        sha256: &sha,
                        size,
                        uploader: &who,
                    },
                )?;
                crate::store::search::set_docs(tx, id, &name, &v, &docs_text)?;
                Ok(Ok(old))
            })
            .await;
        if is_new {
            self.typo_sync_names().await;
        }
        let stored = match stored {
            Ok(Err(old)) => {
                if created {
                    self.collect_garbage(vec![sha]).await;
                }
                return Err(RegistryError::Conflict(format!(
                    "{project} {version} on the non-volatile index {path} already has \
                     documentation (doc zip sha256 {old}); documentation there never changes: \
                     upload it with a new release"
                )));
            }
            Ok(Ok(s)) => Ok(s),
            Err(e) => Err(e),
        };
        match stored {
            Ok(old) => {
                self.collect_garbage(old.into_iter().filter(|o| *o != sha).collect())
                    .await;
                tracing::info!(index = %path, %project, %version, %sha, by = %actor.user, "documentation stored");
                Ok(DocsStored {
                    project,
                    version,
                    sha256: sha,
                    files: summary.files,
                })
            }
            Err(e) => {
                if created {
                    self.collect_garbage(vec![sha]).await;
                }
                Err(e.into())
            }
        }
    }

    async fn newest_version(
        self: &Arc<Self>,
        index_id: i64,
        project: &ProjectName,
    ) -> Result<Option<String>> {
        let name = project.as_str().to_string();
        let rels = self
            .store
            .db
            .read(move |c| releases::releases(c, index_id, &name))
            .await?;
        Ok(newest(rels.into_iter().map(|r| r.version), false))
    }

    /// The documentation zips of a project on the index `path` itself.
    pub async fn docs_of_project(
        self: &Arc<Self>,
        path: &IndexPath,
        project: &ProjectName,
    ) -> Result<Vec<DocZipRow>> {
        let id = self.index(path)?.id;
        let name = project.as_str().to_string();
        Ok(self
            .store
            .db
            .read(move |c| table::of_project(c, id, &name))
            .await?)
    }

    /// A documentation page: `version` may be a version or the aliases
    /// `latest` (newest version with docs) and `stable` (newest final
    /// release with docs). Returns the resolved version and the lookup.
    pub async fn doc_page(
        self: &Arc<Self>,
        path: &IndexPath,
        project: &ProjectName,
        version: &str,
        page: &str,
    ) -> Result<(String, DocLookup)> {
        let docs = self.docs_of_project(path, project).await?;
        let wanted = match version {
            "latest" => newest(docs.iter().map(|d| d.version.clone()), false),
            "stable" => newest(docs.iter().map(|d| d.version.clone()), true),
            v => Some(super::normalize_version(v)?),
        };
        let row = wanted
            .and_then(|w| docs.into_iter().find(|d| d.version == w))
            .ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "no documentation for {project} {version} on index {path}"
                ))
            })?;
        let zip = self.blob_file(row.sha256).await?;
        let page = page.to_string();
        let found = tokio::task::spawn_blocking(move || {
            lookup_doc(zip.path(), &page, &DocZipLimits::default())
        })
        .await
        .map_err(blocking_failed)??;
        Ok((row.version, found))
    }
}

/// The highest PEP 440 version; `stable_only` skips pre- and dev releases.
fn newest(versions: impl Iterator<Item = String>, stable_only: bool) -> Option<String> {
    versions
        .filter_map(|v| v.parse::<pep440_rs::Version>().ok().map(|p| (p, v)))
        .filter(|(p, _)| !stable_only || !(p.any_prerelease()))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::newest;

    #[test]
    fn latest_and_stable() {
        let vs = || {
            ["1.0", "2.0b1", "1.10", "bogus", "1.9.dev1"]
                .map(String::from)
                .into_iter()
        };
        assert_eq!(newest(vs(), false).as_deref(), Some("2.0b1"));
        assert_eq!(newest(vs(), true).as_deref(), Some("1.10"));
        assert_eq!(newest(["2.0rc1".to_string()].into_iter(), true), None);
        assert_eq!(newest(std::iter::empty(), false), None);
    }
}
