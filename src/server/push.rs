//! Pushes: `PUSH /{user}/{index}` (devpi-client) and `POST /{user}/{index}`
//! with a JSON body `{":action": "push", "name", "version", "targetindex"}`.
//! Answered with devpi's `actionlog` plus airlock's review.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState};
use crate::names::{IndexPath, ProjectName};
use crate::registry::{Actor, PushRequest, PushSetRequest};

#[derive(Debug, Deserialize)]
struct PushBody {
    #[serde(rename = ":action")]
    action: Option<String>,
    name: String,
    version: String,
    targetindex: Option<String>,
    posturl: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// airlock only: push the release with the dependencies it needs.
    #[serde(default)]
    with_deps: bool,
}

pub async fn push(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    actor: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let source = index_path(&user, &index)?;
    let req: PushBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid push request ({e}); expected {{\"name\", \"version\", \"targetindex\"}}"
        ))
    })?;
    if let Some(a) = &req.action {
        if a != "push" {
            return Err(ApiError::bad_request(format!("unknown :action {a:?}")));
        }
    }
    if req.posturl.is_some() {
        return Err(ApiError::bad_request(
            "pushing to an external index (posturl) is not supported: airlock only pushes between its own indexes",
        ));
    }
    let target = req
        .targetindex
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("the push names no targetindex"))?;
    let target = IndexPath::parse(target).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let project = ProjectName::new(&req.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if req.with_deps {
        let set = st
            .registry
            .push_set(
                &actor,
                PushSetRequest {
                    source,
                    target,
                    project,
                    version: req.version.clone(),
                    dry_run: req.dry_run,
                },
            )
            .await?;
        let n = set.releases.len();
        let message = if set.dry_run {
            format!(
                "dry run: {}=={} and {} dependenc(ies) would be pushed to {}",
                req.name,
                req.version,
                n.saturating_sub(1),
                set.target
            )
        } else {
            let landed = set.releases.iter().filter(|r| r.landed).count();
            format!(
                "{}=={} pushed to {} with its dependencies: {landed} release(s) landed, {} already there",
                req.name,
                req.version,
                set.target,
                n - landed
            )
        };
        let log: Vec<Value> = set
            .releases
            .iter()
            .flat_map(|r| {
                r.files
                    .iter()
                    .map(|f| json!([200, f.action, f.filename, "->", set.target]))
                    .collect::<Vec<_>>()
            })
            .collect();
        return Ok((
            StatusCode::OK,
            Json(json!({"type": "actionlog", "result": log, "message": message, "push_set": set})),
        ));
    }
    let outcome = st
        .registry
        .push(
            &actor,
            PushRequest {
                source,
                target: target.clone(),
                project,
                version: req.version.clone(),
                dry_run: req.dry_run,
            },
        )
        .await?;
    let log: Vec<Value> = outcome
        .files
        .iter()
        .map(|f| json!([200, f.action, f.filename, "->", outcome.target]))
        .collect();
    if let Some(id) = outcome.pending_id {
        let needed = match &outcome.decision {
            crate::pipeline::Decision::Pending { needed } => *needed,
            _ => 0,
        };
        let message = format!(
            "push #{id} of {}=={} into {} is pending: it needs {needed} approval(s) by another user \
             (airlock approve {id})",
            outcome.project, outcome.version, outcome.target
        );
        return Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({"type": "actionlog", "result": [[202, "pending", id]], "message": message, "push": outcome}),
            ),
        ));
    }
    let message = if outcome.landed {
        format!(
            "{}=={} pushed to {}",
            outcome.project, outcome.version, outcome.target
        )
    } else if req.dry_run {
        format!(
            "dry run: {}=={} would be pushed to {}",
            outcome.project, outcome.version, outcome.target
        )
    } else {
        format!(
            "{}=={} is already on {} with identical files",
            outcome.project, outcome.version, outcome.target
        )
    };
    Ok((
        StatusCode::OK,
        Json(json!({"type": "actionlog", "result": log, "message": message, "push": outcome})),
    ))
}
