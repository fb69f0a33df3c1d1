//! HTTP: the axum router, middleware, and one module per route group.
//! Handlers are thin: extract and authenticate, call one registry
//! function, map the result to a response.

mod alerts;
mod api;
mod approvals;
mod audit;
mod blob_body;
mod caller;
pub(crate) mod docs;
mod error;
pub(crate) mod files;
mod indexes;
mod json;
mod linger;
pub mod metrics;
pub(crate) mod mirror;
pub(crate) mod projects;
mod proxy_gate;
mod push;
mod search;
mod simple;
pub(crate) mod toxresults;
mod typo;
mod upload;
mod users;
mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use api::DEVPI_API_VERSION;
pub use caller::{origin, remote_addr, BaseUrl, Caller, Remote};
pub use error::ApiError;
pub use json::JsonBody;

use crate::names::IndexPath;
use crate::registry::Registry;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The address the server listens on (fallback for links).
    pub listen: String,
    /// The URL clients use to reach this server, if it is behind a proxy.
    pub outside_url: Option<String>,
    /// Whether this listener speaks TLS (for links).
    pub tls: bool,
    /// How a verified client certificate maps to a user.
    pub cert_identity: crate::tls::IdentityRule,
    /// `Authorization: Basic` is a front proxy's and is ignored
    /// (`--proxy-basic-auth`).
    pub proxy_basic_auth: bool,
    /// Bearer token that opens `/+metrics` on this listener
    /// (`--metrics-token-file`); without one that path is 404.
    pub metrics_token: Option<metrics::MetricsToken>,
    /// Stored files are sent by the front proxy (`--accel-redirect`):
    /// after every check a blob response carries an empty body and
    /// `X-Accel-Redirect: {prefix}/{aa}/{bb}/{sha256}`.
    pub accel_redirect: Option<crate::deploy::AccelPrefix>,
    /// Stored files are downloaded from the bucket (`--blobs-redirect`):
    /// after every check a blob response is a redirect to a URL presigned
    /// for this long.
    pub blob_redirect: Option<std::time::Duration>,
    /// How a node on a shared database learns of other nodes' writes
    /// before it answers (`--cluster-sync`).
    pub cluster_sync: crate::registry::ClusterSync,
    /// Front-proxy authentication (`--trusted-proxy`); `None`: off (the
    /// proxy headers are then refused on every connection).
    pub proxy: Option<crate::auth::proxy::ProxySettings>,
}

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// Rendered simple pages (see `simple::PageCache`).
    pub pages: Arc<crate::simple::PageCache>,
    /// Rendered bodies of web UI pages (see `web::BodyCache`).
    pub web_pages: Arc<crate::web::BodyCache>,
    pub settings: Arc<ServerSettings>,
}

/// Largest request body outside uploads (JSON API calls).
const API_BODY_LIMIT: usize = 1024 * 1024;

/// The whole HTTP application. `%2B` in paths is decoded to `+` before
/// routing (pip quotes the `+` of devpi's route names), for every listener.
pub fn router(state: AppState) -> Router {
    let api = routes(state.clone());
    let web = crate::web::router(state.clone(), api.clone());
    let dispatch = tower::service_fn(move |req: Request| {
        let target = if crate::web::wants_page(&req) {
            web.clone()
        } else {
            api.clone()
        };
        tower::ServiceExt::oneshot(target, req)
    });
    Router::new()
        .fallback_service(tower::Layer::layer(
            &tower::util::MapRequestLayer::new(decode_plus),
            dispatch,
        ))
        // several nodes on one database: every write acknowledged anywhere
        // before this request is seen by it
        .layer(middleware::from_fn_with_state(state.clone(), sync_cluster))
        // proxy claim headers: refused unless on the trusted proxy's connection
        .layer(middleware::from_fn_with_state(
            state.clone(),
            proxy_gate::gate,
        ))
        .layer(middleware::from_fn(metrics::track))
        // outermost: whatever refused a request, the rest of its body is read
        .layer(middleware::from_fn_with_state(
            linger::read_at_most(state.registry.settings.max_upload_bytes + upload::FIELD_BUDGET),
            linger::drain_unread_body,
        ))
}

/// [`crate::registry::Registry::sync_cluster`] before the request is
/// handled (nothing with the embedded database).
async fn sync_cluster(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: Request,
    next: middleware::Next,
) -> Response {
    st.registry.sync_cluster(st.settings.cluster_sync).await;
    next.run(req).await
}

fn routes(state: AppState) -> Router {
    // Uploads stream under their own limit (see upload.rs); only their
    // handler is exempt from the API body limit.
    let upload = || upload::upload.layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/+api", get(api::root_api))
        .route("/+status", get(api::status))
        .route("/+health", get(api::health))
        .route("/+ready", get(api::ready))
        .route("/+metrics", get(metrics::main_listener_metrics))
        .route("/+login", post(api::login))
        .route("/+alerts", get(alerts::list))
        .route("/+alerts/{id}/ack", post(alerts::ack))
        .route("/+pushes", get(approvals::list))
        .route("/+pushes/{id}/approve", post(approvals::approve))
        .route("/+pushes/{id}/reject", post(approvals::reject))
        .route("/+search", get(search::search))
        .route("/+audit", get(audit::list))
        .route("/+audit/verify", get(audit::verify))
        .route("/+typo/check", get(typo::check))
        .route("/+typo/rules", get(typo::rules))
        .route(
            "/+typo/rules/{name}",
            axum::routing::put(typo::set_global_rule).delete(typo::remove_global_rule),
        )
        .route("/", get(users::list))
        .route(
            "/{user}",
            get(users::get)
                .put(users::create)
                .patch(users::modify)
                .delete(users::delete),
        )
        .route("/{user}/", get(users::get))
        .route(
            "/{user}/+certs",
            get(users::list_certs).post(users::add_cert),
        )
        .route(
            "/{user}/+certs/{fingerprint}",
            axum::routing::delete(users::remove_cert),
        )
        .route(
            "/{user}/{index}",
            get(indexes::get)
                .put(indexes::create)
                .patch(indexes::modify)
                .delete(indexes::delete)
                .post(upload())
                // devpi-client pushes with the custom method PUSH
                .fallback(push_method),
        )
        .route("/{user}/{index}/", get(indexes::get).post(upload()))
        .route("/{user}/{index}/+api", get(api::index_api))
        .route(
            "/{user}/{index}/+typo/{name}",
            axum::routing::put(typo::set_index_rule).delete(typo::remove_index_rule),
        )
        .route(
            "/{user}/{index}/+webhooks",
            get(webhooks::list).put(webhooks::add).post(webhooks::add),
        )
        .route("/{user}/{index}/+webhooks/log", get(webhooks::log))
        .route(
            "/{user}/{index}/+webhooks/{id}",
            get(webhooks::get).delete(webhooks::remove),
        )
        .route("/{user}/{index}/+simple", get(simple::index_redirect))
        .route("/{user}/{index}/+simple/", get(simple::index_page))
        .route(
            "/{user}/{index}/+simple/{project}",
            get(simple::project_redirect),
        )
        .route(
            "/{user}/{index}/+simple/{project}/",
            get(simple::project_page),
        )
        .route(
            "/{user}/{index}/+simple/{project}/{filename}",
            get(simple::refused_file),
        )
        .route(
            "/{user}/{index}/+f/{h1}/{h2}/{filename}",
            get(files::download)
                .delete(files::delete)
                .post(toxresults::post),
        )
        .route(
            "/{user}/{index}/+e/{dirname}/{filename}",
            get(mirror::download_external),
        )
        .route(
            "/{user}/{index}/{project}",
            get(projects::project).delete(projects::delete_project),
        )
        .route(
            "/{user}/{index}/{project}/",
            get(projects::project).delete(projects::delete_project),
        )
        .route(
            "/{user}/{index}/{project}/{version}",
            get(projects::version).delete(projects::delete_version),
        )
        .route(
            "/{user}/{index}/{project}/{version}/",
            get(projects::version).delete(projects::delete_version),
        )
        .route(
            "/{user}/{index}/{project}/{version}/+doc",
            get(docs::page_root_redirect),
        )
        .route(
            "/{user}/{index}/{project}/{version}/+doc/",
            get(docs::page_root),
        )
        .route(
            "/{user}/{index}/{project}/{version}/+doc/{*page}",
            get(docs::page),
        )
        // the raw pages the web UI's documentation frame shows (`+doc/` is
        // the framed page for a browser)
        .route(
            "/{user}/{index}/{project}/{version}/+d/",
            get(docs::page_root),
        )
        .route(
            "/{user}/{index}/{project}/{version}/+d/{*page}",
            get(docs::page),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(middleware::from_fn(caller::refuse_unreadable_credentials))
        .layer(middleware::from_fn(render_errors))
        .layer(middleware::from_fn(common_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Methods other than GET/PUT/PATCH/DELETE/POST on an index: devpi's PUSH.
async fn push_method(
    state: axum::extract::State<AppState>,
    path: axum::extract::Path<(String, String)>,
    actor: crate::registry::Actor,
    req: Request,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if req.method().as_str() != "PUSH" {
        return Err(ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            format!("method {} is not allowed here", req.method()),
        ));
    }
    let body = axum::body::to_bytes(req.into_body(), API_BODY_LIMIT)
        .await
        .map_err(|e| body_error(&e, "push request too large"))?;
    Ok(push::push(state, path, actor, body).await.into_response())
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such page: {}",
        crate::echo::echo(req.uri().path())
    ))
}

/// Headers on every response.
async fn common_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-devpi-api-version", HeaderValue::from_static("2"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Errors are rendered as devpi JSON by default; a read by a client that
/// did not ask for JSON (pip, a browser, curl) gets the message as plain
/// text. Writes always get JSON, as from devpi.
async fn render_errors(req: Request, next: Next) -> Response {
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    let wants_json = !is_read
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("json"))
        || req.headers().contains_key("x-devpi-auth")
        || req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
    let resp = next.run(req).await;
    if wants_json {
        return resp;
    }
    let Some(msg) = resp.extensions().get::<error::ErrorMessage>().cloned() else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(format!("{}\n", msg.0)))
}

/// A request body that could not be read: 408 if the client stopped
/// sending (the listener's body timeout), 413 with `too_large` if it was
/// over a length limit (when `too_large` is not empty), else 400.
pub(crate) fn body_error(e: &(dyn std::error::Error + 'static), too_large: &str) -> ApiError {
    use axum::http::StatusCode;
    if let Some(stalled) = crate::listener::BodyStalled::in_chain(e) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("{stalled}; the upload was abandoned and nothing was stored"),
        );
    }
    let mut current = Some(e);
    while let Some(inner) = current {
        // http-body-util's LengthLimitError, without depending on it
        if !too_large.is_empty() && inner.to_string() == "length limit exceeded" {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, too_large);
        }
        current = inner.source();
    }
    ApiError::bad_request(format!("could not read the request body: {e}"))
}

/// Parse the `{user}/{index}` of a route, or answer 404 naming it.
pub(crate) fn index_path(user: &str, index: &str) -> Result<IndexPath, ApiError> {
    IndexPath::parse(&format!("{user}/{index}"))
        .map_err(|_| ApiError::not_found(format!("index {user}/{index} does not exist")))
}

/// Serve `router` on `listener` until `shutdown` resolves; in-flight
/// requests are allowed to finish (for at most 30 s). Every connection is
/// held to `limits` (see [`crate::listener`]).
pub async fn serve_plain(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: crate::listener::ConnLimits,
) -> std::io::Result<()> {
    use crate::listener::{self, ConnGate};
    use tokio::io::AsyncWriteExt;
    let gate = ConnGate::new(limits);
    let http = Arc::new(listener::http_builder(&limits));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (mut stream, peer_addr) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a TCP connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match gate.admit(peer_addr.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::info!(peer = %peer_addr, reason = %why, "connection refused");
                tokio::spawn(async move {
                    let reply = listener::refusal_response(why);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                        let _ = stream.write_all(&reply).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                });
                continue;
            }
        };
        // Without TCP_NODELAY a streamed body's first write waits for the
        // delayed ACK of the headers (~40 ms per small download).
        let _ = stream.set_nodelay(true);
        let info = crate::connection::ConnectionInfo {
            peer_addr,
            peer_cert: None,
            transport: crate::connection::Transport::Tcp,
        };
        tokio::spawn(listener::serve_connection(
            stream,
            info,
            router.clone(),
            Arc::clone(&http),
            graceful.watcher(),
            limits,
            permit,
        ));
    }
    drop(listener);
    let drain = std::time::Duration::from_secs(30);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?drain, "connections still open after the drain timeout; abandoning them");
    }
    Ok(())
}

/// Serve `router` on the front proxy's unix socket (`--proxy-socket`) until
/// `shutdown` resolves. Every connection here is the proxy's (the socket's
/// file mode decides who may connect), so they all count as one peer: the
/// per-peer cap is the total cap.
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: crate::listener::ConnLimits,
) -> std::io::Result<()> {
    use crate::connection::{ConnectionInfo, Transport, UNIX_PEER};
    use crate::listener::{self, ConnGate};
    let limits = crate::listener::ConnLimits {
        max_connections_per_peer: limits.max_connections,
        ..limits
    };
    let gate = ConnGate::new(limits);
    let http = Arc::new(listener::http_builder(&limits));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a unix socket connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match gate.admit(UNIX_PEER.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::info!(reason = %why, "proxy socket connection refused");
                continue;
            }
        };
        let info = ConnectionInfo {
            peer_addr: UNIX_PEER,
            peer_cert: None,
            transport: Transport::ProxySocket,
        };
        tokio::spawn(listener::serve_connection(
            stream,
            info,
            router.clone(),
            Arc::clone(&http),
            graceful.watcher(),
            limits,
            permit,
        ));
    }
    drop(listener);
    let drain = std::time::Duration::from_secs(30);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?drain, "proxy socket connections still open after the drain timeout; abandoning them");
    }
    Ok(())
}

/// pip percent-encodes `+` in URL paths (`/%2Bf/`, `/%2Bsimple/`); devpi's
/// route names start with `+`, so decode `%2B` before routing. No other
/// escape is touched (names and filenames cannot contain `%`).
pub fn decode_plus(mut req: Request) -> Request {
    let path = req.uri().path();
    if !(path.contains("%2B") || path.contains("%2b")) {
        return req;
    }
    let fixed = path.replace("%2B", "+").replace("%2b", "+");
    let pq = match req.uri().query() {
        Some(q) => format!("{fixed}?{q}"),
        None => fixed,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}
