//! `/+search`: full-text search across indexes (or within one index and its
//! bases), ranked, with the index each hit lives in and where it matched.

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{html, Markup};

use super::format::visible;
use super::layout::{self, badge};
use super::{PageError, PageResult, Viewer};
use crate::names::IndexPath;
use crate::search::{Field, Snippet};
use crate::server::AppState;

fn field_name(f: &Field) -> &'static str {
    match f {
        Field::Name => "name",
        Field::Summary => "summary",
        Field::Keywords => "keywords",
        Field::Classifiers => "classifiers",
        Field::Description => "description",
        Field::Docs => "documentation",
    }
}

/// The snippet with its matches in `<mark>`, everything escaped.
fn marked(s: &Snippet) -> Markup {
    let mut parts: Vec<(bool, String)> = Vec::new();
    let mut at = 0;
    for &(a, b) in &s.highlights {
        if a < at
            || b > s.text.len()
            || a > b
            || !s.text.is_char_boundary(a)
            || !s.text.is_char_boundary(b)
        {
            continue;
        }
        parts.push((false, s.text[at..a].to_string()));
        parts.push((true, s.text[a..b].to_string()));
        at = b;
    }
    parts.push((false, s.text[at..].to_string()));
    html! {
        @for (hit, text) in &parts {
            @if *hit { mark { (visible(text)) } } @else { (visible(text)) }
        }
    }
}

pub async fn search(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let query = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let scope_raw = q
        .get("index")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let scope = match &scope_raw {
        Some(raw) => Some(
            IndexPath::parse(raw)
                .map_err(|e| PageError::bad_request(e.to_string()).with_viewer(&viewer))?,
        ),
        None => None,
    };
    let page: usize = match q.get("page") {
        Some(p) => p.parse().map_err(|_| {
            PageError::bad_request("page must be a page number (a whole number from 1)")
                .with_viewer(&viewer)
        })?,
        None => 1,
    };
    let indexes = st.registry.all_indexes();
    let chosen = scope.as_ref().map(ToString::to_string).unwrap_or_default();
    let form = html! {
        form.filters role="search" method="get" action="/+search" {
            label { "Words"
                input type="search" name="q" value=(query) size="40" maxlength="200" required; }
            label { "In"
                select name="index" {
                    option value="" selected[chosen.is_empty()] { "every index" }
                    @for r in &indexes { option value=(r.path) selected[chosen == r.path.to_string()] { (r.path) " and its bases" } }
                }
            }
            button type="submit" { "Search" }
        }
    };
    if query.is_empty() {
        let body = html! {
            h1 { "Search" }
            (form)
            p.hint { "Names, summaries, keywords, classifiers, descriptions and uploaded documentation of every stage index; mirrors by project name only." }
        };
        return Ok(layout::page(&viewer, "Search", &[], body));
    }
    let (limit, offset) = crate::search::page_window(page)
        .map_err(|e| PageError::bad_request(e.to_string()).with_viewer(&viewer))?;
    let results = st
        .registry
        .search(&query, scope.as_ref(), limit, offset)
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    let carry = format!(
        "/+search?q={}{}",
        super::audit::urlencode(&query),
        scope_raw
            .as_ref()
            .map(|s| format!("&index={}", super::audit::urlencode(s)))
            .unwrap_or_default()
    );
    let body = html! {
        h1 { "Search" }
        (form)
        @if results.hits.is_empty() {
            p.muted { "Nothing matches " strong { (visible(&query)) } "." }
        } @else {
            ol.results start=(offset + 1) {
                @for h in &results.hits {
                    li {
                        h2 {
                            @match &h.version {
                                Some(v) => a href={ "/" (h.index) "/" (crate::names::normalize(&h.project)) "/" (v) } { (visible(&h.project)) " " (v) },
                                None => a href={ "/" (h.index) "/" (crate::names::normalize(&h.project)) } { (visible(&h.project)) },
                            }
                            " " span.muted { "in " a href={ "/" (h.index) } { (h.index) } }
                        }
                        @if let Some(s) = &h.summary { p { (visible(s)) } }
                        @if !h.snippet.text.is_empty() { p.snippet { (marked(&h.snippet)) } }
                        p.muted { "matched: "
                            @for (i, f) in h.matched.iter().enumerate() { @if i > 0 { ", " } (field_name(f)) }
                            @if h.version.is_none() { " " (badge("mirror", "mirror: name only")) }
                        }
                    }
                }
            }
            @if results.capped {
                p.hint { "These words match more releases than are ranked: the hits are the best of the most recently indexed matches in each kind of field (names, then names with summaries and keywords, then everything). Add a word to narrow the search." }
            }
            nav.pager aria-label="Pages" {
                @if page > 1 { a href={ (carry) "&page=" (page - 1) } { "← previous" } }
                span { "page " (page) }
                @if results.more { a href={ (carry) "&page=" (page + 1) } { "next →" } }
            }
        }
    };
    Ok(layout::page(
        &viewer,
        &format!("Search: {query}"),
        &[],
        body,
    ))
}
