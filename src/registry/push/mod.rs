//! Verbatim pushes: copy every file of a release from a source index (a
//! stage index or a mirror) into a target stage index, byte for byte.
//!
//! Nothing is re-uploaded or rebuilt: the target gets references to the
//! same content-addressed blobs, after each blob has been re-hashed from
//! disk and found equal to its recorded sha256. Every file carries its
//! provenance (the hops that brought it here). All files land in one
//! transaction or none do.
//!
//! A push is a plan of named stages ([`stages`]), the same for one release
//! and for a release with its dependencies ([`set`]):
//!
//! 1. **authorize** — the target's policy: accepts_push_from, push_users,
//!    credentials;
//! 2. **gather** the candidate files (a stage's own files, or a mirror's,
//!    downloaded and verified against upstream);
//! 3. **verify bytes** — every blob re-hashed from disk;
//! 4. **compare** with the target (copy / unchanged / replace, conflicts);
//! 5. **review** — the diff against the target's latest release, typosquat,
//!    shadowing, tests, missing dependencies;
//! 6. **decide** — the policy's `require` checks: land, pending or refuse;
//! 7. **land** — every file of every release in one transaction, with its
//!    provenance and an audit entry per release.

mod set;
mod stages;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::{Registry, RegistryError, Result};
use crate::auth::Identity;
use crate::names::{IndexPath, ProjectName};
use crate::pipeline::Decision;
use crate::store::pending;

pub use set::{PushSetOutcome, PushSetRequest};
use stages::{decide, push_entry, TargetView};

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
    /// A dry run: the last provenance hop is what *would* be recorded.
    pub dry_run: bool,
}

/// Where a push run comes from: a person pushing, or an approval of a
/// pending push (which re-runs every check with the approvals counted).
#[derive(Debug, Clone, Default)]
pub struct PushContext {
    pub approvals: Vec<String>,
    pub pending_id: Option<i64>,
    /// The peer address of the request behind this push, for its audit
    /// entries (none when an approval lands a pending push).
    pub remote: Option<crate::registry::Origin>,
    /// An approval landing a pending push: recorded in the landing's own
    /// transaction, only if the pending push did not change meanwhile.
    pub claim: Option<PendingClaim>,
}

/// The approval that lands a pending push (see [`crate::store::pending::claim`]).
#[derive(Debug, Clone)]
pub struct PendingClaim {
    pub id: i64,
    /// The approvals as read before the push ran (JSON text, as stored).
    pub expected: String,
    /// With this approval (JSON text).
    pub approvals: String,
    /// The approval's audit entry.
    pub entry: crate::audit::NewEntry,
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
        if !req.dry_run {
            crate::metrics::count_push(match &result {
                Ok(o) if o.pending_id.is_some() => crate::metrics::Outcome::Pending,
                Ok(_) => crate::metrics::Outcome::Accepted,
                Err(_) => crate::metrics::Outcome::Refused,
            });
        }
        if let Err(e) = &result {
            self.audit_refusal(
                actor,
                &req.source,
                &req.target,
                &req.project,
                &req.version,
                e,
            )
            .await;
        }
        result
    }

    /// The audit entry of a push refused before the policy decided.
    async fn audit_refusal(
        self: &Arc<Self>,
        actor: &super::Actor,
        source: &IndexPath,
        target: &IndexPath,
        project: &ProjectName,
        version: &str,
        e: &RegistryError,
    ) {
        if matches!(
            e,
            RegistryError::TypoBlocked(_) | RegistryError::PolicyRefused(_)
        ) {
            return;
        }
        let entry = actor
            .entry(
                crate::audit::Action::BlockedPush,
                format!("{target}/{project}/{version}"),
            )
            .details(json!({
                "source": source.to_string(),
                "target": target.to_string(),
                "project": project.to_string(),
                "version": version,
                "reason": e.to_string(),
            }));
        self.audit_alone(entry).await;
    }

    /// One release: authorize → gather → verify → compare → review → decide
    /// → land (or record as pending, or refuse).
    pub async fn push_with(
        self: &Arc<Self>,
        actor: &Identity,
        req: PushRequest,
        ctx: PushContext,
    ) -> Result<PushOutcome> {
        let auth = self.authorize(actor, &req.source, &req.target, &ctx)?;
        let mut plan = self
            .prepare_release(actor, &ctx, &auth, &req.project, &req.version)
            .await?;
        let view = TargetView::of(self, &auth)?;
        self.review_release(&auth, &view, &mut plan, &[]).await?;
        let decision = decide(
            auth.policy.as_ref(),
            &plan.review,
            ctx.approvals.len(),
            crate::store::now(),
        );
        let mut outcome = plan.outcome(&auth, decision.clone(), ctx.pending_id, req.dry_run);
        if req.dry_run {
            return Ok(outcome);
        }
        let label = plan.label.clone();
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
                        plan.version.clone(),
                        actor.user.clone(),
                    );
                    let cert = actor.cert_fingerprint.clone();
                    let groups = actor.groups.clone();
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
                            pending::create(
                                tx,
                                &src,
                                &tgt,
                                &prj,
                                &ver,
                                &usr,
                                cert.as_deref(),
                                &groups,
                                &rv,
                            )
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
        let entry = push_entry(
            actor,
            ctx.remote,
            crate::audit::Action::Push,
            &outcome,
            &ctx.approvals,
        );
        let record = ctx.pending_id.is_none();
        self.land(actor, &auth, vec![(plan, entry, record)], ctx.claim.clone())
            .await?;
        outcome.landed = true;
        tracing::info!(source = %req.source, target = %req.target, release = %label, by = %actor.user,
            files = outcome.files.len(), "push landed");
        Ok(outcome)
    }
}
