//! Prometheus metrics over HTTP: the per-request middleware that counts
//! every answer by route group, `GET /+metrics` on the main listener
//! (bearer token only), and the router of the separate metrics listener.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{ApiError, AppState};
use crate::metrics::RouteGroup;

/// The secret a scraper sends as `Authorization: Bearer …` to read
/// `/+metrics` on the main listener. Only its SHA-256 is kept.
#[derive(Clone)]
pub struct MetricsToken(Arc<[u8; 32]>);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    /// A token from the contents of `--metrics-token-file` (surrounding
    /// whitespace ignored). Empty: an error, not an open endpoint.
    pub fn new(secret: &str) -> Result<Self, &'static str> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err("the metrics token file is empty");
        }
        Ok(Self(Arc::new(sha256(secret.as_bytes()))))
    }

    /// Constant time in the secret: both sides are hashed to 32 bytes and
    /// compared without an early exit.
    pub fn matches(&self, presented: &str) -> bool {
        let got = sha256(presented.as_bytes());
        let diff = got
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Which fixed group a request belongs to (never the raw path: bounded
/// label cardinality).
pub fn route_group(req: &Request) -> RouteGroup {
    let path = req.uri().path();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segs.contains(&"+simple") {
        return RouteGroup::Simple;
    }
    if segs.iter().any(|s| *s == "+f" || *s == "+e") {
        return RouteGroup::Files;
    }
    if crate::web::wants_page(req) {
        return RouteGroup::Web;
    }
    if segs.iter().any(|s| *s == "+doc" || *s == "+d") {
        return RouteGroup::Docs;
    }
    if segs.first() == Some(&"+search") {
        return RouteGroup::Search;
    }
    let on_index = segs.len() == 2 && !segs[0].starts_with('+');
    if on_index && req.method() == Method::POST {
        // devpi pushes are JSON posts (`:action: push`); uploads are forms
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
        return if json {
            RouteGroup::Push
        } else {
            RouteGroup::Upload
        };
    }
    if on_index && req.method().as_str() == "PUSH" {
        return RouteGroup::Push;
    }
    match segs.first() {
        Some(&"+health" | &"+ready" | &"+status" | &"+metrics") => RouteGroup::Other,
        _ => RouteGroup::Api,
    }
}

/// Count and time every request (to its response head).
pub async fn track(req: Request, next: Next) -> Response {
    let group = route_group(&req);
    let started = Instant::now();
    let resp = next.run(req).await;
    crate::metrics::record_request(group, resp.status().as_u16(), started.elapsed());
    resp
}

async fn scrape(st: &AppState) -> Response {
    let gauges = st.registry.metrics_gauges().await;
    let mut resp = crate::metrics::render(&gauges).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /+metrics` on the main listener: 404 unless a token is
/// configured, then 401 without the right bearer token.
pub async fn main_listener_metrics(State(st): State<AppState>, req: Request) -> Response {
    let Some(token) = st.settings.metrics_token.clone() else {
        return ApiError::not_found("no such page: /+metrics").into_response();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if token.matches(p) => scrape(&st).await,
        _ => {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "metrics need the bearer token of --metrics-token-file",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"airlock metrics\""),
            );
            resp
        }
    }
}

/// The separate metrics listener (`--metrics-listen`): `/metrics` and
/// `/+metrics`, no authentication (bind it where only Prometheus reaches).
pub fn listener_router(state: AppState) -> Router {
    async fn open(State(st): State<AppState>) -> Response {
        scrape(&st).await
    }
    Router::new()
        .route("/metrics", get(open))
        .route("/+metrics", get(open))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, accept: &str) -> Request {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, accept)
            .header(header::CONTENT_TYPE, accept)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn groups_are_fixed_and_never_the_path() {
        let cases = [
            ("GET", "/root/pypi/+simple/foo/", "*/*", RouteGroup::Simple),
            ("GET", "/a/b/+f/ab/cdef/x-1.whl", "*/*", RouteGroup::Files),
            ("POST", "/a/b/", "*/*", RouteGroup::Upload),
            ("PUSH", "/a/b", "*/*", RouteGroup::Push),
            ("POST", "/a/b", "application/json", RouteGroup::Push),
            (
                "GET",
                "/a/b/p/1/+doc/",
                "application/json",
                RouteGroup::Docs,
            ),
            (
                "GET",
                "/+search?q=x",
                "application/json",
                RouteGroup::Search,
            ),
            ("GET", "/a/b", "text/html", RouteGroup::Web),
            ("GET", "/a/b", "application/json", RouteGroup::Api),
            ("GET", "/+ready", "*/*", RouteGroup::Other),
        ];
        for (m, p, a, want) in cases {
            assert_eq!(route_group(&req(m, p, a)), want, "{m} {p}");
        }
    }

    #[test]
    fn token_matches_only_itself() {
        let t = MetricsToken::new("s3cret\n").unwrap();
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches(""));
        assert!(MetricsToken::new("  \n").is_err());
    }
}
