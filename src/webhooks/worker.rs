//! The delivery worker: takes due events from the outbox, POSTs each to
//! its URL (after checking the address again and connecting to exactly the
//! checked address, no proxy, no redirects, short timeouts, the response
//! body never read), logs the attempt and either marks the event delivered
//! or schedules the next try with exponential backoff. An event is marked
//! delivered only after a 2xx answer, so a crash in between means one more
//! delivery, never none (at least once; receivers deduplicate on
//! `webhook-id`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;

use super::{now_ms, sign, WebhookSettings};
use crate::store::webhooks::{self as table, AttemptOutcome, DeliveryRow, OutboxRow};
use crate::store::Db;

/// Events taken from the outbox per round.
const BATCH: usize = 32;
/// Longest sleep while nothing is due (a new event wakes the worker sooner).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How much longer than one attempt's timeout an event stays taken.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);
/// Longest error text kept per attempt.
const MAX_ERROR: usize = 300;

/// Start the worker on the runtime; it runs until the process ends.
pub fn spawn(db: Arc<Db>, settings: WebhookSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(db, settings))
}

async fn run(db: Arc<Db>, settings: WebhookSettings) {
    let mut commits = db.subscribe_commits();
    loop {
        commits.borrow_and_update();
        let due = db.read(|c| table::due(c, now_ms(), BATCH)).await;
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: reading the outbox failed");
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
        };
        if !due.is_empty() {
            for row in due {
                deliver_and_record(&db, &settings, row).await;
            }
            continue;
        }
        let wait = match db.read(table::next_due_ms).await {
            Ok(Some(t)) => Duration::from_millis((t - now_ms()).max(0) as u64).min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = commits.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn deliver_and_record(db: &Arc<Db>, settings: &WebhookSettings, row: OutboxRow) {
    // With several nodes on one database, taken first so that only one
    // node's worker delivers it; after a node dies mid-attempt it is due
    // again when the lease ends. One node alone needs no lease (an event
    // it was delivering when killed is due again at its restart).
    if db.is_postgres() {
        let (id, now) = (row.id, now_ms());
        let lease_until = now + (settings.timeout + CLAIM_MARGIN).as_millis() as i64;
        match db
            .write_log(move |tx| table::claim(tx, id, now, lease_until))
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: taking an event for delivery failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        }
    }
    let attempt = row.attempts + 1;
    let started = Instant::now();
    let result = deliver(settings, &row).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let (status, error) = match result {
        Ok(status) if (200..300).contains(&status) => (Some(status), None),
        Ok(status) if (300..400).contains(&status) => (
            Some(status),
            Some(format!("answered {status}: redirects are not followed")),
        ),
        Ok(status) => (Some(status), Some(format!("answered {status}"))),
        Err(e) => (None, Some(bounded(e))),
    };
    let outcome = if error.is_none() {
        AttemptOutcome::Delivered
    } else if attempt >= i64::from(settings.max_attempts) {
        AttemptOutcome::GaveUp
    } else {
        let wait = settings.backoff(attempt as u32);
        AttemptOutcome::RetryAt(now_ms() + wait.as_millis() as i64)
    };
    match (&outcome, &error) {
        (AttemptOutcome::Delivered, _) => {
            tracing::info!(event = %row.event_id, r#type = %row.event_type, webhook = row.webhook_id, attempt, "webhook delivered")
        }
        (AttemptOutcome::GaveUp, Some(e)) => {
            tracing::warn!(event = %row.event_id, webhook = row.webhook_id, attempt, error = %e, "webhook given up")
        }
        (_, e) => {
            tracing::info!(event = %row.event_id, webhook = row.webhook_id, attempt, error = ?e, "webhook attempt failed; will retry")
        }
    }
    let d = DeliveryRow {
        id: 0,
        outbox_id: row.id,
        webhook_id: row.webhook_id,
        index_path: row.index_path.clone(),
        event_id: row.event_id.clone(),
        event_type: row.event_type.clone(),
        attempt,
        time: crate::store::now(),
        status: status.map(i64::from),
        error,
        duration_ms,
    };
    if let Err(e) = db
        .write_log(move |tx| table::record_attempt(tx, &d, outcome))
        .await
    {
        tracing::error!(error = %e, "webhooks: recording a delivery attempt failed");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn bounded(mut s: String) -> String {
    if s.len() > MAX_ERROR {
        let mut cut = MAX_ERROR;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// One attempt: the HTTP status, or why there was none.
async fn deliver(settings: &WebhookSettings, row: &OutboxRow) -> Result<u16, String> {
    let target = settings
        .rules
        .check(&row.url)
        .await
        .map_err(|e| e.to_string())?;
    let addr = target.addrs[0];
    let mut b = reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        // as before object_store turned on reqwest's http2 and native-roots
        // features: HTTP/1.1, the built-in Mozilla roots only
        .http1_only()
        .tls_built_in_native_certs(false)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .timeout(settings.timeout)
        .user_agent(concat!("airlock-webhooks/", env!("CARGO_PKG_VERSION")));
    if target.host.parse::<std::net::IpAddr>().is_err() {
        // connect to the address just checked, whatever DNS says next
        b = b.resolve(&target.host, addr);
    }
    if target.url.scheme() == "https" {
        let trust = crate::tls::trust::Trust::load(None, "").map_err(|e| e.to_string())?;
        b = trust.apply(b);
    }
    let client = b
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let timestamp = crate::store::now();
    let signature = sign::signature(&row.secret, &row.event_id, timestamp, row.body.as_bytes())
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(target.url)
        .header("content-type", "application/json")
        .header("webhook-id", &row.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(row.body.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    // The body is never read: dropping the response closes the connection.
    Ok(resp.status().as_u16())
}

/// A request error with its causes (reqwest's own text is only the top).
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
