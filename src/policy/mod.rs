//! Declarative policies: `policies/*.toml`, merged into one [`Policies`].
//!
//! A policy file describes indexes (kind, bases, who may upload, push and
//! approve, which credentials each action needs) and the checks a push must
//! pass to land (`[index."…".require]`). Every key is documented in
//! `policies/default.toml` and `docs/policies.md`.
//!
//! Loading is strict: unknown keys, bad values, an index defined in two
//! files and a production index that inherits a mirror are all errors that
//! name `file:line:col`. No HTTP here.

mod invariant;
mod location;
mod model;
mod parse;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use invariant::{check_production_invariant, IndexFacts, InvariantError, Violation};
pub use location::Location;
pub use model::{
    Action, AuthRequirements, Credential, EnvironmentsPolicy, IndexPolicy, RequirePolicy,
    TyposquatMode, TyposquatSettings,
};

use crate::names::IndexPath;

/// Largest policy file read; far beyond any real configuration.
pub const MAX_POLICY_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policies from {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: the file is {size} bytes; policy files are limited to {MAX_POLICY_FILE_BYTES}"
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    #[error(
        "{second}: index {index} is already defined at {first}; define each index in exactly \
         one policy file"
    )]
    DuplicateIndex {
        index: IndexPath,
        first: Box<Location>,
        second: Location,
    },
    #[error(
        "{second}: [typosquat] is already set at {first}; set the typosquat engine in exactly \
         one policy file"
    )]
    DuplicateTyposquat {
        first: Box<Location>,
        second: Location,
    },
    #[error("{location}: {source}")]
    Invariant {
        location: Location,
        #[source]
        source: InvariantError,
    },
}

/// All policies, merged from every file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    typosquat: TyposquatSettings,
    typosquat_at: Option<Location>,
    indexes: BTreeMap<IndexPath, IndexPolicy>,
}

impl Policies {
    /// Load and merge every `*.toml` file directly in `dir`, in file-name
    /// order. Other files (such as `popular-pypi.tsv`) are ignored. A folder
    /// without policy files yields the defaults (no index policies).
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PolicyError::Io { path, source }
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let is_toml = path.extension().is_some_and(|e| e == "toml");
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if is_toml && !hidden && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut merged = Policies::default();
        for path in files {
            let size = std::fs::metadata(&path).map_err(io(&path))?.len();
            if size > MAX_POLICY_FILE_BYTES {
                return Err(PolicyError::TooLarge { path, size });
            }
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let parsed = parse::parse_file(&path.display().to_string(), &text)?;
            merged.merge(parsed)?;
        }
        merged.check_invariant()?;
        Ok(merged)
    }

    /// Parse one policy document; `name` is used in error locations.
    pub fn parse_str(name: &str, text: &str) -> Result<Self, PolicyError> {
        let mut policies = Policies::default();
        policies.merge(parse::parse_file(name, text)?)?;
        policies.check_invariant()?;
        Ok(policies)
    }

    /// The policy of `index`, if a policy file defines it.
    pub fn index_policy(&self, index: &IndexPath) -> Option<&IndexPolicy> {
        self.indexes.get(index)
    }

    /// Every index policy, ordered by path.
    pub fn indexes(&self) -> impl Iterator<Item = &IndexPolicy> {
        self.indexes.values()
    }

    pub fn typosquat(&self) -> &TyposquatSettings {
        &self.typosquat
    }

    /// The typosquat mode in force for `index`: its own, else the default.
    pub fn typosquat_mode(&self, index: &IndexPath) -> TyposquatMode {
        self.index_policy(index)
            .and_then(|p| p.typosquat)
            .unwrap_or(self.typosquat.mode)
    }

    fn merge(&mut self, file: parse::ParsedFile) -> Result<(), PolicyError> {
        if let Some((settings, second)) = file.typosquat {
            if let Some(first) = &self.typosquat_at {
                return Err(PolicyError::DuplicateTyposquat {
                    first: Box::new(first.clone()),
                    second,
                });
            }
            self.typosquat = settings;
            self.typosquat_at = Some(second);
        }
        for policy in file.indexes {
            if let Some(existing) = self.indexes.get(&policy.path) {
                return Err(PolicyError::DuplicateIndex {
                    index: policy.path.clone(),
                    first: Box::new(existing.defined_at.clone()),
                    second: policy.defined_at,
                });
            }
            self.indexes.insert(policy.path.clone(), policy);
        }
        Ok(())
    }

    /// The production invariant over the indexes the policy files define.
    /// The server repeats it over the live configuration (policy plus
    /// API-created indexes) with [`check_production_invariant`].
    fn check_invariant(&self) -> Result<(), PolicyError> {
        let facts = |p: &IndexPath| {
            self.indexes
                .get(p)
                .map(|i| (i.kind, i.bases.clone(), i.production))
        };
        check_production_invariant(facts, self.indexes.keys()).map_err(|source| {
            let location = source
                .violations
                .first()
                .and_then(|v| self.indexes.get(&v.production))
                .map(|i| i.defined_at.clone())
                .unwrap_or_else(|| Location {
                    file: "policies".into(),
                    line: 1,
                    column: 1,
                });
            PolicyError::Invariant { location, source }
        })
    }
}
