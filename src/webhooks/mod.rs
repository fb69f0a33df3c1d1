//! Webhooks: an index's subscriptions to events (uploads, pushes,
//! approvals, refusals, alerts, index changes), a durable outbox written in
//! the transaction of the change, and a background worker that delivers
//! each event at least once, signed the Standard Webhooks way.
//!
//! The outbox is fed from the audit log: [`crate::audit::append`] calls
//! [`enqueue`] with the entry it has just written, inside the caller's
//! transaction, so an event exists exactly when its change committed (a
//! refused upload is audited as a refusal, never as an upload). `enqueue`
//! runs only SQL through `store::webhooks` and never touches the network.
//!
//! - [`events`]: which audited actions are events, and their payload
//! - [`sign`]: secrets and the `webhook-signature` header
//! - [`target`]: which URLs a webhook may point at (no SSRF)
//! - [`worker`]: delivery, retries with exponential backoff, the attempt log

pub mod events;
pub mod sign;
pub mod target;
pub mod worker;

use std::time::Duration;

use crate::store::sql::Conn;

pub use events::EventType;
pub use target::{AllowedHost, TargetError, TargetRules};

use crate::audit::{Action, Entry};
use crate::store::webhooks::{self as table, OutboxRow};
use crate::store::StoreError;

/// Most subscriptions per index.
pub const MAX_PER_INDEX: usize = 20;

/// What a subscription sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// The signed JSON event, POSTed to the URL.
    Standard,
    /// devpi's `uploadtrigger_jenkins`: the URL is a template whose
    /// `{pkgname}` and `{pkgversion}` are filled in (URL-encoded) with the
    /// release; the same signed JSON body is POSTed. Only release events.
    Jenkins,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Standard => "standard",
            WebhookKind::Jenkins => "jenkins",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Self::Standard),
            "jenkins" => Some(Self::Jenkins),
            _ => None,
        }
    }

    /// The events this kind can be subscribed to.
    pub fn accepts(self, e: EventType) -> bool {
        match self {
            WebhookKind::Standard => true,
            WebhookKind::Jenkins => matches!(e, EventType::Upload | EventType::PushLanded),
        }
    }
}

/// Server settings of webhooks (`airlock serve --webhook-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub rules: TargetRules,
    /// Delay before the first retry; each further retry waits twice as long.
    pub retry_base: Duration,
    /// Longest wait between two attempts.
    pub retry_max: Duration,
    /// Attempts per event before it is given up (logged as failed).
    pub max_attempts: u32,
    /// Connect and total time of one attempt.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            rules: TargetRules::default(),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            max_attempts: 12,
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// How long to wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(30))
            .unwrap_or(u32::MAX);
        self.retry_base
            .checked_mul(factor)
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }
}

/// A URL template's `{pkgname}` and `{pkgversion}`, filled in URL-encoded.
pub fn fill_template(template: &str, project: &str, version: &str) -> String {
    template
        .replace("{pkgname}", &url_encode(project))
        .replace("{pkgversion}", &url_encode(version))
}

/// Percent-encode everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Put the event `entry` stands for (if any) into the outbox of every
/// subscription of its index that wants it. Runs inside the transaction
/// that wrote `entry`. An index's subscriptions go with the index (and a
/// user's with the user), after their `index.deleted` event is enqueued.
pub fn enqueue(conn: &Conn<'_>, entry: &Entry) -> Result<(), StoreError> {
    let Some(action) = Action::parse(&entry.action) else {
        return Ok(());
    };
    if action == Action::UserDelete {
        table::delete_of_user(conn, &entry.target)?;
        return Ok(());
    }
    let Some(ty) = EventType::of_audit(action, &entry.details) else {
        return Ok(());
    };
    let Some(index) = events::index_of_target(&entry.target) else {
        return Ok(());
    };
    let subscriptions = table::of_index(conn, index)?;
    if !subscriptions.is_empty() {
        let body = events::payload(ty, index, entry).to_string();
        let release = events::release_of(entry);
        let now = now_ms();
        for s in subscriptions
            .iter()
            .filter(|s| s.events.iter().any(|e| e == ty.as_str()))
        {
            let url = match WebhookKind::parse(&s.kind) {
                Some(WebhookKind::Jenkins) => match &release {
                    Some((p, v)) => fill_template(&s.url, p, v),
                    None => continue,
                },
                Some(WebhookKind::Standard) => s.url.clone(),
                None => continue,
            };
            let event_id = sign::new_event_id().map_err(|e| StoreError::Internal(e.to_string()))?;
            table::enqueue(
                conn,
                &OutboxRow {
                    id: 0,
                    event_id,
                    webhook_id: s.id,
                    index_path: index.to_string(),
                    event_type: ty.as_str().to_string(),
                    url,
                    secret: s.secret.clone(),
                    body: body.clone(),
                    created: entry.time,
                    attempts: 0,
                    next_attempt_ms: now,
                    state: "pending".into(),
                    last_error: None,
                },
            )?;
        }
    }
    if action == Action::IndexDelete {
        table::delete_of_index(conn, index)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_url_encoded() {
        assert_eq!(
            fill_template(
                "https://ci.example/job/x/buildWithParameters?PKG={pkgname}&V={pkgversion}",
                "my pkg",
                "1.0+local/x"
            ),
            "https://ci.example/job/x/buildWithParameters?PKG=my%20pkg&V=1.0%2Blocal%2Fx"
        );
    }

    /// The outbox row is part of the change's transaction: a rollback
    /// takes it away with the audit entry, a commit keeps both.
    #[tokio::test]
    async fn events_commit_and_roll_back_with_the_change() {
        use crate::audit::{self, Action, NewEntry};
        use crate::store::webhooks::WebhookRow;
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Db::open(&dir.path().join("a.sqlite3")).unwrap();
        db.write(|tx| {
            table::insert(
                tx,
                &WebhookRow {
                    id: 0,
                    index_path: "root/dev".into(),
                    kind: "standard".into(),
                    url: "http://hooks.example/".into(),
                    events: vec!["upload".into()],
                    secret: sign::new_secret().unwrap(),
                    created: 0,
                    created_by: None,
                },
            )
        })
        .await
        .unwrap();
        let count = |db: &std::sync::Arc<crate::store::Db>| {
            db.read_blocking(|c| Ok(table::events_of_index(c, "root/dev", 10)?.len()))
                .unwrap()
        };
        let failed: Result<(), StoreError> = db
            .write(|tx| {
                audit::append(tx, NewEntry::new(Action::Upload, "root/dev/p/1.0"))?;
                Err(StoreError::Internal("the change failed".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(count(&db), 0, "no event for a change that rolled back");
        db.write(|tx| {
            audit::append(tx, NewEntry::new(Action::Upload, "root/dev/p/1.0"))?;
            audit::append(tx, NewEntry::new(Action::UserCreate, "bob"))?;
            audit::append(tx, NewEntry::new(Action::Upload, "root/other/p/1.0"))?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(count(&db), 1, "one upload on root/dev");
        let e = db
            .read_blocking(|c| table::events_of_index(c, "root/dev", 10))
            .unwrap()
            .remove(0);
        let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(body["type"], "upload");
        assert_eq!(body["data"]["project"], "p");
        assert_eq!(body["data"]["version"], "1.0");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = WebhookSettings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..WebhookSettings::default()
        };
        let waits: Vec<u128> = (1..=6).map(|a| s.backoff(a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(s.backoff(1000).as_millis(), 1000);
    }
}
