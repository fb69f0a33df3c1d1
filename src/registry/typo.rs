//! Typosquat checks inside the server: the detector over the popular corpus
//! (in memory) plus every private project name (in the store, see
//! [`crate::store::typo_index`]), admin allow/deny rules, and the gate that
//! uploads, installs and pushes pass through.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action};
use crate::auth::Identity;
use crate::names::{IndexPath, ProjectName};
use crate::store::typo_index;
use crate::store::typo_rules::{self, TypoRuleRow};
use crate::typo::evidence::Weight;
use crate::typo::{probe::KEYS_VERSION, Detector, Verdict};

/// What happens to a name the detector flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TypoMode {
    /// Refuse it (the request fails with a message naming the likely target).
    Block,
    /// Let it through, but log and report it.
    Warn,
    /// Do not check.
    Off,
}

#[derive(Debug, Clone)]
pub struct TypoSettings {
    pub mode: TypoMode,
    /// How many of the most popular PyPI names are protected.
    pub protect_top: usize,
    /// Weigh upstream's facts before refusing the install of a weak look-alike.
    pub evidence: bool,
}

impl Default for TypoSettings {
    fn default() -> Self {
        Self {
            mode: TypoMode::Block,
            protect_top: 5000,
            evidence: false,
        }
    }
}

/// The detector, built once in the background (with the stored index of
/// private names brought up to date), and the admin rules.
#[derive(Default)]
pub struct TypoGuard {
    detector: tokio::sync::OnceCell<Arc<Detector>>,
    rules: RwLock<Vec<TypoRuleRow>>,
}

/// Names stored (or forgotten) per write transaction while syncing, so an
/// upload never waits long behind the sync.
pub(super) const SYNC_BATCH: usize = 2000;

/// The outcome of the gate for one name.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Nothing suspicious (or checks are off).
    Pass,
    /// Suspicious, let through because the mode is `warn`.
    Warned(Verdict),
}

impl Registry {
    /// Build the detector now (called at start, off the request path).
    pub fn warm_typo_detector(self: &Arc<Self>) {
        let reg = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = reg.typo_detector().await {
                tracing::error!(error = %e, "building the typosquat detector failed");
            }
        });
    }

    async fn typo_detector(self: &Arc<Self>) -> Result<&Arc<Detector>> {
        self.typo
            .detector
            .get_or_try_init(|| async {
                let rules = self.store.db.read(typo_rules::all).await?;
                *self.typo.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
                let top = self.settings.typo.protect_top;
                let evidence = self.settings.typo.evidence;
                let started = std::time::Instant::now();
                let detector = tokio::task::spawn_blocking(move || {
                    let corpus = crate::typo::builtin_corpus();
                    // The rest of the corpus is not protected, but every
                    // name in it is a real popular project: never flagged.
                    let rest: Vec<&str> = corpus
                        .entries()
                        .iter()
                        .skip(top)
                        .map(|e| e.name.as_str())
                        .collect();
                    Detector::builder()
                        .popular(&corpus, top)
                        .allow(rest)
                        .companion_affixes_everywhere(evidence)
                        .build()
                })
                .await
                .map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
                let db = &self.store.db;
                if db.read(typo_index::keys_version).await? != Some(KEYS_VERSION) {
                    db.write_log(|tx| typo_index::reset(tx, KEYS_VERSION))
                        .await?;
                }
                let (stored, forgotten) = self.work_typo_queue().await?;
                tracing::info!(
                    popular = detector.protected_len(),
                    private_stored = stored,
                    private_forgotten = forgotten,
                    ms = started.elapsed().as_millis() as u64,
                    "typosquat detector ready"
                );
                Ok::<_, RegistryError>(Arc::new(detector))
            })
            .await
    }

    /// Bring the stored index of private names in line with the projects of
    /// stage indexes: work off the queue of names added or removed since.
    /// (At start, stored keys of another version are reset first, which
    /// queues every name.) Returns how many names were stored and forgotten.
    async fn work_typo_queue(self: &Arc<Self>) -> Result<(usize, usize)> {
        let db = &self.store.db;
        let (mut stored, mut forgotten) = (0, 0);
        loop {
            let (s, f, taken) = db
                .write_log(|tx| typo_index::work_queue(tx, SYNC_BATCH))
                .await?;
            stored += s;
            forgotten += f;
            if taken < SYNC_BATCH {
                return Ok((stored, forgotten));
            }
        }
    }

    /// The verdict for `name` as seen from `index` (admin rules first).
    pub async fn typo_verdict(
        self: &Arc<Self>,
        index: Option<&IndexPath>,
        name: &str,
    ) -> Result<Verdict> {
        let det = self.typo_detector().await?;
        let normalized = crate::names::normalize(name);
        let scope = index.map(ToString::to_string).unwrap_or_default();
        let rule = {
            let rules = self.typo.rules.read().unwrap_or_else(|p| p.into_inner());
            rules
                .iter()
                .filter(|r| r.name == normalized && (r.scope == scope || r.scope.is_empty()))
                // an index-specific rule wins over a global one
                .max_by_key(|r| !r.scope.is_empty())
                .cloned()
        };
        if let Some(r) = rule {
            let allowed = r.verdict == "allow";
            let where_ = if r.scope.is_empty() {
                "every index".to_string()
            } else {
                r.scope.clone()
            };
            return Ok(Verdict {
                name: name.to_string(),
                suspicious: !allowed,
                target: None,
                rule: None,
                distance: None,
                reason: format!(
                    "{} for {where_} by {}",
                    if allowed { "allowed" } else { "denied" },
                    r.set_by
                ),
            });
        }
        let Some(probe) = det.probe(name) else {
            return Ok(det.check(name));
        };
        let (det, name) = (Arc::clone(det), name.to_string());
        Ok(self
            .store
            .db
            .read(move |conn| {
                let hood = typo_index::neighbourhood(conn, &probe)?;
                Ok(det.check_near(&name, &hood))
            })
            .await?)
    }

    /// [`Self::typo_gate_for`] for a caller that has no [`Actor`] at hand
    /// (the refusal is recorded without a user or address).
    pub async fn typo_gate(
        self: &Arc<Self>,
        index: &IndexPath,
        name: &ProjectName,
        action: &str,
    ) -> Result<Gate> {
        self.typo_gate_for(&Actor::system(), index, name, action)
            .await
    }

    /// Check a project name that is new to `index` before `action`
    /// ("upload", "install", "push"). In `block` mode a suspicious name is
    /// a 403 whose message names the likely target and how to allow it,
    /// and the refusal is recorded in the audit log (`blocked_upload`,
    /// `blocked_install`, `blocked_push`).
    pub async fn typo_gate_for(
        self: &Arc<Self>,
        actor: &Actor,
        index: &IndexPath,
        name: &ProjectName,
        action: &str,
    ) -> Result<Gate> {
        let mode = self.settings.typo.mode;
        if mode == TypoMode::Off {
            return Ok(Gate::Pass);
        }
        let v = self.typo_verdict(Some(index), name.as_str()).await?;
        if !v.suspicious {
            return Ok(Gate::Pass);
        }
        let message = typo_message(&v, index);
        tracing::warn!(target: "security", index = %index, project = %name, action, mode = ?mode, reason = %v.reason, user = actor.user(), remote = ?actor.remote, "suspicious project name");
        match mode {
            TypoMode::Block => {
                crate::metrics::count_typo_block();
                let blocked = match action {
                    "install" => Action::BlockedInstall,
                    "push" => Action::BlockedPush,
                    "upload" => Action::BlockedUpload,
                    _ => Action::SecurityEvent,
                };
                let details = json!({
                    "reason": v.reason, "looks_like": v.target, "rule": v.rule,
                    "distance": v.distance, "gate": "typosquat", "attempted": action,
                });
                self.audit_blocked(actor, blocked, index, name, details)
                    .await;
                Err(RegistryError::TypoBlocked(super::TypoRefusal {
                    message,
                    looks_like: v.target.clone(),
                }))
            }
            _ => Ok(Gate::Warned(v)),
        }
    }

    /// The install gate for a name about to come from the mirror `mirror`:
    /// [`Self::typo_gate_for`], except that with `--typo-evidence` a *weak*
    /// look-alike is first weighed on upstream's facts about it (its JSON
    /// API document only; no page, no file) and let through when it is an
    /// established project. Strong look-alikes are refused without asking.
    pub async fn typo_gate_install(
        self: &Arc<Self>,
        actor: &Actor,
        index: &IndexPath,
        name: &ProjectName,
        mirror: &crate::index::IndexConfig,
    ) -> Result<Gate> {
        let settings = &self.settings.typo;
        if settings.evidence && settings.mode == TypoMode::Block {
            let v = self.typo_verdict(Some(index), name.as_str()).await?;
            if v.suspicious && v.rule.is_some_and(crate::typo::Rule::is_weak) {
                let (weight, why) = self.typo_evidence(mirror, &v).await;
                if let Some(Weight::Established(why)) = weight {
                    tracing::info!(target: "security", index = %index, project = %name, looks_like = ?v.target, reason = %v.reason, evidence = %why, "weak look-alike let through on upstream evidence");
                    return Ok(Gate::Pass);
                }
                tracing::info!(index = %index, project = %name, evidence = %why, "upstream evidence does not clear a weak look-alike");
            }
        }
        self.typo_gate_for(actor, index, name, "install").await
    }

    /// Upstream's facts about a weak look-alike weighed against its
    /// target's, with a sentence saying why (also when they could not be had).
    async fn typo_evidence(
        self: &Arc<Self>,
        mirror: &crate::index::IndexConfig,
        v: &Verdict,
    ) -> (Option<Weight>, String) {
        let facts = match self.mirror.upstream_facts(mirror, &v.name).await {
            Ok(Some(f)) => f,
            Ok(None) => return (None, "upstream has no such project".into()),
            Err(e) => return (None, format!("upstream facts unavailable: {e}")),
        };
        // The popular project's repositories, to spot a candidate claiming them.
        let mut target_repos = std::collections::BTreeSet::new();
        if let (Some(target), false) = (&v.target, facts.repositories.is_empty()) {
            match self.mirror.upstream_facts(mirror, target).await {
                Ok(Some(t)) => target_repos = t.repositories,
                Ok(None) => {}
                Err(e) => return (None, format!("upstream facts unavailable: {e}")),
            }
        }
        let w = crate::typo::evidence::weigh(&facts, &target_repos, crate::store::now());
        let why = match &w {
            Weight::Established(s) | Weight::Suspicious(s) => s.clone(),
        };
        (Some(w), why)
    }

    /// Project names were added or removed: protect new ones from
    /// look-alikes from now on, forget removed ones. (Should this fail, the
    /// queue keeps them for the next call or start.)
    /// Whether the typosquat detector was built (and the index of private
    /// names brought up to its key version).
    pub(super) fn typo_detector_ready(&self) -> bool {
        self.typo.detector.initialized()
    }

    pub async fn typo_sync_names(self: &Arc<Self>) {
        if self.typo_detector().await.is_err() {
            return;
        }
        if let Err(e) = self.work_typo_queue().await {
            tracing::error!(error = %e, "updating the typosquat index of private names failed");
        }
    }

    /// Set an allow/deny rule for `name` on `index` (or everywhere, root only).
    pub async fn typo_set_rule(
        self: &Arc<Self>,
        by: &Actor,
        index: Option<&IndexPath>,
        name: &str,
        verdict: &str,
    ) -> Result<Value> {
        let actor = by.identity();
        self.require_typo_admin(actor, index)?;
        let name = ProjectName::new(name)?;
        if verdict != "allow" && verdict != "deny" {
            return Err(RegistryError::Invalid(format!(
                "verdict must be allow or deny, not {verdict:?}"
            )));
        }
        let scope = index.map(ToString::to_string).unwrap_or_default();
        let by_user = actor.map(|a| a.user.clone()).unwrap_or_default();
        let (s, n, v) = (scope.clone(), name.to_string(), verdict.to_string());
        let entry = by
            .entry(
                if verdict == "allow" {
                    Action::TypoAllow
                } else {
                    Action::TypoDeny
                },
                rule_target(&scope, name.as_str()),
            )
            .details(json!({"scope": scope, "name": name, "verdict": verdict}));
        self.store
            .db
            .write(move |tx| {
                typo_rules::set(tx, &s, &n, &v, &by_user)?;
                audit::append(tx, entry)?;
                Ok(())
            })
            .await?;
        self.reload_typo_rules().await?;
        tracing::info!(scope = %scope, name = %name, verdict, by = actor.map(|a| a.user.as_str()), "typosquat rule set");
        Ok(json!({"scope": scope, "name": name, "verdict": verdict}))
    }

    pub async fn typo_remove_rule(
        self: &Arc<Self>,
        by: &Actor,
        index: Option<&IndexPath>,
        name: &str,
    ) -> Result<()> {
        self.require_typo_admin(by.identity(), index)?;
        let scope = index.map(ToString::to_string).unwrap_or_default();
        let n = crate::names::normalize(name);
        let entry = by
            .entry(Action::TypoRemove, rule_target(&scope, &n))
            .details(json!({"scope": scope, "name": n}));
        let s = scope.clone();
        let removed = self
            .store
            .db
            .write(move |tx| {
                let removed = typo_rules::remove(tx, &s, &n)?;
                if removed {
                    audit::append(tx, entry)?;
                }
                Ok(removed)
            })
            .await?;
        if !removed {
            return Err(RegistryError::NotFound(format!(
                "no typosquat rule for {name} on {}",
                if scope.is_empty() {
                    "every index"
                } else {
                    &scope
                }
            )));
        }
        self.reload_typo_rules().await
    }

    pub async fn typo_rules_json(self: &Arc<Self>) -> Result<Value> {
        let rows = self.store.db.read(typo_rules::all).await?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|r| json!({"scope": r.scope, "name": r.name, "verdict": r.verdict, "set_by": r.set_by, "created": r.created}))
                .collect(),
        ))
    }

    pub(super) async fn reload_typo_rules(self: &Arc<Self>) -> Result<()> {
        let rules = self.store.db.read(typo_rules::all).await?;
        *self.typo.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        Ok(())
    }

    fn require_typo_admin(
        &self,
        actor: Option<&Identity>,
        index: Option<&IndexPath>,
    ) -> Result<()> {
        let Some(a) = actor else {
            return Err(RegistryError::Unauthenticated(
                "log in to change typosquat rules".into(),
            ));
        };
        match index {
            Some(i) => {
                self.index(i)?;
                if a.is_root() || a.user == i.user.as_str() {
                    Ok(())
                } else {
                    Err(RegistryError::Forbidden(format!(
                        "only the owner of {i} or root may change its typosquat rules"
                    )))
                }
            }
            None if a.is_root() => Ok(()),
            None => Err(RegistryError::Forbidden(
                "only root may set rules for every index".into(),
            )),
        }
    }
}

/// The audit target of a typosquat rule: `scope/name`, or `*/name` for a
/// rule that holds on every index.
fn rule_target(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        format!("*/{name}")
    } else {
        format!("{scope}/{name}")
    }
}

/// The sentence a person sees when a name is refused or warned about.
pub fn typo_message(v: &Verdict, index: &IndexPath) -> String {
    let target = v
        .target
        .as_deref()
        .map(|t| format!(" of {t:?}"))
        .unwrap_or_default();
    format!(
        "{:?} looks like a typo{target} ({}); to allow it: airlock typo allow {} --index {index}",
        v.name,
        v.reason,
        crate::names::normalize(&v.name)
    )
}
