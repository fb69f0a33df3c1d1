//! Who is reading a page: a browser session (cookie), a verified client
//! certificate, or nobody; the CSRF token their forms carry; and the login
//! and logout forms.
//!
//! The session cookie is honoured by the web UI only — never by the API,
//! so a page's session can do nothing a page's form does not do. Every
//! form post must carry the CSRF token bound to the session (or to the
//! certificate, or for the login form to a pre-login cookie) and come
//! from this origin (`Origin`, else `Sec-Fetch-Site: same-origin`).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::{layout, PageError, PageResult};
use crate::auth::cert::user_for_cert;
use crate::auth::{AuthMethod, Identity};
use crate::connection::ConnectionInfo;
use crate::registry::{Actor, SESSION_MAX_SECS};
use crate::server::{AppState, BaseUrl};

const SESSION_COOKIE: &str = "airlock_session";
/// On HTTPS the `__Host-` prefix makes the browser refuse the cookie
/// unless it is `Secure`, host-only and for the whole site.
const SESSION_COOKIE_TLS: &str = "__Host-airlock_session";
const LOGIN_COOKIE: &str = "airlock_login";
const LOGIN_COOKIE_TLS: &str = "__Host-airlock_login";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Via {
    #[default]
    Nobody,
    Session(String),
    Cert(String),
    /// The trusted front proxy's claim.
    Proxy,
}

/// The reader of a page.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    identity: Option<Identity>,
    via: Via,
    csrf: String,
    remote: Option<crate::registry::Origin>,
    /// A verified client certificate that maps to no user.
    unmapped_cert: Option<String>,
}

impl Viewer {
    pub fn user(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.user.as_str())
    }
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }
    pub fn via_session(&self) -> bool {
        matches!(self.via, Via::Session(_))
    }
    /// How the reader is known, for a tooltip.
    pub fn how(&self) -> &'static str {
        match (
            &self.via,
            self.identity.as_ref().map(|i| i.has_client_cert()),
        ) {
            (Via::Session(_), Some(true)) => "logged in, with a client certificate",
            (Via::Session(_), _) => "logged in with a password",
            (Via::Cert(_), _) => "known by a client certificate",
            (Via::Proxy, _) => "signed in through the front proxy",
            (Via::Nobody, _) => "anonymous",
        }
    }
    /// The token forms of this page carry (empty for an anonymous reader).
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
    /// The reader as the author of a registry operation.
    pub fn actor(&self) -> Actor {
        Actor::new(self.identity.clone(), self.remote)
            .with_unmapped_cert(self.unmapped_cert.clone())
    }
}

fn csrf_for(state: &AppState, binding: &str) -> String {
    let mut data = b"airlock-web-csrf\0".to_vec();
    data.extend_from_slice(binding.as_bytes());
    hex::encode(&state.registry.auth.signer.mac(&data)[..16])
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn session_cookie_name(tls: bool) -> &'static str {
    if tls {
        SESSION_COOKIE_TLS
    } else {
        SESSION_COOKIE
    }
}

fn login_cookie_name(tls: bool) -> &'static str {
    if tls {
        LOGIN_COOKIE_TLS
    } else {
        LOGIN_COOKIE
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let reg = &state.registry;
        let tls = state.settings.tls;
        let remote = crate::server::origin(parts);
        // On the trusted proxy's connection its claim is the reader (the
        // session cookie is not looked at: the proxy decides who this is);
        // its certificate is the proxy's, never a user's.
        let proxied = parts
            .extensions
            .get::<crate::auth::proxy::ProxyRequest>()
            .cloned();
        if let Some(claim) = proxied.as_ref().and_then(|p| p.claim.as_ref()) {
            let create = state
                .settings
                .proxy
                .as_ref()
                .is_some_and(|p| p.create_users);
            let actor = Actor::anonymous(remote);
            let id = reg.proxy_identity(&actor, claim, create).await?;
            return Ok(Viewer {
                csrf: csrf_for(state, &format!("proxy:{}", id.user)),
                identity: Some(id),
                via: Via::Proxy,
                remote,
                unmapped_cert: None,
            });
        }
        let cert = parts
            .extensions
            .get::<ConnectionInfo>()
            .and_then(|c| c.peer_cert.clone())
            .filter(|_| proxied.is_none());
        let cert_user = match &cert {
            Some(c) => user_for_cert(&reg.store.db, c, state.settings.cert_identity)
                .await
                .map_err(|e| PageError::new(StatusCode::UNAUTHORIZED, e.to_string()))?
                .map(|u| (u, c.fingerprint_sha256.clone())),
            None => None,
        };
        let session = match cookie(&parts.headers, session_cookie_name(tls)) {
            Some(c) => reg.session_identity(c).await?.map(|id| (id, c.to_string())),
            None => None,
        };
        let mut v = Viewer {
            remote,
            ..Viewer::default()
        };
        match (session, cert_user) {
            (Some((mut id, cookie)), cert_user) => {
                if let Some((user, fp)) = cert_user {
                    if user != id.user {
                        return Err(PageError::new(
                            StatusCode::UNAUTHORIZED,
                            format!(
                                "your client certificate is {user}'s but you are logged in as {}: log out first",
                                id.user
                            ),
                        ));
                    }
                    id.cert_fingerprint = Some(fp);
                }
                v.csrf = csrf_for(state, &format!("session:{cookie}"));
                v.via = Via::Session(cookie);
                v.identity = Some(id);
            }
            (None, Some((user, fp))) => {
                v.csrf = csrf_for(state, &format!("cert:{fp}"));
                v.via = Via::Cert(fp.clone());
                v.identity = Some(Identity {
                    user,
                    method: AuthMethod::ClientCert,
                    cert_fingerprint: Some(fp),
                    groups: Vec::new(),
                });
            }
            (None, None) => {}
        }
        v.unmapped_cert = cert.map(|c| c.fingerprint_sha256.clone()).filter(|fp| {
            v.identity
                .as_ref()
                .and_then(|i| i.cert_fingerprint.as_ref())
                != Some(fp)
        });
        Ok(v)
    }
}

/// Refuse a form post that did not come from one of our own pages: wrong
/// or missing origin, or a CSRF token that is not this reader's.
pub fn check_form(
    viewer: &Viewer,
    base: &BaseUrl,
    headers: &HeaderMap,
    token: &str,
) -> Result<(), PageError> {
    check_origin(base, headers).map_err(|e| e.with_viewer(viewer))?;
    if viewer.csrf.is_empty() {
        return Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "log in first: this form needs a session",
        )
        .with_viewer(viewer));
    }
    if !same(token, &viewer.csrf) {
        return Err(PageError::forbidden(
            "this form is stale or did not come from this site (CSRF token mismatch); reload the page and try again",
        )
        .with_viewer(viewer));
    }
    Ok(())
}

fn same(a: &str, b: &str) -> bool {
    // constant time for equal lengths (the tokens are fixed-length hex)
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn check_origin(base: &BaseUrl, headers: &HeaderMap) -> Result<(), PageError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let ours = base.0.trim_end_matches('/');
    match origin {
        Some(o) if o == ours => Ok(()),
        Some(o) => Err(PageError::forbidden(format!(
            "form posts are accepted from {ours} only, not from {}",
            crate::echo::echo(o)
        ))),
        None => {
            let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
            if site == Some("same-origin") {
                Ok(())
            } else {
                Err(PageError::forbidden(
                    "form posts must say where they come from (Origin header)",
                ))
            }
        }
    }
}

/// A local path to go back to after logging in; anything else is `/`.
fn local_target(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control())
                && n.len() < 1024 =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

fn cookie_header(name: &str, value: &str, max_age: i64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie header is ASCII")
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_form(
    State(st): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> PageResult {
    Ok(login_page(
        &st,
        &viewer,
        &headers,
        q.next.as_deref(),
        None,
        StatusCode::OK,
    ))
}

fn login_page(
    st: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let tls = st.settings.tls;
    let existing = cookie(headers, login_cookie_name(tls))
        .filter(|c| c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string);
    let pre = existing.clone().unwrap_or_else(random_hex);
    let token = csrf_for(st, &format!("login:{pre}"));
    let next = local_target(next);
    let body = html! {
        h1 { "Log in" }
        @if let Some(user) = viewer.user() {
            p.notice { "You are " (user) " (" (viewer.how()) ")." }
        }
        @if let Some(e) = error {
            p.error-message role="alert" { (e) }
        }
        form.stack action="/+web/login" method="post" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(next);
            label for="login-user" { "User name" }
            input #login-user type="text" name="user" autocomplete="username" required autofocus maxlength="64";
            label for="login-password" { "Password" }
            input #login-password type="password" name="password" autocomplete="current-password" required maxlength="1024";
            button type="submit" { "Log in" }
        }
        p.hint { "With a client certificate pinned to your account you are known without logging in (HTTPS listener)." }
    };
    let mut resp = layout::page(viewer, "Log in", &[], body);
    *resp.status_mut() = status;
    if existing.is_none() {
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(login_cookie_name(tls), &pre, 3600, tls),
        );
    }
    resp
}

fn random_hex() -> String {
    let mut raw = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw);
    hex::encode(raw)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(st): State<AppState>,
    viewer: Viewer,
    base: BaseUrl,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> PageResult {
    check_origin(&base, &headers).map_err(|e| e.with_viewer(&viewer))?;
    let tls = st.settings.tls;
    let pre = cookie(&headers, login_cookie_name(tls)).unwrap_or("");
    if pre.is_empty() || !same(&form.csrf, &csrf_for(&st, &format!("login:{pre}"))) {
        return Ok(login_page(
            &st,
            &viewer,
            &headers,
            form.next.as_deref(),
            Some("The login form expired or did not come from this site; please try again."),
            StatusCode::FORBIDDEN,
        ));
    }
    let remote = viewer.remote.map(|r| r.to_string());
    match st
        .registry
        .open_session(form.user.trim(), &form.password, remote)
        .await
    {
        Ok(s) => {
            let mut resp = Redirect::to(&local_target(form.next.as_deref())).into_response();
            *resp.status_mut() = StatusCode::SEE_OTHER;
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                cookie_header(session_cookie_name(tls), &s.cookie, SESSION_MAX_SECS, tls),
            );
            h.append(
                header::SET_COOKIE,
                cookie_header(login_cookie_name(tls), "", 0, tls),
            );
            Ok(resp)
        }
        Err(crate::registry::RegistryError::Unauthenticated(why)) => Ok(login_page(
            &st,
            &viewer,
            &headers,
            form.next.as_deref(),
            Some(&why),
            StatusCode::UNAUTHORIZED,
        )),
        Err(e) => Err(PageError::from(e).with_viewer(&viewer)),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(st): State<AppState>,
    viewer: Viewer,
    base: BaseUrl,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_form(&viewer, &base, &headers, &form.csrf)?;
    if let Via::Session(c) = &viewer.via {
        st.registry.close_session(c).await?;
    }
    let tls = st.settings.tls;
    let mut resp = Redirect::to("/").into_response();
    *resp.status_mut() = StatusCode::SEE_OTHER;
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(session_cookie_name(tls), "", 0, tls),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_login_targets() {
        assert_eq!(local_target(Some("/root/prod")), "/root/prod");
        assert_eq!(local_target(Some("//evil.example/")), "/");
        assert_eq!(local_target(Some("https://evil.example/")), "/");
        assert_eq!(local_target(Some("/\\evil.example")), "/");
        assert_eq!(local_target(Some("/a\nb")), "/");
        assert_eq!(local_target(None), "/");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; airlock_session=xyz; b=2"),
        );
        assert_eq!(cookie(&h, "airlock_session"), Some("xyz"));
        assert_eq!(cookie(&h, "airlock"), None);
    }

    #[test]
    fn origin_must_match_or_be_same_origin_fetch() {
        let base = BaseUrl("http://127.0.0.1:3141".into());
        let mut h = HeaderMap::new();
        assert!(check_origin(&base, &h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_origin(&base, &h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(check_origin(&base, &h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(check_origin(&base, &h).is_err());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:3141"),
        );
        assert!(check_origin(&base, &h).is_ok());
    }
}
