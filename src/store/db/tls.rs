//! TLS to PostgreSQL (`sslmode=require` in `--database`): rustls, with the
//! server's certificate **verified** — chain and host name — against the
//! system trust store (or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus the CA file
//! named by `AIRLOCK_DATABASE_CA`. Stricter than libpq's `require` (which
//! checks nothing): what libpq calls `verify-full`. Without `sslmode` (or
//! with `disable`) airlock connects in plain text and never tries TLS.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// The environment variable naming a PEM file of CA certificates that
/// sign the database server's certificate.
pub const CA_ENV: &str = "AIRLOCK_DATABASE_CA";

/// The TLS connector for a `sslmode=require` database.
pub fn connector() -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = std::env::var_os(CA_ENV) {
        let path = std::path::PathBuf::from(path);
        let pem = std::fs::read(&path).map_err(|e| StoreError::io("reading", &path, e))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                StoreError::Internal(format!("{CA_ENV}: {} is not PEM: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(StoreError::Internal(format!(
                "{CA_ENV}: {} holds no certificate",
                path.display()
            )));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| StoreError::Internal(format!("{CA_ENV}: {}: {e}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Internal(format!(
            "sslmode=require: no trusted CA certificates (system store empty, {CA_ENV} unset)"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// How a node connects to its database: plain, or TLS verified.
#[derive(Clone)]
pub enum DbTls {
    Plain,
    Verified(MakeRustlsConnect),
}

impl DbTls {
    /// The connector `location` asks for.
    pub fn for_location(location: &super::PgLocation) -> Result<Self, StoreError> {
        Ok(if location.tls() {
            Self::Verified(connector()?)
        } else {
            Self::Plain
        })
    }

    /// A pool manager connecting with `config` this way.
    pub fn manager(
        &self,
        config: tokio_postgres::Config,
        manager: deadpool_postgres::ManagerConfig,
    ) -> deadpool_postgres::Manager {
        match self {
            Self::Plain => {
                deadpool_postgres::Manager::from_config(config, tokio_postgres::NoTls, manager)
            }
            Self::Verified(t) => {
                deadpool_postgres::Manager::from_config(config, t.clone(), manager)
            }
        }
    }
}
