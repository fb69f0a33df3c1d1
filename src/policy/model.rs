//! The validated policy model: what each index allows and what a push into
//! it must pass. Built by [`super::parse`]; read by the server and the
//! staging pipeline.

use serde::{Deserialize, Serialize};

use crate::index::config::{acl_allows, IndexKind, Principal};
use crate::names::{IndexPath, ProjectName};

use super::location::Location;

/// What the typosquat engine does with a suspicious name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TyposquatMode {
    /// Refuse the upload, push or install.
    Block,
    /// Allow it, but record and show a warning.
    Warn,
    /// Do not check.
    Off,
}

/// Engine settings from the `[typosquat]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TyposquatSettings {
    /// How many names from the top of `policies/popular-pypi.tsv` are protected.
    pub protect_top: usize,
    /// The mode of indexes that do not set their own.
    pub mode: TyposquatMode,
    /// Names never flagged.
    pub allow: Vec<ProjectName>,
}

impl Default for TyposquatSettings {
    fn default() -> Self {
        Self {
            protect_top: 5000,
            mode: TyposquatMode::Block,
            allow: Vec::new(),
        }
    }
}

/// A credential kind an action can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// A password or a login token derived from one.
    Password,
    /// A verified TLS client certificate.
    ClientCert,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Password => "password",
            Credential::ClientCert => "client_cert",
        }
    }
}

/// The actions whose credentials a policy constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Upload,
    Push,
    Approve,
    Install,
}

/// Credentials that must ALL be presented for each action. An empty list
/// means any authenticated identity will do (for `install`: anonymous
/// access is allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthRequirements {
    pub upload: Vec<Credential>,
    pub push: Vec<Credential>,
    pub approve: Vec<Credential>,
    pub install: Vec<Credential>,
}

impl AuthRequirements {
    pub fn required_for(&self, action: Action) -> &[Credential] {
        match action {
            Action::Upload => &self.upload,
            Action::Push => &self.push,
            Action::Approve => &self.approve,
            Action::Install => &self.install,
        }
    }

    /// The credentials `action` requires that are not among `presented`
    /// (empty when the caller may proceed, as far as credentials go).
    pub fn missing(&self, action: Action, presented: &[Credential]) -> Vec<Credential> {
        self.required_for(action)
            .iter()
            .copied()
            .filter(|c| !presented.contains(c))
            .collect()
    }
}

/// Checks a push must pass before the release lands in the index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequirePolicy {
    /// Approvals needed from `approve_users` (0 = the push lands at once).
    pub approvals: u32,
    /// The release's test results must have been recorded as passing, by
    /// an identity this policy trusts (see `tests_passed_by`).
    pub tests_passed: bool,
    /// Whose test results count for `tests_passed`: user names and
    /// `cert:SHA256` client-certificate fingerprints. Empty: any
    /// authenticated user with toxresult rights on the source index.
    /// Anonymous results never count.
    pub tests_passed_by: Vec<String>,
    /// The project name must not be a typosquat of a protected name.
    pub no_typosquat: bool,
    /// The project must not shadow a project of the same name in a base.
    pub no_shadowing: bool,
    /// Cool-down: the release must have been published at least this many
    /// days ago (0 = no cool-down).
    pub min_age_days: u32,
    /// The release must have been published at most this many days ago
    /// (0 = no limit).
    pub max_age_days: u32,
    /// SPDX identifiers (or exact `License` values) accepted; empty = any.
    pub allowed_licenses: Vec<String>,
    /// Every file of the release must be a wheel.
    pub wheels_only: bool,
    /// After the push, every dependency the pushed releases need in the
    /// index's environments must be installable from the index (itself or
    /// its bases): push with `--with-deps`, or push the dependencies first.
    pub dependencies_present: bool,
}

/// The environments an index's installers run in: dependencies are
/// resolved for them (PEP 508 markers). Policy key `environments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentsPolicy {
    /// Python versions, `3.12` style.
    pub python: Vec<String>,
    /// Platforms: linux_x86_64, linux_aarch64, macos_arm64, macos_x86_64,
    /// windows_amd64.
    pub platforms: Vec<String>,
}

impl Default for EnvironmentsPolicy {
    /// The CPython versions still supported upstream, on the three common
    /// operating systems.
    fn default() -> Self {
        Self {
            python: ["3.9", "3.10", "3.11", "3.12", "3.13"]
                .map(String::from)
                .to_vec(),
            platforms: [
                "linux_x86_64",
                "linux_aarch64",
                "macos_arm64",
                "windows_amd64",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The policy of one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPolicy {
    pub path: IndexPath,
    pub kind: IndexKind,
    /// Production indexes never inherit a mirror, directly or through a chain.
    pub production: bool,
    pub bases: Vec<IndexPath>,
    pub volatile: bool,
    /// Whether direct uploads are allowed at all.
    pub uploads: bool,
    /// Indexes whose releases may be pushed into this one.
    pub accepts_push_from: Vec<IndexPath>,
    /// Who may upload (user names or `:AUTHENTICATED:`).
    pub upload_users: Vec<String>,
    /// Who may push into this index.
    pub push_users: Vec<String>,
    /// Who may approve a pending push into this index.
    pub approve_users: Vec<String>,
    /// Who may post test results (`acl_toxresult_upload`); `:ANONYMOUS:`
    /// only when the policy names it.
    pub toxresult_users: Vec<String>,
    pub auth: AuthRequirements,
    /// Per-index typosquat mode; `None` = the `[typosquat]` default.
    pub typosquat: Option<TyposquatMode>,
    pub require: RequirePolicy,
    /// Where its installers run (for pushes with dependencies).
    pub environments: EnvironmentsPolicy,
    /// Where the index is defined (for messages).
    pub defined_at: Location,
}

impl IndexPolicy {
    /// May `who` upload directly into this index?
    pub fn may_upload(&self, who: Principal<'_>) -> bool {
        self.uploads && acl_allows(&self.upload_users, who)
    }

    /// May `who` push a release from `source` into this index?
    pub fn may_push(&self, who: Principal<'_>, source: &IndexPath) -> bool {
        self.accepts_push_from.contains(source) && acl_allows(&self.push_users, who)
    }

    /// May `who` approve a pending push into this index?
    pub fn may_approve(&self, who: Principal<'_>) -> bool {
        acl_allows(&self.approve_users, who)
    }
}
