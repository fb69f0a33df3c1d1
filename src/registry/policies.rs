//! Policies in force: applied to the indexes at start, consulted by
//! uploads, pushes and approvals, and the production invariant checked at
//! every configuration change.

use std::sync::Arc;

use super::{Registry, RegistryError, Result};
use crate::auth::Identity;
use crate::index::{IndexConfig, IndexKind};
use crate::names::IndexPath;
use crate::policy::{check_production_invariant, Action, Credential, IndexPolicy, Policies};
use crate::store::{indexes as index_table, users as user_table};

/// Index configuration keys that a policy decides (API changes refused).
const MANAGED_KEYS: &[&str] = &[
    "type",
    "bases",
    "volatile",
    "acl_upload",
    "acl_toxresult_upload",
];

impl Registry {
    /// The policy of one index, if the policies name it.
    pub fn policy_of(&self, path: &IndexPath) -> Option<IndexPolicy> {
        self.policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .index_policy(path)
            .cloned()
    }

    pub fn policies(&self) -> Arc<Policies> {
        Arc::clone(&self.policies.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Make the indexes match `policies`: create missing owners (without a
    /// password: root sets one) and indexes, set the managed keys of
    /// existing ones, then check the production invariant over the result.
    pub async fn apply_policies(self: &Arc<Self>, policies: Policies) -> Result<()> {
        for p in policies.indexes() {
            let owner = p.path.user.clone();
            let o = owner.as_str().to_string();
            let created = self
                .store
                .db
                .write(move |tx| user_table::create(tx, &o, None, None))
                .await?;
            if created {
                tracing::warn!(user = %owner, index = %p.path, "created user for a policy index; it has no password until root sets one");
            }
            match self.index(&p.path) {
                Err(_) => {
                    let cfg = config_from_policy(p, None);
                    self.insert_index(&p.path, cfg).await?;
                    tracing::info!(index = %p.path, at = %p.defined_at, "created index from policy");
                }
                Ok(row) => {
                    if row.config.kind != p.kind {
                        return Err(RegistryError::Invalid(format!(
                            "{}: index {} is a {:?} index but the policy says {:?}; fix the policy or the index",
                            p.defined_at, p.path, row.config.kind, p.kind
                        )));
                    }
                    let cfg = config_from_policy(p, Some(&row.config));
                    if cfg != row.config {
                        let id = row.id;
                        let c = cfg.clone();
                        self.store
                            .db
                            .write(move |tx| index_table::update_config(tx, id, &c))
                            .await?;
                        tracing::info!(index = %p.path, at = %p.defined_at, "index configuration set from policy");
                    }
                }
            }
        }
        self.reload_indexes().await?;
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policies);
        self.check_invariant(None)
    }

    /// Replace the policies in force while serving (SIGHUP). Everything
    /// that would make `apply_policies` fail half-way (an index of another
    /// kind, the production invariant under the new policies and the
    /// configurations they set) is checked first, against memory only: a
    /// refused reload changes nothing and the old policies stay in force.
    pub async fn reload_policies(self: &Arc<Self>, policies: Policies) -> Result<()> {
        let indexes = self.all_indexes();
        let mut planned: Vec<(IndexPath, IndexConfig)> = Vec::new();
        for p in policies.indexes() {
            let existing = indexes.iter().find(|r| r.path == p.path);
            if let Some(row) = existing {
                if row.config.kind != p.kind {
                    return Err(RegistryError::Invalid(format!(
                        "{}: index {} is a {:?} index but the policy says {:?}; fix the policy or the index",
                        p.defined_at, p.path, row.config.kind, p.kind
                    )));
                }
            }
            planned.push((
                p.path.clone(),
                config_from_policy(p, existing.map(|r| &r.config)),
            ));
        }
        let facts = |path: &IndexPath| {
            let cfg = match planned.iter().find(|(pp, _)| pp == path) {
                Some((_, c)) => c.clone(),
                None => indexes.iter().find(|r| &r.path == path)?.config.clone(),
            };
            let production = policies.index_policy(path).is_some_and(|ip| ip.production);
            Some((cfg.kind, cfg.bases, production))
        };
        let candidates: Vec<IndexPath> = indexes
            .iter()
            .map(|r| r.path.clone())
            .chain(planned.iter().map(|(p, _)| p.clone()))
            .collect();
        check_production_invariant(facts, candidates.iter())
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        self.apply_policies(policies).await
    }

    /// The production invariant over all indexes, with `change` (an index
    /// and its would-be configuration) applied: a production index must never
    /// have a mirror anywhere in its base chain.
    pub fn check_invariant(&self, change: Option<(&IndexPath, &IndexConfig)>) -> Result<()> {
        let indexes = self.all_indexes();
        let policies = self.policies();
        let facts = |p: &IndexPath| {
            let cfg = match change {
                Some((cp, c)) if cp == p => c.clone(),
                _ => indexes.iter().find(|r| &r.path == p)?.config.clone(),
            };
            let production = policies.index_policy(p).is_some_and(|ip| ip.production);
            Some((cfg.kind, cfg.bases, production))
        };
        let mut candidates: Vec<IndexPath> = indexes.iter().map(|r| r.path.clone()).collect();
        if let Some((p, _)) = change {
            candidates.push(p.clone());
        }
        check_production_invariant(facts, candidates.iter())
            .map_err(|e| RegistryError::Invalid(e.to_string()))
    }

    /// Refuse API changes to keys a policy decides for this index.
    pub fn check_policy_managed(
        &self,
        path: &IndexPath,
        before: &IndexConfig,
        after: &IndexConfig,
    ) -> Result<()> {
        let Some(p) = self.policy_of(path) else {
            return Ok(());
        };
        let b = before.to_devpi_json();
        let a = after.to_devpi_json();
        let changed: Vec<&str> = MANAGED_KEYS
            .iter()
            .copied()
            .filter(|k| b.get(*k) != a.get(*k))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        Err(RegistryError::Forbidden(format!(
            "{} of index {path} are set by the policy at {}; change the policy file and reload (SIGHUP) or restart",
            changed.join(", "),
            p.defined_at
        )))
    }

    /// May `actor` upload to `path` at all (policy, credentials, ACL)?
    /// Checked before the body is read.
    pub fn check_upload_allowed(&self, actor: Option<&Identity>, path: &IndexPath) -> Result<()> {
        if let Some(p) = self.policy_of(path) {
            if !p.uploads {
                return Err(RegistryError::Forbidden(format!(
                    "index {path} takes no direct uploads (policy at {}): push releases into it instead",
                    p.defined_at
                )));
            }
        }
        self.check_credentials(path, Action::Upload, actor)?;
        self.writable_stage(actor, path, "upload to").map(|_| ())
    }

    /// Does `actor` bring the credentials the policy of `index` asks for
    /// `action`? The error names what is missing.
    pub fn check_credentials(
        &self,
        index: &IndexPath,
        action: Action,
        actor: Option<&Identity>,
    ) -> Result<()> {
        let Some(p) = self.policy_of(index) else {
            return Ok(());
        };
        let mut presented = Vec::new();
        if let Some(a) = actor {
            if a.has_password() {
                presented.push(Credential::Password);
            }
            if a.has_client_cert() {
                presented.push(Credential::ClientCert);
            }
        }
        let missing = p.auth.missing(action, &presented);
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
        let what = match action {
            Action::Upload => "uploads to",
            Action::Push => "pushes to",
            Action::Approve => "approvals on",
            Action::Install => "installs from",
        };
        let msg = format!(
            "{what} {index} need credentials: {} (missing: {}); see the policy at {}",
            p.auth
                .required_for(action)
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            names.join(", "),
            p.defined_at
        );
        Err(if actor.is_none() {
            RegistryError::Unauthenticated(msg)
        } else {
            RegistryError::Forbidden(msg)
        })
    }
}

/// The index configuration a policy asks for (keeping unmanaged settings).
fn config_from_policy(p: &IndexPolicy, existing: Option<&IndexConfig>) -> IndexConfig {
    let mut cfg = existing
        .cloned()
        .unwrap_or_else(|| IndexConfig::new(p.kind, p.path.user.as_str()));
    cfg.kind = p.kind;
    if p.kind == IndexKind::Stage {
        cfg.bases = p.bases.clone();
        cfg.volatile = p.volatile;
        cfg.acl_upload = if p.uploads {
            p.upload_users.clone()
        } else {
            Vec::new()
        };
        cfg.acl_toxresult_upload = p.toxresult_users.clone();
    }
    cfg
}

/// Load policies from `dir`, or the built-in default when `dir` is `None`.
pub fn load_policies(
    dir: Option<&std::path::Path>,
) -> std::result::Result<Policies, crate::policy::PolicyError> {
    match dir {
        Some(d) => Policies::load_dir(d),
        None => Policies::parse_str("built-in policies/default.toml", BUILTIN_DEFAULT),
    }
}

/// The shipped default policy, compiled in for installs without a policies folder.
pub const BUILTIN_DEFAULT: &str = include_str!("../../policies/default.toml");
