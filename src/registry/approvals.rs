//! Pending pushes: listing, approving (by someone other than the pusher)
//! and rejecting. An approval re-runs the whole push with the approvals
//! counted: every check is made again against the state at that moment.

use std::sync::Arc;

use serde_json::{json, Value};

use super::push::{PendingClaim, PushContext, PushOutcome, PushRequest};
use super::{Registry, RegistryError, Result};
use crate::auth::{AuthMethod, Identity};
use crate::names::{IndexPath, ProjectName};
use crate::policy::Action;
use crate::store::pending::{self, PendingRow};

fn row_json(r: &PendingRow) -> Value {
    json!({
        "id": r.id, "created": r.created, "source": r.source, "target": r.target,
        "project": r.project, "version": r.version, "pusher": r.pusher,
        "status": r.status,
        "approvals": serde_json::from_str::<Value>(&r.approvals).unwrap_or(json!([])),
        "decided": r.decided, "reason": r.reason,
        "review": serde_json::from_str::<Value>(&r.review).unwrap_or(Value::Null),
    })
}

/// Longest approval comment or rejection reason kept.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The states a recorded push can be in.
pub const PUSH_STATUSES: &[&str] = &["pending", "landed", "rejected", "failed"];

impl Registry {
    pub async fn pending_pushes_json(
        self: &Arc<Self>,
        actor: Option<&Identity>,
        status: Option<String>,
    ) -> Result<Value> {
        if actor.is_none() {
            return Err(RegistryError::Unauthenticated(
                "log in to see pushes".into(),
            ));
        }
        let status = match status.as_deref() {
            None | Some("all") => None,
            Some(s) if PUSH_STATUSES.contains(&s) => Some(s.to_string()),
            Some(other) => {
                return Err(RegistryError::Invalid(format!(
                    "unknown push status {other:?}: use one of {}, or all",
                    PUSH_STATUSES.join(", ")
                )))
            }
        };
        let rows = self
            .store
            .db
            .read(move |c| pending::list(c, status.as_deref()))
            .await?;
        Ok(Value::Array(rows.iter().map(row_json).collect()))
    }

    async fn open_pending(self: &Arc<Self>, id: i64) -> Result<PendingRow> {
        let row = self
            .store
            .db
            .read(move |c| pending::get(c, id))
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("there is no push #{id}")))?;
        if row.status != "pending" {
            return Err(RegistryError::Conflict(format!(
                "push #{id} is not pending: it was {}",
                row.status
            )));
        }
        Ok(row)
    }

    /// May `actor` decide on pushes into `target`?
    fn check_approver(&self, actor: &Identity, row: &PendingRow, target: &IndexPath) -> Result<()> {
        if actor.user == row.pusher {
            return Err(RegistryError::Forbidden(format!(
                "{} pushed #{} and cannot approve or reject it: another approver must",
                actor.user, row.id
            )));
        }
        let policy = self.policy_of(target).ok_or_else(|| {
            RegistryError::Forbidden(format!("index {target} has no policy naming approvers"))
        })?;
        if !policy.may_approve(actor.principal()) {
            return Err(RegistryError::Forbidden(format!(
                "user {} may not approve pushes into {target} (approve_users in the policy at {})",
                actor.user, policy.defined_at
            )));
        }
        self.check_credentials(target, Action::Approve, Some(actor))
    }

    /// [`check_approver`], with a refusal (self-approval, not an
    /// approver, missing credentials) recorded in the audit log.
    async fn audited_approver_check(
        self: &Arc<Self>,
        actor: &super::Actor,
        row: &PendingRow,
        target: &IndexPath,
        what: &str,
    ) -> Result<Identity> {
        let check = match actor.identity() {
            Some(who) => self.check_approver(who, row, target).map(|()| who.clone()),
            None => Err(RegistryError::Unauthenticated(format!(
                "log in to {what} push #{}",
                row.id
            ))),
        };
        if let Err(e) = &check {
            let entry = actor
                .entry(
                    crate::audit::Action::SecurityEvent,
                    format!("{}/{}/{}", row.target, row.project, row.version),
                )
                .details(json!({"event": format!("{what}_refused"), "pending_id": row.id, "reason": e.to_string()}));
            self.audit_alone(entry).await;
        }
        check
    }

    /// Approve push `id`, with an optional comment for the record. Lands
    /// it when the policy's approvals are reached.
    pub async fn approve_push(
        self: &Arc<Self>,
        by: &super::Actor,
        id: i64,
        comment: Option<&str>,
    ) -> Result<PushOutcome> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
            return Err(RegistryError::Invalid(format!(
                "keep the approval comment under {MAX_COMMENT_CHARS} characters"
            )));
        }
        let row = self.open_pending(id).await?;
        let target =
            IndexPath::parse(&row.target).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let actor = &self
            .audited_approver_check(by, &row, &target, "approve")
            .await?;
        let mut approvals: Vec<String> = serde_json::from_str(&row.approvals).unwrap_or_default();
        if approvals.contains(&actor.user) {
            return Err(RegistryError::Conflict(format!(
                "{} already approved push #{id}",
                actor.user
            )));
        }
        approvals.push(actor.user.clone());
        let req = PushRequest {
            source: IndexPath::parse(&row.source)
                .map_err(|e| RegistryError::Invalid(e.to_string()))?,
            target,
            project: ProjectName::new(&row.project)?,
            version: row.version.clone(),
            dry_run: false,
        };
        let pusher = Identity {
            user: row.pusher.clone(),
            method: AuthMethod::Password,
            cert_fingerprint: row.pusher_cert.clone(),
            // the groups the proxy gave the pusher then: push_users may name them
            groups: row.pusher_groups.clone(),
        };
        let list = serde_json::to_string(&approvals).unwrap_or_else(|_| "[]".into());
        let entry = |landed: bool| {
            by.entry(
                crate::audit::Action::Approve,
                format!("{}/{}/{}", row.target, row.project, row.version),
            )
            .details(
                json!({"pending_id": id, "approvals": approvals, "landed": landed,
                            "pusher": row.pusher, "comment": comment}),
            )
        };
        // Every record of this approval is a compare-and-set on the pending
        // push as read above: when the push lands, inside its landing
        // transaction; otherwise in the one below. Of two approvers racing
        // (on one node or several), the second gets a 409.
        let ctx = PushContext {
            approvals: approvals.clone(),
            pending_id: Some(id),
            remote: None,
            claim: Some(PendingClaim {
                id,
                expected: row.approvals.clone(),
                approvals: list.clone(),
                entry: entry(true),
            }),
        };
        match self.push_with(&pusher, req, ctx).await {
            Ok(outcome) => {
                let decided =
                    !matches!(outcome.decision, crate::pipeline::Decision::Pending { .. });
                if !outcome.landed {
                    // not landed by this run: waiting for more approvals, or
                    // nothing to copy (the files are there already)
                    let (expected, record) = (row.approvals.clone(), entry(decided));
                    self.store
                        .db
                        .write(move |tx| {
                            pending::claim(tx, id, &expected, &list, decided)?;
                            crate::audit::append(tx, record)?;
                            Ok(())
                        })
                        .await?;
                }
                tracing::info!(id, by = %actor.user, landed = decided, "push approved");
                crate::metrics::count_approval(crate::metrics::Outcome::Accepted);
                Ok(outcome)
            }
            // changed meanwhile: nothing recorded, the push stays as it is
            Err(e @ RegistryError::Store(crate::store::StoreError::Conflict(_))) => {
                crate::metrics::count_approval(crate::metrics::Outcome::Refused);
                Err(e)
            }
            Err(e) => {
                crate::metrics::count_approval(crate::metrics::Outcome::Refused);
                let reason = e.to_string();
                self.store
                    .db
                    .write(move |tx| pending::decide(tx, id, "failed", Some(&reason)))
                    .await?;
                Err(e)
            }
        }
    }

    pub async fn reject_push(
        self: &Arc<Self>,
        by: &super::Actor,
        id: i64,
        reason: &str,
    ) -> Result<Value> {
        let row = self.open_pending(id).await?;
        let target =
            IndexPath::parse(&row.target).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let actor = &self
            .audited_approver_check(by, &row, &target, "reject")
            .await?;
        if reason.trim().is_empty() {
            return Err(RegistryError::Invalid(
                "give a reason for the rejection".into(),
            ));
        }
        if reason.trim().chars().count() > MAX_COMMENT_CHARS {
            return Err(RegistryError::Invalid(format!(
                "keep the reason under {MAX_COMMENT_CHARS} characters"
            )));
        }
        let why = format!("rejected by {}: {}", actor.user, reason.trim());
        let w = why.clone();
        let entry = by
            .entry(
                crate::audit::Action::Reject,
                format!("{}/{}/{}", row.target, row.project, row.version),
            )
            .details(json!({"pending_id": id, "reason": reason.trim(), "pusher": row.pusher}));
        self.store
            .db
            .write(move |tx| {
                crate::audit::append(tx, entry)?;
                pending::decide(tx, id, "rejected", Some(&w))
            })
            .await?;
        tracing::info!(id, by = %actor.user, reason, "push rejected");
        crate::metrics::count_approval(crate::metrics::Outcome::Rejected);
        Ok(json!({"id": id, "status": "rejected", "reason": why}))
    }
}
