//! `/+status` (server and mirror state) and `/+typo/check` (a form that
//! asks the typosquat detector about names).

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::html;

use super::format::{self, visible};
use super::layout::{self, badge, facts};
use super::{PageError, PageResult, Viewer};
use crate::names::IndexPath;
use crate::server::AppState;

pub async fn status(State(st): State<AppState>, viewer: Viewer) -> PageResult {
    let mirrors = st.registry.mirror_status().await?;
    let indexes = st.registry.all_indexes();
    let now = crate::store::now();
    let body = html! {
        h1 { "Status" }
        (facts([
            ("airlock", html! { (env!("CARGO_PKG_VERSION")) }),
            ("speaks the API of", html! { "devpi-server " (crate::server::DEVPI_API_VERSION) }),
            ("role", html! { "primary" }),
            ("indexes", html! { (indexes.len()) }),
            ("schema version", html! { (crate::store::schema_version()) }),
            ("mirror downloads in flight", html! { (st.registry.mirror.downloads_in_flight()) }),
        ]))
        h2 { "Mirrors" }
        @let up = st.registry.mirror.upstream_stats();
        (facts([
            ("upstream requests since start", html! { (up.requests) }),
            ("failed", html! { (up.failures) }),
            ("last failure", html! { @match &up.last_failure {
                Some((t, why)) => { (format::when(*t, now)) ": " (visible(why)) }
                None => "none",
            } }),
        ]))
        @if mirrors.is_empty() { p.muted { "No mirror index." } }
        @for m in &mirrors {
            h3 { a href={ "/" (m.path) } { (m.path) } " "
                 @if m.offline { (badge("warn", "offline")) } @else { (badge("ok", "online")) } }
            (facts([
                ("upstream", html! { code { (m.upstream) } }),
                ("pages fresh for", html! { (format::relative(-(m.expiry_secs as i64)).trim_start_matches("in ").to_string()) }),
                ("project pages cached", html! { (m.cache.pages) " (" (m.cache.found) " found upstream, " (m.cache.pages - m.cache.found) " not found)" }),
                ("due for revalidation", html! { (m.cache.stale) }),
                ("files listed", html! { (m.cache.files_listed) }),
                ("last fetch", html! { @if let Some(t) = m.cache.newest_fetch { (format::when(t, now)) } @else { "never" } }),
                ("oldest page", html! { @if let Some(t) = m.cache.oldest_fetch { (format::when(t, now)) } @else { "—" } }),
            ]))
        }
    };
    Ok(layout::page(&viewer, "Status", &[], body))
}

/// At most this many names per check.
const MAX_NAMES: usize = 50;

pub async fn typo_check(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let raw = q.get("name").map(String::as_str).unwrap_or("").trim();
    let names: Vec<&str> = raw
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.len() > MAX_NAMES {
        return Err(
            PageError::bad_request(format!("check at most {MAX_NAMES} names at a time"))
                .with_viewer(&viewer),
        );
    }
    let index = match q.get("index").map(String::as_str).filter(|s| !s.is_empty()) {
        Some(i) => Some(
            IndexPath::parse(i)
                .map_err(|e| PageError::bad_request(e.to_string()).with_viewer(&viewer))?,
        ),
        None => None,
    };
    let mut verdicts = Vec::new();
    for n in &names {
        verdicts.push(st.registry.typo_verdict(index.as_ref(), n).await?);
    }
    let indexes = st.registry.all_indexes();
    let chosen = index.as_ref().map(ToString::to_string).unwrap_or_default();
    let body = html! {
        h1 { "Typo check" }
        p.lead { "Is a name a look-alike of a popular or a private project? The same check runs at upload, push and install time." }
        form.filters method="get" action="/+typo/check" {
            label { "Names (comma or space separated)"
                input type="text" name="name" value=(raw) size="40" maxlength="2000" required; }
            label { "As seen from index"
                select name="index" {
                    option value="" selected[chosen.is_empty()] { "any" }
                    @for r in &indexes { option value=(r.path) selected[chosen == r.path.to_string()] { (r.path) } }
                }
            }
            button type="submit" { "Check" }
        }
        @if !verdicts.is_empty() {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Verdict" } th scope="col" { "Looks like" } th scope="col" { "Why" } } }
                tbody {
                    @for v in &verdicts {
                        tr {
                            td { code { (visible(&v.name)) } }
                            td { @if v.suspicious { (badge("bad", "suspicious")) } @else { (badge("ok", "no look-alike")) } }
                            td { @if let Some(t) = &v.target { code { (t) } } }
                            td { (v.reason) }
                        }
                    }
                }
            } }
        }
    };
    Ok(layout::page(&viewer, "Typo check", &[], body))
}
