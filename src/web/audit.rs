//! `/+audit`: the audit log with filters and the chain's verification
//! state; `/+alerts`: dependency-confusion and other security alerts, with
//! an acknowledge form. Both are root's, as in the API.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::format::{self, visible};
use super::layout::{self, badge, facts};
use super::pushes::see_other;
use super::viewer::check_form;
use super::{PageError, PageResult, Viewer};
use crate::server::{AppState, BaseUrl};
use crate::store::audit::AuditFilter;

const ENTRIES_PER_PAGE: usize = 100;

fn need_root(viewer: &Viewer, what: &str) -> Result<(), PageError> {
    match viewer.identity() {
        None => Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            format!("log in as root to see {what}"),
        )
        .with_viewer(viewer)),
        Some(i) if !i.is_root() => {
            Err(PageError::forbidden(format!("only root may see {what}")).with_viewer(viewer))
        }
        Some(_) => Ok(()),
    }
}

fn param(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub async fn audit(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    need_root(&viewer, "the audit log")?;
    let before = match param(&q, "before") {
        Some(b) => Some(b.parse::<i64>().map_err(|_| {
            PageError::bad_request(format!("before must be an entry number, not {b:?}"))
                .with_viewer(&viewer)
        })?),
        None => None,
    };
    let filter = AuditFilter {
        before,
        target_prefix: param(&q, "index"),
        actor: param(&q, "user"),
        action: param(&q, "action"),
    };
    let (entries, head) = st
        .registry
        .audit_search(viewer.identity(), filter.clone(), ENTRIES_PER_PAGE)
        .await?;
    let report = st.registry.audit_verify(viewer.identity(), None).await?;
    let now = crate::store::now();
    let next_before = entries
        .last()
        .map(|e| e.seq)
        .filter(|_| entries.len() == ENTRIES_PER_PAGE);
    let keep = |k: &str, v: &Option<String>| {
        v.as_ref()
            .map(|v| format!("&{k}={}", urlencode(v)))
            .unwrap_or_default()
    };
    let carry = format!(
        "{}{}{}",
        keep("index", &filter.target_prefix),
        keep("user", &filter.actor),
        keep("action", &filter.action)
    );
    let body = html! {
        h1 { "Audit log" }
        @if report.is_intact() {
            p.banner role="status" { (badge("verified", "chain verified")) " "
                "Every entry's hash chains to the one before it, up to entry " strong { (report.head.seq) } " (" (report.entries) " entries)." }
        } @else {
            p.banner.bad role="alert" { (badge("bad", "chain broken")) " "
                (report.problems.len()) " problem(s) found; see " code { "airlock audit verify" } "." }
            ul { @for p in &report.problems { li { (p.to_string()) } } }
        }
        (facts([
            ("head", html! { code { (head.seq) ":" (head.hash) } }),
            ("anchor", html! { "Copy the head somewhere this server cannot write; later check it with " code { "airlock audit verify --anchor SEQ:HASH" } "." }),
        ]))
        form.filters method="get" action="/+audit" {
            label { "Index (user/index)" input type="text" name="index" value=(filter.target_prefix.clone().unwrap_or_default()) maxlength="200"; }
            label { "User" input type="text" name="user" value=(filter.actor.clone().unwrap_or_default()) maxlength="64"; }
            label { "Action"
                select name="action" {
                    option value="" { "any" }
                    @for a in crate::audit::Action::ALL {
                        @let name = a.as_str();
                        option value=(name) selected[filter.action.as_deref() == Some(name)] { (name) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if entries.is_empty() { p.muted { "No entries match." } } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Details" } } }
                tbody {
                    @for e in &entries {
                        tr {
                            td.num { (e.seq) }
                            td { (format::when(e.time, now)) }
                            td { (e.actor.clone().unwrap_or_else(|| "—".into()))
                                 @if e.cert_fingerprint.is_some() { " " (badge("info", "cert")) }
                                 @if let Some(r) = &e.remote { br; span.muted { (r) } } }
                            td { code { (e.action) } }
                            td { (visible(&e.target)) }
                            td { details { summary { "details" } pre { code { (pretty(&e.details)) } } } }
                        }
                    }
                }
            } }
            @if let Some(b) = next_before {
                nav.pager aria-label="Pages" { a href={ "/+audit?before=" (b) (carry) } { "older entries →" } }
            }
        }
    };
    Ok(layout::page(&viewer, "Audit log", &[], body))
}

fn pretty(v: &Value) -> String {
    visible(&serde_json::to_string_pretty(v).unwrap_or_default())
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn alerts(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    need_root(&viewer, "security alerts")?;
    let all = q.get("all").is_some_and(|v| v == "1");
    let rows = st.registry.alerts_json(viewer.identity(), 0, all).await?;
    let rows = rows.as_array().cloned().unwrap_or_default();
    let now = crate::store::now();
    let body = html! {
        h1 { "Security alerts" }
        p.lead { "A private project name appearing on the public index (dependency confusion), and other events that need a person." }
        p { @if all { a href="/+alerts" { "show open alerts only" } } @else { a href="/+alerts?all=1" { "show acknowledged alerts too" } } }
        @if rows.is_empty() { p.muted { "No alerts." } }
        @for a in rows.iter().rev() {
            article.notice.banner.warn aria-labelledby={ "alert-" (a["id"]) } {
                h2 id={ "alert-" (a["id"]) } { "#" (a["id"]) " " (visible(a["project"].as_str().unwrap_or(""))) " "
                    (badge(if a["severity"] == "critical" || a["severity"] == "high" { "bad" } else { "warn" }, a["severity"].as_str().unwrap_or("?"))) }
                p { (visible(a["message"].as_str().unwrap_or(""))) }
                (facts([
                    ("kind", html! { code { (a["kind"].as_str().unwrap_or("")) } }),
                    ("index", html! { (a["index"].as_str().unwrap_or("")) }),
                    ("raised", format::when(a["created"].as_i64().unwrap_or(0), now)),
                ]))
                @if let Some(ack) = a["acked"].as_object() {
                    p { (badge("ok", "acknowledged")) " by " (ack.get("by").and_then(Value::as_str).unwrap_or("?")) ": " (visible(ack.get("note").and_then(Value::as_str).unwrap_or(""))) }
                } @else {
                    form.stack method="post" action={ "/+web/alerts/" (a["id"]) "/ack" } {
                        input type="hidden" name="csrf" value=(viewer.csrf());
                        label for={ "note-" (a["id"]) } { "Note (what was checked, what was done)" }
                        input type="text" id={ "note-" (a["id"]) } name="note" required maxlength="2000";
                        button.secondary type="submit" { "Acknowledge" }
                    }
                }
            }
        }
    };
    Ok(layout::page(&viewer, "Security alerts", &[], body))
}

#[derive(Deserialize)]
pub struct AckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

pub async fn ack(
    State(st): State<AppState>,
    viewer: Viewer,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<AckForm>,
) -> PageResult {
    check_form(&viewer, &base, &headers, &form.csrf)?;
    st.registry
        .ack_alert(&viewer.actor(), id, &form.note)
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    Ok(see_other(Redirect::to("/+alerts").into_response()))
}
