//! Mirror specifics of the file and simple routes: files of a mirror index
//! come from its cache or, the first time, stream from upstream while they
//! are verified; pages served from a cache upstream could not confirm are
//! marked stale.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::files::{content_type_of, serve_blob};
use super::{ApiError, AppState};
use crate::index::IndexKind;
use crate::mirror::{FilePart, MirroredFile};
use crate::names::IndexPath;
use crate::registry::RegistryError;

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
    let file = mirror
        .find_file(index.id, dist_name, h1, h2)
        .await
        .map_err(RegistryError::from)?
        .ok_or_else(missing)?;
    let content_type = match part {
        FilePart::Dist => content_type_of(&file.filename),
        FilePart::CoreMetadata => "text/plain; charset=utf-8",
    };
    let opened = mirror
        .open_file(&file, part)
        .await
        .map_err(RegistryError::from)?
        .ok_or_else(missing)?;
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
