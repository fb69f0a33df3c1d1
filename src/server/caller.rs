//! Request context extractors: who is calling, and the server's outside URL.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::auth::cert::user_for_cert;
use crate::auth::proxy::ProxyRequest;
use crate::auth::{AuthError, AuthMethod, Credentials, Identity};
use crate::connection::ConnectionInfo;
use crate::registry::{Actor, Origin};

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
        let reg = &state.registry;
        // On the trusted proxy's connection its claim is the caller; its
        // client certificate is the proxy's and never stands for a user.
        let proxied = parts.extensions.get::<ProxyRequest>().cloned();
        if let Some(ProxyRequest {
            claim: Some(claim),
            client_ip,
        }) = &proxied
        {
            let actor = Actor::anonymous(Some(Origin::Proxy(*client_ip)));
            let create = state
                .settings
                .proxy
                .as_ref()
                .is_some_and(|p| p.create_users);
            let id = reg.proxy_identity(&actor, claim, create).await?;
            return Ok(Caller(Some(id)));
        }
        // A verified client certificate (HTTPS listener) and who it stands for.
        let cert = parts
            .extensions
            .get::<ConnectionInfo>()
            .and_then(|c| c.peer_cert.clone())
            .filter(|_| proxied.is_none());
        let cert_user = match &cert {
            Some(c) => {
                let user = user_for_cert(&reg.store.db, c, state.settings.cert_identity).await?;
                if user.is_none() {
                    tracing::info!(fingerprint = %c.fingerprint_sha256, subject = ?c.subject_cn,
                        "client certificate verified but maps to no user");
                }
                user.map(|u| (u, c.fingerprint_sha256.clone()))
            }
            None => None,
        };
        let authorization = if state.settings.proxy_basic_auth {
            None
        } else {
            credential_header(&parts.headers, "Authorization")?
        };
        let creds =
            Credentials::from_headers(authorization, credential_header(&parts.headers, "X-Devpi-Auth")?)?
                // twine always sends Basic credentials; `-u '' -p ''` next to a
                // client certificate that identifies a user means "the
                // certificate only"
                .filter(|c| {
                    !(cert_user.is_some()
                        && matches!(c, Credentials::Basic { user, secret } if user.is_empty() && secret.is_empty()))
                });
        let id = match (creds, cert_user) {
            (None, None) => None,
            (None, Some((user, fp))) => Some(Identity {
                user,
                method: AuthMethod::ClientCert,
                cert_fingerprint: Some(fp),
                groups: Vec::new(),
            }),
            (Some(creds), cert_user) => {
                let mut id = Arc::clone(&reg.auth)
                    .authenticate(&reg.store.db, creds)
                    .await?;
                if let Some((user, fp)) = cert_user {
                    if user != id.user {
                        return Err(AuthError::CertMismatch {
                            cert_user: user,
                            cred_user: id.user,
                        }
                        .into());
                    }
                    id.cert_fingerprint = Some(fp);
                }
                Some(id)
            }
        };
        Ok(Caller(id))
    }
}

/// The value of the credential header `name`: `None` when absent, an
/// error when it is repeated or not visible ASCII (a header hyper accepts
/// but that is not text must not silently become "no credentials").
pub(crate) fn credential_header<'h>(
    headers: &'h axum::http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::RepeatedHeader(name));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| AuthError::UnreadableHeader(name))
}

/// Every route, whether or not it looks at credentials: a credential header
/// that cannot even be parsed (not text, repeated, not `Basic` base64 of
/// `user:secret`) is a 401, so that no request with garbage credentials is
/// ever served as anonymous. Checking them costs no database access. The
/// `+api` discovery routes are exempt: they report the problem in
/// `authstatus`, as devpi-client expects.
pub async fn refuse_unreadable_credentials(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // `/+metrics` reads its own bearer token (server/metrics.rs)
    if !req.uri().path().ends_with("/+api") && req.uri().path() != "/+metrics" {
        let parsed = credential_header(req.headers(), "Authorization").and_then(|auth| {
            let devpi = credential_header(req.headers(), "X-Devpi-Auth")?;
            Credentials::from_headers(auth, devpi)
        });
        if let Err(e) = parsed {
            return ApiError::from(e).into_response();
        }
    }
    next.run(req).await
}

/// The peer address of the request's connection (both listeners record it).
pub fn remote_addr(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectionInfo>()
        .map(|c| c.peer_addr)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0)
        })
}

/// Where the request came from: the trusted proxy on behalf of its client,
/// or the connection's peer.
pub fn origin(parts: &Parts) -> Option<Origin> {
    match parts.extensions.get::<ProxyRequest>() {
        Some(p) => Some(Origin::Proxy(p.client_ip)),
        None => remote_addr(parts).map(Origin::Peer),
    }
}

/// The caller and the address it connects from: who an audited operation
/// is attributed to. Rejects like [`Caller`].
impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(identity) = Caller::from_request_parts(parts, state).await?;
        // A verified certificate that no identity accounts for stands for
        // no user; it is still recorded with what the request does.
        let unmapped = parts
            .extensions
            .get::<ConnectionInfo>()
            .filter(|_| parts.extensions.get::<ProxyRequest>().is_none())
            .and_then(|c| c.peer_cert.as_ref())
            .map(|c| c.fingerprint_sha256.clone())
            .filter(|fp| identity.as_ref().and_then(|i| i.cert_fingerprint.as_ref()) != Some(fp));
        Ok(Actor::new(identity, origin(parts)).with_unmapped_cert(unmapped))
    }
}

/// Only the origin of the request, for anonymous reads where
/// authenticating would cost too much (simple pages): never rejects.
pub struct Remote(pub Option<Origin>);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Remote(origin(parts)))
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
