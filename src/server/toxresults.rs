//! Test results on release file URLs: `POST /{user}/{index}/+f/{h1}/{h2}/{filename}`
//! with a tox JSON report (what `devpi test` sends), and
//! `GET …/{filename}.toxresult-{id}` to read one back.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState};
use crate::dist::toxresult::MAX_TOXRESULT_BYTES;
use crate::names::IndexPath;
use crate::registry::Actor;

/// The suffix of a test result's filename: `{release filename}.toxresult-{id}`.
const SUFFIX: &str = ".toxresult-";

/// What follows a release file's URL to name one of its test results.
pub fn toxresult_suffix(id: i64) -> String {
    format!("{SUFFIX}{id}")
}

pub async fn post(
    State(st): State<AppState>,
    Path((user, index, h1, h2, filename)): Path<(String, String, String, String, String)>,
    from: Actor,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the test result report is larger than the {} KiB a report may have",
                    MAX_TOXRESULT_BYTES / 1024
                ),
            )
        } else {
            super::body_error(&e, "")
        }
    })?;
    let path = index_path(&user, &index)?;
    let (id, envs) = st
        .registry
        .add_toxresult(&from, &path, &filename, &format!("{h1}{h2}"), &body)
        .await
        .map_err(ApiError::management)?;
    // No "message" key: devpi-client prints a success response's message
    // as a warning.
    Ok(Json(json!({
        "type": "toxresult",
        "result": {"id": id, "for": filename, "envs": envs},
    })))
}

/// Serve `…/{filename}.toxresult-{id}` if that is what `filename` names;
/// `None` lets the caller treat it as a release file.
pub async fn download(
    st: &AppState,
    path: &IndexPath,
    hashes: [&str; 2],
    filename: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    let Some((release_file, id)) = filename.rsplit_once(SUFFIX) else {
        return Ok(None);
    };
    let missing = || {
        ApiError::not_found(format!(
            "test result {} is not on index {path}",
            crate::echo::echo(filename)
        ))
    };
    let id: i64 = id.parse().map_err(|_| missing())?;
    let result = st
        .registry
        .toxresult(path, release_file, id)
        .await?
        .ok_or_else(missing)?;
    let file = st
        .registry
        .own_file(path, release_file)
        .await?
        .ok_or_else(missing)?;
    if !file
        .sha256
        .to_hex()
        .starts_with(&format!("{}{}", hashes[0], hashes[1]))
    {
        return Err(missing());
    }
    super::files::serve_blob(st, result.sha256, "application/json", method, headers)
        .await
        .map(Some)
}
