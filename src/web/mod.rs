//! The web UI: pages for people, at devpi-web's URLs.
//!
//! A `GET` whose `Accept` prefers `text/html` (a browser) to JSON gets a
//! page; every other request goes to the API router untouched, so JSON
//! and simple-API answers stay byte-for-byte what clients get today.
//! Forms post to `/+web/...` only (never to an API route), and only with
//! a session's CSRF token and a same-origin `Origin`. Pages carry a strict
//! Content-Security-Policy; no inline script or style anywhere.

mod assets;
mod audit;
mod browse;
mod cache;
mod docs;
mod format;
mod layout;
mod pushes;
mod search;
mod status;
mod viewer;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::server::AppState;
pub use cache::BodyCache;
pub use viewer::Viewer;

/// Route names of the API that are never pages, even for a browser: the
/// simple API, release files, mirror files and raw documentation.
const RAW_SEGMENTS: &[&str] = &["+simple", "+f", "+e", "+d", "+api"];

/// Does this request go to the web UI rather than the API?
pub fn wants_page(req: &Request) -> bool {
    let path = req.uri().path();
    if path.starts_with("/+web/") || path.starts_with("/+static/") {
        return true;
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return false;
    }
    if path.split('/').any(|seg| RAW_SEGMENTS.contains(&seg)) {
        return false;
    }
    prefers_html(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// `Accept` names `text/html` (or `application/xhtml+xml`) with a quality
/// at least that of any JSON type. `*/*` alone is not a browser (curl).
pub fn prefers_html(accept: &str) -> bool {
    let mut html: Option<f32> = None;
    let mut json: f32 = 0.0;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if mime == "text/html" || mime == "application/xhtml+xml" {
            html = Some(html.map_or(q, |h| h.max(q)));
        } else if mime.contains("json") {
            json = json.max(q);
        }
    }
    html.is_some_and(|h| h > 0.0 && h >= json)
}

/// The pages, with `api` answering everything the web UI does not.
pub fn router(state: AppState, api: Router) -> Router {
    Router::new()
        .route("/", get(browse::home))
        .route("/+status", get(status::status))
        .route("/+search", get(search::search))
        .route("/+login", get(viewer::login_form))
        .route("/+web/login", post(viewer::login))
        .route("/+web/logout", post(viewer::logout))
        .route("/+static/{name}", get(assets::asset))
        .route("/+pushes", get(pushes::list))
        .route("/+pushes/{id}", get(pushes::detail))
        .route("/+web/pushes/{id}/approve", post(pushes::approve))
        .route("/+web/pushes/{id}/reject", post(pushes::reject))
        .route("/+audit", get(audit::audit))
        .route("/+alerts", get(audit::alerts))
        .route("/+web/alerts/{id}/ack", post(audit::ack))
        .route("/+typo/check", get(status::typo_check))
        .route("/{user}", get(browse::user))
        .route("/{user}/", get(browse::user))
        .route("/{user}/{index}", get(browse::index))
        .route("/{user}/{index}/", get(browse::index))
        .route("/{user}/{index}/{project}", get(browse::project))
        .route("/{user}/{index}/{project}/", get(browse::project))
        .route("/{user}/{index}/{project}/{version}", get(browse::version))
        .route("/{user}/{index}/{project}/{version}/", get(browse::version))
        .route(
            "/{user}/{index}/{project}/{version}/+doc",
            get(docs::root_redirect),
        )
        .route(
            "/{user}/{index}/{project}/{version}/+doc/",
            get(docs::chrome_root),
        )
        .route(
            "/{user}/{index}/{project}/{version}/+doc/{*page}",
            get(docs::chrome),
        )
        .fallback_service(api)
        .layer(middleware::from_fn(page_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every page: first-party script and
/// style files only, no plugins, no framing of airlock, forms only to
/// airlock, documentation only in a frame of airlock's own.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; frame-src 'self'; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

async fn page_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/+static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/html"));
    if is_html {
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            );
        }
        h.insert(header::VARY, HeaderValue::from_static("Accept, Cookie"));
    }
    if is_html || is_asset {
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert("x-devpi-api-version", HeaderValue::from_static("2"));
    }
    resp
}

/// An error shown as a page, with the status it stands for.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    /// Where the reader is (for the navigation), if known.
    pub viewer: Option<Box<Viewer>>,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            viewer: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn with_viewer(mut self, v: &Viewer) -> Self {
        self.viewer = Some(Box::new(v.clone()));
        self
    }
}

impl From<crate::registry::RegistryError> for PageError {
    fn from(e: crate::registry::RegistryError) -> Self {
        crate::server::ApiError::from(e).into()
    }
}

impl From<crate::server::ApiError> for PageError {
    fn from(e: crate::server::ApiError) -> Self {
        Self::new(e.status, e.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let body = maud::html! {
            h1 { (title) }
            p.error-message role="alert" { (self.message) }
            p { a href="/" { "Back to the start page" } }
        };
        let viewer = self.viewer.map(|v| *v).unwrap_or_default();
        let page = layout::page(&viewer, &title, &[], body);
        (self.status, page).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;
