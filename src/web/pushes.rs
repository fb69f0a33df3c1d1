//! `/+pushes`: pushes recorded for review, and `/+pushes/{id}`: one push's
//! review as a reader would go through it — files and hashes, what changed
//! against the target's previous release, every check's verdict, who may
//! decide — with approve and reject forms for the people the target's
//! policy allows (never the person who pushed).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::format::{self, visible};
use super::layout::{self, badge, facts, Crumb};
use super::viewer::check_form;
use super::{PageError, PageResult, Viewer};
use crate::names::IndexPath;
use crate::server::{AppState, BaseUrl};

fn need_login(viewer: &Viewer, what: &str) -> Result<(), PageError> {
    if viewer.user().is_none() {
        return Err(
            PageError::new(StatusCode::UNAUTHORIZED, format!("log in to see {what}"))
                .with_viewer(viewer),
        );
    }
    Ok(())
}

fn status_badge(s: &str) -> Markup {
    badge(s, s)
}

pub async fn list(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    need_login(&viewer, "pushes")?;
    let status = q.get("status").cloned().unwrap_or_else(|| "pending".into());
    let rows = st
        .registry
        .pending_pushes_json(viewer.identity(), Some(status.clone()))
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    let rows = rows.as_array().cloned().unwrap_or_default();
    let now = crate::store::now();
    let body = html! {
        h1 { "Pushes" }
        form.filters method="get" action="/+pushes" {
            label { "Status"
                select name="status" {
                    @for s in ["pending", "landed", "rejected", "failed", "all"] {
                        option value=(s) selected[s == status] { (s) }
                    }
                }
            }
            button.secondary type="submit" { "Show" }
        }
        @if rows.is_empty() {
            p.muted { "No " (status) " pushes." }
        } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "#" } th scope="col" { "Release" } th scope="col" { "From → to" } th scope="col" { "Pushed by" } th scope="col" { "When" } th scope="col" { "Status" } th scope="col" { "Approvals" } } }
                tbody {
                    @for r in &rows {
                        tr {
                            td { a href={ "/+pushes/" (r["id"]) } { "#" (r["id"]) } }
                            td { a href={ "/+pushes/" (r["id"]) } { (visible(r["project"].as_str().unwrap_or(""))) " " (r["version"].as_str().unwrap_or("")) } }
                            td { (r["source"].as_str().unwrap_or("")) " → " (r["target"].as_str().unwrap_or("")) }
                            td { (r["pusher"].as_str().unwrap_or("")) }
                            td { (format::when(r["created"].as_i64().unwrap_or(0), now)) }
                            td { (status_badge(r["status"].as_str().unwrap_or("?"))) }
                            td.num { (r["approvals"].as_array().map(Vec::len).unwrap_or(0)) }
                        }
                    }
                }
            } }
        }
    };
    Ok(layout::page(&viewer, "Pushes", &[], body))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).map(visible).collect())
        .unwrap_or_default()
}

fn s(v: &Value) -> String {
    visible(v.as_str().unwrap_or(""))
}

/// A check's verdict line: ok, or a problem with its reason.
fn verdict(ok: bool, checked: bool, label: &str, detail: Markup) -> Markup {
    html! {
        li {
            @if !checked { (badge("warn", "not checked")) }
            @else if ok { (badge("ok", "ok")) }
            @else { (badge("bad", "problem")) }
            " " strong { (label) } " " (detail)
        }
    }
}

fn review_view(r: &Value) -> Markup {
    let deps = &r["dependencies"];
    let dep_rows = |key: &str, class: &str| -> Markup {
        html! {
            @for d in deps[key].as_array().into_iter().flatten() {
                tr class=(class) {
                    td { (key) }
                    td { code { (s(&d["name"])) } }
                    td { (strs(&d["before"]).join(", ")) }
                    td { (strs(&d["after"]).join(", ")) }
                    td { @match d["present_in_target"].as_bool() {
                        Some(true) => (badge("ok", "in target")),
                        Some(false) => (badge("bad", "NOT in target")),
                        None => span.muted { "—" },
                    } }
                }
            }
        }
    };
    let ep = &r["entry_points"];
    let typo = &r["typosquat"];
    let shadow = &r["shadowing"];
    let tests = &r["tests"];
    let lic = &r["license"];
    let missing = strs(&r["missing_dependencies"]);
    html! {
        h2 { "What changes" }
        p { "Compared with "
            @match r["previous_version"].as_str() {
                Some(v) => { "the target's latest release, " strong { (v) } "." }
                None => "nothing: the project is new in the target.",
            }
        }
        h3 { "Files" }
        div.table-wrap { table {
            thead { tr { th scope="col" { "File" } th scope="col" { "Kind" } th scope="col" { "Tags" } th scope="col" { "Size" } th scope="col" { "sha256" } } }
            tbody {
                @for f in r["files"].as_array().into_iter().flatten() {
                    tr {
                        td { (s(&f["filename"])) }
                        td { (s(&f["kind"])) }
                        td { (strs(&f["python_tags"]).join(".")) " " (strs(&f["abi_tags"]).join(".")) " " (strs(&f["platform_tags"]).join(".")) }
                        td.num { @if let Some(n) = f["size"].as_u64() { (format::size(n)) } }
                        td { (format::digest(f["sha256"].as_str().unwrap_or(""))) }
                    }
                }
            }
        } }
        @if r["sdist_only"] == Value::Bool(true) {
            p.banner.warn { "Source distribution only: installing it runs its build code." }
        }
        h3 { "Dependencies" }
        @let any_dep = ["added", "removed", "changed"].iter().any(|k| deps[*k].as_array().is_some_and(|a| !a.is_empty()));
        @if any_dep {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Change" } th scope="col" { "Name" } th scope="col" { "Before" } th scope="col" { "After" } th scope="col" { "Target" } } }
                tbody { (dep_rows("added", "diff-add")) (dep_rows("removed", "diff-del")) (dep_rows("changed", "")) }
            } }
        } @else { p.muted { "No dependency changes." } }
        @if let Some(rp) = r["requires_python"].as_object() {
            p { "Requires-Python: " span.diff-del { (s(&rp["before"])) } " → " span.diff-add { (s(&rp["after"])) } }
        }
        h3 { "Entry points" }
        @let eps = ["added", "removed", "changed"].iter().map(|k| ep[*k].as_array().map(Vec::len).unwrap_or(0)).sum::<usize>();
        @if eps == 0 { p.muted { "No entry point changes." } } @else {
            ul {
                @for e in ep["added"].as_array().into_iter().flatten() { li.diff-add { "added " code { (s(&e["group"])) " " (s(&e["name"])) " = " (s(&e["value"])) } } }
                @for e in ep["removed"].as_array().into_iter().flatten() { li.diff-del { "removed " code { (s(&e["group"])) " " (s(&e["name"])) " = " (s(&e["value"])) } } }
                @for e in ep["changed"].as_array().into_iter().flatten() { li { "changed " code { (s(&e["group"])) " " (s(&e["name"])) } ": " span.diff-del { (s(&e["before"])) } " → " span.diff-add { (s(&e["after"])) } } }
            }
        }
        @let meta = r["metadata_changes"].as_array().cloned().unwrap_or_default();
        @if !meta.is_empty() {
            h3 { "Metadata" }
            ul { @for m in &meta { li { (s(&m["field"])) ": " span.diff-del { (s(&m["before"])) } " → " span.diff-add { (s(&m["after"])) } } } }
        }
        @let new_tags = strs(&r["new_platform_tags"]);
        @if !new_tags.is_empty() { p { "New platform tags: " (new_tags.join(", ")) } }
        h2 { "Checks" }
        ul.plain.verdicts {
            (verdict(typo["suspicious"] != Value::Bool(true), typo["checked"] == Value::Bool(true), "typosquatting",
                html! { @if let Some(t) = typo["target"].as_str() { "looks like " code { (visible(t)) } ": " } (s(&typo["reason"])) }))
            (verdict(shadow["shadowed_by"].is_null(), shadow["checked"] == Value::Bool(true), "shadowing",
                html! { @if let Some(b) = shadow["shadowed_by"].as_str() { "shadows " (visible(b)) } }))
            (verdict(tests["passed"] == Value::Bool(true), tests["checked"] == Value::Bool(true), "tests",
                html! { (s(&tests["summary"])) @if let Some(n) = tests["trusted_runs"].as_u64() { " (" (n) " trusted runs)" } }))
            (verdict(missing.is_empty(), true, "dependencies present in the target",
                html! { @if !missing.is_empty() { "missing: " (missing.join(", ")) } }))
            (verdict(lic["changed"] != Value::Bool(true), true, "license",
                html! { (s(&lic["license_expression"])) " " (s(&lic["license"]))
                        @if lic["changed"] == Value::Bool(true) { " (was " (s(&lic["previous_license_expression"])) (s(&lic["previous_license"])) ")" } }))
        }
        @let notes = strs(&r["notes"]);
        @if !notes.is_empty() { h3 { "Notes" } ul { @for n in &notes { li { (n) } } } }
        @if let Some(d) = r["doc_zip"].as_object() {
            p { "Documentation travels with it: " (format::digest(d.get("sha256").and_then(Value::as_str).unwrap_or(""))) }
        }
    }
}

pub async fn detail(State(st): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> PageResult {
    need_login(&viewer, "pushes")?;
    let rows = st
        .registry
        .pending_pushes_json(viewer.identity(), Some("all".into()))
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    let Some(row) = rows
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"].as_i64() == Some(id)))
        .cloned()
    else {
        return Err(PageError::not_found(format!("there is no push #{id}")).with_viewer(&viewer));
    };
    let target = IndexPath::parse(row["target"].as_str().unwrap_or("")).ok();
    let policy = target.as_ref().and_then(|t| st.registry.policy_of(t));
    let approvals = strs(&row["approvals"]);
    let pusher = row["pusher"].as_str().unwrap_or("").to_string();
    let needed = policy
        .as_ref()
        .map(|p| p.require.approvals as usize)
        .unwrap_or(0);
    let me = viewer.user().map(str::to_string);
    let may_decide = row["status"] == "pending"
        && me.as_deref().is_some_and(|u| u != pusher)
        && policy
            .as_ref()
            .is_some_and(|p| p.may_approve(crate::index::config::Principal::of(viewer.identity())));
    let already = me.as_ref().is_some_and(|u| approvals.contains(u));
    let now = crate::store::now();
    let title = format!("Push #{id}");
    let body = html! {
        h1 { "Push #" (id) ": " (s(&row["project"])) " " (s(&row["version"])) }
        p.lead { (s(&row["source"])) " → " (s(&row["target"])) }
        (facts([
            ("status", status_badge(row["status"].as_str().unwrap_or("?"))),
            ("pushed by", html! { (pusher) }),
            ("when", format::when(row["created"].as_i64().unwrap_or(0), now)),
            ("approvals", html! { (approvals.len()) " of " (needed) " needed"
                @if !approvals.is_empty() { ": " (approvals.join(", ")) } }),
            ("who may approve", html! {
                @match &policy {
                    Some(p) => { (p.approve_users.join(", ")) " " span.muted { "(never the person who pushed)" } }
                    None => span.muted { "no policy names approvers for this index" },
                }
            }),
            ("decided", html! { @if let Some(t) = row["decided"].as_i64() { (format::when(t, now)) } @else { "—" } }),
            ("reason", html! { (s(&row["reason"])) }),
        ]))
        @if may_decide {
            section.decide aria-labelledby="decide" {
                h2 #decide { "Your decision" }
                @if already {
                    p.notice { "You approved this push already; it waits for other approvers." }
                } @else {
                    form.stack method="post" action={ "/+web/pushes/" (id) "/approve" } data-confirm={ "Approve push #" (id) "?" } {
                        input type="hidden" name="csrf" value=(viewer.csrf());
                        label for="approve-comment" { "Comment (optional, kept in the audit log)" }
                        textarea #approve-comment name="comment" rows="2" maxlength="2000" {}
                        button type="submit" { "Approve" }
                    }
                }
                form.stack method="post" action={ "/+web/pushes/" (id) "/reject" } data-confirm={ "Reject push #" (id) "?" } {
                    input type="hidden" name="csrf" value=(viewer.csrf());
                    label for="reject-reason" { "Reason for rejecting" }
                    textarea #reject-reason name="reason" rows="3" required maxlength="2000" {}
                    button.danger type="submit" { "Reject" }
                }
            }
        } @else if row["status"] == "pending" {
            @if me.as_deref() == Some(pusher.as_str()) {
                p.notice { "You pushed this release: another approver must decide (four eyes)." }
            } @else {
                p.notice { "You are not among the approvers of " (s(&row["target"])) "." }
            }
        }
        (review_view(&row["review"]))
    };
    Ok(layout::page(
        &viewer,
        &title,
        &[Crumb::new("Pushes", "/+pushes")],
        body,
    ))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    comment: String,
}

pub async fn approve(
    State(st): State<AppState>,
    viewer: Viewer,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    check_form(&viewer, &base, &headers, &form.csrf)?;
    st.registry
        .approve_push(&viewer.actor(), id, Some(&form.comment))
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    Ok(see_other(
        Redirect::to(&format!("/+pushes/{id}")).into_response(),
    ))
}

pub async fn reject(
    State(st): State<AppState>,
    viewer: Viewer,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    check_form(&viewer, &base, &headers, &form.csrf)?;
    st.registry
        .reject_push(&viewer.actor(), id, &form.reason)
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    Ok(see_other(
        Redirect::to(&format!("/+pushes/{id}")).into_response(),
    ))
}

/// After a form post, the browser shows the page again with a GET.
pub fn see_other(mut r: axum::response::Response) -> axum::response::Response {
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}
