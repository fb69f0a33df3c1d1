//! `/+api` (service discovery for devpi clients) and `/+login`.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{index_path, ApiError, AppState, BaseUrl, Caller, JsonBody};
use crate::auth::Credentials;

fn authstatus(caller: &Result<Caller, ApiError>) -> Value {
    match caller {
        Ok(Caller(Some(id))) => json!(["ok", id.user, []]),
        Ok(Caller(None)) => json!(["noauth", "", []]),
        Err(e) if e.message.contains("expired") => json!(["expired", "", []]),
        Err(_) => json!(["invalid", "", []]),
    }
}

pub async fn root_api(
    State(_st): State<AppState>,
    BaseUrl(base): BaseUrl,
    caller: Result<Caller, ApiError>,
) -> Json<Value> {
    Json(json!({
        "type": "apiconfig",
        "result": {
            "login": format!("{base}/+login"),
            "authstatus": authstatus(&caller),
            "features": ["server-keyvalue-parsing"],
        }
    }))
}

pub async fn index_api(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    BaseUrl(base): BaseUrl,
    caller: Result<Caller, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let row = st.registry.index(&path)?;
    let mut result = json!({
        "login": format!("{base}/+login"),
        "authstatus": authstatus(&caller),
        "features": ["server-keyvalue-parsing"],
        "index": format!("{base}/{path}"),
        "simpleindex": format!("{base}/{path}/+simple/"),
    });
    // Only stage indexes take uploads; devpi leaves the key out for mirrors
    // and its client then says the index does not support upload.
    if row.config.kind == crate::index::IndexKind::Stage {
        result["pypisubmit"] = json!(format!("{base}/{path}/"));
    }
    Ok(Json(json!({"type": "apiconfig", "result": result})))
}

/// The devpi-server release whose API and behaviour airlock follows; its
/// client's own test suite passes against airlock as against it.
pub const DEVPI_API_VERSION: &str = "6.20.3";

/// `GET /+status`: what devpi's status answers that clients read
/// (`devpi --version` prints `versioninfo`).
pub async fn status() -> Json<Value> {
    Json(json!({
        "type": "status",
        "result": {
            "role": "primary",
            // The devpi-server whose API airlock speaks (its client and
            // tools look for this name), then airlock's own version.
            "versioninfo": {
                "airlock": env!("CARGO_PKG_VERSION"),
                "devpi-server": DEVPI_API_VERSION,
            },
        }
    }))
}

#[derive(Deserialize)]
pub struct LoginRequest {
    user: Option<String>,
    password: Option<String>,
}

/// `POST /+login` with `{"user", "password"}` (or basic auth) → a token.
pub async fn login(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Option<JsonBody<LoginRequest>>,
) -> Result<Json<Value>, ApiError> {
    let (user, password) = match body {
        Some(JsonBody(LoginRequest {
            user: Some(u),
            password: Some(p),
        })) => (u, p),
        _ => {
            let auth = super::caller::credential_header(&headers, "Authorization")?;
            match Credentials::from_headers(auth, None)? {
                Some(Credentials::Basic { user, secret }) => (user, secret),
                _ => {
                    return Err(ApiError::bad_request(
                        "send {\"user\": …, \"password\": …} as JSON to log in",
                    ))
                }
            }
        }
    };
    let (token, expires) = st.registry.login(&user, &password).await?;
    let ttl = expires - crate::store::now();
    tracing::info!(user = %user, "login");
    Ok(Json(json!({
        "type": "proxyauth",
        "message": "login successful",
        "result": {"password": token, "expiration": ttl},
    })))
}

/// `GET /+health`: the process is up and serving (no engine is asked).
pub async fn health() -> &'static str {
    "ok\n"
}

/// `GET /+ready`: 200 when the database answers and the blob store takes
/// files, else 503 saying which does not (for load balancers).
pub async fn ready(State(st): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let r = st.registry.readiness().await;
    let status = if r.ready() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": r.ready(),
        "database": r.database.as_deref().unwrap_or("ok"),
        "blobs": r.blobs.as_deref().unwrap_or("ok"),
    });
    (status, Json(body)).into_response()
}
