//! `/{user}` and `/`: user accounts (devpi's userconfig).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState, Caller, JsonBody};
use crate::registry::UserChanges;

pub async fn list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let users = st.registry.list_users_json().await?;
    Ok(Json(json!({"type": "list:userconfig", "result": users})))
}

pub async fn get(
    State(st): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let u = st.registry.user_json(&user).await?;
    Ok(Json(json!({"type": "userconfig", "result": u})))
}

pub async fn create(
    State(st): State<AppState>,
    Path(user): Path<String>,
    caller: Caller,
    body: Option<JsonBody<Value>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let changes = UserChanges::from_json(&body.map(|b| b.0).unwrap_or(Value::Null))?;
    st.registry
        .create_user(caller.identity(), &user, changes)
        .await?;
    let u = st.registry.user_json(&user).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"type": "userconfig", "result": u, "message": format!("user {user} created")})),
    ))
}

pub async fn modify(
    State(st): State<AppState>,
    Path(user): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let changes = UserChanges::from_json(&body)?;
    st.registry
        .modify_user(caller.identity(), &user, changes)
        .await?;
    let u = st.registry.user_json(&user).await?;
    Ok(Json(
        json!({"type": "userconfig", "result": u, "message": format!("user {user} changed")}),
    ))
}

pub async fn delete(
    State(st): State<AppState>,
    Path(user): Path<String>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    st.registry.delete_user(caller.identity(), &user).await?;
    Ok(Json(json!({"message": format!("user {user} deleted")})))
}
