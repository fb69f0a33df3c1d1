//! `/{user}/{index}/+f/{h1}/{h2}/{filename}`: release files and their PEP 658
//! metadata (`…/{filename}.metadata`), streamed from the blob store with
//! ETag and Range support.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState, Caller};
use crate::digest::Sha256;
use crate::names::IndexPath;
use crate::registry::Actor;
use crate::store::releases::FileRow;

/// The URL path of a stored file (devpi's layout: the first 3 and next 13
/// hex digits of its sha256, then the filename).
pub fn file_path(index: &IndexPath, file: &FileRow) -> String {
    let hex = file.sha256.to_hex();
    format!(
        "/{index}/+f/{}/{}/{}",
        &hex[..3],
        &hex[3..16],
        file.filename
    )
}

pub async fn download(
    State(st): State<AppState>,
    Path((user, index, h1, h2, filename)): Path<(String, String, String, String, String)>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    st.registry
        .check_credentials(&path, crate::policy::Action::Install, caller.identity())?;
    // Mirror indexes serve from their cache or upstream (see mirror.rs).
    let hashes = [h1.as_str(), h2.as_str()];
    // Test results and doc zips live next to release files.
    if let Some(resp) =
        super::toxresults::download(&st, &path, hashes, &filename, &method, &headers).await?
    {
        return Ok(resp);
    }
    if let Some(resp) =
        super::docs::download_zip(&st, &path, hashes, &filename, &method, &headers).await?
    {
        return Ok(resp);
    }
    // Mirror indexes serve from their cache or upstream (see mirror.rs).
    if let Some(resp) =
        super::mirror::download(&st, &path, hashes, &filename, &method, &headers).await?
    {
        return Ok(resp);
    }
    let (dist_name, want_metadata) = match filename.strip_suffix(".metadata") {
        Some(base) => (base, true),
        None => (filename.as_str(), false),
    };
    let missing = || {
        ApiError::not_found(format!(
            "file {} is not on index {path}",
            crate::echo::echo(&filename)
        ))
    };
    let file = st
        .registry
        .own_file(&path, dist_name)
        .await?
        .ok_or_else(missing)?;
    let hex = file.sha256.to_hex();
    if hex[..3] != h1 || hex[3..16] != h2 {
        return Err(missing());
    }
    let (sha, content_type) = if want_metadata {
        let meta = file.metadata_sha256.filter(|_| file.kind == "wheel");
        (meta.ok_or_else(missing)?, "text/plain; charset=utf-8")
    } else {
        (file.sha256, content_type_of(&file.filename))
    };
    serve_blob(&st, sha, content_type, &method, &headers).await
}

pub(super) fn content_type_of(filename: &str) -> &'static str {
    if filename.ends_with(".tar.gz") {
        "application/x-tar"
    } else if filename.ends_with(".zip") || filename.ends_with(".whl") {
        "application/zip"
    } else {
        "application/octet-stream"
    }
}

/// Stream a blob with `ETag` (its sha256), `If-None-Match` and single
/// `Range` support. Blobs never change, so they are cacheable forever.
pub(super) async fn serve_blob(
    st: &AppState,
    sha: Sha256,
    content_type: &'static str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    serve_blob_or_quarantine(st, sha, content_type, method, headers, false)
        .await
        .map_err(|r| r.error)
}

/// A stored file that could not be served; `quarantined`: it was found
/// altered and moved out of the store (a mirror's cached copy), so fetching
/// it again can succeed.
pub(super) struct BlobRefused {
    pub error: ApiError,
    pub quarantined: bool,
}

/// [`serve_blob`]; with `quarantine`, a blob found altered (before the
/// response or while it streams) is also moved out of the store.
pub(super) async fn serve_blob_or_quarantine(
    st: &AppState,
    sha: Sha256,
    content_type: &'static str,
    method: &Method,
    headers: &HeaderMap,
    quarantine: bool,
) -> Result<Response, BlobRefused> {
    let blobs = std::sync::Arc::clone(&st.registry.store.blobs);
    let refuse_blob = |path: &str, e: super::blob_body::OpenError| {
        let corrupt = matches!(e, super::blob_body::OpenError::Corrupt { .. });
        let error = blob_error(path, e);
        let blobs = std::sync::Arc::clone(&blobs);
        async move {
            let quarantined = corrupt
                && quarantine
                && tokio::task::spawn_blocking(move || quarantine_now(&blobs, &sha))
                    .await
                    .unwrap_or(false);
            BlobRefused { error, quarantined }
        }
    };
    let etag = format!("\"{sha}\"");
    let mut base = HeaderMap::new();
    base.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    base.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex etag"),
    );
    base.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    base.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, base).into_response());
    }
    if let Some(ttl) = st.settings.blob_redirect {
        // Every check has passed by now, and the download was counted and
        // logged as any other: the client fetches the bytes from the bucket
        // with a URL that expires; pip and uv check them against the
        // sha256 of the page's link (airlock does not see them).
        let (b, s) = (std::sync::Arc::clone(&blobs), sha);
        let signed = tokio::task::spawn_blocking(move || b.presigned_get(&s, ttl))
            .await
            .map_err(|e| BlobRefused {
                error: ApiError::from(crate::registry::RegistryError::Store(
                    crate::store::StoreError::Internal(e.to_string()),
                )),
                quarantined: false,
            })?;
        match signed {
            Ok(Some(url)) => {
                tracing::info!(sha256 = %sha, ttl_s = ttl.as_secs(), "download authorised; redirected to the bucket");
                let mut h = HeaderMap::new();
                h.insert(
                    header::LOCATION,
                    HeaderValue::from_str(&url).map_err(|e| BlobRefused {
                        error: ApiError::from(crate::registry::RegistryError::Store(
                            crate::store::StoreError::Internal(format!("a presigned URL: {e}")),
                        )),
                        quarantined: false,
                    })?,
                );
                // the URL expires: never cached by anyone
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert(header::ETAG, base[header::ETAG].clone());
                return Ok((StatusCode::FOUND, h).into_response());
            }
            Ok(None) => {}
            Err(e) => {
                return Err(BlobRefused {
                    error: ApiError::from(crate::registry::RegistryError::Store(e)),
                    quarantined: false,
                })
            }
        }
    }
    if let Some(prefix) = &st.settings.accel_redirect {
        // Every check has passed by now (the callers authorise before they
        // get here): the front proxy sends the bytes, Range and HEAD
        // included, from its `internal` location over the blobs folder.
        let target = prefix.target(&sha);
        tracing::info!(sha256 = %sha, accel = %target, "download authorised; bytes sent by the front proxy");
        base.remove(header::ACCEPT_RANGES);
        base.insert(
            "x-accel-redirect",
            HeaderValue::from_str(&target).expect("prefix and hex are header-safe"),
        );
        base.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
        return Ok((StatusCode::OK, base).into_response());
    }
    let blob_path = match blobs.local_path(&sha) {
        Some(p) => p.display().to_string(),
        None => format!("object {sha}"),
    };
    let opened = match blobs.open_read(&sha).await {
        Ok(read) => super::blob_body::open_read(read, sha).await,
        Err(e) => Err(e.into()),
    };
    let mut blob = match opened {
        Ok(b) => b,
        Err(e) => return Err(refuse_blob(&blob_path, e).await),
    };
    if quarantine {
        let blobs = std::sync::Arc::clone(&blobs);
        blob = blob.on_corrupt(Box::new(move || {
            quarantine_now(&blobs, &sha);
        }));
    }
    let len = blob.len;

    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, len));
    let (status, start, count) = match range {
        None => (StatusCode::OK, 0, len),
        Some(Ok((s, e))) => {
            base.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {s}-{e}/{len}")).expect("ascii"),
            );
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        Some(Err(())) => {
            base.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                base,
                "requested range not satisfiable\n",
            )
                .into_response());
        }
    };
    base.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if method == Method::HEAD {
        return Ok((status, base).into_response());
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Err(e) = blob.verify_whole().await {
            return Err(refuse_blob(&blob_path, e).await);
        }
    }
    Ok((status, base, blob.body(start, count)).into_response())
}

/// Move an altered blob out of the store (logged); was it moved?
fn quarantine_now(blobs: &crate::store::BlobStore, sha: &Sha256) -> bool {
    match blobs.quarantine(sha) {
        Ok(Some(to)) => {
            tracing::warn!(sha256 = %sha, %to,
                "altered mirror file quarantined; it is fetched and verified again on the next request");
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::error!(sha256 = %sha, error = %e, "quarantining an altered file failed");
            false
        }
    }
}

/// A stored file that cannot be served: missing, unreadable, or altered on
/// disk (its bytes no longer hash to its name). Nothing of it is sent.
fn blob_error(path: &str, e: super::blob_body::OpenError) -> ApiError {
    use super::blob_body::OpenError;
    match e {
        OpenError::Unavailable(m) => {
            tracing::error!(%path, error = %m, "blob storage unavailable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m)
        }
        OpenError::Corrupt { expected, actual } => {
            crate::metrics::count_blob_integrity_failure();
            tracing::error!(%path, %expected, %actual,
                "stored file altered on disk: refused (run airlock fsck)");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "stored file failed its integrity check (its bytes no longer match its \
                 sha256); nothing was sent; see the server log",
            )
        }
        OpenError::Io(e) => {
            tracing::error!(%path, error = %e, "stored file missing");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "stored file is missing; see the server log",
            )
        }
    }
}

/// Parse a single `bytes=` range against a length; `Err` = unsatisfiable.
/// Multi-range requests (never sent by package clients) are refused.
fn parse_range(spec: &str, len: u64) -> Result<(u64, u64), ()> {
    let spec = spec.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') || len == 0 {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        return Ok((len.saturating_sub(n), len - 1));
    }
    let start: u64 = a.parse().map_err(|_| ())?;
    let end: u64 = if b.is_empty() {
        len - 1
    } else {
        b.parse::<u64>().map_err(|_| ())?.min(len - 1)
    };
    if start > end || start >= len {
        return Err(());
    }
    Ok((start, end))
}

pub async fn delete(
    State(st): State<AppState>,
    Path((user, index, _h1, _h2, filename)): Path<(String, String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let force = q.get("force").is_some_and(|v| v != "false" && v != "0");
    st.registry
        .delete_file(&actor, &path, &filename, force)
        .await?;
    Ok(Json(
        json!({"message": format!("{filename} deleted from {path}")}),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Ok((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Ok((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Ok((50, 99)));
        for bad in [
            "bytes=100-",
            "bytes=5-1",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-0",
            "bytes=x-1",
        ] {
            assert_eq!(parse_range(bad, 100), Err(()), "{bad}");
        }
    }
}
