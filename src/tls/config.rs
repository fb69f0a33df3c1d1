//! Building the rustls server configuration from files on disk.
//!
//! Policy: TLS 1.2 and 1.3 only, AEAD cipher suites with forward secrecy only, ALPN `h2` and
//! `http/1.1`. Client certificates are verified by rustls' WebPKI verifier (chain to one of the
//! configured client CAs, validity period, EKU clientAuth, revocation against the configured
//! CRLs). CRLs can be reloaded while the server runs; see [`CrlReloader`].
//!
//! With client authentication on, TLS session resumption is disabled so that every
//! connection's certificate is checked against the *current* CRLs: a resumed session would
//! skip certificate verification and let a just-revoked client back in.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{CipherSuite, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

/// Refuse to read PEM/DER files larger than this: certificates, keys and CRLs are far smaller,
/// and a misconfigured path (a disk image, /dev/zero) must not exhaust memory.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The only cipher suites airlock offers: AEAD with ECDHE key exchange.
const ALLOWED_CIPHER_SUITES: &[CipherSuite] = &[
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// Whether and how clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// Do not ask for client certificates.
    None,
    /// Ask; anonymous clients are let in, presented certificates must verify.
    Optional,
    /// Every client must present a certificate that verifies.
    Required,
}

impl std::fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        })
    }
}

/// Files and policy for the HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettings {
    /// PEM server certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `cert`.
    pub key: PathBuf,
    /// PEM files with the CA certificates that client certificates must chain to.
    pub client_ca: Vec<PathBuf>,
    pub client_auth: ClientAuth,
    /// PEM or DER certificate revocation lists, each issued by one of the client CAs.
    pub crl: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is larger than {MAX_FILE_BYTES} bytes; is this really a certificate, key or CRL?", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} is not valid PEM: {reason}", path.display())]
    BadPem { path: PathBuf, reason: String },
    #[error("no certificate found in {} (expected PEM \"BEGIN CERTIFICATE\" blocks)", path.display())]
    NoCertificates { path: PathBuf },
    #[error("no private key found in {} (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("server certificate {} and key {} cannot be used: {reason}", cert.display(), key.display())]
    ServerKey {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("client CA file {} contains no certificates", path.display())]
    EmptyClientCa { path: PathBuf },
    #[error("client CA certificate in {} is unusable: {reason}", path.display())]
    BadClientCa { path: PathBuf, reason: String },
    #[error("client authentication is `{mode}` but no client CA file was given; add the CA that issued your client certificates")]
    MissingClientCa { mode: ClientAuth },
    #[error("client CA or CRL files were given but client authentication is `none`, so they would be ignored; set client authentication to `optional` or `required`, or remove them")]
    UnusedClientAuthFiles,
    #[error("CRL file {} contains no certificate revocation list", path.display())]
    EmptyCrl { path: PathBuf },
    #[error("CRL in {} is malformed: {reason}", path.display())]
    BadCrl { path: PathBuf, reason: String },
    #[error("CRL in {} was issued by \"{issuer}\", which is none of the client CAs; revocations in it would never apply", path.display())]
    CrlForeignIssuer { path: PathBuf, issuer: String },
    #[error("CRL in {} claims to be issued by \"{issuer}\" but its signature does not verify with that CA's key", path.display())]
    CrlBadSignature { path: PathBuf, issuer: String },
    #[error("cannot build the client certificate verifier: {reason}")]
    Verifier { reason: String },
    #[error("TLS policy rejected by rustls: {reason}")]
    Policy { reason: String },
}

/// The rustls configuration for the listener, plus the handle that reloads CRLs
/// (present when client authentication is on).
#[derive(Debug, Clone)]
pub struct TlsServerConfig {
    pub rustls: Arc<ServerConfig>,
    pub crl_reloader: Option<Arc<CrlReloader>>,
}

/// The crypto provider airlock uses: ring, restricted to [`ALLOWED_CIPHER_SUITES`].
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|suite| ALLOWED_CIPHER_SUITES.contains(&suite.suite()));
    Arc::new(provider)
}

/// Loads every file named in `settings` and builds the server configuration.
pub fn server_config(settings: &TlsSettings) -> Result<TlsServerConfig, TlsError> {
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Policy {
            reason: e.to_string(),
        })?;

    let crl_reloader = match settings.client_auth {
        ClientAuth::None => {
            if !settings.client_ca.is_empty() || !settings.crl.is_empty() {
                return Err(TlsError::UnusedClientAuthFiles);
            }
            None
        }
        mode => Some(Arc::new(CrlReloader::new(settings, mode, provider)?)),
    };

    let chain = load_certificates(&settings.cert)?;
    warn_if_expired(&settings.cert, &chain);
    let key = load_private_key(&settings.key)?;
    let builder = match &crl_reloader {
        Some(reloader) => builder.with_client_cert_verifier(reloader.verifier.clone()),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::ServerKey {
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            reason: e.to_string(),
        })?;

    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    if crl_reloader.is_some() {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }

    Ok(TlsServerConfig {
        rustls: Arc::new(config),
        crl_reloader,
    })
}

fn read_limited(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

fn bad_pem(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::BadPem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Reads all PEM certificates in `path`; errors if there are none.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_limited(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Reads the first PEM private key in `path`.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_limited(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        other => bad_pem(path, other),
    })
}

fn warn_if_expired(path: &Path, chain: &[CertificateDer<'_>]) {
    let Some(leaf) = chain.first() else { return };
    let Ok((_, cert)) = X509Certificate::from_der(leaf) else {
        return;
    };
    if !cert.validity().is_valid() {
        tracing::warn!(
            file = %path.display(),
            not_before = %cert.validity().not_before,
            not_after = %cert.validity().not_after,
            "server certificate is outside its validity period; clients will reject it"
        );
    }
}

/// One trusted client CA certificate (kept to check CRL issuers and signatures).
#[derive(Debug)]
struct ClientCa {
    der: CertificateDer<'static>,
}

fn load_client_cas(paths: &[PathBuf]) -> Result<(Vec<ClientCa>, RootCertStore), TlsError> {
    let mut cas = Vec::new();
    let mut roots = RootCertStore::empty();
    for path in paths {
        let certs = match load_certificates(path) {
            Err(TlsError::NoCertificates { path }) => return Err(TlsError::EmptyClientCa { path }),
            other => other?,
        };
        for der in certs {
            roots.add(der.clone()).map_err(|e| TlsError::BadClientCa {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            cas.push(ClientCa { der });
        }
    }
    Ok((cas, roots))
}

/// Reads a CRL file (PEM, or DER if it has no PEM blocks) and checks that each CRL in it is
/// signed by one of `cas`.
fn load_crl_file(
    path: &Path,
    cas: &[ClientCa],
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = read_limited(path)?;
    let mut crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if crls.is_empty() && bytes.first() == Some(&0x30) {
        crls.push(CertificateRevocationListDer::from(bytes));
    }
    if crls.is_empty() {
        return Err(TlsError::EmptyCrl {
            path: path.to_owned(),
        });
    }
    for crl in &crls {
        check_crl(path, crl, cas)?;
    }
    Ok(crls)
}

fn check_crl(
    path: &Path,
    crl_der: &CertificateRevocationListDer<'_>,
    cas: &[ClientCa],
) -> Result<(), TlsError> {
    let (rest, crl) =
        CertificateRevocationList::from_der(crl_der).map_err(|e| TlsError::BadCrl {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(TlsError::BadCrl {
            path: path.to_owned(),
            reason: "trailing data after the CRL".to_owned(),
        });
    }
    let issuer = crl.issuer().to_string();
    let mut issuer_found = false;
    for ca in cas {
        let Ok((_, ca_cert)) = X509Certificate::from_der(&ca.der) else {
            continue;
        };
        if ca_cert.subject().as_raw() != crl.issuer().as_raw() {
            continue;
        }
        issuer_found = true;
        if crl.verify_signature(ca_cert.public_key()).is_ok() {
            if let Some(next) = crl.next_update() {
                if next.timestamp() < unix_now() {
                    tracing::warn!(
                        file = %path.display(),
                        next_update = %next,
                        "CRL is past its nextUpdate time; it is still enforced, but publish a fresh one"
                    );
                }
            }
            return Ok(());
        }
    }
    if issuer_found {
        Err(TlsError::CrlBadSignature {
            path: path.to_owned(),
            issuer,
        })
    } else {
        Err(TlsError::CrlForeignIssuer {
            path: path.to_owned(),
            issuer,
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A client certificate verifier whose inner WebPKI verifier can be replaced while the
/// server runs (when the CRLs change). The trust anchors never change, so the root hints
/// are fixed at construction.
#[derive(Debug)]
struct SwappableClientVerifier {
    current: RwLock<Arc<dyn ClientCertVerifier>>,
    root_hints: Vec<DistinguishedName>,
    mandatory: bool,
}

impl SwappableClientVerifier {
    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        // Nothing panics while holding the lock, but a poisoned lock still holds a
        // valid verifier: use it rather than failing every handshake.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, verifier: Arc<dyn ClientCertVerifier>) {
        match self.current.write() {
            Ok(mut guard) => *guard = verifier,
            Err(poisoned) => *poisoned.into_inner() = verifier,
        }
    }
}

impl ClientCertVerifier for SwappableClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.root_hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// What a CRL file looked like when it was last read: modification time and length, or
/// `None` if it could not be stat'ed.
type FileStamp = Option<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> FileStamp {
    fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// Rebuilds the client certificate verifier from the CRL files, on demand ([`reload`]) or
/// when the files change ([`spawn_crl_watcher`]). A failed reload keeps the previous CRLs
/// in force.
///
/// [`reload`]: CrlReloader::reload
pub struct CrlReloader {
    roots: Arc<RootCertStore>,
    cas: Vec<ClientCa>,
    crl_paths: Vec<PathBuf>,
    mode: ClientAuth,
    provider: Arc<CryptoProvider>,
    verifier: Arc<SwappableClientVerifier>,
    /// Stamps of the CRL files as they were just before the last (attempted) load.
    loaded_stamps: Mutex<Vec<FileStamp>>,
}

impl std::fmt::Debug for CrlReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlReloader")
            .field("crl_paths", &self.crl_paths)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl CrlReloader {
    fn new(
        settings: &TlsSettings,
        mode: ClientAuth,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        if settings.client_ca.is_empty() {
            return Err(TlsError::MissingClientCa { mode });
        }
        let (cas, roots) = load_client_cas(&settings.client_ca)?;
        let roots = Arc::new(roots);
        let stamps: Vec<FileStamp> = settings.crl.iter().map(|p| stamp(p)).collect();
        let inner = build_verifier(&roots, &cas, &settings.crl, mode, &provider)?;
        let verifier = Arc::new(SwappableClientVerifier {
            root_hints: inner.root_hint_subjects().to_vec(),
            current: RwLock::new(inner),
            mandatory: mode == ClientAuth::Required,
        });
        Ok(CrlReloader {
            roots,
            cas,
            crl_paths: settings.crl.clone(),
            mode,
            provider,
            verifier,
            loaded_stamps: Mutex::new(stamps),
        })
    }

    /// The CRL files this reloader reads.
    pub fn crl_paths(&self) -> &[PathBuf] {
        &self.crl_paths
    }

    /// Re-reads every CRL file and, if all of them are valid, puts them in force for new
    /// handshakes. On error the previous CRLs stay in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamps: Vec<FileStamp> = self.crl_paths.iter().map(|p| stamp(p)).collect();
        self.set_loaded_stamps(stamps);
        let inner = build_verifier(
            &self.roots,
            &self.cas,
            &self.crl_paths,
            self.mode,
            &self.provider,
        )?;
        self.verifier.replace(inner);
        tracing::info!(files = ?self.crl_paths, "certificate revocation lists reloaded");
        Ok(())
    }

    /// Whether any CRL file changed since it was last read.
    fn files_changed(&self) -> bool {
        let now: Vec<FileStamp> = self.crl_paths.iter().map(|p| stamp(p)).collect();
        match self.loaded_stamps.lock() {
            Ok(guard) => *guard != now,
            Err(poisoned) => *poisoned.into_inner() != now,
        }
    }

    fn set_loaded_stamps(&self, stamps: Vec<FileStamp>) {
        match self.loaded_stamps.lock() {
            Ok(mut guard) => *guard = stamps,
            Err(poisoned) => *poisoned.into_inner() = stamps,
        }
    }
}

fn build_verifier(
    roots: &Arc<RootCertStore>,
    cas: &[ClientCa],
    crl_paths: &[PathBuf],
    mode: ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut crls = Vec::new();
    for path in crl_paths {
        crls.extend(load_crl_file(path, cas)?);
    }
    // Revocation is checked for the client's own certificate; a certificate whose issuer
    // has no CRL here is rejected (unknown status), so configuring CRLs fails closed.
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls)
        .only_check_end_entity_revocation();
    if mode == ClientAuth::Optional {
        builder = builder.allow_unauthenticated();
    }
    builder.build().map_err(|e| TlsError::Verifier {
        reason: e.to_string(),
    })
}

/// Polls the reloader's CRL files every `interval` and reloads when one changed
/// (modification time or size). Errors are logged and the old CRLs stay in force.
/// The task runs until aborted (or forever if there are no CRL files to watch, it ends
/// at once).
pub fn spawn_crl_watcher(
    reloader: Arc<CrlReloader>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if reloader.crl_paths.is_empty() {
            return;
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let r = reloader.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                if r.files_changed() {
                    Some(r.reload())
                } else {
                    None
                }
            })
            .await;
            match outcome {
                Ok(Some(Err(e))) => {
                    tracing::error!(error = %e, "CRL reload failed; the previous CRLs stay in force")
                }
                Err(e) => tracing::error!(error = %e, "CRL reload task failed"),
                Ok(_) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::{client_name, Ca, Validity};

    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.path(name);
            fs::write(&path, contents).expect("write");
            path
        }
    }

    fn pki() -> Pki {
        let dir = tempfile::tempdir().expect("tmp");
        let v = Validity::days_from_now(5);
        let ca = Ca::generate("config test CA", &v).expect("ca");
        let other = Ca::generate("other CA", &v).expect("other ca");
        let server = ca.issue_server(&["localhost".into()], &v).expect("server");
        let alice = ca
            .issue_client(&client_name("alice").expect("name"), &v)
            .expect("alice");
        let pki = Pki { dir };
        pki.write("ca.pem", ca.cert_pem());
        pki.write("other-ca.pem", other.cert_pem());
        pki.write("server.pem", &server.cert_pem);
        pki.write("server.key", &server.key_pem);
        pki.write("alice.key", &alice.key_pem);
        pki.write("crl.pem", &ca.revocation_list(&[], 5).expect("crl"));
        pki.write(
            "other-crl.pem",
            &other.revocation_list(&[], 5).expect("crl"),
        );
        // A CRL whose issuer name matches our CA but which another key signed.
        let impostor = Ca::from_pem(ca.cert_pem(), &other.key_pem()).expect("impostor");
        pki.write(
            "forged-crl.pem",
            &impostor.revocation_list(&[], 5).expect("crl"),
        );
        pki.write("garbage.pem", "hello\n");
        pki.write(
            "bad-crl.pem",
            "-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n",
        );
        pki
    }

    fn settings(pki: &Pki, mode: ClientAuth) -> TlsSettings {
        TlsSettings {
            cert: pki.path("server.pem"),
            key: pki.path("server.key"),
            client_ca: if mode == ClientAuth::None {
                vec![]
            } else {
                vec![pki.path("ca.pem")]
            },
            client_auth: mode,
            crl: vec![],
        }
    }

    #[test]
    fn valid_configurations() {
        let pki = pki();
        for mode in [ClientAuth::None, ClientAuth::Optional, ClientAuth::Required] {
            let mut s = settings(&pki, mode);
            if mode != ClientAuth::None {
                s.crl = vec![pki.path("crl.pem")];
            }
            let built = server_config(&s).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            assert_eq!(
                built.rustls.alpn_protocols,
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            );
            assert_eq!(built.crl_reloader.is_some(), mode != ClientAuth::None);
            // Resumption would skip client certificate (and CRL) checks.
            assert_eq!(
                built.rustls.send_tls13_tickets == 0,
                mode != ClientAuth::None
            );
            if let Some(r) = built.crl_reloader {
                r.reload().expect("reload of unchanged files");
                assert!(!r.files_changed());
            }
        }
    }

    #[test]
    fn provider_offers_only_modern_suites() {
        let provider = crypto_provider();
        assert!(!provider.cipher_suites.is_empty());
        for suite in &provider.cipher_suites {
            assert!(
                ALLOWED_CIPHER_SUITES.contains(&suite.suite()),
                "{:?}",
                suite.suite()
            );
            let name = format!("{:?}", suite.suite());
            assert!(name.contains("GCM") || name.contains("CHACHA20"), "{name}");
        }
    }

    #[test]
    fn configuration_errors_name_the_problem() {
        let pki = pki();
        type Edit = fn(&Pki, &mut TlsSettings);
        let cases: &[(&str, ClientAuth, Edit, &str)] = &[
            (
                "missing cert",
                ClientAuth::None,
                |p, s| s.cert = p.path("nope.pem"),
                "cannot read",
            ),
            (
                "cert file without certificates",
                ClientAuth::None,
                |p, s| s.cert = p.path("garbage.pem"),
                "no certificate found in",
            ),
            (
                "key file holding a certificate",
                ClientAuth::None,
                |p, s| s.key = p.path("server.pem"),
                "no private key found in",
            ),
            (
                "key of another certificate",
                ClientAuth::None,
                |p, s| s.key = p.path("alice.key"),
                "cannot be used",
            ),
            (
                "empty client CA",
                ClientAuth::Required,
                |p, s| s.client_ca = vec![p.path("garbage.pem")],
                "contains no certificates",
            ),
            (
                "required without CA",
                ClientAuth::Required,
                |_, s| s.client_ca.clear(),
                "no client CA file was given",
            ),
            (
                "optional without CA",
                ClientAuth::Optional,
                |_, s| s.client_ca.clear(),
                "no client CA file was given",
            ),
            (
                "CA without client auth",
                ClientAuth::None,
                |p, s| s.client_ca = vec![p.path("ca.pem")],
                "would be ignored",
            ),
            (
                "CRL without client auth",
                ClientAuth::None,
                |p, s| s.crl = vec![p.path("crl.pem")],
                "would be ignored",
            ),
            (
                "missing CRL",
                ClientAuth::Required,
                |p, s| s.crl = vec![p.path("nope-crl.pem")],
                "cannot read",
            ),
            (
                "CRL file without CRL",
                ClientAuth::Required,
                |p, s| s.crl = vec![p.path("garbage.pem")],
                "contains no certificate revocation list",
            ),
            (
                "malformed CRL",
                ClientAuth::Required,
                |p, s| s.crl = vec![p.path("bad-crl.pem")],
                "is malformed",
            ),
            (
                "CRL of another CA",
                ClientAuth::Required,
                |p, s| s.crl = vec![p.path("other-crl.pem")],
                "none of the client CAs",
            ),
            (
                "forged CRL",
                ClientAuth::Optional,
                |p, s| s.crl = vec![p.path("forged-crl.pem")],
                "signature does not verify",
            ),
        ];
        for (what, mode, edit, expected) in cases {
            let mut s = settings(&pki, *mode);
            edit(&pki, &mut s);
            let err = match server_config(&s) {
                Ok(_) => panic!("{what}: accepted"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(expected), "{what}: {err:?} lacks {expected:?}");
            let dir = pki.dir.path().display().to_string();
            let names_a_file = err.contains(&dir);
            let about_settings = matches!(
                *expected,
                "no client CA file was given" | "would be ignored"
            );
            assert!(
                names_a_file || about_settings,
                "{what}: {err:?} names no file"
            );
        }
    }

    #[test]
    fn oversized_files_are_refused() {
        let pki = pki();
        let big = pki.path("big.pem");
        let file = fs::File::create(&big).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("grow");
        let err = load_certificates(&big).expect_err("accepted");
        assert!(matches!(err, TlsError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn failed_reload_keeps_previous_crls() {
        let pki = pki();
        let crl = pki.path("live-crl.pem");
        fs::copy(pki.path("crl.pem"), &crl).expect("copy");
        let mut s = settings(&pki, ClientAuth::Required);
        s.crl = vec![crl.clone()];
        let built = server_config(&s).expect("config");
        let reloader = built.crl_reloader.expect("reloader");
        let before = reloader.verifier.current();
        fs::copy(pki.path("other-crl.pem"), &crl).expect("copy");
        assert!(reloader.files_changed());
        assert!(reloader.reload().is_err());
        assert!(Arc::ptr_eq(&before, &reloader.verifier.current()));
        // The failed attempt is remembered, so the watcher does not retry it every tick.
        assert!(!reloader.files_changed());
        fs::copy(pki.path("crl.pem"), &crl).expect("copy");
        reloader.reload().expect("reload");
        assert!(!Arc::ptr_eq(&before, &reloader.verifier.current()));
    }
}
