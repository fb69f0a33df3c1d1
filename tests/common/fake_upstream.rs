//! A fake upstream simple index for mirror tests: PEP 691 JSON and PEP 503
//! HTML project pages and their files on 127.0.0.1, counting hits per path,
//! and switchable at runtime to misbehave (wrong bytes, stalls, 5xx, HTML
//! only, slow bodies) or to go away entirely.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Deterministic incompressible-looking bytes.
pub fn payload(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// One file upstream serves.
#[derive(Clone)]
pub struct Dist {
    pub filename: String,
    pub bytes: Vec<u8>,
    /// PEP 658 metadata offered for it.
    pub metadata: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Files are served with one byte changed (sha256 no longer matches).
    WrongBytes,
    /// Every request hangs (longer than any test timeout).
    Stall,
    /// Every request answers 503.
    ServerError,
    /// Pages only in HTML, whatever the client asks for.
    HtmlOnly,
}

struct Shared {
    mode: Mode,
    /// Delay before answering anything.
    delay: Duration,
    /// Delay between 16 KiB pieces of file bodies.
    chunk_delay: Duration,
    projects: HashMap<String, Vec<Dist>>,
    /// Hand-written HTML project pages (devpi's test PyPI style: links
    /// without a sha256, quoted names), served as they are.
    raw_pages: HashMap<String, String>,
    /// Bytes served at exact paths (for the links of raw pages).
    raw_files: HashMap<String, Vec<u8>>,
    hits: HashMap<String, usize>,
}

pub struct FakeUpstream {
    pub addr: std::net::SocketAddr,
    shared: Arc<Mutex<Shared>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl FakeUpstream {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let shared = Arc::new(Mutex::new(Shared {
            mode: Mode::Normal,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            projects: HashMap::new(),
            raw_pages: HashMap::new(),
            raw_files: HashMap::new(),
            hits: HashMap::new(),
        }));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            rt: Some(rt),
        }
    }

    /// The simple index URL to give airlock as `--upstream`.
    pub fn simple_url(&self) -> String {
        format!("http://{}/simple/", self.addr)
    }

    pub fn add(&self, project: &str, dist: Dist) {
        self.lock()
            .projects
            .entry(project.to_string())
            .or_default()
            .push(dist);
    }

    /// Serve `html` as the project page of `project` (`None`: remove it).
    pub fn set_raw_page(&self, project: &str, html: Option<&str>) {
        let mut s = self.lock();
        match html {
            Some(h) => s.raw_pages.insert(project.to_string(), h.to_string()),
            None => s.raw_pages.remove(project),
        };
    }

    /// Serve `bytes` at `path` (`None`: 404 there).
    pub fn set_raw_file(&self, path: &str, bytes: Option<&[u8]>) {
        let mut s = self.lock();
        match bytes {
            Some(b) => s.raw_files.insert(path.to_string(), b.to_vec()),
            None => s.raw_files.remove(path),
        };
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub fn set_chunk_delay(&self, delay: Duration) {
        self.lock().chunk_delay = delay;
    }

    /// Requests seen for a path such as `/simple/demo/` or `/files/x.whl`.
    pub fn hits(&self, path: &str) -> usize {
        self.lock().hits.get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.lock().hits.values().sum()
    }

    /// Stop listening and drop every open connection.
    pub fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sha(bytes: &[u8]) -> String {
    airlock::digest::Sha256::of(bytes).to_hex()
}

async fn handle(State(shared): State<Arc<Mutex<Shared>>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let (mode, delay, chunk_delay, projects, raw_page, raw_file) = {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        *s.hits.entry(path.clone()).or_default() += 1;
        let raw_page = path
            .strip_prefix("/simple/")
            .and_then(|p| p.strip_suffix('/'))
            .and_then(|p| s.raw_pages.get(p).cloned());
        let raw_file = s.raw_files.get(&path).cloned();
        (
            s.mode,
            s.delay,
            s.chunk_delay,
            s.projects.clone(),
            raw_page,
            raw_file,
        )
    };
    if mode == Mode::Stall {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if mode == Mode::ServerError {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream is having a bad day",
        )
            .into_response();
    }
    if let Some(html) = raw_page {
        return ([(header::CONTENT_TYPE, "text/html")], html).into_response();
    }
    if let Some(bytes) = raw_file {
        return file_response(bytes, chunk_delay);
    }
    if let Some(project) = path
        .strip_prefix("/simple/")
        .and_then(|p| p.strip_suffix('/'))
    {
        let Some(dists) = projects.get(project) else {
            return (StatusCode::NOT_FOUND, "no such project").into_response();
        };
        return page(project, dists, req.headers(), mode);
    }
    if let Some(name) = path.strip_prefix("/files/") {
        let (base, want_meta) = match name.strip_suffix(".metadata") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let dist = projects.values().flatten().find(|d| d.filename == base);
        let bytes = match (dist, want_meta) {
            (Some(d), false) => d.bytes.clone(),
            (Some(d), true) => match &d.metadata {
                Some(m) => m.clone(),
                None => return StatusCode::NOT_FOUND.into_response(),
            },
            (None, _) => return StatusCode::NOT_FOUND.into_response(),
        };
        let mut bytes = bytes;
        if mode == Mode::WrongBytes {
            if let Some(last) = bytes.last_mut() {
                *last ^= 0xff;
            }
        }
        return file_response(bytes, chunk_delay);
    }
    StatusCode::NOT_FOUND.into_response()
}

fn page(project: &str, dists: &[Dist], headers: &HeaderMap, mode: Mode) -> Response {
    let etag = format!(
        "\"{}\"",
        &sha(format!("{project}{}", dists.len()).as_bytes())[..16]
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/vnd.pypi.simple.v1+json"));
    if wants_json && mode != Mode::HtmlOnly {
        let files: Vec<serde_json::Value> = dists
            .iter()
            .map(|d| {
                serde_json::json!({
                    "filename": d.filename,
                    "url": format!("../../files/{}", d.filename),
                    "hashes": {"sha256": sha(&d.bytes)},
                    "requires-python": ">=3.8",
                    "size": d.bytes.len(),
                    "upload-time": "2024-01-02T03:04:05Z",
                    "yanked": false,
                    "core-metadata": d.metadata.as_ref().map_or(serde_json::Value::Bool(false),
                        |m| serde_json::json!({"sha256": sha(m)})),
                })
            })
            .collect();
        let body = serde_json::json!({
            "meta": {"api-version": "1.1", "_last-serial": 1},
            "name": project,
            "files": files,
            "versions": [],
        });
        return (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.pypi.simple.v1+json".to_string(),
                ),
                (header::ETAG, etag),
            ],
            body.to_string(),
        )
            .into_response();
    }
    let mut html = format!("<!DOCTYPE html><html><body><h1>Links for {project}</h1>\n");
    for d in dists {
        let meta = d
            .metadata
            .as_ref()
            .map(|m| format!(" data-dist-info-metadata=\"sha256={}\"", sha(m)))
            .unwrap_or_default();
        html.push_str(&format!(
            "<a href=\"/files/{f}#sha256={h}\" data-requires-python=\"&gt;=3.8\"{meta}>{f}</a><br/>\n",
            f = d.filename,
            h = sha(&d.bytes)
        ));
    }
    html.push_str("</body></html>\n");
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::ETAG, etag),
        ],
        html,
    )
        .into_response()
}

fn file_response(bytes: Vec<u8>, chunk_delay: Duration) -> Response {
    let len = bytes.len();
    if chunk_delay.is_zero() {
        return ([(header::CONTENT_LENGTH, len.to_string())], bytes).into_response();
    }
    let chunks: Vec<Vec<u8>> = bytes.chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(chunks).then(move |c| async move {
        tokio::time::sleep(chunk_delay).await;
        Ok::<_, std::io::Error>(bytes::Bytes::from(c))
    });
    (
        [(header::CONTENT_LENGTH, len.to_string())],
        Body::from_stream(stream),
    )
        .into_response()
}

use futures_util::StreamExt;
