//! Facts about the network connection a request arrived on, shared by the HTTPS and the
//! plain-HTTP listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::tls::identity::PeerCertificate;

/// Inserted as a request extension by the listener for every request.
///
/// Handlers read it with `axum::Extension<ConnectionInfo>`. `peer_cert` is `Some` only for
/// HTTPS connections whose client presented a certificate that verified.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address; for the proxy's unix socket, which has none,
    /// `0.0.0.0:0`.
    pub peer_addr: SocketAddr,
    pub peer_cert: Option<Arc<PeerCertificate>>,
    /// Which listener the connection came on.
    pub transport: Transport,
}

/// The kinds of listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP over TCP (`--listen` without TLS).
    Tcp,
    /// HTTPS (`--tls-cert`).
    Tls,
    /// The front proxy's unix socket (`--proxy-socket`).
    ProxySocket,
}

/// The address recorded for connections on a unix socket.
pub const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
