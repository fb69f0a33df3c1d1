//! Connection limits shared by the plain-HTTP and the HTTPS listener: how
//! many connections one peer address and everyone together may hold, how
//! long a connection may take to send a request head or sit idle between
//! requests, how long a request body (or a response write) may stall, and
//! the refusal of requests that carry both `Content-Length` and
//! `Transfer-Encoding` (RFC 9112 §6.1).
//!
//! Each accepted connection gets a [`ConnPermit`] from the [`ConnGate`] and
//! is served by [`serve_connection`], which watches it: the I/O is wrapped
//! to see when bytes arrive and when writes block, the service to count
//! requests in flight (until their response body is done). Nothing here
//! knows about routes.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceExt;

use crate::connection::ConnectionInfo;

/// The limits of one listener. [`Default`] is what `airlock serve` uses
/// unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// A request head must be complete within this time of its first byte
    /// (of the connection's start, for the first request).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no byte of a new one is
    /// closed after this time.
    pub idle_timeout: Duration,
    /// Longest pause while a request body is received or a response is
    /// written (a stalled upload or a client that stops reading).
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one peer IP address.
    pub max_connections_per_peer: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_peer: 256,
        }
    }
}

/// Counts open connections, in total and per peer address.
pub struct ConnGate {
    limits: ConnLimits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    #[error("this server already has {0} connections open; try again later")]
    Total(usize),
    #[error("your address already has {0} connections open to this server; close some first")]
    PerPeer(usize),
}

impl ConnGate {
    pub fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    pub fn limits(&self) -> &ConnLimits {
        &self.limits
    }

    /// Admit a connection from `peer`, or say why not. The permit gives the
    /// slot back when dropped.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnPermit, GateRefusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.0 >= self.limits.max_connections {
            return Err(GateRefusal::Total(self.limits.max_connections));
        }
        let mine = open.1.entry(peer).or_insert(0);
        if *mine >= self.limits.max_connections_per_peer {
            return Err(GateRefusal::PerPeer(self.limits.max_connections_per_peer));
        }
        *mine += 1;
        open.0 += 1;
        Ok(ConnPermit {
            gate: Arc::clone(self),
            peer,
        })
    }
}

/// One admitted connection's slot.
pub struct ConnPermit {
    gate: Arc<ConnGate>,
    peer: IpAddr,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.peer);
            }
        }
    }
}

/// The 503 a plain-HTTP connection over the limits gets before it is
/// closed (a TLS connection is closed without a word: nothing can be said
/// before the handshake).
pub fn refusal_response(why: GateRefusal) -> Vec<u8> {
    let body = format!("{why}\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Largest request head scanned for conflicting framing headers; hyper
/// refuses heads much larger than this anyway.
const MAX_SCANNED_HEAD: usize = 64 * 1024;
/// Longest chunk-size or trailer line followed.
const MAX_SCANNED_LINE: usize = 4096;

/// Follows the HTTP/1 request stream byte by byte (heads, and bodies by
/// their framing, so pipelined requests are seen too) to find every head
/// that names both Content-Length and Transfer-Encoding: hyper drops one
/// of the two before the application could see it.
#[derive(Debug)]
enum FramingScanner {
    Head(Vec<u8>),
    Body(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    Trailers(Vec<u8>),
    /// HTTP/2, an upgrade, a conflict already found, or something hyper
    /// will refuse anyway: nothing more to follow.
    Off,
}

impl FramingScanner {
    /// Feed bytes read from the client; each complete request head adds
    /// whether it had conflicting framing to `heads`.
    fn feed(&mut self, mut bytes: &[u8], heads: &mut std::collections::VecDeque<bool>) {
        while !bytes.is_empty() {
            match self {
                FramingScanner::Off => return,
                FramingScanner::Head(buf) => {
                    let Some(end) = line_end(buf, bytes, b"\r\n\r\n", MAX_SCANNED_HEAD) else {
                        if buf.len() + bytes.len() > MAX_SCANNED_HEAD {
                            *self = FramingScanner::Off;
                        } else {
                            buf.extend_from_slice(bytes);
                        }
                        return;
                    };
                    buf.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end..];
                    let (conflict, next) = after_head(buf);
                    heads.push_back(conflict);
                    *self = next;
                }
                FramingScanner::Body(left) | FramingScanner::ChunkData(left) => {
                    let take = (*left).min(bytes.len() as u64);
                    *left -= take;
                    bytes = &bytes[take as usize..];
                    if *left == 0 {
                        *self = match self {
                            FramingScanner::Body(_) => FramingScanner::Head(Vec::new()),
                            _ => FramingScanner::ChunkSize(Vec::new()),
                        };
                    }
                }
                FramingScanner::ChunkSize(_) | FramingScanner::Trailers(_) => {
                    let in_trailers = matches!(self, FramingScanner::Trailers(_));
                    let (FramingScanner::ChunkSize(line) | FramingScanner::Trailers(line)) = self
                    else {
                        return;
                    };
                    let Some(end) = line_end(line, bytes, b"\n", MAX_SCANNED_LINE) else {
                        if line.len() + bytes.len() > MAX_SCANNED_LINE {
                            *self = FramingScanner::Off;
                        } else {
                            line.extend_from_slice(bytes);
                        }
                        return;
                    };
                    line.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end..];
                    let text = line.trim_ascii();
                    *self = if in_trailers {
                        if text.is_empty() {
                            FramingScanner::Head(Vec::new())
                        } else {
                            FramingScanner::Trailers(Vec::new())
                        }
                    } else {
                        let size = text.split(|&b| b == b';').next().unwrap_or_default();
                        match std::str::from_utf8(size.trim_ascii())
                            .ok()
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                        {
                            Some(0) => FramingScanner::Trailers(Vec::new()),
                            Some(n) => FramingScanner::ChunkData(n.saturating_add(2)),
                            None => FramingScanner::Off,
                        }
                    };
                }
            }
        }
    }
}

/// Where `terminator` ends in `buf` + `more`, as an index into `more`
/// (one past the terminator), looking at most `max` bytes.
fn line_end(buf: &[u8], more: &[u8], terminator: &[u8], max: usize) -> Option<usize> {
    let keep = buf.len().min(terminator.len() - 1);
    let mut window = buf[buf.len() - keep..].to_vec();
    let room = max.saturating_sub(buf.len()).min(more.len());
    window.extend_from_slice(&more[..room]);
    window
        .windows(terminator.len())
        .position(|w| w == terminator)
        .map(|i| i + terminator.len() - keep)
}

/// A complete head: did it have both framing headers, and what follows it?
fn after_head(head: &[u8]) -> (bool, FramingScanner) {
    if head.starts_with(b"PRI * HTTP/2.0") {
        return (false, FramingScanner::Off);
    }
    let mut length: Option<u64> = None;
    let mut lengths = 0;
    let mut encoding: Option<&[u8]> = None;
    let mut upgrade = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encoding = Some(value);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade = true;
        }
    }
    match (lengths, encoding) {
        (0, None) if !upgrade => (false, FramingScanner::Head(Vec::new())),
        (0, Some(te)) if !upgrade && te.to_ascii_lowercase().ends_with(b"chunked") => {
            (false, FramingScanner::ChunkSize(Vec::new()))
        }
        (1, None) if !upgrade => match length {
            Some(0) => (false, FramingScanner::Head(Vec::new())),
            Some(n) => (false, FramingScanner::Body(n)),
            None => (false, FramingScanner::Off),
        },
        (n, Some(_)) if n > 0 => (true, FramingScanner::Off),
        _ => (false, FramingScanner::Off),
    }
}

/// What the connection is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// The rest of a request head (since `since`).
    Head,
    /// The first byte of the next request (since `since`).
    Idle,
    /// Requests are in flight.
    Busy,
}

struct State {
    waiting: Waiting,
    since: Instant,
    in_flight: usize,
    /// Follows the request stream for conflicting framing headers.
    scanner: FramingScanner,
    /// For each request head seen and not yet handed to the service: did
    /// it have both Content-Length and Transfer-Encoding?
    heads: std::collections::VecDeque<bool>,
    /// A write has been blocked since then.
    write_blocked: Option<Instant>,
}

/// Shared between the I/O wrapper, the service and the watchdog.
struct Activity(Mutex<State>);

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(State {
            waiting: Waiting::Head,
            since: Instant::now(),
            in_flight: 0,
            scanner: FramingScanner::Head(Vec::new()),
            heads: std::collections::VecDeque::new(),
            write_blocked: None,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_read(&self, bytes: &[u8]) {
        let mut s = self.lock();
        if s.waiting == Waiting::Idle {
            s.waiting = Waiting::Head;
            s.since = Instant::now();
        }
        let State { scanner, heads, .. } = &mut *s;
        scanner.feed(bytes, heads);
    }

    /// A request reached the service. Returns whether its head had
    /// conflicting framing headers.
    fn request_started(&self) -> bool {
        let mut s = self.lock();
        s.in_flight += 1;
        s.waiting = Waiting::Busy;
        s.heads.pop_front().unwrap_or(false)
    }

    fn request_finished(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.waiting = Waiting::Idle;
            s.since = Instant::now();
        }
    }

    fn write_blocked(&self, blocked: bool) {
        let mut s = self.lock();
        match (blocked, s.write_blocked) {
            (true, None) => s.write_blocked = Some(Instant::now()),
            (false, Some(_)) => s.write_blocked = None,
            _ => {}
        }
    }

    /// Has the connection overstayed a limit? Says which.
    fn expired(&self, limits: &ConnLimits) -> Option<&'static str> {
        let s = self.lock();
        let now = Instant::now();
        if s.write_blocked
            .is_some_and(|t| now.duration_since(t) > limits.body_timeout)
        {
            return Some("the client stopped reading the response");
        }
        match s.waiting {
            Waiting::Head if now.duration_since(s.since) > limits.header_read_timeout => {
                Some("the request head was not complete in time")
            }
            Waiting::Idle if now.duration_since(s.since) > limits.idle_timeout => {
                Some("the connection was idle too long")
            }
            _ => None,
        }
    }
}

/// The connection's I/O, reporting reads and blocked writes.
struct WatchedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.write_blocked(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.write_blocked(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.activity.write_blocked(polled.is_pending());
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts a request as in flight until its response body is done (or
/// the request is abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request counted while it is sent.
struct CountedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The error a request body gives when its client stops sending.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body stalled: no data arrived for {} s", .0.as_secs())]
pub struct BodyStalled(pub Duration);

impl BodyStalled {
    /// Is `error` (or anything in its source chain) a stalled body?
    pub fn in_chain(error: &(dyn std::error::Error + 'static)) -> Option<BodyStalled> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(stalled) = e.downcast_ref::<BodyStalled>() {
                return Some(*stalled);
            }
            current = e.source();
        }
        None
    }
}

/// A request body that fails with [`BodyStalled`] when no frame arrives
/// for the body timeout.
struct StallGuardedBody {
    inner: Incoming,
    timeout: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for StallGuardedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The HTTP/1 and HTTP/2 connection builder both listeners use.
pub fn http_builder(limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    // hyper's own head timeout also runs while a connection is idle, so it
    // is only a backstop here; the watchdog below enforces both limits.
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout + limits.idle_timeout);
    http.http2().timer(TokioTimer::new());
    http
}

/// How often the watchdog looks at a connection.
fn watchdog_tick(limits: &ConnLimits) -> Duration {
    let shortest = limits
        .header_read_timeout
        .min(limits.idle_timeout)
        .min(limits.body_timeout);
    (shortest / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// Serve `app` on one admitted connection until it ends, a limit closes it,
/// or the listener shuts down (through `watcher`).
#[allow(clippy::too_many_arguments)]
pub async fn serve_connection<I>(
    io: I,
    info: ConnectionInfo,
    app: Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    limits: ConnLimits,
    permit: ConnPermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = WatchedIo {
        inner: io,
        activity: Arc::clone(&activity),
    };
    let peer_addr: SocketAddr = info.peer_addr;
    let service_activity = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let conflicting = service_activity.request_started();
        let in_flight = InFlight(Arc::clone(&service_activity));
        let app = app.clone();
        let info = info.clone();
        async move {
            if conflicting {
                let mut response = framing_refusal();
                *response.body_mut() = Body::new(CountedBody {
                    inner: std::mem::take(response.body_mut()),
                    _in_flight: in_flight,
                });
                return Ok::<_, std::convert::Infallible>(response);
            }
            let mut request = request.map(|inner| {
                Body::new(StallGuardedBody {
                    inner,
                    timeout: limits.body_timeout,
                    timer: None,
                })
            });
            request.extensions_mut().insert(info);
            request.extensions_mut().insert(ConnectInfo(peer_addr));
            let response = match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|inner| {
                Body::new(CountedBody {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let connection = http.serve_connection_with_upgrades(TokioIo::new(io), service);
    let watched = watcher.watch(connection);
    tokio::pin!(watched);
    let mut tick = tokio::time::interval(watchdog_tick(&limits));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = &mut watched => {
                if let Err(e) = result {
                    tracing::debug!(peer = %peer_addr, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = tick.tick() => {
                if let Some(why) = activity.expired(&limits) {
                    tracing::debug!(peer = %peer_addr, reason = why, "closing connection");
                    break;
                }
            }
        }
    }
    drop(permit);
}

/// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding
/// is answered 400, and the connection closed.
fn framing_refusal() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = crate::server::ApiError::bad_request(
        "the request has both Content-Length and Transfer-Encoding headers; send one \
         (RFC 9112 section 6.1)",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<bool> {
        let mut scanner = FramingScanner::Head(Vec::new());
        let mut heads = std::collections::VecDeque::new();
        for c in chunks {
            scanner.feed(c, &mut heads);
        }
        heads.into_iter().collect()
    }

    #[test]
    fn finds_conflicting_framing_in_every_head() {
        for (head, want) in [
            (
                &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                true,
            ),
            (
                b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
                true,
            ),
            (
                b"POST / HTTP/1.1\r\nCONTENT-LENGTH: 0\r\nTRANSFER-ENCODING: x\r\n\r\n",
                true,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                false,
            ),
            (
                b"POST /Content-Length: HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
            ),
            (
                b"POST / HTTP/1.1\r\nX-Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
            ),
        ] {
            assert_eq!(scan(&[head]).first().copied(), Some(want), "{head:?}");
        }
        // pipelined, after a body of each framing, split anywhere
        let stream: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
            POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
            GET /c HTTP/1.1\r\n\r\n\
            POST /d HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(scan(&[stream]), vec![false, false, false, true]);
        for split in 1..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(
                scan(&[a, b]),
                vec![false, false, false, true],
                "split at {split}"
            );
        }
        assert!(scan(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]) == vec![false]);
    }

    #[test]
    fn the_gate_counts_per_peer_and_in_total() {
        let gate = ConnGate::new(ConnLimits {
            max_connections: 3,
            max_connections_per_peer: 2,
            ..ConnLimits::default()
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some(GateRefusal::PerPeer(2)));
        let _b1 = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).err(), Some(GateRefusal::Total(3)));
        drop(a1);
        assert!(gate.admit(b).is_ok(), "a freed slot is reusable");
    }

    #[test]
    fn idle_and_head_deadlines() {
        let limits = ConnLimits {
            header_read_timeout: Duration::from_millis(50),
            idle_timeout: Duration::from_millis(200),
            ..ConnLimits::default()
        };
        let activity = Activity::new();
        assert_eq!(activity.expired(&limits), None);
        std::thread::sleep(Duration::from_millis(80));
        assert!(activity.expired(&limits).is_some(), "first head is late");

        let activity = Activity::new();
        activity.bytes_read(b"GET / HTTP/1.1\r\n\r\n");
        assert!(!activity.request_started());
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(activity.expired(&limits), None, "busy: no deadline");
        activity.request_finished();
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(
            activity.expired(&limits),
            None,
            "idle, within the idle timeout"
        );
        activity.bytes_read(b"GET /");
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            activity.expired(&limits).is_some(),
            "a started head is late"
        );
    }
}
