//! A push with dependencies: the release and the closure of what it needs
//! in the target's environments (PEP 508 markers evaluated for the Python
//! versions and platforms the target's policy declares), taken from the
//! source index, reviewed one by one in a single answer, decided together
//! and landed in one transaction — all or nothing.
//!
//! Versions are chosen greedily: for each needed name, the highest version
//! on the source that satisfies what the releases chosen so far ask for; a
//! name the target can already satisfy is not pushed. A later requirement
//! that the chosen version does not meet is reported, not backtracked.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;

use super::stages::{decide, push_entry, ReleasePlan, TargetView};
use super::{PushContext, PushOutcome};
use crate::index::IndexKind;
use crate::names::{IndexPath, ProjectName};
use crate::pipeline::deps::{self, Needed, TargetEnvironments};
use crate::pipeline::Decision;
use crate::registry::{Actor, Registry, RegistryError, Result};

/// Most releases one push with dependencies may carry.
const MAX_SET: usize = 200;

/// A release to push with its dependencies.
#[derive(Debug, Clone)]
pub struct PushSetRequest {
    pub source: IndexPath,
    pub target: IndexPath,
    pub project: ProjectName,
    pub version: String,
    pub dry_run: bool,
}

/// The outcome of a push with dependencies (or of its dry run).
#[derive(Debug, Clone, Serialize)]
pub struct PushSetOutcome {
    pub source: String,
    pub target: String,
    /// The requested release first, then its dependencies in the order
    /// they were found; each with its own review and decision.
    pub releases: Vec<PushOutcome>,
    /// Dependencies the target already satisfies (`name spec: version`).
    pub already_present: Vec<String>,
    /// Dependencies that could not be included (not on the source, no
    /// fitting version, a URL reference, conflicting requirements).
    pub unmet: Vec<String>,
    /// The decision for the whole set.
    pub decision: Decision,
    pub landed: bool,
    pub dry_run: bool,
}

impl Registry {
    /// Push a release with its dependencies as `actor` (see the module).
    pub async fn push_set(
        self: &Arc<Self>,
        actor: &Actor,
        req: PushSetRequest,
    ) -> Result<PushSetOutcome> {
        let result = match actor.identity() {
            Some(who) => self.push_set_as(who, actor.remote, &req).await,
            None => Err(RegistryError::Unauthenticated(format!(
                "log in to push to {}",
                req.target
            ))),
        };
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

    async fn push_set_as(
        self: &Arc<Self>,
        who: &crate::auth::Identity,
        remote: Option<crate::registry::Origin>,
        req: &PushSetRequest,
    ) -> Result<PushSetOutcome> {
        let ctx = PushContext {
            remote,
            ..PushContext::default()
        };
        let auth = self.authorize(who, &req.source, &req.target, &ctx)?;
        let envs = TargetEnvironments::new(
            &auth
                .policy
                .as_ref()
                .map(|p| p.environments.clone())
                .unwrap_or_default(),
        )
        .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let view = TargetView::of(self, &auth)?;

        // Gather the closure, release by release.
        let mut plans: Vec<ReleasePlan> = Vec::new();
        let mut chosen: BTreeMap<String, String> = BTreeMap::new();
        let mut wanted: BTreeMap<String, Vec<(Needed, String)>> = BTreeMap::new();
        let mut already_present = Vec::new();
        let mut unmet = Vec::new();
        let mut queue = VecDeque::from([(req.project.clone(), req.version.clone())]);
        chosen.insert(req.project.to_string(), req.version.clone());
        while let Some((project, version)) = queue.pop_front() {
            if plans.len() >= MAX_SET {
                return Err(RegistryError::Invalid(format!(
                    "{}=={} needs more than {MAX_SET} releases: push it in parts",
                    req.project, req.version
                )));
            }
            let plan = self
                .prepare_release(who, &ctx, &auth, &project, &version)
                .await?;
            let by = plan.label.clone();
            for need in deps::needed(&plan.requires_dist(), &envs) {
                let name = need.name.to_string();
                let shown = format!("{name} {}", need.specifiers).trim().to_string();
                if need.url {
                    unmet.push(format!(
                        "{shown} (needed by {by}): a direct URL reference, not on any index"
                    ));
                    continue;
                }
                wanted
                    .entry(name.clone())
                    .or_default()
                    .push((need.clone(), by.clone()));
                if let Some(v) = chosen.get(&name) {
                    if !deps::satisfied(std::slice::from_ref(v), &need) {
                        unmet.push(format!(
                            "{shown} (needed by {by}) conflicts with {name}=={v} chosen for another release"
                        ));
                    }
                    continue;
                }
                // Held by the target (or a stage base) in a fitting version:
                // not pushed again. What a mirror base could fetch does not
                // count: the point is to bring the dependency along.
                let held = view.held(self, vec![name.clone()]).await?;
                if let Some(found) = held.get(&name) {
                    if deps::satisfied(found, &need) {
                        already_present
                            .push(format!("{shown} (needed by {by}): in {}", req.target));
                        continue;
                    }
                }
                let available = self.source_versions(&auth.source, &need.name).await?;
                let wants: Vec<&Needed> = wanted[&name].iter().map(|(n, _)| n).collect();
                match deps::best_version(&available, &wants) {
                    Some(v) => {
                        chosen.insert(name, v.to_string());
                        queue.push_back((need.name.clone(), v.to_string()));
                    }
                    None if available.is_empty() => {
                        unmet.push(format!("{shown} (needed by {by}): not on {}", req.source))
                    }
                    None => unmet.push(format!(
                        "{shown} (needed by {by}): no version on {} fits (it has {})",
                        req.source,
                        available.join(", ")
                    )),
                }
            }
            plans.push(plan);
        }

        // Review each release with the whole set counted as present.
        let members: Vec<(ProjectName, String)> = plans
            .iter()
            .map(|p| (p.project.clone(), p.version.clone()))
            .collect();
        for plan in &mut plans {
            self.review_release(&auth, &view, plan, &members).await?;
        }

        // Decide each, then the set.
        let now = crate::store::now();
        let mut reasons = Vec::new();
        let mut releases = Vec::new();
        for plan in &plans {
            let d = decide(auth.policy.as_ref(), &plan.review, 0, now);
            match &d {
                Decision::Refuse { reasons: r } => {
                    reasons.extend(r.iter().map(|x| format!("{}: {x}", plan.label)));
                }
                Decision::Pending { needed } => reasons.push(format!(
                    "{}: needs {needed} approval(s), and a push with dependencies cannot wait \
                     for approvals; push the releases one by one",
                    plan.label
                )),
                Decision::Land => {}
            }
            releases.push(plan.outcome(&auth, d, None, req.dry_run));
        }
        let requires_all = auth
            .policy
            .as_ref()
            .is_some_and(|p| p.require.dependencies_present);
        if requires_all && !unmet.is_empty() {
            reasons.push(format!(
                "this index requires every dependency to be installable from it; unmet: {}",
                unmet.join("; ")
            ));
        }
        let decision = if reasons.is_empty() {
            Decision::Land
        } else {
            Decision::Refuse { reasons }
        };
        let mut outcome = PushSetOutcome {
            source: req.source.to_string(),
            target: req.target.to_string(),
            releases,
            already_present,
            unmet,
            decision: decision.clone(),
            landed: false,
            dry_run: req.dry_run,
        };
        if req.dry_run {
            return Ok(outcome);
        }
        if let Decision::Refuse { reasons } = &decision {
            for r in &outcome.releases {
                let entry = push_entry(who, remote, crate::audit::Action::BlockedPush, r, &[]);
                self.audit_alone(entry).await;
            }
            tracing::warn!(source = %req.source, target = %req.target, release = %format!("{}=={}", req.project, req.version),
                by = %who.user, ?reasons, "push with dependencies refused by policy");
            return Err(RegistryError::PolicyRefused(format!(
                "push of {}=={} with its dependencies into {} refused by policy: {}",
                req.project,
                req.version,
                req.target,
                reasons.join("; ")
            )));
        }

        // Land every release that changes something, in one transaction.
        let mut landing = Vec::new();
        for (plan, out) in plans.into_iter().zip(&outcome.releases) {
            if out.files.iter().all(|f| f.action == "unchanged") {
                continue;
            }
            let entry = push_entry(who, remote, crate::audit::Action::Push, out, &[]);
            landing.push((plan, entry, true));
        }
        let count = landing.len();
        if count > 0 {
            self.land(who, &auth, landing, None).await?;
        }
        for r in &mut outcome.releases {
            r.landed = !r.files.iter().all(|f| f.action == "unchanged");
        }
        outcome.landed = true;
        tracing::info!(source = %req.source, target = %req.target, release = %format!("{}=={}", req.project, req.version),
            by = %who.user, releases = count, "push with dependencies landed");
        Ok(outcome)
    }

    /// The versions of `project` a push from `source` can take: a stage's
    /// own releases, or what a mirror's upstream lists (not yanked).
    async fn source_versions(
        self: &Arc<Self>,
        source: &crate::store::indexes::IndexRow,
        project: &ProjectName,
    ) -> Result<Vec<String>> {
        match source.config.kind {
            IndexKind::Stage => {
                let (id, name) = (source.id, project.as_str().to_string());
                Ok(self
                    .store
                    .db
                    .read(move |c| crate::store::releases::releases(c, id, &name))
                    .await?
                    .into_iter()
                    .map(|r| r.version)
                    .collect())
            }
            IndexKind::Mirror => {
                let Some(mp) = self.mirror.project(source, project).await? else {
                    return Ok(Vec::new());
                };
                let mut versions: Vec<String> = mp
                    .files
                    .iter()
                    .filter(|f| f.yanked.is_none())
                    .filter_map(|f| crate::dist::DistFilename::parse(&f.filename).ok())
                    .map(|d| d.version.to_string())
                    .collect();
                versions.sort();
                versions.dedup();
                Ok(versions)
            }
        }
    }
}
