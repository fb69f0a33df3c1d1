//! The webhook tables: subscriptions (`webhooks`), the durable outbox
//! (`webhook_outbox`, one row per event and subscription) and the delivery
//! log (`webhook_deliveries`, one row per attempt).

use super::sql::{Conn, Row};

use super::StoreError;

/// A subscription of an index to some event types.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRow {
    pub id: i64,
    pub index_path: String,
    /// `standard` or `jenkins`.
    pub kind: String,
    /// The target URL (for `jenkins`, a template with `{pkgname}`/`{pkgversion}`).
    pub url: String,
    /// Event type names.
    pub events: Vec<String>,
    /// `whsec_` + base64 of the signing key.
    pub secret: String,
    pub created: i64,
    pub created_by: Option<String>,
}

fn webhook(r: &Row<'_>) -> Result<WebhookRow, StoreError> {
    let events: String = r.get(4)?;
    Ok(WebhookRow {
        id: r.get(0)?,
        index_path: r.get(1)?,
        kind: r.get(2)?,
        url: r.get(3)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        secret: r.get(5)?,
        created: r.get(6)?,
        created_by: r.get(7)?,
    })
}

const WEBHOOK_COLUMNS: &str = "id, index_path, kind, url, events, secret, created, created_by";

/// Insert a subscription (its `id` is ignored) and return its id.
pub fn insert(conn: &Conn<'_>, w: &WebhookRow) -> Result<i64, StoreError> {
    let events = serde_json::to_string(&w.events)
        .map_err(|e| StoreError::Internal(format!("encoding webhook events: {e}")))?;
    conn.query_one(
        "INSERT INTO webhooks (index_path, kind, url, events, secret, created, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        &[
            &w.index_path,
            &w.kind,
            &w.url,
            &events,
            &w.secret,
            &w.created,
            &w.created_by,
        ],
        |r| r.get(0),
    )
}

/// The subscriptions of `index_path`, oldest first.
pub fn of_index(conn: &Conn<'_>, index_path: &str) -> Result<Vec<WebhookRow>, StoreError> {
    let rows = conn.query_map(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE index_path = ?1 ORDER BY id"),
        &[&index_path],
        webhook,
    )?;
    Ok(rows)
}

pub fn get(conn: &Conn<'_>, index_path: &str, id: i64) -> Result<Option<WebhookRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE index_path = ?1 AND id = ?2"),
        &[&index_path, &id],
        webhook,
    )
}

/// Remove subscription `id` of `index_path` and its undelivered events;
/// `false` if there was none.
pub fn delete(conn: &Conn<'_>, index_path: &str, id: i64) -> Result<bool, StoreError> {
    let n = conn.execute(
        "DELETE FROM webhooks WHERE index_path = ?1 AND id = ?2",
        &[&index_path, &id],
    )?;
    if n > 0 {
        conn.execute(
            "UPDATE webhook_outbox SET state = 'failed', last_error = 'subscription removed'
             WHERE webhook_id = ?1 AND state = 'pending'",
            &[&id],
        )?;
    }
    Ok(n > 0)
}

/// Remove every subscription of `index_path` (the index is being deleted;
/// events already in the outbox are still delivered).
pub fn delete_of_index(conn: &Conn<'_>, index_path: &str) -> Result<usize, StoreError> {
    conn.execute("DELETE FROM webhooks WHERE index_path = ?1", &[&index_path])
}

/// Remove every subscription of the indexes of `user` (the user is being deleted).
pub fn delete_of_user(conn: &Conn<'_>, user: &str) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM webhooks WHERE substr(index_path, 1, length(?1) + 1) = ?1 || '/'",
        &[&user],
    )
}

/// One event for one subscription, waiting for (or done with) delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub event_id: String,
    pub webhook_id: i64,
    pub index_path: String,
    pub event_type: String,
    /// The URL to POST to (templates already filled in).
    pub url: String,
    pub secret: String,
    /// The JSON body, exactly as signed.
    pub body: String,
    pub created: i64,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    /// `pending`, `delivered` or `failed` (attempts used up).
    pub state: String,
    pub last_error: Option<String>,
}

const OUTBOX_COLUMNS: &str = "id, event_id, webhook_id, index_path, event_type, url, secret, body,
     created, attempts, next_attempt_ms, state, last_error";

fn outbox(r: &Row<'_>) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        webhook_id: r.get(2)?,
        index_path: r.get(3)?,
        event_type: r.get(4)?,
        url: r.get(5)?,
        secret: r.get(6)?,
        body: r.get(7)?,
        created: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_ms: r.get(10)?,
        state: r.get(11)?,
        last_error: r.get(12)?,
    })
}

/// Add an event to the outbox (inside the transaction of the change it
/// reports); `id`, `attempts`, `state` and `last_error` are ignored.
pub fn enqueue(conn: &Conn<'_>, e: &OutboxRow) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO webhook_outbox (event_id, webhook_id, index_path, event_type, url, secret,
                                     body, created, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        &[
            &e.event_id,
            &e.webhook_id,
            &e.index_path,
            &e.event_type,
            &e.url,
            &e.secret,
            &e.body,
            &e.created,
            &e.next_attempt_ms,
        ],
        |r| r.get(0),
    )
}

/// Pending events due at `now_ms`, oldest first.
pub fn due(conn: &Conn<'_>, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
    let rows = conn.query_map(
        &format!(
            "SELECT {OUTBOX_COLUMNS} FROM webhook_outbox
         WHERE state = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2"
        ),
        &[&now_ms, &(limit as i64)],
        outbox,
    )?;
    Ok(rows)
}

/// Take the pending event `id` for one delivery attempt: it is moved to
/// `lease_until_ms` (when another node, or this one after a crash, may try
/// again) if it is still due at `now_ms`. `false` when another worker took
/// it first (several nodes on one database each run a worker).
pub fn claim(
    conn: &Conn<'_>,
    id: i64,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE webhook_outbox SET next_attempt_ms = ?3
         WHERE id = ?1 AND state = 'pending' AND next_attempt_ms <= ?2",
        &[&id, &now_ms, &lease_until_ms],
    )?;
    Ok(n == 1)
}

/// When the next pending event is due, if any is pending.
pub fn next_due_ms(conn: &Conn<'_>) -> Result<Option<i64>, StoreError> {
    conn.query_one(
        "SELECT min(next_attempt_ms) FROM webhook_outbox WHERE state = 'pending'",
        &[],
        |r| r.get(0),
    )
}

/// The latest events of `index_path`, newest first.
pub fn events_of_index(
    conn: &Conn<'_>,
    index_path: &str,
    limit: usize,
) -> Result<Vec<OutboxRow>, StoreError> {
    let rows = conn.query_map(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM webhook_outbox WHERE index_path = ?1 ORDER BY id DESC LIMIT ?2"
    ), &[&index_path, &(limit as i64)], outbox)?;
    Ok(rows)
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub outbox_id: i64,
    pub webhook_id: i64,
    pub index_path: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first try.
    pub attempt: i64,
    pub time: i64,
    /// The HTTP status answered, if any.
    pub status: Option<i64>,
    /// Why the attempt failed (no answer, a non-2xx status, a refused address).
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What an attempt did to its outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time (ms since the epoch).
    RetryAt(i64),
    /// No attempts left.
    GaveUp,
}

/// Log attempt `d` and move its outbox row on.
pub fn record_attempt(
    conn: &Conn<'_>,
    d: &DeliveryRow,
    outcome: AttemptOutcome,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO webhook_deliveries (outbox_id, webhook_id, index_path, event_id, event_type,
                                         attempt, time, status, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &[
            &d.outbox_id,
            &d.webhook_id,
            &d.index_path,
            &d.event_id,
            &d.event_type,
            &d.attempt,
            &d.time,
            &d.status,
            &d.error,
            &d.duration_ms,
        ],
    )?;
    let (state, next) = match outcome {
        AttemptOutcome::Delivered => ("delivered", None),
        AttemptOutcome::RetryAt(t) => ("pending", Some(t)),
        AttemptOutcome::GaveUp => ("failed", None),
    };
    conn.execute(
        "UPDATE webhook_outbox SET attempts = ?2, state = ?3,
             next_attempt_ms = coalesce(?4, next_attempt_ms), last_error = ?5
         WHERE id = ?1 AND state = 'pending'",
        &[&d.outbox_id, &d.attempt, &state, &next, &d.error],
    )?;
    Ok(())
}

/// The latest attempts on `index_path`'s subscriptions, newest first.
pub fn deliveries_of_index(
    conn: &Conn<'_>,
    index_path: &str,
    limit: usize,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = conn.query_map(
        "SELECT id, outbox_id, webhook_id, index_path, event_id, event_type, attempt, time,
                status, error, duration_ms
         FROM webhook_deliveries WHERE index_path = ?1 ORDER BY id DESC LIMIT ?2",
        &[&index_path, &(limit as i64)],
        |r| {
            Ok(DeliveryRow {
                id: r.get(0)?,
                outbox_id: r.get(1)?,
                webhook_id: r.get(2)?,
                index_path: r.get(3)?,
                event_id: r.get(4)?,
                event_type: r.get(5)?,
                attempt: r.get(6)?,
                time: r.get(7)?,
                status: r.get(8)?,
                error: r.get(9)?,
                duration_ms: r.get(10)?,
            })
        },
    )?;
    Ok(rows)
}
