//! `GET /+search?q=WORDS[&index=user/name][&page=N]`: full-text search as
//! JSON (`Registry::search` does the work, so the web UI's HTML page for
//! `Accept: text/html` can call the same function).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::names::IndexPath;
use crate::registry::RegistryError;

pub async fn search(
    State(st): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = params.get("q").map(String::as_str).unwrap_or("");
    let scope = match params.get("index").filter(|s| !s.is_empty()) {
        Some(raw) => Some(IndexPath::parse(raw).map_err(RegistryError::from)?),
        None => None,
    };
    let page = match params.get("page") {
        Some(p) => p.parse::<usize>().map_err(|_| {
            ApiError::bad_request("page must be a page number (a whole number from 1)")
        })?,
        None => 1,
    };
    let (limit, offset) = crate::search::page_window(page).map_err(RegistryError::from)?;
    let results = st
        .registry
        .search(query, scope.as_ref(), limit, offset)
        .await?;
    Ok(Json(json!({
        "type": "search",
        "result": {
            "terms": results.terms,
            "index": scope.map(|s| s.to_string()),
            "page": page,
            "more": results.more,
            "capped": results.capped,
            "hits": results.hits,
        }
    })))
}
