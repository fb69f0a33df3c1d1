//! Request context extractors: who is calling, and the server's outside URL.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::auth::{Credentials, Identity};

/// The authenticated caller, if credentials were sent. Credentials that do
/// not check out are an error (401), never silently anonymous.
pub struct Caller(pub Option<Identity>);

impl Caller {
    pub fn identity(&self) -> Option<&Identity> {
        self.0.as_ref()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let creds = Credentials::from_headers(header("authorization"), header("x-devpi-auth"))?;
        let Some(creds) = creds else {
            return Ok(Caller(None));
        };
        let reg = &state.registry;
        let id = Arc::clone(&reg.auth)
            .authenticate(&reg.store.db, creds)
            .await?;
        Ok(Caller(Some(id)))
    }
}

/// The URL clients reach this server at, for absolute links in JSON.
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(u) = &state.settings.outside_url {
            return Ok(BaseUrl(u.trim_end_matches('/').to_string()));
        }
        let host = parts
            .headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .filter(|h| valid_host(h))
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| state.settings.listen.clone());
        let scheme = if state.settings.tls { "https" } else { "http" };
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// A Host header that is safe to echo into links: host[:port] characters only.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}
