//! Webhook subscriptions of an index: add (URL checked against the SSRF
//! rules, secret generated and shown once), list, remove, and the delivery
//! log. Only the index's owner or root. Changes are audited as changes of
//! the index's configuration (`index_modify`, details say which webhook).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action};
use crate::auth::Identity;
use crate::names::IndexPath;
use crate::store::webhooks::{self as table, WebhookRow};
use crate::webhooks::{sign, EventType, WebhookKind, MAX_PER_INDEX};

/// Most log entries answered at once.
pub const MAX_LOG: usize = 500;

/// A new subscription as asked for.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub kind: String,
}

fn require_owner(actor: Option<&Identity>, path: &IndexPath) -> Result<()> {
    match actor {
        None => Err(RegistryError::Unauthenticated(format!(
            "log in to manage the webhooks of {path}"
        ))),
        Some(id) if id.user == path.user.as_str() || id.is_root() => Ok(()),
        Some(id) => Err(RegistryError::Forbidden(format!(
            "user {} may not manage the webhooks of {path}: only its owner {} or root may",
            id.user, path.user
        ))),
    }
}

/// A subscription as shown (never with its secret).
pub fn webhook_json(w: &WebhookRow) -> Value {
    json!({
        "id": w.id,
        "index": w.index_path,
        "kind": w.kind,
        "url": w.url,
        "events": w.events,
        "created": w.created,
        "created_by": w.created_by,
    })
}

impl Registry {
    /// Subscribe `path` to events; returns the subscription and its secret
    /// (the only time the secret is shown).
    pub async fn add_webhook(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        new: NewWebhook,
    ) -> Result<(Value, String)> {
        require_owner(by.identity(), path)?;
        self.index(path)?;
        let kind = WebhookKind::parse(new.kind.trim()).ok_or_else(|| {
            RegistryError::Invalid(format!(
                "unknown webhook kind {:?}: use \"standard\" or \"jenkins\"",
                crate::echo::echo(&new.kind)
            ))
        })?;
        let mut events: Vec<String> = Vec::new();
        let asked: Vec<String> = if new.events.is_empty() && kind == WebhookKind::Jenkins {
            vec![EventType::Upload.as_str().to_string()]
        } else {
            new.events
        };
        if asked.is_empty() {
            return Err(RegistryError::Invalid(format!(
                "name the events to subscribe to (one or more of: {})",
                all_events()
            )));
        }
        for e in &asked {
            let ty = EventType::parse(e.trim()).ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "unknown event type {:?}: use one or more of: {}",
                    crate::echo::echo(e),
                    all_events()
                ))
            })?;
            if !kind.accepts(ty) {
                return Err(RegistryError::Invalid(format!(
                    "a jenkins webhook triggers on upload and push.landed only, not {ty}"
                )));
            }
            if !events.iter().any(|x| x == ty.as_str()) {
                events.push(ty.as_str().to_string());
            }
        }
        let url = new.url.trim().to_string();
        let checked = match kind {
            WebhookKind::Standard => url.clone(),
            WebhookKind::Jenkins => {
                check_template(&url)?;
                crate::webhooks::fill_template(&url, "pkgname", "0")
            }
        };
        self.settings
            .webhooks
            .rules
            .check(&checked)
            .await
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let secret = sign::new_secret().map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let mut row = WebhookRow {
            id: 0,
            index_path: path.to_string(),
            kind: kind.as_str().to_string(),
            url,
            events,
            secret: secret.clone(),
            created: crate::store::now(),
            created_by: by.user().map(str::to_string),
        };
        let entry = by.entry(Action::IndexModify, path.to_string());
        let r = row.clone();
        let id = self
            .store
            .db
            .write_log(move |tx| {
                if table::of_index(tx, &r.index_path)?.len() >= MAX_PER_INDEX {
                    return Ok(Err(RegistryError::Conflict(format!(
                        "index {} has {MAX_PER_INDEX} webhooks already; remove one first",
                        r.index_path
                    ))));
                }
                let id = table::insert(tx, &r)?;
                let details = json!({"webhook_added": {
                    "id": id, "kind": r.kind, "url": r.url, "events": r.events,
                }});
                audit::append(tx, entry.details(super::audit_log::bounded(details)))?;
                Ok(Ok(id))
            })
            .await??;
        row.id = id;
        tracing::info!(index = %path, id, by = by.user(), "webhook added");
        Ok((webhook_json(&row), secret))
    }

    pub async fn list_webhooks(self: &Arc<Self>, by: &Actor, path: &IndexPath) -> Result<Value> {
        require_owner(by.identity(), path)?;
        self.index(path)?;
        let p = path.to_string();
        let rows = self.store.db.read(move |c| table::of_index(c, &p)).await?;
        Ok(Value::Array(rows.iter().map(webhook_json).collect()))
    }

    pub async fn get_webhook(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        id: i64,
    ) -> Result<Value> {
        require_owner(by.identity(), path)?;
        let p = path.to_string();
        let row = self.store.db.read(move |c| table::get(c, &p, id)).await?;
        row.map(|r| webhook_json(&r))
            .ok_or_else(|| RegistryError::NotFound(format!("index {path} has no webhook #{id}")))
    }

    /// Remove subscription `id`; its undelivered events are dropped.
    pub async fn remove_webhook(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        id: i64,
    ) -> Result<()> {
        require_owner(by.identity(), path)?;
        let p = path.to_string();
        let entry = by
            .entry(Action::IndexModify, path.to_string())
            .details(json!({"webhook_removed": {"id": id}}));
        let removed = self
            .store
            .db
            .write_log(move |tx| {
                let removed = table::delete(tx, &p, id)?;
                if removed {
                    audit::append(tx, entry)?;
                }
                Ok(removed)
            })
            .await?;
        if !removed {
            return Err(RegistryError::NotFound(format!(
                "index {path} has no webhook #{id}"
            )));
        }
        tracing::info!(index = %path, id, by = by.user(), "webhook removed");
        Ok(())
    }

    /// The latest events and delivery attempts of `path`'s webhooks,
    /// newest first.
    pub async fn webhook_log(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        limit: usize,
    ) -> Result<Value> {
        require_owner(by.identity(), path)?;
        let limit = limit.clamp(1, MAX_LOG);
        let p = path.to_string();
        let (events, attempts) = self
            .store
            .db
            .read(move |c| {
                Ok((
                    table::events_of_index(c, &p, limit)?,
                    table::deliveries_of_index(c, &p, limit)?,
                ))
            })
            .await?;
        let events: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "event_id": e.event_id, "webhook_id": e.webhook_id, "type": e.event_type,
                    "url": e.url, "created": e.created, "attempts": e.attempts,
                    "state": e.state, "next_attempt_ms": e.next_attempt_ms,
                    "last_error": e.last_error,
                })
            })
            .collect();
        let attempts: Vec<Value> = attempts
            .iter()
            .map(|d| {
                json!({
                    "event_id": d.event_id, "webhook_id": d.webhook_id, "type": d.event_type,
                    "attempt": d.attempt, "time": d.time, "status": d.status,
                    "error": d.error, "duration_ms": d.duration_ms,
                })
            })
            .collect();
        Ok(json!({"events": events, "attempts": attempts}))
    }
}

fn all_events() -> String {
    EventType::ALL
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Jenkins URL template may put `{pkgname}`/`{pkgversion}` in the path
/// and query only: the host is checked when the webhook is configured and
/// must not depend on what is uploaded.
fn check_template(url: &str) -> Result<()> {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('{') || authority.contains('}') {
        return Err(RegistryError::Invalid(
            "a jenkins URL template may use {pkgname} and {pkgversion} in its path and query \
             only, not in the host"
                .into(),
        ));
    }
    Ok(())
}
