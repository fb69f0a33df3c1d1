//! The front-proxy gate, in front of every route (pages and API alike): on
//! a connection that is not the trusted proxy's, a request carrying a proxy
//! claim header (the configured names and the defaults) is refused (403)
//! before routing; on the proxy's connection the claim is parsed (400 when
//! malformed), removed from the headers and attached as a
//! [`ProxyRequest`] extension, which `Caller` and the web `Viewer` turn
//! into the identity. With a claim, `Authorization` and `X-Devpi-Auth` are
//! removed too: they were the proxy's to check.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::auth::proxy::{self, ClaimError, ProxyRequest};
use crate::connection::ConnectionInfo;

pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let settings = state.settings.proxy.as_ref();
    let conn = req.extensions().get::<ConnectionInfo>();
    let trusted = match (settings, conn) {
        (Some(s), Some(c)) => s.trusts(c),
        _ => false,
    };
    let names = proxy::claim_header_names(settings);
    let Some(settings) = settings.filter(|_| trusted) else {
        if let Some(name) = names.iter().find(|n| req.headers().contains_key(*n)) {
            tracing::warn!(target: "security", header = %name,
                peer = ?conn.map(|c| c.peer_addr), path = %crate::echo::echo(req.uri().path()),
                "proxy identity header on a connection that is not the trusted proxy's; refused");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                ClaimError::Untrusted(name.to_string()).to_string(),
            )
            .into_response();
        }
        return next.run(req).await;
    };
    let claim = match proxy::parse_claim(req.headers(), settings) {
        Ok(claim) => claim,
        Err(e) => {
            tracing::warn!(target: "security", error = %e, "malformed claim from the trusted proxy; refused");
            return ApiError::bad_request(e.to_string()).into_response();
        }
    };
    let client_ip = proxy::client_ip(req.headers(), settings);
    for name in &names {
        req.headers_mut().remove(name);
    }
    if claim.is_some() {
        // The proxy authenticated the user: whatever credentials came along
        // (its Basic auth, a Negotiate ticket, a devpi token) were its to
        // check, and no route may read them as airlock's.
        req.headers_mut().remove(axum::http::header::AUTHORIZATION);
        req.headers_mut().remove("x-devpi-auth");
    }
    req.extensions_mut()
        .insert(ProxyRequest { claim, client_ip });
    next.run(req).await
}
