//! Documentation: `GET /{user}/{index}/{project}/{version}/+doc/{page}`
//! serves pages straight out of the stored zip (`latest` and `stable` work
//! as versions), and `…/+f/{h1}/{h2}/{name}-{version}.doc.zip` the zip.
//!
//! Uploaded HTML runs on this server's origin, so every page carries a
//! restrictive Content-Security-Policy that also sandboxes it (an opaque
//! origin: scripts in the docs cannot make credentialed requests to the API).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{index_path, ApiError, AppState};
use crate::digest::Sha256;
use crate::dist::doczip::DocLookup;
use crate::names::{IndexPath, ProjectName};

/// The policy on every documentation page.
pub const DOC_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; object-src 'none'; frame-ancestors 'self'; \
    base-uri 'none'; form-action 'none'; sandbox allow-scripts allow-popups";

/// The URL path of a release's doc zip.
pub fn doczip_path(index: &IndexPath, project: &str, version: &str, sha: &Sha256) -> String {
    let hex = sha.to_hex();
    format!(
        "/{index}/+f/{}/{}/{project}-{version}.doc.zip",
        &hex[..3],
        &hex[3..16]
    )
}

pub async fn page_root_redirect() -> Redirect {
    Redirect::permanent("+doc/")
}

pub async fn page_root(
    st: State<AppState>,
    Path((user, index, project, version)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    serve_page(st, user, index, project, version, String::new()).await
}

pub async fn page(
    st: State<AppState>,
    Path((user, index, project, version, page)): Path<(String, String, String, String, String)>,
) -> Result<Response, ApiError> {
    serve_page(st, user, index, project, version, page).await
}

async fn serve_page(
    State(st): State<AppState>,
    user: String,
    index: String,
    project: String,
    version: String,
    page: String,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    let name = ProjectName::new(&project).map_err(|e| ApiError::not_found(e.to_string()))?;
    let (_, found) = st.registry.doc_page(&path, &name, &version, &page).await?;
    match found {
        DocLookup::File {
            bytes,
            content_type,
        } => {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOC_CSP),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            // `latest`/`stable` move; versions can get new docs: revalidate.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok((StatusCode::OK, h, bytes).into_response())
        }
        DocLookup::Directory => {
            let last = page.rsplit('/').next().unwrap_or_default();
            Ok(Redirect::permanent(&format!("{last}/")).into_response())
        }
        DocLookup::Missing => Err(ApiError::not_found(format!(
            "no page {page:?} in the documentation of {name} {version} on {path}"
        ))),
    }
}

/// Serve `…/{name}-{version}.doc.zip` if `filename` names a stored doc zip
/// of this index; `None` lets the caller treat it as a release file.
pub async fn download_zip(
    st: &AppState,
    path: &IndexPath,
    hashes: [&str; 2],
    filename: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    let Some((name, version)) = filename
        .strip_suffix(".doc.zip")
        .and_then(|stem| stem.rsplit_once('-'))
    else {
        return Ok(None);
    };
    let Ok(project) = ProjectName::new(name) else {
        return Ok(None);
    };
    let docs = st.registry.docs_of_project(path, &project).await?;
    let prefix = format!("{}{}", hashes[0], hashes[1]);
    let Some(doc) = docs
        .into_iter()
        .find(|d| d.version == version && d.sha256.to_hex().starts_with(&prefix))
    else {
        return Ok(None);
    };
    super::files::serve_blob(st, doc.sha256, "application/zip", method, headers)
        .await
        .map(Some)
}
