//! What a refused request is still sending is read and discarded, after the
//! answer, so that the client gets to read the answer.
//!
//! Uploads are refused before their body is read (credentials, ACLs, an
//! unknown index, a declared size over the limit). A client such as twine
//! sends the whole body before it reads the response; if the server closed
//! the connection with bytes still unread, the kernel resets it and the
//! client reports "connection reset" instead of "invalid user name or
//! password". Like nginx's lingering close, this layer keeps the request
//! body of every request that has one: when the handler has answered
//! without reading it to the end, a background task reads the rest (at most
//! `limit` bytes, for at most [`LINGER`]) and throws it away while the
//! answer goes out. Requests without a body (every GET) pass untouched.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};

/// How long the rest of a refused body is read at most.
pub const LINGER: Duration = Duration::from_secs(30);

/// The most bytes of a refused body read, given the largest body a request
/// may have: four times that, at least 1 GiB (a file somewhat over the
/// limit still gets its 413; [`LINGER`] bounds the time either way).
pub fn read_at_most(largest_body: u64) -> u64 {
    largest_body.saturating_mul(4).max(1 << 30)
}

/// A request body the handler reads through [`Lent`] while this layer keeps
/// hold of it.
type Kept = Arc<Mutex<Option<Body>>>;

fn lock(kept: &Kept) -> MutexGuard<'_, Option<Body>> {
    kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The body as the handler sees it: every frame comes from the kept one.
struct Lent(Kept);

impl http_body::Body for Lent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match lock(&self.0).as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.0)
            .as_ref()
            .map_or(true, http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0)
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

fn has_body(req: &Request) -> bool {
    let h = req.headers();
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// The layer; its state is the most it reads of a refused body
/// ([`read_at_most`]).
pub async fn drain_unread_body(State(limit): State<u64>, req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let kept: Kept = Arc::new(Mutex::new(Some(body)));
    let req = Request::from_parts(parts, Body::new(Lent(Arc::clone(&kept))));
    let response = next.run(req).await;
    let rest = lock(&kept).take();
    if let Some(rest) = rest.filter(|b| !http_body::Body::is_end_stream(b)) {
        tokio::spawn(discard(rest, limit));
    }
    response
}

/// Read and drop up to `limit` bytes of `body`, for at most [`LINGER`]; then
/// drop it (the connection closes if the client is still sending).
async fn discard(body: Body, limit: u64) {
    let work = async {
        let mut stream = body.into_data_stream();
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, work).await;
}
