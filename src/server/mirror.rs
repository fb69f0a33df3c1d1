//! Mirror specifics of the file and simple routes: files of a mirror index
//! come from its cache or, the first time, stream from upstream while they
//! are verified; pages served from a cache upstream could not confirm are
//! marked stale. Under `--mirror-unverified-files`, files upstream lists
//! without a usable sha256 are served from `+e/{dirname}/{filename}` (see
//! `mirror::unverified`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::files::{content_type_of, serve_blob, serve_blob_or_quarantine};
use super::{index_path, ApiError, AppState, Caller};
use crate::index::IndexKind;
use crate::mirror::{FilePart, LinkPath, MirroredFile};
use crate::names::IndexPath;
use crate::registry::RegistryError;
use crate::store::mirror::MirrorLinkRow;

/// The URL path of an unverified mirror link: devpi's `+e/{dirname}/…`, or
/// `+f/{h1}/{h2}/…` from the malformed digest upstream declared.
pub fn link_path(index: &IndexPath, link: &MirrorLinkRow) -> String {
    match LinkPath::of(link) {
        LinkPath::External { dirname } => format!("/{index}/+e/{dirname}/{}", link.filename),
        LinkPath::Declared { h1, h2 } => format!("/{index}/+f/{h1}/{h2}/{}", link.filename),
    }
}

/// `GET /{user}/{index}/+e/{dirname}/{filename}`: an unverified mirror file.
/// Errors are JSON whatever the client accepts, as from devpi.
pub async fn download_external(
    State(st): State<AppState>,
    Path((user, index, dirname, filename)): Path<(String, String, String, String)>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let served = async {
        let path = index_path(&user, &index)?;
        st.registry
            .check_credentials(&path, crate::policy::Action::Install, caller.identity())?;
        let place = LinkPath::External { dirname };
        serve_link(&st, &path, &place, &filename, &method, &headers)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("file {filename} is not on index {path}")))
    };
    match served.await {
        Ok(resp) => resp,
        Err(e) => {
            let mut resp = e.into_response();
            resp.extensions_mut().remove::<super::error::ErrorMessage>();
            resp
        }
    }
}

/// Serve an unverified link of a mirror index; `Ok(None)` if there is none
/// at `place`.
async fn serve_link(
    st: &AppState,
    path: &IndexPath,
    place: &LinkPath,
    filename: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    let index = st.registry.index(path)?;
    if index.config.kind != IndexKind::Mirror {
        return Ok(None);
    }
    let mirror = &st.registry.mirror;
    let Some(link) = mirror
        .find_link(index.id, filename, place)
        .await
        .map_err(RegistryError::from)?
    else {
        return Ok(None);
    };
    let sha = mirror
        .open_link(index.id, &link)
        .await
        .map_err(RegistryError::from)?;
    let content_type = content_type_of(&link.filename);
    match serve_blob_or_quarantine(st, sha, content_type, method, headers, true).await {
        Ok(resp) => return Ok(Some(resp)),
        Err(refused) if !refused.quarantined => return Err(refused.error),
        Err(_) => {}
    }
    // altered on disk and quarantined: fetched again (the pinned digest
    // must match), once
    let sha = mirror
        .open_link(index.id, &link)
        .await
        .map_err(RegistryError::from)?;
    serve_blob(st, sha, content_type, method, headers)
        .await
        .map(Some)
}

/// Serve `+f/{h1}/{h2}/{filename}` of a mirror index; `Ok(None)` if `path`
/// is not a mirror (the caller serves stage files).
pub(super) async fn download(
    st: &AppState,
    path: &IndexPath,
    [h1, h2]: [&str; 2],
    filename: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    let index = st.registry.index(path)?;
    if index.config.kind != IndexKind::Mirror {
        return Ok(None);
    }
    let (dist_name, part) = match filename.strip_suffix(".metadata") {
        Some(base) => (base, FilePart::CoreMetadata),
        None => (filename, FilePart::Dist),
    };
    let missing = || ApiError::not_found(format!("file {filename} is not on index {path}"));
    let mirror = &st.registry.mirror;
    let Some(file) = mirror
        .find_file(index.id, dist_name, h1, h2)
        .await
        .map_err(RegistryError::from)?
    else {
        // an unverified link listed under the malformed digest upstream declared
        let place = LinkPath::Declared {
            h1: h1.to_string(),
            h2: h2.to_string(),
        };
        return match serve_link(st, path, &place, filename, method, headers).await? {
            Some(resp) => Ok(Some(resp)),
            None => Err(missing()),
        };
    };
    let content_type = match part {
        FilePart::Dist => content_type_of(&file.filename),
        FilePart::CoreMetadata => "text/plain; charset=utf-8",
    };
    let open = || async {
        mirror
            .open_file(&file, part)
            .await
            .map_err(RegistryError::from)?
            .ok_or_else(missing)
    };
    let mut opened = open().await?;
    if let MirroredFile::Cached(sha) = opened {
        // A cached copy altered on disk is moved out of the store, and one
        // evicted from the mirror cache between the lookup and opening it is
        // gone: either way it is fetched (and verified) again, once, for
        // this same request.
        match serve_blob_or_quarantine(st, sha, content_type, method, headers, true).await {
            Ok(resp) => return Ok(Some(resp)),
            Err(refused) if refused.quarantined => {}
            Err(_) if !st.registry.store.blobs.exists(&sha) => {
                tracing::info!(file = %file.filename, sha256 = %sha, "mirror cache: evicted while being served; fetching again");
            }
            Err(refused) => return Err(refused.error),
        }
        opened = open().await?;
    }
    match opened {
        MirroredFile::Cached(sha) => serve_blob(st, sha, content_type, method, headers)
            .await
            .map(Some),
        MirroredFile::Streaming(s) => {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(n) = s.total {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            // The body fails (connection reset) unless the bytes verify, so
            // whatever completes is exactly this digest.
            let etag = format!("\"{}\"", file_digest(&file, part));
            if let Ok(v) = HeaderValue::from_str(&etag) {
                h.insert(header::ETAG, v);
            }
            if method == Method::HEAD {
                return Ok(Some((StatusCode::OK, h).into_response()));
            }
            Ok(Some(
                (StatusCode::OK, h, Body::from_stream(s.body)).into_response(),
            ))
        }
    }
}

fn file_digest(
    file: &crate::store::mirror::MirrorFileRow,
    part: FilePart,
) -> crate::digest::Sha256 {
    match (part, file.metadata_sha256) {
        (FilePart::CoreMetadata, Some(m)) => m,
        _ => file.sha256,
    }
}

/// Mark a response as served from a cache upstream could not confirm.
pub(super) fn mark_stale(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::WARNING,
        HeaderValue::from_static("110 - \"Response is stale\""),
    );
    h.insert("x-airlock-stale", HeaderValue::from_static("1"));
    resp
}
