//! `/{user}` and `/`: user accounts (devpi's userconfig).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState, Caller, JsonBody};
use crate::registry::{Actor, UserChanges};

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
    actor: Actor,
    body: Option<JsonBody<Value>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let changes = UserChanges::from_json(&body.map(|b| b.0).unwrap_or(Value::Null))?;
    st.registry.create_user(&actor, &user, changes).await?;
    let u = st.registry.user_json(&user).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"type": "userconfig", "result": u, "message": format!("user {user} created")})),
    ))
}

pub async fn modify(
    State(st): State<AppState>,
    Path(user): Path<String>,
    actor: Actor,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let changes = UserChanges::from_json(&body)?;
    st.registry
        .modify_user(&actor, &user, changes)
        .await
        .map_err(ApiError::management)?;
    let u = st.registry.user_json(&user).await?;
    Ok(Json(
        json!({"type": "userconfig", "result": u, "message": format!("user {user} changed")}),
    ))
}

pub async fn delete(
    State(st): State<AppState>,
    Path(user): Path<String>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    st.registry
        .delete_user(&actor, &user)
        .await
        .map_err(ApiError::management)?;
    Ok(Json(json!({"message": format!("user {user} deleted")})))
}

/// `GET /{user}/+certs`: the client certificates pinned to a user.
pub async fn list_certs(
    State(st): State<AppState>,
    Path(user): Path<String>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let certs = st
        .registry
        .list_user_certs(caller.identity(), &user)
        .await?;
    Ok(Json(json!({"type": "list:usercert", "result": certs})))
}

/// `POST /{user}/+certs` with a PEM certificate as the body.
pub async fn add_cert(
    State(st): State<AppState>,
    Path(user): Path<String>,
    actor: Actor,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cert = st.registry.add_user_cert(&actor, &user, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"type": "usercert", "result": cert, "message": format!("certificate pinned to {user}")}),
        ),
    ))
}

/// `DELETE /{user}/+certs/{fingerprint}`.
pub async fn remove_cert(
    State(st): State<AppState>,
    Path((user, fingerprint)): Path<(String, String)>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    st.registry
        .remove_user_cert(&actor, &user, &fingerprint)
        .await?;
    Ok(Json(
        json!({"message": format!("certificate {fingerprint} removed from {user}")}),
    ))
}
