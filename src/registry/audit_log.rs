//! The audit log from the registry's side: entries recorded outside a
//! domain transaction (blocked attempts), details kept under the size limit,
//! and reading and verifying the log (root only).
//!
//! Entries for changes are appended with [`crate::audit::append`] inside
//! the transaction that makes the change, so both commit or neither does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action, Entry, Head, NewEntry, VerifyReport};
use crate::auth::Identity;
use crate::digest::Sha256;
use crate::names::{IndexPath, ProjectName};
use crate::store::releases::FileRow;

/// Files listed by name and hash in one entry; beyond that only counted.
const MAX_LISTED_FILES: usize = 100;
/// Details larger than this are replaced by their size and hash (the
/// audit log refuses entries over [`audit::MAX_DETAILS_BYTES`]).
const MAX_DETAILS: usize = audit::MAX_DETAILS_BYTES / 2;
/// The same blocked attempt (action, index, name, remote host) is recorded
/// once per window: a client retrying in a loop must not flood the log.
const BLOCKED_WINDOW: Duration = Duration::from_secs(60);

/// `details`, or, if it is too large to record, its size and SHA-256.
pub(crate) fn bounded(details: Value) -> Value {
    let text = details.to_string();
    if text.len() <= MAX_DETAILS {
        return details;
    }
    json!({
        "truncated": true,
        "bytes": text.len(),
        "sha256": Sha256::of(text.as_bytes()).to_hex(),
    })
}

/// The files an entry is about: name, version and SHA-256 of each (the
/// first [`MAX_LISTED_FILES`]), and how many there were.
pub(crate) fn files_json(files: &[FileRow]) -> Value {
    json!({
        "count": files.len(),
        "files": files.iter().take(MAX_LISTED_FILES).map(|f| json!({
            "filename": f.filename,
            "version": f.version,
            "sha256": f.sha256.to_hex(),
        })).collect::<Vec<_>>(),
    })
}

/// When each blocked attempt was last recorded.
#[derive(Default)]
pub struct BlockedAttempts {
    last: Mutex<HashMap<String, Instant>>,
}

impl BlockedAttempts {
    /// Whether an attempt with `key` should be recorded now.
    fn claim(&self, key: String) -> bool {
        let mut map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&key) {
            Some(t) if t.elapsed() < BLOCKED_WINDOW => false,
            _ => {
                if map.len() > 10_000 {
                    map.retain(|_, t| t.elapsed() < BLOCKED_WINDOW);
                }
                map.insert(key, Instant::now());
                true
            }
        }
    }
}

fn require_root(actor: Option<&Identity>) -> Result<()> {
    match actor {
        Some(a) if a.is_root() => Ok(()),
        Some(a) => Err(RegistryError::Forbidden(format!(
            "user {} may not read the audit log: only root may",
            a.user
        ))),
        None => Err(RegistryError::Unauthenticated(
            "log in as root to read the audit log".into(),
        )),
    }
}

impl Registry {
    /// Append `entry` in a write transaction of its own (for events that
    /// change nothing else, such as a refused request). A failure is logged:
    /// the refusal itself stands either way.
    pub(crate) async fn audit_alone(&self, entry: NewEntry) {
        let action = entry.action;
        let recorded = self
            .store
            .db
            .write_log(move |tx| Ok(audit::append(tx, entry)?))
            .await;
        if let Err(e) = recorded {
            tracing::error!(target: "security", %action, error = %e, "recording an audit entry failed");
        }
    }

    /// Record that `actor` was refused `action` on `name` in `index`.
    pub(crate) async fn audit_blocked(
        &self,
        actor: &Actor,
        action: Action,
        index: &IndexPath,
        name: &ProjectName,
        details: Value,
    ) {
        self.audit_refused(actor, action, format!("{index}/{name}"), details)
            .await;
    }

    /// Record that `actor` was refused `action` on `target`: once per
    /// window for the same action, target, host, user and details, so a
    /// client retrying in a loop cannot flood the log.
    pub(crate) async fn audit_refused(
        &self,
        actor: &Actor,
        action: Action,
        target: String,
        details: Value,
    ) {
        let host = actor
            .remote
            .and_then(|a| a.ip())
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let key = format!(
            "{action}|{target}|{host}|{}|{}",
            actor.user().unwrap_or(""),
            Sha256::of(details.to_string().as_bytes()).to_hex()
        );
        if !self.audit.claim(key) {
            return;
        }
        self.audit_alone(actor.entry(action, target).details(bounded(details)))
            .await;
    }

    /// Entries after `since` (at most `limit`) and the current head (root only).
    pub async fn audit_entries(
        self: &Arc<Self>,
        actor: Option<&Identity>,
        since: i64,
        limit: usize,
    ) -> Result<(Vec<Entry>, Head)> {
        require_root(actor)?;
        Ok(self
            .store
            .db
            .read(move |c| {
                // one snapshot: the head matches the entries
                c.snapshot(|tx| {
                    let entries = audit::entries_after(tx, since, limit)?;
                    let head = audit::head(tx)?;
                    Ok((entries, head))
                })
            })
            .await?)
    }

    /// Entries matching `filter`, newest first, and the current head (root only).
    pub async fn audit_search(
        self: &Arc<Self>,
        actor: Option<&Identity>,
        filter: crate::store::audit::AuditFilter,
        limit: usize,
    ) -> Result<(Vec<Entry>, Head)> {
        require_root(actor)?;
        Ok(self
            .store
            .db
            .read(move |c| {
                c.snapshot(|tx| {
                    let entries = audit::entries_filtered(tx, &filter, limit)?;
                    let head = audit::head(tx)?;
                    Ok((entries, head))
                })
            })
            .await?)
    }

    /// Walk the whole chain (root only); with `anchor`, also check it.
    pub async fn audit_verify(
        self: &Arc<Self>,
        actor: Option<&Identity>,
        anchor: Option<Head>,
    ) -> Result<VerifyReport> {
        require_root(actor)?;
        Ok(self
            .store
            .db
            .read(move |c| {
                c.snapshot(|tx| {
                    Ok(match &anchor {
                        Some(a) => audit::verify_with_anchor(tx, a)?,
                        None => audit::verify(tx)?,
                    })
                })
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_details_are_replaced_by_their_hash() {
        let small = json!({"sha256": "ab".repeat(32)});
        assert_eq!(bounded(small.clone()), small);
        let big = json!({"whitelist": "x".repeat(MAX_DETAILS + 1)});
        let b = bounded(big.clone());
        assert_eq!(b["truncated"], true);
        assert_eq!(b["bytes"].as_u64(), Some(big.to_string().len() as u64));
        assert_eq!(
            b["sha256"].as_str(),
            Some(Sha256::of(big.to_string().as_bytes()).to_hex().as_str())
        );
    }

    #[test]
    fn a_blocked_attempt_is_recorded_once_per_window() {
        let seen = BlockedAttempts::default();
        assert!(seen.claim("install|root/dev|reqeusts|192.0.2.1".into()));
        assert!(!seen.claim("install|root/dev|reqeusts|192.0.2.1".into()));
        assert!(seen.claim("install|root/dev|reqeusts|192.0.2.2".into()));
        assert!(seen.claim("upload|root/dev|reqeusts|192.0.2.1".into()));
    }
}
