//! `/{user}/{index}/+simple/…`: the PyPI simple repository API. Project
//! lists, and project pages that no mirror contributes to, are served from
//! the page cache.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{index_path, ApiError, AppState, Caller, Remote};
use crate::names::ProjectName;
use crate::policy::Action;
use crate::registry::{Actor, RegistryError};
use crate::simple::{self, Format, IndexEntry, Page, PageKey, ProjectPage, SimpleFile};

/// Where a page came from, told in the `X-Airlock-Cache` header (for
/// operators and the benchmarks).
#[derive(Clone, Copy)]
enum CacheUse {
    Hit,
    Miss,
    /// Not cacheable: the page shows what a mirror holds.
    Bypass,
}

impl CacheUse {
    fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Bypass => "bypass",
        }
    }
}

/// Send a rendered page in the best encoding the client accepts, with its
/// ETag; `If-None-Match` naming it gets a 304.
async fn send_page(
    page: &Arc<Page>,
    format: Format,
    headers: &HeaderMap,
    cache: CacheUse,
) -> Response {
    let wanted = simple::preferred_encoding(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let encoding = page.encoding_for(wanted);
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    h.insert("x-airlock-cache", HeaderValue::from_static(cache.as_str()));
    if let Ok(v) = HeaderValue::from_str(&page.etag(encoding)) {
        h.insert(header::ETAG, v);
    }
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| page.matches(v));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    if let Some(token) = encoding.token() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
    }
    (StatusCode::OK, h, page.body(encoding).await).into_response()
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// A project page refused as a likely typosquat, shaped so that the person
/// who typed the name sees why (see docs/typosquatting.md, "What each
/// client shows"):
/// - pip prints no detail of a 4xx page at default verbosity, but it does
///   print the Content-Type of a page that is not a simple-API response, as
///   a WARNING, and then skips it: pip gets a 200 whose Content-Type is
///   `text/plain` with the message as a parameter (never cached);
/// - uv treats 401/403/404 as "not here" (and may silently try the next
///   index) but prints the reason phrase of any other 4xx and stops: every
///   other client gets a 400 with the message as reason phrase and body.
fn typo_refusal(headers: &HeaderMap, message: String) -> Response {
    let is_pip = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("pip/"));
    if !is_pip {
        return ApiError::new(StatusCode::BAD_REQUEST, message).into_response();
    }
    let param: String = message
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect();
    let ct = format!("text/plain; charset=utf-8; airlock-refused=\"{param}\"");
    let mut resp = (StatusCode::OK, format!("{message}\n")).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub async fn index_redirect(
    Path((user, index)): Path<(String, String)>,
) -> Result<Redirect, ApiError> {
    let path = index_path(&user, &index)?;
    Ok(Redirect::permanent(&format!("/{path}/+simple/")))
}

pub async fn index_page(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    st.registry
        .check_credentials(&path, Action::Install, caller.identity())?;
    let format = simple::negotiate(accept(&headers))?;
    let key = PageKey::project_list(&path, format);
    let generation = st.registry.content_generation();
    if let Some(page) = st.pages.get(&key, generation) {
        return Ok(send_page(&page, format, &headers, CacheUse::Hit).await);
    }
    let turn = st.pages.list_render_turn().await;
    if let Some(page) = st.pages.get(&key, generation) {
        drop(turn);
        return Ok(send_page(&page, format, &headers, CacheUse::Hit).await);
    }
    let projects = st.registry.visible_projects(&path).await?;
    let entries: Vec<IndexEntry<'_>> = projects
        .iter()
        .map(|p| IndexEntry { name: &p.name })
        .collect();
    let page = Arc::new(Page::new(
        simple::render_index(&entries, format),
        generation,
    ));
    st.pages.insert(key, Arc::clone(&page));
    drop(turn);
    Ok(send_page(&page, format, &headers, CacheUse::Miss).await)
}

pub async fn project_redirect(
    Path((user, index, project)): Path<(String, String, String)>,
) -> Result<Redirect, ApiError> {
    let path = index_path(&user, &index)?;
    let name = ProjectName::new(&project).map_err(|e| ApiError::not_found(e.to_string()))?;
    Ok(Redirect::permanent(&format!("/{path}/+simple/{name}/")))
}

pub async fn project_page(
    State(st): State<AppState>,
    Path((user, index, project)): Path<(String, String, String)>,
    caller: Caller,
    Remote(remote): Remote,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    let name = ProjectName::new(&project).map_err(|e| ApiError::not_found(e.to_string()))?;
    if name.as_str() != project {
        return Ok(Redirect::permanent(&format!("/{path}/+simple/{name}/")).into_response());
    }
    st.registry
        .check_credentials(&path, Action::Install, caller.identity())?;
    let format = simple::negotiate(accept(&headers))?;
    let key = PageKey::project(&path, &name, format);
    let generation = st.registry.content_generation();
    if let Some(page) = st.pages.get(&key, generation) {
        // Only pages built without a mirror are cached; a private name
        // that shadows a mirror is still watched upstream.
        st.registry.watch_cached_private_name(&path, &name);
        return Ok(send_page(&page, format, &headers, CacheUse::Hit).await);
    }
    let proj = match st
        .registry
        .project_for(&Actor::anonymous(remote), &path, &name)
        .await
    {
        Ok(p) => p,
        Err(RegistryError::TypoBlocked(message)) => return Ok(typo_refusal(&headers, message)),
        Err(e) => return Err(e.into()),
    }
    .ok_or_else(|| ApiError::not_found(format!("project {name} is not on index {path}")))?;
    let mut files: Vec<SimpleFile> = proj
        .files
        .iter()
        .map(|rf| SimpleFile {
            filename: rf.file.filename.clone(),
            url: format!(
                "../../../..{}",
                super::files::file_path(&rf.index, &rf.file)
            ),
            sha256: Some(rf.file.sha256),
            requires_python: rf.file.requires_python.clone(),
            yanked: rf.file.yanked.clone(),
            size: rf.file.size,
            upload_time: rf.file.created,
            // PEP 658 metadata is only promised for wheels: an sdist's PKG-INFO
            // may not match what building it produces.
            core_metadata: rf.file.metadata_sha256.filter(|_| rf.file.kind == "wheel"),
        })
        .collect();
    // Unverified mirror files (--mirror-unverified-files): the hash shown is
    // the one pinned on their first download, if they had one.
    files.extend(proj.links.iter().map(|rl| SimpleFile {
        filename: rl.link.filename.clone(),
        url: format!(
            "../../../..{}",
            super::mirror::link_path(&rl.index, &rl.link)
        ),
        sha256: rl.link.pinned_sha256,
        requires_python: rl.link.requires_python.clone(),
        yanked: rl.link.yanked.clone(),
        size: rl.link.size.unwrap_or(0),
        upload_time: rl.created,
        core_metadata: None,
    }));
    let versions = super::projects::sorted_versions(proj.releases.keys().cloned());
    let stale = proj.stale;
    let cacheable = !proj.from_mirror;
    let page = Arc::new(Page::new(
        simple::render_project(
            &ProjectPage {
                name: name.as_str(),
                files: &files,
                versions: &versions,
            },
            format,
        ),
        generation,
    ));
    let used = if cacheable {
        st.pages.insert(key, Arc::clone(&page));
        CacheUse::Miss
    } else {
        CacheUse::Bypass
    };
    let resp = send_page(&page, format, &headers, used).await;
    Ok(if stale {
        super::mirror::mark_stale(resp)
    } else {
        resp
    })
}
