//! `GET /+alerts[?since=ID][&all=1]`: open (or all) security alerts;
//! `POST /+alerts/ID/ack {"note": ...}`: acknowledge one (root only).

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
    let since = match q.get("since") {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("since must be an alert id (a whole number)"))?,
        None => 0,
    };
    let all = match q.get("all").map(String::as_str) {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "all must be 1 or 0, not {other:?}"
            )))
        }
    };
    let alerts = st
        .registry
        .alerts_json(caller.identity(), since, all)
        .await?;
    Ok(Json(json!({"type": "list:alert", "result": alerts})))
}

pub async fn ack(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    actor: Actor,
    body: Option<JsonBody<Value>>,
) -> Result<Json<Value>, ApiError> {
    let note = body
        .and_then(|b| b.0["note"].as_str().map(str::to_string))
        .unwrap_or_default();
    st.registry.ack_alert(&actor, id, &note).await?;
    Ok(Json(
        json!({"type": "alert", "message": format!("alert #{id} acknowledged")}),
    ))
}
