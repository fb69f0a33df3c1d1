//! `GET /+alerts[?since=ID]`: security alerts (root only).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState, Caller};

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
    let alerts = st.registry.alerts_json(caller.identity(), since).await?;
    Ok(Json(json!({"type": "list:alert", "result": alerts})))
}
