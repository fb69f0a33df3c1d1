//! Browsing: the start page (users and their indexes), a user, an index
//! with its projects, a project's versions across inheritance, and one
//! version with its metadata, description, files, provenance and tests.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::cache::Body;
use super::format::{self, visible};
use super::layout::{self, badge, facts, Crumb};
use super::{PageError, PageResult, Viewer};
use crate::dist::filename::DistFilename;
use crate::index::{IndexConfig, IndexKind};
use crate::names::{IndexPath, ProjectName};
use crate::registry::{latest_version, ResolvedProject, TestState};
use crate::server::projects::{sorted_versions, Attachments};
use crate::server::AppState;

const PROJECTS_PER_PAGE: i64 = 100;

fn index_of(user: &str, index: &str) -> Result<IndexPath, PageError> {
    IndexPath::parse(&format!("{user}/{index}"))
        .map_err(|_| PageError::not_found(format!("there is no index {user}/{index}")))
}

fn project_of(raw: &str) -> Result<ProjectName, PageError> {
    ProjectName::new(raw).map_err(|e| PageError::not_found(e.to_string()))
}

fn kind_badge(kind: IndexKind) -> Markup {
    match kind {
        IndexKind::Mirror => badge("mirror", "mirror"),
        _ => badge("stage", "stage"),
    }
}

/// `/`: every user and their indexes.
pub async fn home(State(st): State<AppState>, viewer: Viewer) -> PageResult {
    let mut by_user: std::collections::BTreeMap<String, Vec<(IndexPath, IndexConfig)>> =
        Default::default();
    for row in st.registry.all_indexes() {
        by_user
            .entry(row.path.user.as_str().to_string())
            .or_default()
            .push((row.path.clone(), row.config.clone()));
    }
    let users = st.registry.list_users_json().await?;
    if let Some(map) = users.as_object() {
        for name in map.keys() {
            by_user.entry(name.clone()).or_default();
        }
    }
    let body = html! {
        h1 { "Indexes" }
        p.lead { "Every user of this server and the indexes they own. Production indexes get packages only by a reviewed push." }
        @for (user, indexes) in &by_user {
            section aria-labelledby={ "u-" (user) } {
                h2 id={ "u-" (user) } { a href={ "/" (user) } { (user) } }
                @if indexes.is_empty() {
                    p.muted { "No indexes." }
                } @else {
                    ul.cards {
                        @for (path, cfg) in indexes {
                            (index_card(&st, path, cfg))
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&viewer, "Indexes", &[], body))
}

fn index_card(st: &AppState, path: &IndexPath, cfg: &IndexConfig) -> Markup {
    let production = st.registry.policy_of(path).is_some_and(|p| p.production);
    html! {
        li {
            h3 { a href={ "/" (path) } { (path) } }
            p {
                (kind_badge(cfg.kind)) " "
                @if production { (badge("ok", "production")) " " }
                @if cfg.volatile { (badge("warn", "volatile")) }
            }
            @if let Some(t) = &cfg.title { p { (visible(t)) } }
            @if !cfg.bases.is_empty() {
                p.muted { "bases: "
                    @for (i, b) in cfg.bases.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "/" (b) } { (b) }
                    }
                }
            }
        }
    }
}

/// `/{user}`: a user's indexes.
pub async fn user(
    State(st): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
) -> PageResult {
    st.registry
        .require_user(&user)
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    let indexes: Vec<_> = st
        .registry
        .all_indexes()
        .into_iter()
        .filter(|r| r.path.user.as_str() == user)
        .collect();
    let body = html! {
        h1 { (user) }
        @if indexes.is_empty() {
            p.muted { "This user owns no index." }
        } @else {
            ul.cards { @for r in &indexes { (index_card(&st, &r.path, &r.config)) } }
        }
    };
    Ok(layout::page(
        &viewer,
        &user,
        &[Crumb::new("Indexes", "/")],
        body,
    ))
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    page: Option<i64>,
}

/// `/{user}/{index}`: configuration, policy, and the latest release of
/// every project the index holds.
pub async fn index(
    State(st): State<AppState>,
    viewer: Viewer,
    Path((user, index)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let path = index_of(&user, &index)?;
    let row = st
        .registry
        .index(&path)
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    let cfg = &row.config;
    let page = q.page.unwrap_or(1).max(1);
    let key = format!("index:{path}?{page}");
    let generation = st.registry.content_generation();
    let now = crate::store::now();
    if let Some(b) = st.web_pages.get(&key, generation, now) {
        return Ok(show(&viewer, b));
    }
    let overview = st
        .registry
        .index_overview(&path, PROJECTS_PER_PAGE, (page - 1) * PROJECTS_PER_PAGE)
        .await?;
    let policy = st.registry.policy_of(&path);
    let list = |v: &[String]| -> Markup {
        html! { @if v.is_empty() { span.muted { "nobody" } } @else { (v.join(", ")) } }
    };
    let pages = (overview.total + PROJECTS_PER_PAGE - 1) / PROJECTS_PER_PAGE;
    let body = html! {
        h1 { (path) " " (kind_badge(cfg.kind)) }
        @if let Some(t) = &cfg.title { p.lead { (visible(t)) } }
        @if let Some(d) = &cfg.description { p { (visible(d)) } }
        div.two-col {
            section aria-labelledby="cfg" {
                h2 #cfg { "Configuration" }
                (facts([
                    ("type", html! { (format!("{:?}", cfg.kind).to_lowercase()) }),
                    ("bases", html! {
                        @if cfg.bases.is_empty() { span.muted { "none" } }
                        @for (i, b) in cfg.bases.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href={ "/" (b) } { (b) }
                        }
                    }),
                    ("volatile", html! { (if cfg.volatile { "yes: releases may be overwritten or deleted" } else { "no" }) }),
                    ("upload ACL", list(&cfg.acl_upload)),
                    ("test result ACL", list(&cfg.acl_toxresult_upload)),
                    ("mirror whitelist", html! {
                        @if cfg.mirror_whitelist.is_empty() { span.muted { "none" } } @else { (cfg.mirror_whitelist.join(", ")) }
                    }),
                    ("simple page", html! { a href={ "/" (path) "/+simple/" } { "/" (path) "/+simple/" } }),
                ]))
                @if let Some(url) = &cfg.mirror_url {
                    (facts([("upstream", html! { code { (url) } })]))
                }
            }
            section aria-labelledby="pol" {
                h2 #pol { "Policy" }
                @match &policy {
                    None => p.muted { "No policy in policies/ names this index." },
                    Some(p) => {
                        (facts([
                            ("production", html! { (if p.production { "yes: never inherits a mirror" } else { "no" }) }),
                            ("direct uploads", html! { (if p.uploads { "allowed" } else { "refused" }) }),
                            ("accepts pushes from", html! {
                                @if p.accepts_push_from.is_empty() { span.muted { "nowhere" } }
                                @for (i, s) in p.accepts_push_from.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href={ "/" (s) } { (s) }
                                }
                            }),
                            ("who may push", list(&p.push_users)),
                            ("who may approve", list(&p.approve_users)),
                            ("approvals needed", html! { (p.require.approvals) }),
                            ("tests must pass", html! { (if p.require.tests_passed { "yes" } else { "no" }) }),
                            ("no typosquats", html! { (if p.require.no_typosquat { "yes" } else { "no" }) }),
                            ("defined at", html! { code { (p.defined_at.to_string()) } }),
                        ]))
                    }
                }
            }
        }
        section aria-labelledby="projects" {
            h2 #projects { "Projects (" (overview.total) ")" }
            @if cfg.kind == IndexKind::Mirror {
                p.hint { "A mirror lists the projects it has cached; any other project is fetched from upstream when first asked for." }
            }
            @if overview.projects.is_empty() {
                p.muted { "This index holds no project of its own." @if !cfg.bases.is_empty() { " It serves what its bases hold." } }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Project" } th scope="col" { "Latest" } th scope="col" { "Summary" } th scope="col" { "Files" } th scope="col" { "Tests" } th scope="col" { "Docs" } th scope="col" { "Released" } } }
                    tbody {
                        @for p in &overview.projects {
                            tr {
                                td { a href={ "/" (path) "/" (p.latest.project) } { (visible(&p.latest.display_name)) } }
                                td { a href={ "/" (path) "/" (p.latest.project) "/" (p.latest.version) } { (p.latest.version) }
                                     @if p.versions > 1 { " " span.muted { "(" (p.versions) " versions)" } } }
                                td { (visible(p.latest.summary.as_deref().unwrap_or(""))) }
                                td.num { (p.latest.files) }
                                td { (test_badge(p.tests)) }
                                td { @if p.latest.has_docs { a href={ "/" (path) "/" (p.latest.project) "/" (p.latest.version) "/+doc/" } { "docs" } } }
                                td { (format::when(p.latest.created, now)) }
                            }
                        }
                    }
                } }
                @if pages > 1 {
                    nav.pager aria-label="Pages" {
                        @if page > 1 { a href={ "?page=" (page - 1) } { "← previous" } }
                        span { "page " (page) " of " (pages) }
                        @if page < pages { a href={ "?page=" (page + 1) } { "next →" } }
                    }
                }
            }
        }
    };
    let body = Body {
        title: path.to_string(),
        crumbs: vec![
            Crumb::new("Indexes", "/"),
            Crumb::new(path.user.as_str(), format!("/{}", path.user.as_str())),
        ],
        html: body,
    };
    st.web_pages.insert(key, generation, now, &body);
    Ok(show(&viewer, body))
}

fn test_badge(t: TestState) -> Markup {
    match t {
        TestState::None => html! { span.muted { "—" } },
        TestState::Passed => badge("passed", "passed"),
        TestState::Failed => badge("failed", "failed"),
    }
}

async fn resolve(
    st: &AppState,
    viewer: &Viewer,
    path: &IndexPath,
    name: &ProjectName,
) -> Result<ResolvedProject, PageError> {
    st.registry
        .project_for(&viewer.actor(), path, name)
        .await
        .map_err(|e| PageError::from(e).with_viewer(viewer))?
        .ok_or_else(|| {
            PageError::not_found(format!("project {name} is not on index {path}"))
                .with_viewer(viewer)
        })
}

fn summary_of(metadata: &str) -> String {
    serde_json::from_str::<Value>(metadata)
        .ok()
        .and_then(|m| m["summary"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `/{user}/{index}/{project}`: every version visible from the index and
/// the index each comes from.
pub async fn project(
    State(st): State<AppState>,
    viewer: Viewer,
    Path((user, index, project)): Path<(String, String, String)>,
) -> PageResult {
    let path = index_of(&user, &index)?;
    let name = project_of(&project)?;
    let key = format!("project:{path}/{name}");
    let generation = st.registry.content_generation();
    let now = crate::store::now();
    if let Some(b) = st.web_pages.get(&key, generation, now) {
        return Ok(show(&viewer, b));
    }
    let proj = resolve(&st, &viewer, &path, &name).await?;
    let extra = Attachments::load(&st, &name, &proj).await?;
    let mut versions = sorted_versions(proj.releases.keys().cloned());
    versions.reverse();
    let mut files_per_version: HashMap<&str, usize> = HashMap::new();
    for f in &proj.files {
        *files_per_version
            .entry(f.file.version.as_str())
            .or_default() += 1;
    }
    for l in &proj.links {
        *files_per_version.entry(l.version.as_str()).or_default() += 1;
    }
    let latest = versions.first().cloned().unwrap_or_default();
    let summary = proj
        .releases
        .get(&latest)
        .map(|(_, r)| summary_of(&r.metadata))
        .unwrap_or_default();
    let body = html! {
        h1 { (visible(&proj.display_name)) }
        @if !summary.is_empty() { p.lead { (visible(&summary)) } }
        @if proj.stale { p.banner.warn role="status" { "Upstream could not be reached: this is what the mirror cached earlier." } }
        p {
            a href={ "/" (path) "/+simple/" (proj.name) "/" } { "simple page" }
            @if !latest.is_empty() { " · " a href={ "/" (path) "/" (proj.name) "/" (latest) } { "latest version" } }
        }
        h2 { "Versions" }
        @if versions.is_empty() {
            p.muted { "No versions." }
        } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "From index" } th scope="col" { "Files" } th scope="col" { "Docs" } th scope="col" { "Released" } } }
                tbody {
                    @for v in &versions {
                        @if let Some((holder, rel)) = proj.releases.get(v) {
                            tr {
                                td { a href={ "/" (path) "/" (proj.name) "/" (v) } { (v) } }
                                td { a href={ "/" (holder) } { (holder) }
                                     @if holder != &path { " " span.muted { "(inherited)" } } }
                                td.num { (files_per_version.get(v.as_str()).copied().unwrap_or(0)) }
                                td { @if extra.docs.contains_key(&(holder.clone(), v.clone())) {
                                    a href={ "/" (holder) "/" (proj.name) "/" (v) "/+doc/" } { "docs" } } }
                                td { (format::when(rel.created, now)) }
                            }
                        }
                    }
                }
            } }
        }
    };
    let body = Body {
        title: proj.display_name.clone(),
        crumbs: vec![
            Crumb::new("Indexes", "/"),
            Crumb::new(path.to_string(), format!("/{path}")),
        ],
        html: body,
    };
    if !proj.from_mirror {
        st.web_pages.insert(key, generation, now, &body);
    }
    Ok(show(&viewer, body))
}

fn is_prerelease(v: &str) -> bool {
    v.parse::<pep440_rs::Version>()
        .map(|p| p.any_prerelease())
        .unwrap_or(true)
}

/// `/{user}/{index}/{project}/{version}` (and `latest`, `stable`).
pub async fn version(
    State(st): State<AppState>,
    viewer: Viewer,
    Path((user, index, project, version)): Path<(String, String, String, String)>,
) -> PageResult {
    let path = index_of(&user, &index)?;
    let name = project_of(&project)?;
    let key = format!("version:{path}/{name}/{version}");
    let generation = st.registry.content_generation();
    let now = crate::store::now();
    if let Some(b) = st.web_pages.get(&key, generation, now) {
        return Ok(show(&viewer, b));
    }
    let proj = resolve(&st, &viewer, &path, &name).await?;
    let all: Vec<&str> = proj.releases.keys().map(String::as_str).collect();
    let newest = latest_version(all.iter().copied())
        .unwrap_or("")
        .to_string();
    let wanted = match version.as_str() {
        "latest" => newest.clone(),
        "stable" => latest_version(all.iter().copied().filter(|v| !is_prerelease(v)))
            .unwrap_or("")
            .to_string(),
        v => crate::registry::normalize_version(v)
            .map_err(|e| PageError::not_found(e.to_string()).with_viewer(&viewer))?,
    };
    let Some((holder, release)) = proj.releases.get(&wanted) else {
        return Err(
            PageError::not_found(format!("{name} {version} is not on index {path}"))
                .with_viewer(&viewer),
        );
    };
    let extra = Attachments::load(&st, &name, &proj).await?;
    let description = st
        .registry
        .release_description(holder, &name, &wanted)
        .await?;
    let meta: Value = serde_json::from_str(&release.metadata).unwrap_or(Value::Null);
    let files: Vec<_> = proj
        .files
        .iter()
        .filter(|f| f.file.version == wanted)
        .collect();
    let links: Vec<_> = proj.links.iter().filter(|l| l.version == wanted).collect();
    let docs = extra.docs.get(&(holder.clone(), wanted.clone()));
    let text = |k: &str| meta[k].as_str().filter(|s| !s.is_empty()).map(visible);
    let strings = |k: &str| -> Vec<String> {
        meta[k]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).map(visible).collect())
            .unwrap_or_default()
    };
    let mut rows: Vec<(&str, Markup)> = Vec::new();
    for (label, key) in [
        ("author", "author"),
        ("author e-mail", "author_email"),
        ("maintainer", "maintainer"),
        ("maintainer e-mail", "maintainer_email"),
        ("license", "license_expression"),
        ("license text", "license"),
        ("requires Python", "requires_python"),
        ("home page", "home_page"),
        ("keywords", "keywords"),
    ] {
        if let Some(v) = text(key) {
            rows.push((label, html! { (v) }));
        }
    }
    let urls = strings("project_urls");
    if !urls.is_empty() {
        rows.push((
            "project URLs",
            html! { ul.plain { @for u in &urls { li { (u) } } } },
        ));
    }
    let deps = strings("requires_dist");
    let extras = strings("provides_extra");
    let classifiers = strings("classifiers");
    let stage_file = |id: i64| extra.toxresults.get(&id);
    let body = html! {
        h1 { (visible(&proj.display_name)) " " (wanted) }
        @if let Some(s) = text("summary") { p.lead { (s) } }
        @if !newest.is_empty() && newest != wanted {
            p.banner role="status" {
                "A newer version is available: "
                a href={ "/" (path) "/" (proj.name) "/" (newest) } { (proj.display_name) " " (newest) }
            }
        }
        @if holder != &path {
            p.notice { "This release is inherited from " a href={ "/" (holder) } { (holder) } "." }
        }
        p {
            a href={ "/" (path) "/" (proj.name) } { "all versions" }
            " · " a href={ "/" (path) "/+simple/" (proj.name) "/" } { "simple page" }
            @if docs.is_some() { " · " a href={ "/" (holder) "/" (proj.name) "/" (wanted) "/+doc/" } { "documentation" } }
        }
        h2 { "Description" }
        @match &description {
            Some(d) => div.readme { (maud::PreEscaped(&d.html)) },
            None => p.muted { "No description was stored with this release." },
        }
        h2 { "Metadata" }
        @if rows.is_empty() { p.muted { "The release declares no further metadata." } }
        (facts(rows))
        @if !deps.is_empty() {
            h3 { "Dependencies" }
            ul { @for d in &deps { li { code { (d) } } } }
        }
        @if !extras.is_empty() { p { "Extras: " (extras.join(", ")) } }
        @if !classifiers.is_empty() {
            details { summary { "Classifiers (" (classifiers.len()) ")" } ul { @for c in &classifiers { li { (c) } } } }
        }
        h2 { "Files" }
        @if files.is_empty() && links.is_empty() {
            p.muted { "This release has no files (documentation only)." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "File" } th scope="col" { "Type" } th scope="col" { "Python" }
                    th scope="col" { "Size" } th scope="col" { "sha256" } th scope="col" { "Uploaded" } th scope="col" { "Provenance" }
                } }
                tbody {
                    @for f in &files {
                        tr {
                            td { a href=(crate::server::files::file_path(&f.index, &f.file)) { (f.file.filename) }
                                 @if let Some(y) = &f.file.yanked { " " (badge("warn", "yanked")) " " span.muted { (y) } } }
                            td { (f.file.kind) }
                            td { (python_tag(&f.file.filename)) }
                            td.num { (format::size(f.file.size)) }
                            td { (format::digest(&f.file.sha256.to_hex())) }
                            td { (format::when(f.file.created, now)) }
                            td { (provenance(&f.file.provenance, &f.file.uploader, f.file.created, now)) }
                        }
                    }
                    @for l in &links {
                        tr {
                            td { a href=(crate::server::mirror::link_path(&l.index, &l.link)) { (l.link.filename) } }
                            td { "mirror link" }
                            td { (python_tag(&l.link.filename)) }
                            td.num { @if let Some(s) = l.link.size { (format::size(s)) } }
                            td { @match &l.link.pinned_sha256 {
                                Some(p) => { (format::digest(&p.to_hex())) " " (badge("warn", "trust on first use")) }
                                None => span.muted { "not yet downloaded: no digest" },
                            } }
                            td { (format::when(l.created, now)) }
                            td { "listed by upstream without a sha256" }
                        }
                    }
                }
            } }
        }
        h2 { "Tests" }
        @let runs: Vec<_> = files.iter().filter_map(|f| stage_file(f.file.id).map(|r| (f, r))).collect();
        @if runs.is_empty() {
            p.muted { "No test results were posted for these files." }
        } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "File" } th scope="col" { "Environment" } th scope="col" { "Python" } th scope="col" { "Platform / host" } th scope="col" { "Outcome" } th scope="col" { "Posted" } th scope="col" { "Output" } } }
                tbody {
                    @for (f, results) in &runs {
                        @for r in results.iter() {
                            @for e in &r.envs {
                                tr {
                                    td { (f.file.filename) }
                                    td { code { (e.env) } }
                                    td { (e.python.clone().unwrap_or_default()) }
                                    td { (e.platform) " / " (e.host) }
                                    td { (outcome_badge(&e.outcome)) }
                                    td { (r.uploader.clone().unwrap_or_else(|| "anonymous".into())) ", " (format::when(r.created, now)) }
                                    td { a href={ (crate::server::files::file_path(&f.index, &f.file)) (crate::server::toxresults::toxresult_suffix(r.id)) } { "full output" } }
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    let body = Body {
        title: format!("{} {}", proj.display_name, wanted),
        crumbs: vec![
            Crumb::new("Indexes", "/"),
            Crumb::new(path.to_string(), format!("/{path}")),
            Crumb::new(proj.display_name.clone(), format!("/{path}/{}", proj.name)),
        ],
        html: body,
    };
    if !proj.from_mirror {
        st.web_pages.insert(key, generation, now, &body);
    }
    Ok(show(&viewer, body))
}

fn show(viewer: &Viewer, body: Body) -> axum::response::Response {
    layout::page(viewer, &body.title, &body.crumbs, body.html)
}

fn outcome_badge(o: &crate::dist::toxresult::EnvOutcome) -> Markup {
    let s = format!("{o:?}").to_lowercase();
    let kind = if s.contains("pass") {
        "passed"
    } else if s.contains("fail") || s.contains("error") {
        "failed"
    } else {
        "warn"
    };
    badge(kind, &s)
}

/// `py3`, `cp311`… for a wheel; `source` for an sdist.
fn python_tag(filename: &str) -> String {
    match DistFilename::parse(filename) {
        Ok(d) => {
            if d.python_tags.is_empty() {
                "source".into()
            } else {
                d.python_tags.join(".")
            }
        }
        Err(_) => String::new(),
    }
}

/// A file's history from its recorded provenance: upload or mirror fetch,
/// overwrites, each push hop with who approved it.
fn provenance(raw: &str, uploader: &str, created: i64, now: i64) -> Markup {
    let hops: Vec<Value> = serde_json::from_str(raw).unwrap_or_default();
    let s = |h: &Value, k: &str| h[k].as_str().unwrap_or("?").to_string();
    let at = |h: &Value, k: &str| h[k].as_i64();
    let line = |h: &Value| -> Markup {
        match h["op"].as_str() {
            Some("upload") => {
                html! { "uploaded by " strong { (s(h, "by")) } " to " (s(h, "index")) " " @if let Some(t) = at(h, "at") { (format::when(t, now)) } }
            }
            Some("mirror") => {
                html! { "fetched from " code { (s(h, "url")) } " " @if let Some(t) = at(h, "fetched") { (format::when(t, now)) } " " @if h["verified"] == Value::Bool(true) { (badge("verified", "sha256 verified")) } }
            }
            Some("overwrite") => {
                html! { "overwritten by " (s(h, "by")) " " @if let Some(t) = at(h, "at") { (format::when(t, now)) } }
            }
            Some("push") => html! {
                "pushed " (s(h, "from")) " → " (s(h, "to")) " by " strong { (s(h, "by")) } " "
                @if let Some(t) = at(h, "at") { (format::when(t, now)) }
                @if let Some(a) = h["approved_by"].as_array().filter(|a| !a.is_empty()) {
                    ", approved by " (a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
                }
            },
            Some("import") => {
                html! { "imported from " (s(h, "from")) " " @if let Some(t) = at(h, "at") { (format::when(t, now)) } }
            }
            _ => html! { span.muted { "(unrecorded step)" } },
        }
    };
    if hops.is_empty() {
        return html! { "uploaded by " strong { (uploader) } " " (format::when(created, now)) };
    }
    let last = hops.last().map(line).unwrap_or_default();
    html! {
        (last)
        @if hops.len() > 1 {
            details { summary { "history (" (hops.len()) " steps)" }
                ol { @for h in &hops { li { (line(h)) } } }
            }
        }
    }
}
