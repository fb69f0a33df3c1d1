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
use crate::registry::{Actor, RegistryError, TypoRefusal};
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
    match cache {
        CacheUse::Hit => crate::metrics::count_cache(crate::metrics::CacheKind::Simple, true),
        CacheUse::Miss => crate::metrics::count_cache(crate::metrics::CacheKind::Simple, false),
        CacheUse::Bypass => {}
    }
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
/// - pip prints no detail of a 4xx index page at default verbosity, but it
///   prints the versions it saw when none fits and the status and reason
///   phrase of a file it fails to download: pip gets a real page listing
///   only the decoy release of `simple::decoy_files` (its version names the
///   look-alike; its files are always refused by [`refused_file`] with the
///   message), never cached anywhere;
/// - uv treats 401/403/404 as "not here" (and may silently try the next
///   index) but prints the reason phrase of any other 4xx and stops: every
///   other client gets a 400 with the message as reason phrase and body.
fn typo_refusal(
    headers: &HeaderMap,
    name: &ProjectName,
    format: Format,
    refusal: TypoRefusal,
) -> Response {
    if !is_pip(headers) {
        return ApiError::new(StatusCode::BAD_REQUEST, refusal.message).into_response();
    }
    let looks_like = refusal.looks_like.as_deref();
    let files = simple::decoy_files(name.as_str(), looks_like);
    let versions = [simple::decoy_version(looks_like)];
    let body = simple::render_project(
        &ProjectPage {
            name: name.as_str(),
            files: &files,
            versions: &versions,
        },
        format,
    );
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding, User-Agent"),
    );
    (StatusCode::OK, h, body).into_response()
}

fn is_pip(headers: &HeaderMap) -> bool {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("pip/"))
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
        Err(RegistryError::TypoBlocked(refusal)) => {
            crate::metrics::count_refusal(crate::metrics::Refusal::Typosquat);
            return Ok(typo_refusal(&headers, &name, format, refusal));
        }
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

/// `/{user}/{index}/+simple/{project}/{filename}`: where the decoy files of
/// a refused page point. Never a file: a decoy of a name that is still
/// refused gets a 403 with the refusal as reason phrase (pip prints it as
/// the download's HTTP error), anything else a 404. The same gate as the
/// page decides, so the attempt is audited as a blocked install (once per
/// window, as the page is).
pub async fn refused_file(
    State(st): State<AppState>,
    Path((user, index, project, filename)): Path<(String, String, String, String)>,
    caller: Caller,
    Remote(remote): Remote,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    let name = ProjectName::new(&project).map_err(|e| ApiError::not_found(e.to_string()))?;
    st.registry
        .check_credentials(&path, Action::Install, caller.identity())?;
    let not_here = || {
        ApiError::not_found(format!(
            "no file {} on the simple page of {name}; files are under +f/",
            crate::echo::echo(&filename)
        ))
    };
    if name.as_str() != project || !simple::may_be_decoy(&filename) {
        return Err(not_here());
    }
    match st
        .registry
        .project_for(&Actor::anonymous(remote), &path, &name)
        .await
    {
        Err(RegistryError::TypoBlocked(refusal))
            if simple::is_decoy_filename(
                name.as_str(),
                refusal.looks_like.as_deref(),
                &filename,
            ) =>
        {
            let mut resp = ApiError::forbidden(refusal.message).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(RegistryError::TypoBlocked(_)) | Ok(_) => Err(not_here()),
        Err(e) => Err(e.into()),
    }
}
