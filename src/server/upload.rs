//! `POST /{user}/{index}/`: the legacy upload API twine and devpi use
//! (multipart form, `:action=file_upload`, the file in `content`).
//!
//! Permission is checked before the body is read; the file is streamed to a
//! temp file under the size limit, never held in memory; the registry then
//! validates and stores it atomically.

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use multer::{Constraints, Multipart, SizeLimit};
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState};
use crate::registry::{Actor, RegistryError, UploadForm};

/// Budget for all non-file form fields together (descriptions can be long).
pub(super) const FIELD_BUDGET: u64 = 8 * 1024 * 1024;

pub async fn upload(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    from: Actor,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if is_json {
        // A JSON POST to an index is a push (devpi's ":action": "push").
        let body = axum::body::to_bytes(req.into_body(), 1024 * 1024)
            .await
            .map_err(|e| super::body_error(&e, "push request too large"))?;
        return super::push::push(State(st), Path((user, index)), from, body).await;
    }
    let path = index_path(&user, &index)?;
    let reg = &st.registry;
    let actor = reg.admit_upload(&from, &path).await?;

    let max = reg.settings.max_upload_bytes;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max + FIELD_BUDGET {
            return Err(too_large(max));
        }
    }
    let boundary = multer::parse_boundary(&content_type).map_err(|_| {
        ApiError::bad_request("expected a multipart/form-data upload (as twine sends)")
    })?;
    let constraints = Constraints::new().size_limit(
        SizeLimit::new()
            .whole_stream(max + FIELD_BUDGET)
            .per_field(max.max(FIELD_BUDGET)),
    );
    let mut mp =
        Multipart::with_constraints(req.into_body().into_data_stream(), boundary, constraints);

    let mut form = UploadForm::default();
    let mut file = None;
    let mut field_bytes = 0u64;
    while let Some(mut field) = mp.next_field().await.map_err(|e| multipart_error(e, max))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "content" {
            if file.is_some() {
                return Err(ApiError::bad_request(
                    "the upload has more than one 'content' file",
                ));
            }
            let filename = field
                .file_name()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request("the 'content' field has no filename"))?;
            let mut temp = reg.store.blobs.create_temp().map_err(RegistryError::from)?;
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
                if temp.size() + chunk.len() as u64 > max {
                    // the partial file goes with `temp`; the rest of the
                    // body is read after the answer (server::linger)
                    drop(temp);
                    return Err(too_large(max));
                }
                temp.write_all(&chunk).map_err(RegistryError::from)?;
            }
            file = Some((filename, temp));
        } else {
            let text = field.text().await.map_err(|e| multipart_error(e, max))?;
            field_bytes += text.len() as u64;
            if field_bytes > FIELD_BUDGET {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the upload's form fields (metadata, description) are larger than 8 MiB",
                ));
            }
            form.set(&name, text);
        }
    }

    match form.action.as_deref() {
        Some("file_upload") | None => {}
        Some("register") | Some("submit") => {
            // Legacy pre-registration: nothing to do, metadata comes with the file.
            return Ok((
                StatusCode::OK,
                Json(json!({"message": "nothing to register; upload the file"})),
            ));
        }
        Some("doc_upload") => {
            let (filename, temp) = file.ok_or_else(|| {
                ApiError::bad_request("the documentation upload has no 'content' zip file")
            })?;
            let done = reg
                .upload_docs(
                    &actor,
                    &path,
                    form.name.as_deref(),
                    form.version.as_deref(),
                    temp,
                )
                .await?;
            tracing::info!(index = %path, file = %filename, sha256 = %done.sha256, user = %actor.user, "documentation upload");
            return Ok((
                StatusCode::OK,
                Json(json!({
                    "message": format!(
                        "documentation of {} {} stored on {path} ({} files)",
                        done.project, done.version, done.files
                    ),
                    "result": {"sha256": done.sha256.to_hex()},
                })),
            ));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown :action {:?}; expected file_upload or doc_upload",
                crate::echo::echo(other)
            )))
        }
    }
    let (filename, temp) =
        file.ok_or_else(|| ApiError::bad_request("the upload has no 'content' file field"))?;
    // `from` is the admitted actor: its identity is `actor`.
    let done = reg.upload_file(&from, &path, form, &filename, temp).await?;
    let renamed = if done.filename != filename {
        format!(" (uploaded as {})", crate::echo::echo(&filename))
    } else {
        String::new()
    };
    let message = if done.unchanged {
        format!(
            "{} is already on {path} with identical content{renamed}",
            done.filename
        )
    } else {
        format!("{} stored on {path}{renamed}", done.filename)
    };
    tracing::info!(index = %path, file = %done.filename, sha256 = %done.sha256, user = %actor.user, unchanged = done.unchanged, "upload");
    Ok((
        StatusCode::OK,
        Json(json!({"message": message, "result": {"sha256": done.sha256.to_hex()}})),
    ))
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the file is larger than this server's upload limit of {} MiB",
            max / (1024 * 1024)
        ),
    )
}

fn multipart_error(e: multer::Error, max: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(max)
        }
        multer::Error::StreamReadFailed(inner) => super::body_error(inner.as_ref(), ""),
        other => ApiError::bad_request(format!("malformed multipart upload: {other}")),
    }
}
