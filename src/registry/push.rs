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
use crate::pipeline::{
    Decision, ReleaseFile, ReleaseSnapshot, ShadowingCheck, TestsCheck, TyposquatCheck,
};
use crate::policy::Action;
use crate::store::pending;
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
    /// The review as text, as the CLI prints it.
    pub review_text: String,
    /// What the target's policy decided (`land` without a policy).
    pub decision: Decision,
    /// Set when the push waits for approvals.
    pub pending_id: Option<i64>,
    pub landed: bool,
}

/// Where a push run comes from: a person pushing, or an approval of a
/// pending push (which re-runs every check with the approvals counted).
#[derive(Debug, Clone, Default)]
pub struct PushContext {
    pub approvals: Vec<String>,
    pub pending_id: Option<i64>,
    /// The peer address of the request behind this push, for its audit
    /// entries (none when an approval lands a pending push).
    pub remote: Option<std::net::SocketAddr>,
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
    /// Upload (or upstream publication) time.
    published: Option<i64>,
    entry_points: Option<String>,
    /// Test results attached to the file: (report blob, summary JSON, uploader).
    toxresults: Vec<(Sha256, String, Option<String>)>,
}

/// The documentation zip of the release being pushed: (blob, size, uploader).
type DocZip = (Sha256, u64, String);

fn blocking_failed(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::Internal(format!("background task failed: {e}")))
}

impl Registry {
    /// Push as `actor`. Every refusal is recorded in the audit log with its
    /// reason (policy refusals and typosquat blocks record themselves, with
    /// more detail).
    pub async fn push(
        self: &Arc<Self>,
        actor: &super::Actor,
        req: PushRequest,
    ) -> Result<PushOutcome> {
        let result = match actor.identity() {
            Some(who) => {
                let ctx = PushContext {
                    remote: actor.remote,
                    ..PushContext::default()
                };
                self.push_with(who, req.clone(), ctx).await
            }
            None => Err(RegistryError::Unauthenticated(format!(
                "log in to push to {}",
                req.target
            ))),
        };
        if let Err(e) = &result {
            if !matches!(
                e,
                RegistryError::TypoBlocked(_) | RegistryError::PolicyRefused(_)
            ) {
                let entry = actor
                    .entry(
                        crate::audit::Action::BlockedPush,
                        format!("{}/{}/{}", req.target, req.project, req.version),
                    )
                    .details(json!({
                        "source": req.source.to_string(),
                        "target": req.target.to_string(),
                        "project": req.project.to_string(),
                        "version": req.version,
                        "reason": e.to_string(),
                    }));
                self.audit_alone(entry).await;
            }
        }
        result
    }

    pub async fn push_with(
        self: &Arc<Self>,
        actor: &Identity,
        req: PushRequest,
        ctx: PushContext,
    ) -> Result<PushOutcome> {
        if req.source == req.target {
            return Err(RegistryError::Invalid(
                "source and target index are the same".into(),
            ));
        }
        let source = self.index(&req.source)?;
        let target_policy = self.policy_of(&req.target);
        let target = match &target_policy {
            Some(p) => {
                let row = self.index(&req.target)?;
                if row.config.kind == IndexKind::Mirror {
                    return Err(RegistryError::Forbidden(format!(
                        "index {} is a mirror: nothing is pushed into a mirror",
                        req.target
                    )));
                }
                if !p.accepts_push_from.contains(&req.source) {
                    let from: Vec<String> = p
                        .accepts_push_from
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    return Err(RegistryError::Forbidden(format!(
                        "index {} accepts pushes only from [{}] (policy at {}); {} is not one of them",
                        req.target,
                        from.join(", "),
                        p.defined_at,
                        req.source
                    )));
                }
                if !p.may_push(Some(&actor.user), &req.source) {
                    return Err(RegistryError::Forbidden(format!(
                        "user {} may not push into {} (push_users in the policy at {})",
                        actor.user, req.target, p.defined_at
                    )));
                }
                if ctx.pending_id.is_none() {
                    self.check_credentials(&req.target, Action::Push, Some(actor))?;
                }
                row
            }
            None => self.writable_stage(Some(actor), &req.target, "push to")?,
        };
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

        // Entry points come from the wheels themselves (re-opened, bounded).
        self.fill_entry_points(&mut candidates).await;

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
                "approved_by": ctx.approvals,
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
                Some(o) => {
                    // As devpi logs it: the replacing file's history starts
                    // by saying how often the name was overwritten.
                    let before = overwrite_count(&o.provenance);
                    if let Value::Array(list) = &mut cand.provenance {
                        list.insert(
                            0,
                            json!({"op": "overwrite", "count": before + 1,
                                   "by": actor.user, "at": crate::store::now()}),
                        );
                    }
                    "replace"
                }
            };
            files.push(PushedFile {
                filename: cand.filename.clone(),
                sha256: cand.sha256.to_hex(),
                size: cand.size,
                action,
                provenance: cand.provenance.clone(),
            });
        }

        // A project new to the target passes the typosquat gate (block
        // mode refuses here); every review shows the verdict.
        let new_project = {
            let name = req.project.as_str().to_string();
            self.store
                .db
                .read(move |c| releases::project(c, tid, &name))
                .await?
                .is_none()
        };
        if new_project {
            self.typo_gate(&req.target, &req.project, "push").await?;
        }
        let verdict = self
            .typo_verdict(Some(&req.target), req.project.as_str())
            .await?;

        // The review: what this release brings compared with the target's
        // latest release of the project.
        let snapshot = ReleaseSnapshot {
            metadata: serde_json::from_str(&candidates[0].release_metadata)
                .unwrap_or_else(|_| json!({})),
            files: candidates
                .iter()
                .map(|c| ReleaseFile {
                    filename: c.filename.clone(),
                    sha256: c.sha256,
                    kind: if c.kind == "wheel" {
                        DistKind::Wheel
                    } else {
                        DistKind::Sdist
                    },
                    entry_points: c.entry_points.clone(),
                })
                .collect(),
            published: candidates.iter().filter_map(|c| c.published).min(),
        };
        let (previous, target_projects) = self.target_state(tid, &req.project, &version).await?;
        let mut review = crate::pipeline::review(&snapshot, previous.as_ref(), |n| {
            target_projects.contains(n.as_str())
        });
        review.typosquat = TyposquatCheck::from(&verdict);
        review.shadowing = self.shadowing(&req.target, &req.project).await?;
        review.tests = tests_check(&candidates);
        for c in &candidates {
            if c.provenance[0]["verified"] == "trust-on-first-use" {
                review.notes.push(format!(
                    "{} comes from a mirror that lists it without a sha256: its bytes are the \
                     ones first downloaded, pinned by digest (trust on first use), not verified \
                     against upstream",
                    c.filename
                ));
            }
        }
        let doc = if source.config.kind == IndexKind::Stage {
            self.source_doczip(source.id, &req.project, &version)
                .await?
        } else {
            None
        };
        let review_text = crate::pipeline::render_text(&review);
        let decision = match &target_policy {
            Some(p) => crate::pipeline::evaluate(
                &review,
                &p.require,
                ctx.approvals.len(),
                crate::store::now(),
            ),
            None => Decision::Land,
        };
        let review = serde_json::to_value(&review).unwrap_or(Value::Null);

        let mut outcome = PushOutcome {
            source: req.source.to_string(),
            target: req.target.to_string(),
            project: req.project.to_string(),
            version: version.clone(),
            files,
            review,
            review_text,
            decision: decision.clone(),
            pending_id: ctx.pending_id,
            landed: false,
        };
        if req.dry_run {
            return Ok(outcome);
        }
        match &decision {
            Decision::Refuse { reasons } => {
                let entry = push_entry(
                    actor,
                    ctx.remote,
                    crate::audit::Action::BlockedPush,
                    &outcome,
                    &ctx.approvals,
                );
                self.audit_alone(entry).await;
                tracing::warn!(source = %req.source, target = %req.target, release = %label, by = %actor.user,
                    ?reasons, "push refused by policy");
                return Err(RegistryError::PolicyRefused(format!(
                    "push of {label} into {} refused by policy: {}",
                    req.target,
                    reasons.join("; ")
                )));
            }
            Decision::Pending { needed } => {
                if ctx.pending_id.is_none() {
                    let (src, tgt, prj, ver, usr) = (
                        req.source.to_string(),
                        req.target.to_string(),
                        req.project.to_string(),
                        version.clone(),
                        actor.user.clone(),
                    );
                    let cert = actor.cert_fingerprint.clone();
                    let rv = outcome.review.to_string();
                    let entry = push_entry(
                        actor,
                        ctx.remote,
                        crate::audit::Action::PushPending,
                        &outcome,
                        &ctx.approvals,
                    );
                    let id = self
                        .store
                        .db
                        .write(move |tx| {
                            crate::audit::append(tx, entry)?;
                            pending::create(tx, &src, &tgt, &prj, &ver, &usr, cert.as_deref(), &rv)
                        })
                        .await?;
                    outcome.pending_id = Some(id);
                    tracing::info!(id, release = %label, target = %req.target, needed, "push pending approval");
                }
                return Ok(outcome);
            }
            Decision::Land => {}
        }
        if outcome.files.iter().all(|f| f.action == "unchanged") {
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
        let entry = push_entry(
            actor,
            ctx.remote,
            crate::audit::Action::Push,
            &outcome,
            &ctx.approvals,
        );
        let orphans = self
            .store
            .db
            .write(move |tx| {
                crate::audit::append(tx, entry)?;
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
                    // test results travel with their file
                    if let Some(new) = releases::find_file(tx, tid, &c.filename)? {
                        for (sha, summary, by) in &c.toxresults {
                            crate::store::toxresults::insert(
                                tx,
                                new.id,
                                sha,
                                summary,
                                by.as_deref(),
                            )?;
                        }
                    }
                }
                // ... and the documentation with its release
                if let Some((sha, size, by)) = &doc {
                    // the release files above created the project and release
                    let new_doc = crate::store::doczips::NewDocZip {
                        index_id: tid,
                        project: &project,
                        display_name: &project,
                        version: &v,
                        sha256: sha,
                        size: *size,
                        uploader: by,
                    };
                    if let Some(old) = crate::store::doczips::set(tx, &new_doc)? {
                        if old != *sha {
                            orphans.push(old);
                        }
                    }
                }
                Ok(orphans)
            })
            .await?;
        self.collect_garbage(orphans).await;
        if new_project {
            self.typo_sync_names().await;
        }
        outcome.landed = true;
        tracing::info!(source = %req.source, target = %req.target, release = %label, by = %actor.user,
            files = outcome.files.len(), "push landed");
        Ok(outcome)
    }

    async fn fill_entry_points(self: &Arc<Self>, candidates: &mut [Candidate]) {
        for c in candidates
            .iter_mut()
            .filter(|c| c.kind == "wheel" && c.entry_points.is_none())
        {
            let path = self.store.blobs.path_of(&c.sha256);
            let name = c.filename.clone();
            if let Ok(Ok(d)) =
                tokio::task::spawn_blocking(move || dist::inspect(&path, &name)).await
            {
                c.entry_points = d.entry_points;
            }
        }
    }

    /// The target's latest other release of `project` (for the review's
    /// diff) and the names of the projects it holds.
    async fn target_state(
        self: &Arc<Self>,
        target_id: i64,
        project: &ProjectName,
        version: &str,
    ) -> Result<(Option<ReleaseSnapshot>, std::collections::HashSet<String>)> {
        let (name, v) = (project.as_str().to_string(), version.to_string());
        let (names, latest) = self
            .store
            .db
            .read(move |c| {
                let names: std::collections::HashSet<String> = releases::projects(c, target_id)?
                    .into_iter()
                    .map(|p| p.name)
                    .collect();
                let latest = releases::releases(c, target_id, &name)?
                    .into_iter()
                    .filter(|r| r.version != v)
                    .filter_map(|r| {
                        r.version
                            .parse::<pep440_rs::Version>()
                            .ok()
                            .map(|pv| (pv, r))
                    })
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .map(|(_, r)| r);
                let latest = match latest {
                    Some(r) => {
                        let files = releases::files_of_release(c, target_id, &name, &r.version)?;
                        Some((r, files))
                    }
                    None => None,
                };
                Ok((names, latest))
            })
            .await?;
        let mut snapshot = None;
        if let Some((rel, files)) = latest {
            let mut snap_files = Vec::new();
            for f in &files {
                let mut entry_points = None;
                if f.kind == "wheel" {
                    let path = self.store.blobs.path_of(&f.sha256);
                    let n = f.filename.clone();
                    if let Ok(Ok(d)) =
                        tokio::task::spawn_blocking(move || dist::inspect(&path, &n)).await
                    {
                        entry_points = d.entry_points;
                    }
                }
                snap_files.push(ReleaseFile {
                    filename: f.filename.clone(),
                    sha256: f.sha256,
                    kind: if f.kind == "wheel" {
                        DistKind::Wheel
                    } else {
                        DistKind::Sdist
                    },
                    entry_points,
                });
            }
            snapshot = Some(ReleaseSnapshot {
                metadata: serde_json::from_str(&rel.metadata).unwrap_or_else(|_| json!({})),
                files: snap_files,
                published: files.iter().map(|f| f.created).min(),
            });
        }
        Ok((snapshot, names))
    }

    /// Does the name exist in another index the target sees (its bases:
    /// stage indexes holding it, mirrors with it cached)?
    async fn shadowing(
        self: &Arc<Self>,
        target: &IndexPath,
        project: &ProjectName,
    ) -> Result<ShadowingCheck> {
        let chain: Vec<(IndexPath, i64, bool)> = self
            .resolution_order(target)?
            .into_iter()
            .skip(1)
            .map(|r| (r.path, r.id, r.config.kind == IndexKind::Mirror))
            .collect();
        let name = project.as_str().to_string();
        let found = self
            .store
            .db
            .read(move |c| {
                for (p, id, is_mirror) in chain {
                    let present = if is_mirror {
                        crate::store::mirror::cached_projects(c, id)?
                            .iter()
                            .any(|x| x.name == name)
                    } else {
                        releases::project(c, id, &name)?.is_some()
                    };
                    if present {
                        return Ok(Some(p.to_string()));
                    }
                }
                Ok(None)
            })
            .await?;
        Ok(ShadowingCheck {
            checked: true,
            shadowed_by: found,
        })
    }

    /// The documentation zip of a release on a stage index, if any.
    async fn source_doczip(
        self: &Arc<Self>,
        index_id: i64,
        project: &ProjectName,
        version: &str,
    ) -> Result<Option<DocZip>> {
        let (name, v) = (project.as_str().to_string(), version.to_string());
        Ok(self
            .store
            .db
            .read(move |c| crate::store::doczips::of_project(c, index_id, &name))
            .await?
            .into_iter()
            .find(|d| d.version == v)
            .map(|d| (d.sha256, d.size, d.uploader)))
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
        let (files, release, tox) = self
            .store
            .db
            .read(move |c| {
                let files = releases::files_of_release(c, id, &name, &v)?;
                let rel = releases::releases(c, id, &name)?
                    .into_iter()
                    .find(|r| r.version == v);
                let ids: Vec<i64> = files.iter().map(|f| f.id).collect();
                let tox = crate::store::toxresults::for_files(c, &ids)?;
                Ok((files, rel, tox))
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
                published: Some(f.created),
                entry_points: None,
                toxresults: tox
                    .iter()
                    .filter(|t| t.file_id == f.id)
                    .map(|t| (t.sha256, t.summary.clone(), t.uploader.clone()))
                    .collect(),
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
        // (filename, upstream URL, upload time, stored digest, how verified)
        let mut sources = Vec::new();
        for f in &mp.files {
            let Ok(parsed) = dist::DistFilename::parse(&f.filename) else {
                continue;
            };
            if parsed.version.to_string() != version {
                continue;
            }
            let sha = self
                .mirror
                .ensure_cached(f, FilePart::Dist)
                .await?
                .ok_or_else(|| {
                    RegistryError::NotFound(format!("{} is not available", f.filename))
                })?;
            let f = f.clone();
            sources.push((f.filename, f.url, f.upload_time, sha, "upstream-sha256"));
        }
        // Unverified links (--mirror-unverified-files): only bytes pinned on
        // their first download, checked against the pin, are pushed.
        for l in &mp.links {
            let Ok(parsed) = dist::DistFilename::parse(&l.filename) else {
                continue;
            };
            if parsed.version.to_string() != version {
                continue;
            }
            let unpinned = || {
                RegistryError::Conflict(format!(
                    "{} has no sha256 upstream and has not been downloaded (and its digest \
                     pinned) yet; airlock pushes only verified or pinned bytes: download it \
                     from {} once, then push again",
                    l.filename, source.path
                ))
            };
            if l.malformed_sha256.is_some() {
                return Err(RegistryError::Conflict(format!(
                    "{}: upstream declared a malformed sha256 for it; it cannot be pushed",
                    l.filename
                )));
            }
            let pin = l.pinned_sha256.ok_or_else(unpinned)?;
            if !self.store.blobs.exists(&pin) {
                return Err(unpinned());
            }
            let blobs = Arc::clone(self);
            let actual = tokio::task::spawn_blocking(move || blobs.store.blobs.rehash(&pin))
                .await
                .map_err(blocking_failed)??;
            if actual != pin {
                return Err(RegistryError::Conflict(format!(
                    "the stored bytes of {} do not match the digest pinned for it",
                    l.filename
                )));
            }
            sources.push((
                l.filename.clone(),
                l.url.clone(),
                l.upload_time,
                pin,
                "trust-on-first-use",
            ));
        }
        let mut out = Vec::new();
        for (filename, url, upload_time, sha, verified) in sources {
            let Ok(parsed) = dist::DistFilename::parse(&filename) else {
                continue;
            };
            let path = self.store.blobs.path_of(&sha);
            let fname = filename.clone();
            let inspected = tokio::task::spawn_blocking(move || dist::inspect(&path, &fname))
                .await
                .map_err(blocking_failed)?
                .map_err(|e| RegistryError::Invalid(format!("{filename}: {e}")))?;
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
                filename,
                sha256: sha,
                size,
                requires_python: inspected.metadata.requires_python.clone(),
                metadata_sha256: Some(meta_sha),
                provenance: json!([{
                    "op": "mirror", "index": source.path.to_string(), "url": url,
                    "sha256": sha.to_hex(), "fetched": mp.fetched, "verified": verified,
                }]),
                release_metadata: super::upload::release_metadata_json(&inspected.metadata)
                    .to_string(),
                display_name: inspected.metadata.name.clone(),
                published: upload_time,
                entry_points: inspected.entry_points.clone(),
                toxresults: Vec::new(),
            });
        }
        Ok(out)
    }
}

/// The review's test status from the results attached to the files: passed
/// when at least one recorded run passed (every test environment green).
fn tests_check(candidates: &[Candidate]) -> TestsCheck {
    let runs: Vec<Vec<crate::dist::toxresult::EnvSummary>> = candidates
        .iter()
        .flat_map(|c| c.toxresults.iter())
        .filter_map(|(_, summary, _)| serde_json::from_str(summary).ok())
        .collect();
    if runs.is_empty() {
        return TestsCheck::default();
    }
    let passed_runs = runs
        .iter()
        .filter(|r| crate::dist::toxresult::run_passed(r))
        .count();
    let envs: Vec<String> = runs
        .iter()
        .flatten()
        .filter(|e| !e.is_packaging())
        .map(|e| {
            format!(
                "{} {} ({} on {})",
                e.env,
                if e.passed() { "passed" } else { "failed" },
                e.python.as_deref().unwrap_or("?"),
                e.platform
            )
        })
        .collect();
    TestsCheck {
        checked: true,
        passed: passed_runs > 0,
        summary: Some(format!(
            "{passed_runs} of {} recorded test run(s) passed: {}",
            runs.len(),
            envs.join(", ")
        )),
    }
}

/// The audit entry of a push (landed, pending or refused): who, what, the
/// files with their digests, the decision and the approvals.
fn push_entry(
    actor: &Identity,
    remote: Option<std::net::SocketAddr>,
    action: crate::audit::Action,
    outcome: &PushOutcome,
    approvals: &[String],
) -> crate::audit::NewEntry {
    let files: Vec<Value> = outcome
        .files
        .iter()
        .map(|f| json!({"filename": f.filename, "sha256": f.sha256, "action": f.action}))
        .collect();
    super::Actor::new(Some(actor.clone()), remote)
        .entry(
            action,
            format!("{}/{}/{}", outcome.target, outcome.project, outcome.version),
        )
        .details(json!({
            "source": outcome.source,
            "target": outcome.target,
            "project": outcome.project,
            "version": outcome.version,
            "files": files,
            "decision": outcome.decision,
            "approvals": approvals,
            "typosquat": outcome.review.get("typosquat"),
            "shadowing": outcome.review.get("shadowing"),
        }))
}

/// How often a file's name had been overwritten, from its provenance.
fn overwrite_count(provenance: &str) -> u64 {
    serde_json::from_str::<Value>(provenance)
        .ok()
        .and_then(|v| {
            v.as_array()?
                .iter()
                .find(|hop| hop["op"] == "overwrite")
                .and_then(|hop| hop["count"].as_u64())
        })
        .unwrap_or(0)
}
