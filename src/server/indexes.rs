//! `/{user}/{index}`: index configuration (devpi's indexconfig).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState, JsonBody};
use crate::registry::{Actor, ConfigChange};

pub async fn get(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let cfg = st.registry.index_json(&path).await?;
    Ok(Json(json!({"type": "indexconfig", "result": cfg})))
}

pub async fn create(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    actor: Result<Actor, ApiError>,
    body: Option<JsonBody<Value>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = crate::names::IndexPath::parse(&format!("{user}/{index}"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // An index of a user that does not exist is a 404 whoever asks, even
    // with credentials that no longer check out (a deleted user's token).
    st.registry.require_user(path.user.as_str()).await?;
    let actor = actor?;
    let body = match body.map(|b| b.0) {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::bad_request(
                "expected a JSON object of index settings",
            ))
        }
    };
    st.registry
        .create_index(&actor, &path, &body)
        .await
        .map_err(ApiError::management)?;
    let cfg = st.registry.index_json(&path).await?;
    Ok((
        StatusCode::OK,
        Json(
            json!({"type": "indexconfig", "result": cfg, "message": format!("index {path} created")}),
        ),
    ))
}

pub async fn modify(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    actor: Actor,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let change = ConfigChange::from_json(body)?;
    st.registry
        .modify_index(&actor, &path, change)
        .await
        .map_err(ApiError::management)?;
    let cfg = st.registry.index_json(&path).await?;
    Ok(Json(json!({"type": "indexconfig", "result": cfg})))
}

pub async fn delete(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    actor: Actor,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = index_path(&user, &index)?;
    let force = q.get("force").is_some_and(|v| v != "false" && v != "0");
    st.registry
        .delete_index(&actor, &path, force)
        .await
        .map_err(ApiError::management)?;
    // devpi answers a deleted index with 201, and its client checks for it.
    Ok((
        StatusCode::CREATED,
        Json(json!({"message": format!("index {path} deleted")})),
    ))
}
