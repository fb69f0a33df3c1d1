//! The stages of a push (see the module above): each a small function over
//! an [`Authorized`] push and a [`ReleasePlan`], shared by the push of one
//! release and the push of a set.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::{PushOutcome, PushedFile};
use crate::auth::Identity;
use crate::digest::Sha256;
use crate::dist::{self, DistKind};
use crate::index::IndexKind;
use crate::mirror::FilePart;
use crate::names::{IndexPath, ProjectName};
use crate::pipeline::{
    Decision, ReleaseFile, ReleaseSnapshot, Review, ShadowingCheck, TestsCheck, TyposquatCheck,
};
use crate::policy::{Action, IndexPolicy};
use crate::registry::{PushContext, Registry, RegistryError, Result};
use crate::search::text;
use crate::store::descriptions::{self, DescriptionRow};
use crate::store::indexes::IndexRow;
use crate::store::releases::{self, FileRow, NewFile};
use crate::store::search as search_table;
use crate::store::StoreError;

/// A file prepared for the target.
pub(super) struct Candidate {
    pub(super) filename: String,
    kind: &'static str,
    sha256: Sha256,
    size: u64,
    requires_python: Option<String>,
    metadata_sha256: Option<Sha256>,
    provenance: Value,
    pub(super) release_metadata: String,
    /// The release's description, carried verbatim from a stage (rendered
    /// from the metadata for a mirror's file).
    description: Option<DescriptionRow>,
    /// The description to index for a release read from upstream (a
    /// stage's is carried from its search row when the release lands).
    search_description: Option<String>,
    display_name: String,
    /// Upload (or upstream publication) time.
    published: Option<i64>,
    entry_points: Option<String>,
    /// Test results attached to the file.
    toxresults: Vec<CarriedResult>,
    /// Already opened and checked by this push (mirror files are, as they
    /// are fetched).
    inspected: bool,
}

/// A test result that travels with its file.
#[derive(Debug, Clone)]
struct CarriedResult {
    sha256: Sha256,
    /// JSON list of `dist::toxresult::EnvSummary`.
    summary: String,
    uploader: Option<String>,
    uploader_cert: Option<String>,
}

/// The documentation zip of the release being pushed: (blob, size, uploader).
type DocZip = (Sha256, u64, String);

fn blocking_failed(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::Internal(format!("background task failed: {e}")))
}

/// Stage 1's result: a push the target's policy lets `actor` make.
pub(super) struct Authorized {
    pub(super) source: IndexRow,
    pub(super) target: IndexRow,
    pub(super) policy: Option<IndexPolicy>,
}

/// One release on its way through the stages.
pub(super) struct ReleasePlan {
    pub(super) project: ProjectName,
    pub(super) version: String,
    /// `name==version`, for messages.
    pub(super) label: String,
    pub(super) candidates: Vec<Candidate>,
    pub(super) files: Vec<PushedFile>,
    /// The target's release this one lands in when it holds an equal
    /// (PEP 440) version under another spelling (`1.0` for `1.0.0`).
    target_version: Option<String>,
    /// Same-slot target files under another name that a volatile target
    /// replaces.
    replaced: Vec<FileRow>,
    pub(super) new_project: bool,
    pub(super) review: Review,
    review_text: String,
    doc: Option<DocZip>,
}

impl ReleasePlan {
    /// The Requires-Dist lines of the release's metadata.
    pub(super) fn requires_dist(&self) -> Vec<String> {
        let meta: Value = self
            .candidates
            .first()
            .and_then(|c| serde_json::from_str(&c.release_metadata).ok())
            .unwrap_or(Value::Null);
        meta["requires_dist"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    pub(super) fn outcome(
        &self,
        auth: &Authorized,
        decision: Decision,
        pending_id: Option<i64>,
        dry_run: bool,
    ) -> PushOutcome {
        PushOutcome {
            source: auth.source.path.to_string(),
            target: auth.target.path.to_string(),
            project: self.project.to_string(),
            version: self.version.clone(),
            files: self.files.clone(),
            review: serde_json::to_value(&self.review).unwrap_or(Value::Null),
            review_text: self.review_text.clone(),
            decision,
            pending_id,
            landed: false,
            dry_run,
        }
    }
}

/// What the target can install from: its own releases and those of the
/// stage indexes in its bases; any name at all when a mirror is among its
/// bases (installers reach upstream through it).
pub(super) struct TargetView {
    stages: Vec<i64>,
    through_mirror: Option<IndexPath>,
}

impl TargetView {
    pub(super) fn of(reg: &Registry, auth: &Authorized) -> Result<Self> {
        let order = reg.resolution_order(&auth.target.path)?;
        Ok(Self {
            stages: order
                .iter()
                .filter(|r| r.config.kind == IndexKind::Stage)
                .map(|r| r.id)
                .collect(),
            through_mirror: order
                .iter()
                .find(|r| r.config.kind == IndexKind::Mirror)
                .map(|r| r.path.clone()),
        })
    }

    /// The versions of each of `names` the target can install (`None`: any,
    /// through a mirror).
    pub(super) async fn versions(
        &self,
        reg: &Registry,
        names: Vec<String>,
    ) -> Result<Option<HashMap<String, Vec<String>>>> {
        if self.through_mirror.is_some() {
            return Ok(None);
        }
        self.held(reg, names).await.map(Some)
    }

    /// The versions of each of `names` that the target or a stage index
    /// among its bases holds (what a mirror base could fetch not counted).
    pub(super) async fn held(
        &self,
        reg: &Registry,
        names: Vec<String>,
    ) -> Result<HashMap<String, Vec<String>>> {
        let stages = self.stages.clone();
        Ok(reg
            .store
            .db
            .read(move |c| {
                let mut out: HashMap<String, Vec<String>> = HashMap::new();
                for name in names {
                    let mut versions = Vec::new();
                    for id in &stages {
                        versions.extend(
                            releases::releases(c, *id, &name)?
                                .into_iter()
                                .map(|r| r.version),
                        );
                    }
                    out.insert(name, versions);
                }
                Ok(out)
            })
            .await?)
    }
}

/// Stage 6: the target's `require` checks (no policy: land).
pub(super) fn decide(
    policy: Option<&IndexPolicy>,
    review: &Review,
    approvals: usize,
    now: i64,
) -> Decision {
    match policy {
        Some(p) => crate::pipeline::evaluate(review, &p.require, approvals, now),
        None => Decision::Land,
    }
}

impl Registry {
    /// Stage 1: may `actor` push from `source` into `target` at all?
    pub(super) fn authorize(
        &self,
        actor: &Identity,
        source: &IndexPath,
        target: &IndexPath,
        ctx: &PushContext,
    ) -> Result<Authorized> {
        if source == target {
            return Err(RegistryError::Invalid(
                "source and target index are the same".into(),
            ));
        }
        let source_row = self.index(source)?;
        let policy = self.policy_of(target);
        let target_row = match &policy {
            Some(p) => {
                let row = self.index(target)?;
                if row.config.kind == IndexKind::Mirror {
                    return Err(RegistryError::Forbidden(format!(
                        "index {target} is a mirror: nothing is pushed into a mirror"
                    )));
                }
                if !p.accepts_push_from.contains(source) {
                    let from: Vec<String> = p
                        .accepts_push_from
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    return Err(RegistryError::Forbidden(format!(
                        "index {target} accepts pushes only from [{}] (policy at {}); {source} is not one of them",
                        from.join(", "),
                        p.defined_at,
                    )));
                }
                if !p.may_push(actor.principal(), source) {
                    return Err(RegistryError::Forbidden(format!(
                        "user {} may not push into {target} (push_users in the policy at {})",
                        actor.user, p.defined_at
                    )));
                }
                if ctx.pending_id.is_none() {
                    self.check_credentials(target, Action::Push, Some(actor))?;
                }
                row
            }
            None => self.writable_stage(Some(actor), target, "push to")?,
        };
        Ok(Authorized {
            source: source_row,
            target: target_row,
            policy,
        })
    }

    /// Stages 2–4 for one release: gather its files, verify their bytes,
    /// compare them with the target. The review comes later (a set push
    /// reviews once every member is known).
    pub(super) async fn prepare_release(
        self: &Arc<Self>,
        actor: &Identity,
        ctx: &PushContext,
        auth: &Authorized,
        project: &ProjectName,
        version: &str,
    ) -> Result<ReleasePlan> {
        let version = super::super::normalize_version(version)?;
        let label = format!("{project}=={version}");
        let mut candidates = self.gather(auth, project, &version, &label).await?;
        self.verify_bytes(auth, &label, &candidates).await?;
        // Every file is held to today's archive rules again (a file stored
        // before they tightened must not travel on), and entry points come
        // from the wheels themselves (re-opened, bounded).
        self.recheck_and_fill_entry_points(&mut candidates).await?;
        let compared = self
            .compare(actor, ctx, auth, project, &version, &mut candidates)
            .await?;
        let new_project = {
            let (tid, name) = (auth.target.id, project.as_str().to_string());
            self.store
                .db
                .read(move |c| releases::project(c, tid, &name))
                .await?
                .is_none()
        };
        let doc = if auth.source.config.kind == IndexKind::Stage {
            self.source_doczip(auth.source.id, project, &version)
                .await?
        } else {
            None
        };
        if let (Some((sha, _, _)), false) = (&doc, auth.target.config.volatile) {
            let (tid, name, v) = (
                auth.target.id,
                project.as_str().to_string(),
                version.clone(),
            );
            let current = self
                .store
                .db
                .read(move |c| crate::store::doczips::current(c, tid, &name, &v))
                .await?;
            if let Some(old) = current.filter(|old| old != sha) {
                return Err(RegistryError::Conflict(format!(
                    "{label} on the non-volatile index {} already has other documentation (doc \
                     zip sha256 {old}, pushing {sha}); documentation there never changes",
                    auth.target.path
                )));
            }
        }
        Ok(ReleasePlan {
            project: project.clone(),
            version,
            label,
            candidates,
            files: compared.files,
            target_version: compared.target_version,
            replaced: compared.replaced,
            new_project,
            review: Review::default(),
            review_text: String::new(),
            doc,
        })
    }

    /// Stage 2: the release's files on the source, as candidates.
    async fn gather(
        self: &Arc<Self>,
        auth: &Authorized,
        project: &ProjectName,
        version: &str,
        label: &str,
    ) -> Result<Vec<Candidate>> {
        let source = &auth.source;
        // Dependency confusion: a name that exists privately never comes
        // from a mirror.
        if source.config.kind == IndexKind::Mirror {
            if let Some(holder) = self.private_holder(project).await? {
                return Err(RegistryError::Forbidden(format!(
                    "{project} exists as a private project on {holder}: pushing it from the mirror {} \
                     would let a public package take over a private name (dependency confusion)",
                    source.path
                )));
            }
        }
        let candidates = match source.config.kind {
            IndexKind::Stage => self.stage_candidates(source, project, version).await?,
            IndexKind::Mirror => self.mirror_candidates(source, project, version).await?,
        };
        if candidates.is_empty() {
            return Err(RegistryError::NotFound(format!(
                "{label} has no files on {}",
                source.path
            )));
        }
        Ok(candidates)
    }

    /// Stage 3: re-hash every blob from disk; a file altered in the data
    /// folder is never propagated.
    async fn verify_bytes(
        self: &Arc<Self>,
        auth: &Authorized,
        label: &str,
        candidates: &[Candidate],
    ) -> Result<()> {
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
            tracing::error!(target: "security", source = %auth.source.path, release = %label, files = ?altered,
                "stored file does not match its digest; push refused");
            return Err(RegistryError::Conflict(format!(
                "the stored bytes of {} no longer match their recorded sha256: the data folder \
                 was altered; the push is refused and nothing was copied",
                altered.join(", ")
            )));
        }
        Ok(())
    }

    /// Stage 4: what each file does to the target (copy, unchanged,
    /// replace; a conflict on a non-volatile target is refused), with the
    /// push hop added to its provenance.
    /// A file takes the same slot as a target file of the equal (PEP 440)
    /// release when kind and tags agree, whatever the names.
    async fn compare(
        self: &Arc<Self>,
        actor: &Identity,
        ctx: &PushContext,
        auth: &Authorized,
        project: &ProjectName,
        version: &str,
        candidates: &mut [Candidate],
    ) -> Result<Compared> {
        let tid = auth.target.id;
        let slots: Vec<(String, Option<String>)> = candidates
            .iter()
            .map(|c| {
                let slot = dist::DistFilename::parse(&c.filename)
                    .map(|d| d.release_slot())
                    .ok();
                (c.filename.clone(), slot)
            })
            .collect();
        let pv: Option<pep440_rs::Version> = version.parse().ok();
        let project_name = project.as_str().to_string();
        let (target_version, existing): (Option<String>, Vec<Option<FileRow>>) = self
            .store
            .db
            .read(move |c| {
                let (stored, files) = match &pv {
                    Some(v) => releases::equal_release(c, tid, &project_name, v)?,
                    None => (None, Vec::new()),
                };
                let mut out = Vec::new();
                for (name, slot) in &slots {
                    let by_slot = slot.as_ref().and_then(|slot| {
                        super::super::upload::same_slot_files(files.clone(), slot)
                            .into_iter()
                            .next()
                    });
                    out.push(match by_slot {
                        Some(f) => Some(f),
                        None => releases::find_file(c, tid, name)?,
                    });
                }
                Ok((stored, out))
            })
            .await?;
        let mut files = Vec::new();
        // Same-slot files under another name that a volatile target replaces.
        let replaced: Vec<FileRow> = candidates
            .iter()
            .zip(&existing)
            .filter_map(|(c, old)| {
                old.as_ref()
                    .filter(|o| o.filename != c.filename && o.sha256 != c.sha256)
            })
            .cloned()
            .collect();
        for (cand, old) in candidates.iter_mut().zip(&existing) {
            let hop = json!({
                "op": "push", "from": auth.source.path.to_string(), "to": auth.target.path.to_string(),
                "by": actor.user, "cert": actor.cert_fingerprint, "at": crate::store::now(),
                "approved_by": ctx.approvals,
            });
            if let Value::Array(list) = &mut cand.provenance {
                list.push(hop);
            }
            let action = match old {
                None => "copy",
                Some(o) if o.sha256 == cand.sha256 => "unchanged",
                Some(o) if !auth.target.config.volatile => {
                    return Err(RegistryError::Conflict(format!(
                        "{} already exists on the non-volatile index {} as {} with different \
                         content (sha256 {}, pushing {}): release files there never change",
                        cand.filename, auth.target.path, o.filename, o.sha256, cand.sha256
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
        Ok(Compared {
            files,
            target_version,
            replaced,
        })
    }

    /// Stage 5: the review of one release against the target's latest
    /// release of the project. `landing_with` are the other releases of a
    /// set push (they count as present in the target). A project new to
    /// the target passes the typosquat gate first (block mode refuses).
    pub(super) async fn review_release(
        self: &Arc<Self>,
        auth: &Authorized,
        view: &TargetView,
        plan: &mut ReleasePlan,
        landing_with: &[(ProjectName, String)],
    ) -> Result<()> {
        let target = &auth.target.path;
        if plan.new_project {
            self.typo_gate(target, &plan.project, "push").await?;
        }
        let verdict = self
            .typo_verdict(Some(target), plan.project.as_str())
            .await?;
        let candidates = &plan.candidates;
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
        let previous = self
            .target_state(auth.target.id, &plan.project, &plan.version)
            .await?;

        // Which dependencies the target will be able to install.
        let envs = crate::pipeline::deps::TargetEnvironments::new(
            &auth
                .policy
                .as_ref()
                .map(|p| p.environments.clone())
                .unwrap_or_default(),
        )
        .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let needed = crate::pipeline::deps::needed(&plan.requires_dist(), &envs);
        let all_names: Vec<String> = {
            let mut n: Vec<String> = needed.iter().map(|d| d.name.to_string()).collect();
            for line in plan.requires_dist() {
                if let Ok(r) = line.parse::<pep508_rs::Requirement>() {
                    if let Ok(p) = ProjectName::new(r.name.as_ref()) {
                        n.push(p.to_string());
                    }
                }
            }
            n.sort();
            n.dedup();
            n
        };
        let mut visible = view.versions(self, all_names).await?;
        if let Some(v) = visible.as_mut() {
            for (name, version) in landing_with {
                v.entry(name.to_string()).or_default().push(version.clone());
            }
        }
        let present: HashSet<String> = match &visible {
            None => HashSet::new(),
            Some(v) => v
                .iter()
                .filter(|(_, versions)| !versions.is_empty())
                .map(|(n, _)| n.clone())
                .collect(),
        };
        let mut review = crate::pipeline::review(&snapshot, previous.as_ref(), |n| {
            visible.is_none() || present.contains(n.as_str())
        });
        if let Some(v) = &visible {
            review.missing_dependencies = needed
                .iter()
                .filter(|d| {
                    d.url
                        || !crate::pipeline::deps::satisfied(
                            v.get(d.name.as_str()).map_or(&[][..], |x| &x[..]),
                            d,
                        )
                })
                .map(|d| format!("{} {}", d.name, d.specifiers).trim().to_string())
                .collect();
        }
        review.typosquat = TyposquatCheck::from(&verdict);
        review.shadowing = self.shadowing(auth, &plan.project).await?;
        review.tests = tests_check(
            candidates,
            auth.policy
                .as_ref()
                .map(|p| &p.require.tests_passed_by[..])
                .unwrap_or(&[]),
            &auth.source.config.acl_toxresult_upload,
        );
        for c in candidates {
            if c.provenance[0]["verified"] == "trust-on-first-use" {
                review.notes.push(format!(
                    "{} comes from a mirror that lists it without a sha256: its bytes are the \
                     ones first downloaded, pinned by digest (trust on first use), not verified \
                     against upstream",
                    c.filename
                ));
            }
        }
        review.doc_zip = plan
            .doc
            .as_ref()
            .map(|(sha, size, by)| crate::pipeline::ReviewedDocZip {
                sha256: sha.to_hex(),
                size: *size,
                uploader: by.clone(),
            });
        plan.review_text = crate::pipeline::render_text(&review);
        plan.review = review;
        Ok(())
    }

    /// Stage 7: every file of every plan in one transaction, with the audit
    /// entry of each release; `record` marks a push that lands without
    /// having been pending (listed by `airlock pushes --status landed`).
    pub(super) async fn land(
        self: &Arc<Self>,
        actor: &Identity,
        auth: &Authorized,
        plans: Vec<(ReleasePlan, crate::audit::NewEntry, bool)>,
        claim: Option<super::PendingClaim>,
    ) -> Result<()> {
        let (tid, sid) = (auth.target.id, auth.source.id);
        let uploader = actor.user.clone();
        let cert = actor.cert_fingerprint.clone();
        let (src, tgt) = (auth.source.path.to_string(), auth.target.path.to_string());
        let new_project = plans.iter().any(|(p, _, _)| p.new_project);
        let blobs = Arc::clone(&self.store.blobs);
        let orphans = self
            .store
            .db
            .write(move |tx| {
                // Under the write lock, which mirror cache retention takes to
                // evict: a mirror blob evicted since it was gathered must not
                // become a file row without its bytes.
                for (plan, _, _) in &plans {
                    for (c, f) in plan.candidates.iter().zip(&plan.files) {
                        let shas = std::iter::once(&c.sha256).chain(c.metadata_sha256.as_ref());
                        for sha in shas.filter(|_| f.action != "unchanged") {
                            if !blobs.exists(sha) {
                                return Err(StoreError::Internal(format!(
                                    "{} ({sha}) was evicted from the mirror cache while the push \
                                     ran; nothing was pushed, push again",
                                    c.filename
                                )));
                            }
                        }
                    }
                }
                // an approval lands it only if the pending push is as it was
                if let Some(c) = &claim {
                    crate::store::pending::claim(tx, c.id, &c.expected, &c.approvals, true)?;
                    crate::audit::append(tx, c.entry.clone())?;
                }
                let mut orphans = Vec::new();
                for (plan, entry, record) in &plans {
                    crate::audit::append(tx, entry.clone())?;
                    if *record {
                        let review = serde_json::to_string(&plan.review).unwrap_or_default();
                        crate::store::pending::record_landed(
                            tx,
                            &src,
                            &tgt,
                            plan.project.as_str(),
                            &plan.version,
                            &uploader,
                            cert.as_deref(),
                            &review,
                        )?;
                    }
                    orphans.extend(land_release(tx, tid, sid, &uploader, plan)?);
                }
                Ok(orphans)
            })
            .await?;
        self.collect_garbage(orphans).await;
        if new_project {
            self.typo_sync_names().await;
        }
        Ok(())
    }

    /// The archive limits for a file being pushed: the upload limits, but a
    /// large file from upstream (a 2 GB GPU wheel) may expand to 4 times its
    /// size even past the expanded-size cap; the ratio rule still applies.
    fn push_limits(&self, size: u64) -> dist::Limits {
        let mut limits = self.settings.inspect_limits.clone();
        limits.max_decompressed = limits.max_decompressed.max(size.saturating_mul(4));
        limits
    }

    async fn recheck_and_fill_entry_points(
        self: &Arc<Self>,
        candidates: &mut [Candidate],
    ) -> Result<()> {
        for c in candidates.iter_mut().filter(|c| !c.inspected) {
            let copy = self.blob_file(c.sha256).await?;
            let name = c.filename.clone();
            let limits = self.push_limits(c.size);
            let inspected = tokio::task::spawn_blocking(move || {
                dist::inspect_with_limits(copy.path(), &name, &limits)
            })
            .await
            .map_err(blocking_failed)?
            .map_err(|e| {
                RegistryError::Invalid(format!(
                    "{} fails the archive checks and is not pushed: {e}",
                    c.filename
                ))
            })?;
            if c.kind == "wheel" && c.entry_points.is_none() {
                c.entry_points = inspected.entry_points;
            }
        }
        Ok(())
    }

    /// The target's latest other release of `project` (for the review's
    /// diff) and the names of the projects it holds.
    async fn target_state(
        self: &Arc<Self>,
        target_id: i64,
        project: &ProjectName,
        version: &str,
    ) -> Result<Option<ReleaseSnapshot>> {
        let (name, v) = (project.as_str().to_string(), version.to_string());
        let latest = self
            .store
            .db
            .read(move |c| {
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
                Ok(latest)
            })
            .await?;
        let mut snapshot = None;
        if let Some((rel, files)) = latest {
            let mut snap_files = Vec::new();
            for f in &files {
                let mut entry_points = None;
                if f.kind == "wheel" {
                    let n = f.filename.clone();
                    let limits = self.settings.inspect_limits.clone();
                    if let Ok(copy) = self.blob_file(f.sha256).await {
                        if let Ok(Ok(d)) = tokio::task::spawn_blocking(move || {
                            dist::inspect_with_limits(copy.path(), &n, &limits)
                        })
                        .await
                        {
                            entry_points = d.entry_points;
                        }
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
        Ok(snapshot)
    }

    /// Does the name exist in another index the target sees (its bases:
    /// stage indexes holding it, mirrors with it cached)? The mirror the
    /// release is pushed from does not count: the release *is* its copy.
    async fn shadowing(
        self: &Arc<Self>,
        auth: &Authorized,
        project: &ProjectName,
    ) -> Result<ShadowingCheck> {
        let from_mirror = (auth.source.config.kind == IndexKind::Mirror).then_some(auth.source.id);
        let chain: Vec<(IndexPath, i64, bool)> = self
            .resolution_order(&auth.target.path)?
            .into_iter()
            .skip(1)
            .filter(|r| Some(r.id) != from_mirror)
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
        let (files, release, tox, description) = self
            .store
            .db
            .read(move |c| {
                let files = releases::files_of_release(c, id, &name, &v)?;
                let rel = releases::releases(c, id, &name)?
                    .into_iter()
                    .find(|r| r.version == v);
                let ids: Vec<i64> = files.iter().map(|f| f.id).collect();
                let tox = crate::store::toxresults::for_files(c, &ids)?;
                let description = descriptions::of_release(c, id, &name, &v)?;
                Ok((files, rel, tox, description))
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
                description: description.clone(),
                search_description: None,
                display_name: f.display_name,
                published: Some(f.created),
                entry_points: None,
                inspected: false,
                toxresults: tox
                    .iter()
                    .filter(|t| t.file_id == f.id)
                    .map(|t| CarriedResult {
                        sha256: t.sha256,
                        summary: t.summary.clone(),
                        uploader: t.uploader.clone(),
                        uploader_cert: t.uploader_cert.clone(),
                    })
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
            let copy = self.blob_file(sha).await?;
            let size = std::fs::metadata(copy.path()).map(|m| m.len()).unwrap_or(0);
            let fname = filename.clone();
            let limits = self.push_limits(size);
            let (inspected, description) = tokio::task::spawn_blocking(move || {
                let inspected = dist::inspect_with_limits(copy.path(), &fname, &limits)?;
                // a mirror's release is rendered as it lands, like an upload
                let description = crate::registry::descriptions::of_metadata(&inspected.metadata);
                Ok::<_, dist::DistError>((inspected, description))
            })
            .await
            .map_err(blocking_failed)?
            .map_err(|e| RegistryError::Invalid(format!("{filename}: {e}")))?;
            let store = Arc::clone(self);
            let meta_bytes = inspected.metadata_bytes.clone();
            let (meta_sha, _) =
                tokio::task::spawn_blocking(move || store.store.blobs.put_bytes(&meta_bytes))
                    .await
                    .map_err(blocking_failed)??;
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
                release_metadata: crate::registry::upload::release_metadata_json(
                    &inspected.metadata,
                )
                .to_string(),
                description,
                search_description: inspected.metadata.description.clone(),
                display_name: inspected.metadata.name.clone(),
                published: upload_time,
                entry_points: inspected.entry_points.clone(),
                toxresults: Vec::new(),
                inspected: true,
            });
        }
        Ok(out)
    }
}

/// Does a result posted by `uploader` (with client certificate `cert`)
/// count for `tests_passed`? Only an authenticated poster ever does: one
/// `trusted_by` names (by user or `cert:FINGERPRINT`), or, when the policy
/// names nobody, anyone with toxresult rights on the source index.
fn trusted_poster(
    uploader: Option<&str>,
    cert: Option<&str>,
    trusted_by: &[String],
    source_acl: &[String],
) -> bool {
    let Some(user) = uploader else {
        return false;
    };
    if trusted_by.is_empty() {
        // a poster's groups are not recorded with the result: only a
        // user named in the ACL (or :AUTHENTICATED:) counts here
        return crate::index::acl_allows(source_acl, crate::index::config::Principal::user(user));
    }
    trusted_by
        .iter()
        .any(|who| match who.strip_prefix("cert:") {
            Some(fp) => cert.is_some_and(|c| c.eq_ignore_ascii_case(fp)),
            None => who == user,
        })
}

/// The review's test status from the results attached to the files: every
/// run with who posted it and whether that poster is trusted; passed when
/// at least one trusted run passed (every test environment green).
fn tests_check(
    candidates: &[Candidate],
    trusted_by: &[String],
    source_acl: &[String],
) -> TestsCheck {
    let mut runs = Vec::new();
    let mut envs_text = Vec::new();
    for c in candidates {
        for r in &c.toxresults {
            let Ok(envs) =
                serde_json::from_str::<Vec<crate::dist::toxresult::EnvSummary>>(&r.summary)
            else {
                continue;
            };
            let passed = crate::dist::toxresult::run_passed(&envs);
            let trusted = trusted_poster(
                r.uploader.as_deref(),
                r.uploader_cert.as_deref(),
                trusted_by,
                source_acl,
            );
            if trusted {
                envs_text.extend(envs.iter().filter(|e| !e.is_packaging()).map(|e| {
                    format!(
                        "{} {} ({} on {})",
                        e.env,
                        if e.passed() { "passed" } else { "failed" },
                        e.python.as_deref().unwrap_or("?"),
                        e.platform
                    )
                }));
            }
            runs.push(crate::pipeline::TestRun {
                file: c.filename.clone(),
                posted_by: r.uploader.clone(),
                cert: r.uploader_cert.clone(),
                passed,
                trusted,
            });
        }
    }
    if runs.is_empty() {
        return TestsCheck::default();
    }
    let trusted: Vec<&crate::pipeline::TestRun> = runs.iter().filter(|r| r.trusted).collect();
    let passed_runs = trusted.iter().filter(|r| r.passed).count();
    let summary = if trusted.is_empty() {
        format!(
            "{} recorded test run(s), none posted by a trusted identity",
            runs.len()
        )
    } else {
        format!(
            "{passed_runs} of {} trusted test run(s) passed ({} recorded in all): {}",
            trusted.len(),
            runs.len(),
            envs_text.join(", ")
        )
    };
    TestsCheck {
        checked: true,
        passed: passed_runs > 0,
        trusted_runs: trusted.len(),
        summary: Some(summary),
        runs,
    }
}

/// The audit entry of a push (landed, pending or refused): who, what, the
/// files with their digests, the decision and the approvals.
pub(super) fn push_entry(
    actor: &Identity,
    remote: Option<crate::registry::Origin>,
    action: crate::audit::Action,
    outcome: &PushOutcome,
    approvals: &[String],
) -> crate::audit::NewEntry {
    let files: Vec<Value> = outcome
        .files
        .iter()
        .map(|f| json!({"filename": f.filename, "sha256": f.sha256, "action": f.action}))
        .collect();
    crate::registry::Actor::new(Some(actor.clone()), remote)
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
            "tests": outcome.review.get("tests"),
            "doc_zip": outcome.review.get("doc_zip"),
        }))
}

/// The rows of one release in the target (inside the landing transaction):
/// its files with their provenance, their test results, its documentation.
/// The release's search text (description, documentation) goes with it
/// too: read from upstream's metadata, or carried from the source's row.
/// Returns blobs no longer referenced.
fn land_release(
    tx: &crate::store::sql::Conn<'_>,
    tid: i64,
    sid: i64,
    uploader: &str,
    plan: &ReleasePlan,
) -> std::result::Result<Vec<Sha256>, StoreError> {
    let project = plan.project.as_str();
    // equal versions (1.0, 1.0.0) land in the target's existing release
    let version = plan.target_version.as_deref().unwrap_or(&plan.version);
    let mut orphans = Vec::new();
    for old in &plan.replaced {
        orphans.extend(releases::remove_replaced_file(tx, old)?);
    }
    for (c, f) in plan.candidates.iter().zip(&plan.files) {
        if f.action == "unchanged" {
            continue;
        }
        let prov = c.provenance.to_string();
        if let Some(d) = &c.description {
            descriptions::put(tx, d)?;
        }
        orphans.extend(releases::insert_file(
            tx,
            &NewFile {
                index_id: tid,
                project,
                display_name: &c.display_name,
                version,
                release_metadata: &c.release_metadata,
                description_key: c.description.as_ref().map(|d| d.key.as_str()),
                filename: &c.filename,
                kind: c.kind,
                sha256: &c.sha256,
                size: c.size,
                requires_python: c.requires_python.as_deref(),
                metadata_sha256: c.metadata_sha256.as_ref(),
                uploader,
                provenance: &prov,
            },
        )?);
        // test results travel with their file
        if let Some(new) = releases::find_file(tx, tid, &c.filename)? {
            for r in &c.toxresults {
                crate::store::toxresults::insert(
                    tx,
                    new.id,
                    &r.sha256,
                    &r.summary,
                    r.uploader.as_deref(),
                    r.uploader_cert.as_deref(),
                )?;
            }
        }
    }
    // ... and the documentation with its release
    if let Some((sha, size, by)) = &plan.doc {
        // the release files above created the project and release
        let new_doc = crate::store::doczips::NewDocZip {
            index_id: tid,
            project,
            display_name: project,
            version,
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
    let carried = search_table::carried_text(tx, sid, project, &plan.version)?.unwrap_or_default();
    let description = plan
        .candidates
        .iter()
        .find_map(|c| c.search_description.as_deref())
        .map(|d| text::bounded(d, text::MAX_DESCRIPTION_BYTES))
        .unwrap_or(carried.description);
    search_table::set_description(tx, tid, project, version, &description)?;
    if plan.doc.is_some() {
        search_table::set_docs(tx, tid, project, version, &carried.docs)?;
    }
    Ok(orphans)
}

/// What [`Registry::compare`] found.
struct Compared {
    files: Vec<PushedFile>,
    target_version: Option<String>,
    replaced: Vec<FileRow>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with_metadata(metadata: &str) -> ReleasePlan {
        ReleasePlan {
            project: ProjectName::new("demo").unwrap(),
            version: "1.0".into(),
            label: "demo==1.0".into(),
            candidates: vec![Candidate {
                filename: "demo-1.0-py3-none-any.whl".into(),
                kind: "wheel",
                sha256: Sha256::of(b"x"),
                size: 1,
                requires_python: None,
                metadata_sha256: None,
                provenance: json!([]),
                release_metadata: metadata.into(),
                description: None,
                search_description: None,
                display_name: "demo".into(),
                published: None,
                entry_points: None,
                toxresults: Vec::new(),
                inspected: false,
            }],
            files: Vec::new(),
            target_version: None,
            replaced: Vec::new(),
            new_project: true,
            review: Review::default(),
            review_text: String::new(),
            doc: None,
        }
    }

    #[test]
    fn requires_dist_is_read_from_the_release_metadata() {
        let plan = plan_with_metadata(r#"{"requires_dist": ["idna>=2", "certifi"]}"#);
        assert_eq!(plan.requires_dist(), ["idna>=2", "certifi"]);
        assert!(plan_with_metadata("not json").requires_dist().is_empty());
    }

    #[test]
    fn without_a_policy_a_push_lands_and_with_one_the_require_checks_decide() {
        let review = Review {
            missing_dependencies: vec!["idna >=2".into()],
            ..Review::default()
        };
        assert_eq!(decide(None, &review, 0, 0), Decision::Land);
        let text = r#"
[index."a/prod"]
type = "stage"
[index."a/prod".require]
dependencies_present = true
"#;
        let policies = crate::policy::Policies::parse_str("t.toml", text).unwrap();
        let p = policies
            .index_policy(&IndexPath::parse("a/prod").unwrap())
            .unwrap();
        match decide(Some(p), &review, 0, 0) {
            Decision::Refuse { reasons } => assert!(reasons[0].contains("idna >=2"), "{reasons:?}"),
            other => panic!("{other:?}"),
        }
    }
}
