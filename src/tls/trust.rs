//! Which certificate authorities airlock trusts as an HTTPS *client* (the
//! mirror towards upstream, the CLI towards an airlock server): what the
//! operating system trusts — or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set,
//! the variables pip, curl and OpenSSL honour — plus the CA bundle given on
//! the command line. Behind a TLS-intercepting company proxy the proxy's CA
//! is in the system store, so the mirror works out of the box.
//!
//! Also: recognising a certificate failure in a reqwest error, so callers
//! never retry it and can say which flag fixes it.

use reqwest::ClientBuilder;

/// The trust anchors to add to a reqwest client, and what was loaded.
#[derive(Debug, Default)]
pub struct Trust {
    certs: Vec<reqwest::Certificate>,
    /// Where the system anchors came from, for the log.
    pub system_source: String,
    pub system_count: usize,
    pub extra_count: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{flag}: {reason}")]
    Extra { flag: &'static str, reason: String },
}

impl Trust {
    /// The system store (or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus `extra_pem`
    /// (the bytes of the file given with `flag`).
    pub fn load(extra_pem: Option<&[u8]>, flag: &'static str) -> Result<Self, TrustError> {
        let mut t = Trust::default();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "a system trust store entry could not be read");
        }
        for der in native.certs {
            if let Ok(c) = reqwest::Certificate::from_der(der.as_ref()) {
                t.certs.push(c);
                t.system_count += 1;
            }
        }
        t.system_source = match (
            std::env::var_os("SSL_CERT_FILE"),
            std::env::var_os("SSL_CERT_DIR"),
        ) {
            (Some(f), _) => format!("SSL_CERT_FILE={}", f.to_string_lossy()),
            (None, Some(d)) => format!("SSL_CERT_DIR={}", d.to_string_lossy()),
            (None, None) => "the system trust store".into(),
        };
        if let Some(pem) = extra_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| TrustError::Extra {
                    flag,
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(TrustError::Extra {
                    flag,
                    reason: "holds no PEM certificate".into(),
                });
            }
            t.extra_count = certs.len();
            t.certs.extend(certs);
        }
        Ok(t)
    }

    /// Trust exactly these anchors. With none at all (a minimal container
    /// without a CA bundle), keep the compiled-in Mozilla roots instead of
    /// trusting nothing.
    pub fn apply(self, mut b: ClientBuilder) -> ClientBuilder {
        if self.certs.is_empty() {
            tracing::warn!(
                source = %self.system_source,
                "no trusted CA certificates found; using the built-in Mozilla roots"
            );
            return b;
        }
        b = b.tls_built_in_root_certs(false);
        for c in self.certs {
            b = b.add_root_certificate(c);
        }
        b
    }
}

/// Why an HTTPS connection failed, when the reason is one a retry cannot fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate is not trusted (unknown issuer, expired,
    /// wrong name ...).
    Certificate,
    /// An `http://` URL pointed at a server that speaks TLS.
    PlainHttpToTls,
}

/// Classify a request error. Looks through the whole cause chain (and
/// inside `io::Error`s, whose `source()` skips the wrapped error).
pub fn classify(e: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(f) = classify_one(err) {
            return Some(f);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(f) = classify(inner) {
                    return Some(f);
                }
            }
        }
        cur = err.source();
    }
    None
}

fn classify_one(err: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    if let Some(r) = err.downcast_ref::<rustls::Error>() {
        return match r {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType => Some(TlsFailure::Certificate),
            _ => None,
        };
    }
    let msg = err.to_string();
    if msg.contains("invalid peer certificate") {
        return Some(TlsFailure::Certificate);
    }
    if msg.contains("invalid HTTP version parsed") {
        return Some(TlsFailure::PlainHttpToTls);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(Box<dyn std::error::Error + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn a_certificate_error_inside_an_io_error_is_found() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let e = Wrap(Box::new(io));
        assert_eq!(classify(&e), Some(TlsFailure::Certificate));
    }

    #[test]
    fn other_errors_are_not_tls_failures() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(classify(&Wrap(Box::new(io))), None);
    }

    #[test]
    fn plain_http_to_a_tls_server_is_recognised() {
        let io = std::io::Error::other("invalid HTTP version parsed");
        assert_eq!(
            classify(&Wrap(Box::new(io))),
            Some(TlsFailure::PlainHttpToTls)
        );
    }

    #[test]
    fn an_extra_bundle_without_certificates_is_refused() {
        let e = Trust::load(Some(b"not pem"), "--upstream-ca").unwrap_err();
        assert!(e.to_string().starts_with("--upstream-ca: "), "{e}");
    }
}
