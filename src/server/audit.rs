//! `GET /+audit[?since=SEQ&limit=N]` and `GET /+audit/verify[?anchor=SEQ:HASH]`:
//! the audit log and its integrity (root only).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState, Caller};
use crate::audit::Head;

/// Entries per response unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 1000;
/// Most entries per response; page on with `since`.
const MAX_LIMIT: usize = 10_000;

fn number<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, ApiError> {
    match q.get(key) {
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("{key} must be a whole number, not {s:?}"))),
        None => Ok(default),
    }
}

pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let since: i64 = number(&q, "since", 0)?;
    let limit = number(&q, "limit", DEFAULT_LIMIT)?.clamp(1, MAX_LIMIT);
    let (entries, head) = st
        .registry
        .audit_entries(caller.identity(), since, limit)
        .await?;
    Ok(Json(
        json!({"type": "list:auditentry", "result": entries, "head": head}),
    ))
}

pub async fn verify(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let anchor = match q.get("anchor") {
        Some(a) => Some(a.parse::<Head>().map_err(ApiError::bad_request)?),
        None => None,
    };
    let report = st.registry.audit_verify(caller.identity(), anchor).await?;
    Ok(Json(report.to_json()))
}
