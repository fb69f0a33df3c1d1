//! Verbatim pushes: copy every file of one release from a source index
//! (a stage index or a mirror) into a target stage index, byte for byte.
//!
//! Nothing is re-uploaded or rebuilt: the target gets references to the
//! same content-addressed blobs, after each blob has been re-hashed from
//! disk and found equal to its recorded sha256. Every file carries its
//! provenance (the hops that brought it here). All files land in one
//! transaction or none do.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::{Registry, RegistryError, Result};
use crate::auth::Identity;
use crate::digest::Sha256;
use crate::dist::{self, DistKind};
use crate::index::IndexKind;
use crate::mirror::FilePart;
use crate::names::{IndexPath, ProjectName};
use crate::store::releases::{self, FileRow, NewFile};
use crate::store::StoreError;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub source: IndexPath,
    pub target: IndexPath,
    pub project: ProjectName,
    pub version: String,
    /// Review only; land nothing.
    pub dry_run: bool,
}

/// One file of a push.
#[derive(Debug, Clone, Serialize)]
pub struct PushedFile {
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    /// `copy` (new in the target), `unchanged` (identical bytes already
    /// there) or `replace` (volatile target held other bytes).
    pub action: &'static str,
    pub provenance: Value,
}

/// The outcome of a push (or of a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub source: String,
    pub target: String,
    pub project: String,
    pub version: String,
    pub files: Vec<PushedFile>,
    pub review: Value,
    pub landed: bool,
}

/// A file prepared for the target.
struct Candidate {
    filename: String,
    kind: &'static str,
    sha256: Sha256,
    size: u64,
    requires_python: Option<String>,
    metadata_sha256: Option<Sha256>,
    provenance: Value,
    release_metadata: String,
    display_name: String,
}

fn blocking_failed(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::Internal(format!("background task failed: {e}")))
}

impl Registry {
    pub async fn push(self: &Arc<Self>, actor: &Identity, req: PushRequest) -> Result<PushOutcome> {
        if req.source == req.target {
            return Err(RegistryError::Invalid(
                "source and target index are the same".into(),
            ));
        }
        let source = self.index(&req.source)?;
        let target = self.writable_stage(Some(actor), &req.target, "push to")?;
        let version = super::normalize_version(&req.version)?;
        let label = format!("{}=={}", req.project, req.version);

        // Dependency confusion: a name that exists privately never comes
        // from a mirror.
        if source.config.kind == IndexKind::Mirror {
            if let Some(holder) = self.private_holder(&req.project).await? {
                return Err(RegistryError::Forbidden(format!(
                    "{} exists as a private project on {holder}: pushing it from the mirror {} \
                     would let a public package take over a private name (dependency confusion)",
                    req.project, req.source
                )));
            }
        }

        let mut candidates = match source.config.kind {
            IndexKind::Stage => {
                self.stage_candidates(&source, &req.project, &version)
                    .await?
            }
            IndexKind::Mirror => {
                self.mirror_candidates(&source, &req.project, &version)
                    .await?
            }
        };
        if candidates.is_empty() {
            return Err(RegistryError::NotFound(format!(
                "{label} has no files on {}",
                req.source
            )));
        }

        // Re-hash every blob from disk: a file altered in the data folder
        // is never propagated.
        let store = Arc::clone(self);
        let check: Vec<(String, Sha256)> = candidates
            .iter()
            .map(|c| (c.filename.clone(), c.sha256))
            .collect();
        let altered = tokio::task::spawn_blocking(move || {
            let mut bad = Vec::new();
            for (name, sha) in check {
                match store.store.blobs.rehash(&sha) {
                    Ok(found) if found == sha => {}
                    Ok(found) => bad.push(format!("{name} (expected sha256 {sha}, found {found})")),
                    Err(e) => bad.push(format!("{name} ({e})")),
                }
            }
            bad
        })
        .await
        .map_err(blocking_failed)?;
        if !altered.is_empty() {
            tracing::error!(target: "security", source = %req.source, release = %label, files = ?altered,
                "stored file does not match its digest; push refused");
            return Err(RegistryError::Conflict(format!(
                "the stored bytes of {} no longer match their recorded sha256: the data folder \
                 was altered; the push is refused and nothing was copied",
                altered.join(", ")
            )));
        }

        // Compare with what the target holds.
        let tid = target.id;
        let names: Vec<String> = candidates.iter().map(|c| c.filename.clone()).collect();
        let existing: Vec<Option<FileRow>> = self
            .store
            .db
            .read(move |c| {
                names
                    .iter()
                    .map(|n| releases::find_file(c, tid, n))
                    .collect()
            })
            .await?;
        let mut files = Vec::new();
        for (cand, old) in candidates.iter_mut().zip(&existing) {
            let hop = json!({
                "op": "push", "from": req.source.to_string(), "to": req.target.to_string(),
                "by": actor.user, "cert": actor.cert_fingerprint, "at": crate::store::now(),
            });
            if let Value::Array(list) = &mut cand.provenance {
                list.push(hop);
            }
            let action = match old {
                None => "copy",
                Some(o) if o.sha256 == cand.sha256 => "unchanged",
                Some(o) if !target.config.volatile => {
                    return Err(RegistryError::Conflict(format!(
                        "{} already exists on the non-volatile index {} with different content \
                         (sha256 {}, pushing {}): release files there never change",
                        cand.filename, req.target, o.sha256, cand.sha256
                    )))
                }
                Some(_) => "replace",
            };
            files.push(PushedFile {
                filename: cand.filename.clone(),
                sha256: cand.sha256.to_hex(),
                size: cand.size,
                action,
                provenance: cand.provenance.clone(),
            });
        }

        // A project new to the target passes the typosquat gate.
        let new_project = {
            let name = req.project.as_str().to_string();
            self.store
                .db
                .read(move |c| releases::project(c, tid, &name))
                .await?
                .is_none()
        };
        let typo = if new_project {
            match self.typo_gate(&req.target, &req.project, "push").await {
                Ok(super::Gate::Pass) => json!({"checked": true, "suspicious": false}),
                Ok(super::Gate::Warned(v)) => {
                    json!({"checked": true, "suspicious": true, "verdict": v})
                }
                Err(e) => return Err(e),
            }
        } else {
            json!({"checked": false, "reason": "the project already exists on the target"})
        };
        let review = json!({
            "files": files,
            "typosquat": typo,
            "shadowing": {"checked": source.config.kind == IndexKind::Mirror, "shadowed_by": Value::Null},
        });

        let mut outcome = PushOutcome {
            source: req.source.to_string(),
            target: req.target.to_string(),
            project: req.project.to_string(),
            version: version.clone(),
            files,
            review,
            landed: false,
        };
        if req.dry_run || outcome.files.iter().all(|f| f.action == "unchanged") {
            return Ok(outcome);
        }

        // Land everything in one transaction.
        let project = req.project.as_str().to_string();
        let uploader = actor.user.clone();
        let v = version.clone();
        let rows: Vec<(Candidate, &'static str)> = candidates
            .into_iter()
            .zip(outcome.files.iter().map(|f| f.action))
            .collect();
        let orphans = self
            .store
            .db
            .write(move |tx| {
                let mut orphans = Vec::new();
                for (c, action) in &rows {
                    if *action == "unchanged" {
                        continue;
                    }
                    let prov = c.provenance.to_string();
                    orphans.extend(releases::insert_file(
                        tx,
                        &NewFile {
                            index_id: tid,
                            project: &project,
                            display_name: &c.display_name,
                            version: &v,
                            release_metadata: &c.release_metadata,
                            filename: &c.filename,
                            kind: c.kind,
                            sha256: &c.sha256,
                            size: c.size,
                            requires_python: c.requires_python.as_deref(),
                            metadata_sha256: c.metadata_sha256.as_ref(),
                            uploader: &uploader,
                            provenance: &prov,
                        },
                    )?);
                }
                Ok(orphans)
            })
            .await?;
        self.collect_garbage(orphans).await;
        if new_project {
            self.typo_note_private(&req.project).await;
        }
        outcome.landed = true;
        tracing::info!(source = %req.source, target = %req.target, release = %label, by = %actor.user,
            files = outcome.files.len(), "push landed");
        Ok(outcome)
    }

    /// The first stage index holding `project`, if any.
    async fn private_holder(self: &Arc<Self>, project: &ProjectName) -> Result<Option<IndexPath>> {
        let stages: Vec<(IndexPath, i64)> = self
            .all_indexes()
            .into_iter()
            .filter(|i| i.config.kind == IndexKind::Stage)
            .map(|i| (i.path, i.id))
            .collect();
        let name = project.as_str().to_string();
        Ok(self
            .store
            .db
            .read(move |c| {
                for (p, id) in stages {
                    if releases::project(c, id, &name)?.is_some() {
                        return Ok(Some(p));
                    }
                }
                Ok(None)
            })
            .await?)
    }

    async fn stage_candidates(
        self: &Arc<Self>,
        source: &crate::store::indexes::IndexRow,
        project: &ProjectName,
        version: &str,
    ) -> Result<Vec<Candidate>> {
        let (id, name, v) = (source.id, project.as_str().to_string(), version.to_string());
        let (files, release) = self
            .store
            .db
            .read(move |c| {
                let files = releases::files_of_release(c, id, &name, &v)?;
                let rel = releases::releases(c, id, &name)?
                    .into_iter()
                    .find(|r| r.version == v);
                Ok((files, rel))
            })
            .await?;
        let metadata = release.map(|r| r.metadata).unwrap_or_else(|| "{}".into());
        Ok(files
            .into_iter()
            .map(|f| Candidate {
                kind: if f.kind == "wheel" { "wheel" } else { "sdist" },
                provenance: serde_json::from_str(&f.provenance).unwrap_or_else(|_| json!([])),
                filename: f.filename,
                sha256: f.sha256,
                size: f.size,
                requires_python: f.requires_python,
                metadata_sha256: f.metadata_sha256,
                release_metadata: metadata.clone(),
                display_name: f.display_name,
            })
            .collect())
    }

    /// Files of a release on a mirror: downloaded (verified against
    /// upstream's digest) if not cached yet, then opened and checked like
    /// an upload, so the target gets real core metadata.
    async fn mirror_candidates(
        self: &Arc<Self>,
        source: &crate::store::indexes::IndexRow,
        project: &ProjectName,
        version: &str,
    ) -> Result<Vec<Candidate>> {
        let Some(mp) = self.mirror.project(source, project).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for f in mp.files {
            let Ok(parsed) = dist::DistFilename::parse(&f.filename) else {
                continue;
            };
            if parsed.version.to_string() != version {
                continue;
            }
            let sha = self
                .mirror
                .ensure_cached(&f, FilePart::Dist)
                .await?
                .ok_or_else(|| {
                    RegistryError::NotFound(format!("{} is not available", f.filename))
                })?;
            let path = self.store.blobs.path_of(&sha);
            let fname = f.filename.clone();
            let inspected = tokio::task::spawn_blocking(move || dist::inspect(&path, &fname))
                .await
                .map_err(blocking_failed)?
                .map_err(|e| RegistryError::Invalid(format!("{}: {e}", f.filename)))?;
            let store = Arc::clone(self);
            let meta_bytes = inspected.metadata_bytes.clone();
            let (meta_sha, _) =
                tokio::task::spawn_blocking(move || store.store.blobs.put_bytes(&meta_bytes))
                    .await
                    .map_err(blocking_failed)??;
            let size = std::fs::metadata(self.store.blobs.path_of(&sha))
                .map(|m| m.len())
                .unwrap_or(0);
            out.push(Candidate {
                kind: match parsed.kind {
                    DistKind::Wheel => "wheel",
                    DistKind::Sdist => "sdist",
                },
                filename: f.filename.clone(),
                sha256: sha,
                size,
                requires_python: inspected.metadata.requires_python.clone(),
                metadata_sha256: Some(meta_sha),
                provenance: json!([{
                    "op": "mirror", "index": source.path.to_string(), "url": f.url,
                    "sha256": sha.to_hex(), "fetched": mp.fetched,
                }]),
                release_metadata: super::upload::release_metadata_json(&inspected.metadata)
                    .to_string(),
                display_name: inspected.metadata.name.clone(),
            });
        }
        Ok(out)
    }
}
