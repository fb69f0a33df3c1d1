//! Typosquat endpoints: check names (for tools), and manage allow/deny rules.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState, JsonBody};
use crate::names::IndexPath;
use crate::registry::Actor;

/// `GET /+typo/check?name=a,b[&index=user/index]`: verdicts as JSON.
pub async fn check(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let names: Vec<&str> = q
        .get("name")
        .map(|n| {
            n.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() || names.len() > 500 {
        return Err(ApiError::bad_request("give 1 to 500 names: ?name=a,b,c"));
    }
    let index = match q.get("index") {
        Some(i) => Some(IndexPath::parse(i).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let mut out = Vec::new();
    for n in names {
        out.push(st.registry.typo_verdict(index.as_ref(), n).await?);
    }
    Ok(Json(json!({"type": "list:typoverdict", "result": out})))
}

pub async fn rules(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"type": "list:typorule", "result": st.registry.typo_rules_json().await?}),
    ))
}

fn verdict_of(body: &Value) -> Result<String, ApiError> {
    body["verdict"].as_str().map(str::to_string).ok_or_else(|| {
        ApiError::bad_request("send {\"verdict\": \"allow\"} or {\"verdict\": \"deny\"}")
    })
}

/// `PUT /{user}/{index}/+typo/{name}` with `{"verdict": "allow"|"deny"}`.
pub async fn set_index_rule(
    State(st): State<AppState>,
    Path((user, index, name)): Path<(String, String, String)>,
    actor: Actor,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let verdict = verdict_of(&body)?;
    let r = st
        .registry
        .typo_set_rule(&actor, Some(&path), &name, &verdict)
        .await?;
    Ok(Json(json!({"type": "typorule", "result": r})))
}

pub async fn remove_index_rule(
    State(st): State<AppState>,
    Path((user, index, name)): Path<(String, String, String)>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    st.registry
        .typo_remove_rule(&actor, Some(&path), &name)
        .await?;
    Ok(Json(
        json!({"message": format!("typosquat rule for {name} on {path} removed")}),
    ))
}

/// `PUT /+typo/rules/{name}`: a rule for every index (root only).
pub async fn set_global_rule(
    State(st): State<AppState>,
    Path(name): Path<String>,
    actor: Actor,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let verdict = verdict_of(&body)?;
    let r = st
        .registry
        .typo_set_rule(&actor, None, &name, &verdict)
        .await?;
    Ok(Json(json!({"type": "typorule", "result": r})))
}

pub async fn remove_global_rule(
    State(st): State<AppState>,
    Path(name): Path<String>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    st.registry.typo_remove_rule(&actor, None, &name).await?;
    Ok(Json(
        json!({"message": format!("typosquat rule for {name} removed")}),
    ))
}
