//! The UI's own static files, compiled into the binary (no CDN). Their
//! URLs carry a digest of the content, so they are cached for a year and
//! a changed file gets a new URL.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("static/airlock.css");
const JS: &str = include_str!("static/airlock.js");

fn url_of(body: &str, ext: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    format!("/+static/airlock-{}.{ext}", hex::encode(&d.as_ref()[..8]))
}

pub static CSS_URL: LazyLock<String> = LazyLock::new(|| url_of(CSS, "css"));
pub static JS_URL: LazyLock<String> = LazyLock::new(|| url_of(JS, "js"));

pub async fn asset(Path(name): Path<String>) -> Response {
    let url = format!("/+static/{name}");
    let (body, ctype) = if url == *CSS_URL {
        (CSS, "text/css; charset=utf-8")
    } else if url == *JS_URL {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}
