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
    pub peer_addr: SocketAddr,
    pub peer_cert: Option<Arc<PeerCertificate>>,
}
