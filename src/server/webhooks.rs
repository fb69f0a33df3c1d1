//! `/{user}/{index}/+webhooks`: an index's webhook subscriptions (owner or
//! root). `PUT` (or `POST`) `{url, events, kind}` adds one and answers its
//! secret once; `GET` lists; `GET`/`DELETE .../+webhooks/{id}`;
//! `GET .../+webhooks/log[?limit=N]`: the latest events and attempts.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState, JsonBody};
use crate::registry::{Actor, NewWebhook};

pub async fn add(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    actor: Actor,
    body: Option<JsonBody<Value>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = index_path(&user, &index)?;
    let body = body.map(|b| b.0).unwrap_or(Value::Null);
    let Some(obj) = body.as_object() else {
        return Err(ApiError::bad_request(
            "expected a JSON object {\"url\": ..., \"events\": [...], \"kind\": \"standard\"|\"jenkins\"}",
        ));
    };
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("give the webhook's \"url\" (a string)"))?;
    let events = match obj.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request("\"events\" must be a list of event type names")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s.split(',').map(|e| e.trim().to_string()).collect(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "\"events\" must be a list of event type names",
            ))
        }
    };
    let kind = match obj.get("kind") {
        None | Some(Value::Null) => "standard".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("\"kind\" must be a string")),
    };
    let (hook, secret) = st
        .registry
        .add_webhook(
            &actor,
            &path,
            NewWebhook {
                url: url.to_string(),
                events,
                kind,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "type": "webhook",
            "result": hook,
            "secret": secret,
            "message": "keep the secret: it is shown only now (receivers verify signatures with it)",
        })),
    ))
}

pub async fn list(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let list = st.registry.list_webhooks(&actor, &path).await?;
    Ok(Json(json!({"type": "list:webhook", "result": list})))
}

fn webhook_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| {
        ApiError::bad_request(format!(
            "{:?} is not a webhook id (a whole number)",
            crate::echo::echo(raw)
        ))
    })
}

pub async fn get(
    State(st): State<AppState>,
    Path((user, index, id)): Path<(String, String, String)>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let hook = st
        .registry
        .get_webhook(&actor, &path, webhook_id(&id)?)
        .await?;
    Ok(Json(json!({"type": "webhook", "result": hook})))
}

pub async fn remove(
    State(st): State<AppState>,
    Path((user, index, id)): Path<(String, String, String)>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let id = webhook_id(&id)?;
    st.registry.remove_webhook(&actor, &path, id).await?;
    Ok(Json(
        json!({"type": "webhook", "message": format!("webhook #{id} of {path} removed")}),
    ))
}

pub async fn log(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let limit = match q.get("limit") {
        Some(l) => l.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "limit must be a whole number up to {}",
                crate::registry::MAX_WEBHOOK_LOG
            ))
        })?,
        None => 100,
    };
    let log = st.registry.webhook_log(&actor, &path, limit).await?;
    Ok(Json(json!({"type": "webhook_log", "result": log})))
}
