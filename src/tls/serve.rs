//! The HTTPS accept loop: TLS handshake (with a deadline), client identity extraction, and
//! HTTP/1.1 or HTTP/2 service of an axum [`Router`] with graceful shutdown.
//!
//! Nothing a client does can end the loop: failed or slow handshakes are logged and dropped,
//! accept errors (e.g. out of file descriptors) are logged and retried after a pause.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::connection::ConnectionInfo;
use crate::listener::{self, ConnGate, ConnLimits, ConnPermit};
use crate::tls::identity::PeerCertificate;

/// Timeouts of the accept loop. [`Default`] is what production uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// A client must complete the TLS handshake within this time, so that connections that
    /// never finish (slowloris) cannot pile up.
    pub handshake_timeout: Duration,
    /// The limits every connection is held to once it speaks HTTP (the same as the plain
    /// listener's: head, idle and body timeouts, connection caps).
    pub limits: ConnLimits,
    /// On shutdown, in-flight requests get this long to finish before the loop returns
    /// regardless (connections still open are then abandoned to the runtime).
    pub drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            handshake_timeout: Duration::from_secs(10),
            limits: ConnLimits::default(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Pause after a failed `accept()` (typically EMFILE) before trying again, so the loop does
/// not spin while the process is out of descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` over TLS on `listener` until `shutdown` completes, then lets in-flight
/// requests finish (see [`ServeOptions::drain_timeout`]).
///
/// Every request carries a [`ConnectionInfo`] extension (with the verified client
/// certificate, if any) and axum's `ConnectInfo<SocketAddr>`.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_tls_with(listener, config, app, shutdown, ServeOptions::default()).await
}

/// [`serve_tls`] with explicit timeouts.
pub async fn serve_tls_with(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let http = Arc::new(listener::http_builder(&options.limits));
    let gate = ConnGate::new(options.limits);
    let graceful = GracefulShutdown::new();

    tokio::pin!(shutdown);
    loop {
        let (stream, peer_addr) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a TCP connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // Counted from accept on, so handshakes in progress count too.
        let permit = match gate.admit(peer_addr.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::info!(peer = %peer_addr, reason = %why, "connection refused");
                continue;
            }
        };
        // Small responses must not wait for delayed ACKs (Nagle).
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer_addr,
            acceptor.clone(),
            app.clone(),
            http.clone(),
            graceful.watcher(),
            options,
            permit,
        ));
    }

    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "HTTPS listener closed; waiting for in-flight requests"
    );
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?options.drain_timeout,
            "connections still open after the drain timeout; abandoning them"
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: TcpStream,
    peer_addr: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    // Held from accept on, so that shutdown also waits for handshakes in progress.
    watcher: Watcher,
    options: ServeOptions,
    permit: ConnPermit,
) {
    let handshake_timeout = options.handshake_timeout;
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Err(_) => {
            tracing::debug!(peer = %peer_addr, timeout = ?handshake_timeout, "TLS handshake timed out");
            return;
        }
        Ok(Err(e)) => {
            tracing::info!(peer = %peer_addr, error = %e, "TLS handshake failed");
            return;
        }
        Ok(Ok(tls)) => tls,
    };

    let peer_cert = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        None => None,
        Some(der) => match PeerCertificate::from_der(der) {
            Ok(cert) => Some(Arc::new(cert)),
            Err(e) => {
                // rustls accepted it, so this is a parser disagreement: refuse rather than
                // treat the client as anonymous.
                tracing::warn!(peer = %peer_addr, error = %e, "verified client certificate could not be parsed; closing");
                return;
            }
        },
    };
    let info = ConnectionInfo {
        peer_addr,
        peer_cert,
        transport: crate::connection::Transport::Tls,
    };
    listener::serve_connection(tls, info, app, http, watcher, options.limits, permit).await;
}
