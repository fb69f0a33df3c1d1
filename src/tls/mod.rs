//! HTTPS for airlock: rustls server configuration with client-certificate authentication
//! and reloadable CRLs ([`config`]), identity extraction from verified client certificates
//! ([`identity`]), the accept loop ([`serve`]) and a throwaway private CA for `airlock certs`
//! ([`pki`]).

pub mod config;
pub mod identity;
pub mod pki;
pub mod serve;
pub mod trust;

pub use config::{
    server_config, spawn_crl_watcher, ClientAuth, CrlReloader, TlsError, TlsServerConfig,
    TlsSettings,
};
pub use identity::{IdentityRule, PeerCertificate};
pub use pki::{CertsCommand, CertsInitArgs, CertsRevokeArgs};
pub use serve::{serve_tls, serve_tls_with, ServeOptions};
