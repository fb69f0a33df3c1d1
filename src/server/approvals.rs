//! `/+pushes`: pending pushes, approvals and rejections.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState, Caller, JsonBody};
use crate::registry::Actor;

pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let status = q.get("status").cloned();
    let rows = st
        .registry
        .pending_pushes_json(caller.identity(), status)
        .await?;
    Ok(Json(json!({"type": "list:push", "result": rows})))
}

pub async fn approve(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    actor: Actor,
    body: Option<JsonBody<Value>>,
) -> Result<Json<Value>, ApiError> {
    let comment = body.and_then(|b| b.0["comment"].as_str().map(str::to_string));
    let outcome = st
        .registry
        .approve_push(&actor, id, comment.as_deref())
        .await?;
    let message = if outcome.landed {
        format!(
            "push #{id} approved and landed: {}=={} is on {}",
            outcome.project, outcome.version, outcome.target
        )
    } else {
        format!("push #{id} approved; it needs more approvals")
    };
    Ok(Json(
        json!({"type": "push", "message": message, "push": outcome}),
    ))
}

pub async fn reject(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    actor: Actor,
    body: Option<JsonBody<Value>>,
) -> Result<Json<Value>, ApiError> {
    let reason = body
        .and_then(|b| b.0["reason"].as_str().map(str::to_string))
        .unwrap_or_default();
    let r = st.registry.reject_push(&actor, id, &reason).await?;
    Ok(Json(
        json!({"type": "push", "message": format!("push #{id} rejected"), "result": r}),
    ))
}
