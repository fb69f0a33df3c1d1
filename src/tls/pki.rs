//! A throwaway private CA for `airlock certs init` / `airlock certs revoke`: one CA, one
//! server certificate, one client certificate per user, and CRLs revoking client
//! certificates. Meant for small deployments and tests, not as a general-purpose CA.
//!
//! Private keys are written with mode 0600 from the moment they exist (created with that
//! mode, then renamed into place), and nothing existing is overwritten without `--force`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::names::UserName;

/// File names a client may not take, because the CA and server files use them.
const RESERVED_CLIENT_NAMES: &[&str] = &["ca", "server", "crl"];

/// The SAN URI prefix of client certificates: `airlock:user:NAME`.
pub const CLIENT_URI_PREFIX: &str = "airlock:user:";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("the system random number generator failed")]
    Random,
    #[error("invalid client name {name:?}: {reason}")]
    BadClientName { name: String, reason: String },
    #[error("invalid server name {name:?}: {reason}")]
    BadServerName { name: String, reason: String },
    #[error(
        "validity period is empty: not_after {not_after} is not after not_before {not_before}"
    )]
    EmptyValidity {
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    },
    #[error("{what} is not a PEM certificate: {reason}")]
    BadCertificate { what: String, reason: String },
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From one hour ago (tolerating clock skew) until `days` days from now.
    pub fn days_from_now(days: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        Validity {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
        }
    }

    fn check(&self) -> Result<(), PkiError> {
        if self.not_after <= self.not_before {
            return Err(PkiError::EmptyValidity {
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }

    fn apply(&self, params: &mut CertificateParams) -> Result<(), PkiError> {
        self.check()?;
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        Ok(())
    }
}

/// A freshly issued certificate and its private key.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// Serial number content bytes (what a CRL lists).
    pub serial: Vec<u8>,
}

/// A certificate authority that can issue certificates and CRLs.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    // Positive, and without a leading zero byte, so the DER content is exactly these bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn leaf_params(validity: &Validity) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    validity.apply(&mut params)?;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

impl Ca {
    /// A new self-signed CA that may only issue end-entity certificates (path length 0).
    pub fn generate(common_name: &str, validity: &Validity) -> Result<Ca, PkiError> {
        let mut params = CertificateParams::default();
        validity.apply(&mut params)?;
        params.serial_number = Some(random_serial()?);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "airlock");
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its PEM certificate and PEM private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca {
            issuer,
            cert_pem: cert_pem.to_owned(),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A server certificate (EKU serverAuth) for `names` (DNS names or IP addresses).
    pub fn issue_server(
        &self,
        names: &[String],
        validity: &Validity,
    ) -> Result<IssuedCert, PkiError> {
        let mut params = leaf_params(validity)?;
        let mut sans = Vec::new();
        for name in names {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    validate_dns_name(name)?;
                    SanType::DnsName(name.as_str().try_into()?)
                }
            };
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        let mut dn = DistinguishedName::new();
        if let Some(first) = names.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate (EKU clientAuth) with `CN=name` and SAN URI `airlock:user:name`.
    pub fn issue_client(
        &self,
        name: &UserName,
        validity: &Validity,
    ) -> Result<IssuedCert, PkiError> {
        let mut params = leaf_params(validity)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        let uri = format!("{CLIENT_URI_PREFIX}{name}");
        params.subject_alt_names = vec![SanType::URI(uri.as_str().try_into()?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: params
                .serial_number
                .as_ref()
                .map(SerialNumber::to_bytes)
                .unwrap_or_default(),
        })
    }

    /// A PEM CRL listing `revoked` (serial content bytes and revocation time), valid for
    /// `next_update_days` days.
    pub fn revocation_list(
        &self,
        revoked: &[(Vec<u8>, OffsetDateTime)],
        next_update_days: u32,
    ) -> Result<String, PkiError> {
        let now = OffsetDateTime::now_utc();
        let crl_number = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(i64::from(next_update_days.max(1))),
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, when)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *when,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

fn validate_dns_name(name: &str) -> Result<(), PkiError> {
    let bad = |reason: &str| PkiError::BadServerName {
        name: name.chars().take(80).collect(),
        reason: reason.to_owned(),
    };
    if name.is_empty() || name.len() > 253 {
        return Err(bad("must be 1 to 253 characters"));
    }
    for label in name.strip_prefix("*.").unwrap_or(name).split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad(
                "each dot-separated label must be 1-63 ASCII letters, digits or inner hyphens \
                 (use punycode for internationalised names)",
            ));
        }
    }
    Ok(())
}

/// Validates a client name: a valid airlock user name that does not collide with the CA and
/// server file names.
pub fn client_name(raw: &str) -> Result<UserName, PkiError> {
    let name = UserName::new(raw).map_err(|e| PkiError::BadClientName {
        name: raw.chars().take(80).collect(),
        reason: e.to_string(),
    })?;
    if RESERVED_CLIENT_NAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name.as_str()))
    {
        return Err(PkiError::BadClientName {
            name: raw.to_owned(),
            reason: format!(
                "{} are reserved for the CA, server and CRL files",
                RESERVED_CLIENT_NAMES.join(", ")
            ),
        });
    }
    Ok(name)
}

/// The serial number content bytes of the first certificate in `pem`.
pub fn serial_of_pem(pem: &str, what: &str) -> Result<Vec<u8>, PkiError> {
    let bad = |reason: String| PkiError::BadCertificate {
        what: what.to_owned(),
        reason,
    };
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|d: rustls::pki_types::CertificateDer<'static>| d)
        .map_err(|e| bad(e.to_string()))?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
    Ok(cert.raw_serial().to_vec())
}

/// `airlock certs init`: create a private CA, a server certificate and client certificates.
#[derive(Debug, Clone, clap::Args)]
pub struct CertsInitArgs {
    /// Directory to write the files into (created with mode 0700 if missing).
    pub dir: PathBuf,
    /// DNS name or IP address clients use to reach the server (repeatable);
    /// `localhost` and `127.0.0.1` are always included.
    #[arg(long = "server-name", value_name = "NAME", num_args = 1..)]
    pub server_names: Vec<String>,
    /// Issue a client certificate for this airlock user (repeatable).
    #[arg(long = "client", value_name = "NAME", num_args = 1..)]
    pub clients: Vec<String>,
    /// Validity of every certificate, in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// `airlock certs revoke`: add client certificates to `DIR/crl.pem`, signed by `DIR/ca.pem`.
#[derive(Debug, Clone, clap::Args)]
pub struct CertsRevokeArgs {
    /// Directory holding ca.pem and ca.key; the CRL is written to crl.pem there.
    pub dir: PathBuf,
    /// PEM certificate files to revoke (revocations already in crl.pem are kept).
    #[arg(required = true, value_name = "CERT")]
    pub certs: Vec<PathBuf>,
    /// Days until the CRL's nextUpdate.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
}

/// `airlock certs ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CertsCommand {
    /// Create a private CA, a server certificate and client certificates.
    Init(CertsInitArgs),
    /// Revoke client certificates by adding them to DIR/crl.pem.
    Revoke(CertsRevokeArgs),
}

pub fn run(command: &CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Init(args) => run_init(args),
        CertsCommand::Revoke(args) => run_revoke(args),
    }
}

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

pub fn run_init(args: &CertsInitArgs) -> anyhow::Result<()> {
    let clients = args
        .clients
        .iter()
        .map(|c| client_name(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for c in &clients {
        anyhow::ensure!(
            seen.insert(c.as_str().to_ascii_lowercase()),
            "client {c} is given twice"
        );
    }
    let mut server_names = args.server_names.clone();
    for default in ["localhost", "127.0.0.1"] {
        if !server_names.iter().any(|n| n == default) {
            server_names.push(default.to_owned());
        }
    }

    let mut files: Vec<(String, String, u32)> = Vec::new();
    let validity = Validity::days_from_now(args.days);
    let ca = Ca::generate("airlock private CA", &validity)?;
    let server = ca.issue_server(&server_names, &validity)?;
    files.push(("ca.pem".into(), ca.cert_pem().to_owned(), CERT_MODE));
    files.push(("ca.key".into(), ca.key_pem(), KEY_MODE));
    files.push((
        "server.pem".into(),
        format!("{}{}", server.cert_pem, ca.cert_pem()),
        CERT_MODE,
    ));
    files.push(("server.key".into(), server.key_pem, KEY_MODE));
    for client in &clients {
        let issued = ca.issue_client(client, &validity)?;
        // pip and twine take one file holding certificate and key.
        files.push((
            format!("{client}-bundle.pem"),
            format!("{}{}", issued.cert_pem, issued.key_pem),
            KEY_MODE,
        ));
        files.push((format!("{client}.pem"), issued.cert_pem, CERT_MODE));
        files.push((format!("{client}.key"), issued.key_pem, KEY_MODE));
    }
    let mut names = std::collections::HashSet::new();
    for (name, _, _) in &files {
        anyhow::ensure!(
            names.insert(name.clone()),
            "two outputs would both be written to {name}; rename the client"
        );
    }

    create_private_dir(&args.dir)?;
    if !args.force {
        let existing: Vec<String> = files
            .iter()
            .map(|(name, _, _)| args.dir.join(name))
            .filter(|p| p.symlink_metadata().is_ok())
            .map(|p| p.display().to_string())
            .collect();
        anyhow::ensure!(
            existing.is_empty(),
            "refusing to overwrite existing files (pass --force to replace them): {}",
            existing.join(", ")
        );
    }
    for (name, contents, mode) in &files {
        write_atomically(&args.dir.join(name), contents.as_bytes(), *mode)?;
    }
    println!(
        "wrote a private CA, a server certificate for {} and {} client certificate(s) to {}",
        server_names.join(", "),
        clients.len(),
        args.dir.display()
    );
    Ok(())
}

pub fn run_revoke(args: &CertsRevokeArgs) -> anyhow::Result<()> {
    let ca_pem_path = args.dir.join("ca.pem");
    let ca_key_path = args.dir.join("ca.key");
    let crl_path = args.dir.join("crl.pem");
    let ca_pem = fs::read_to_string(&ca_pem_path)
        .with_context(|| format!("cannot read {}", ca_pem_path.display()))?;
    let ca_key = fs::read_to_string(&ca_key_path)
        .with_context(|| format!("cannot read {}", ca_key_path.display()))?;
    let ca = Ca::from_pem(&ca_pem, &ca_key)
        .with_context(|| format!("cannot load the CA from {}", args.dir.display()))?;

    let mut revoked: BTreeMap<Vec<u8>, OffsetDateTime> = BTreeMap::new();
    match fs::read(&crl_path) {
        Ok(bytes) => {
            for (serial, when) in revoked_in_crl(&bytes)
                .with_context(|| format!("cannot read the existing CRL {}", crl_path.display()))?
            {
                revoked.insert(serial, when);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", crl_path.display())),
    }
    let now = OffsetDateTime::now_utc();
    for path in &args.certs {
        let pem =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let serial = serial_of_pem(&pem, &path.display().to_string())?;
        revoked.entry(serial).or_insert(now);
    }
    let list: Vec<(Vec<u8>, OffsetDateTime)> = revoked.into_iter().collect();
    let pem = ca.revocation_list(&list, args.days)?;
    write_atomically(&crl_path, pem.as_bytes(), CERT_MODE)?;
    println!(
        "{} now revokes {} certificate(s); running servers pick it up within seconds",
        crl_path.display(),
        list.len()
    );
    Ok(())
}

/// The (serial, revocation time) entries of a PEM CRL.
fn revoked_in_crl(pem: &[u8]) -> anyhow::Result<Vec<(Vec<u8>, OffsetDateTime)>> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateRevocationListDer::from_pem_slice(pem)
        .map_err(|e| anyhow::anyhow!("not a PEM CRL: {e}"))?;
    let (_, crl) = CertificateRevocationList::from_der(&der)
        .map_err(|e| anyhow::anyhow!("malformed CRL: {e}"))?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| (r.raw_serial().to_vec(), r.revocation_date.to_datetime()))
        .collect())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Writes `contents` to a new temporary file created with `mode` next to `path`, syncs it
/// and renames it over `path`, so readers never see a partial file and a key is never
/// readable by others, not even briefly.
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| PkiError::Random)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(suffix)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: CertsCommand,
    }

    #[test]
    fn command_line() {
        use clap::Parser;
        let init = |argv: &[&str]| match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(CertsCommand::Init(a)) => Some((a.server_names, a.clients, a.days, a.force)),
            _ => None,
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            init(&[
                "x",
                "init",
                "pki",
                "--server-name",
                "a",
                "b",
                "--client",
                "alice",
                "--client",
                "bob",
                "--days",
                "7",
                "--force"
            ]),
            Some((strings(&["a", "b"]), strings(&["alice", "bob"]), 7, true))
        );
        assert_eq!(
            init(&["x", "init", "pki"]),
            Some((vec![], vec![], 365, false))
        );
        for bad in [
            &["x", "init"][..],
            &["x", "init", "pki", "--days", "0"],
            &["x", "init", "pki", "--days", "99999"],
            &["x", "init", "pki", "--days", "-1"],
            &["x", "revoke", "pki"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
        }
        match Cli::try_parse_from(["x", "revoke", "pki", "a.pem", "b.pem"]).map(|c| c.command) {
            Ok(CertsCommand::Revoke(a)) => {
                assert_eq!(
                    a.certs,
                    vec![PathBuf::from("a.pem"), PathBuf::from("b.pem")]
                );
                assert_eq!(a.days, 30);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_names() {
        for good in ["alice", "bob.smith", "ci-bot_2", "A1"] {
            assert!(client_name(good).is_ok(), "{good} rejected");
        }
        for bad in [
            "", "../evil", "a/b", ".hidden", "-x", "ca", "CA", "server", "crl", "al ice", "é",
        ] {
            assert!(client_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dns_names() {
        for good in ["localhost", "pypi.example.org", "*.example.org", "a-b.c"] {
            assert!(validate_dns_name(good).is_ok(), "{good} rejected");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b",
            "ex ample",
            "bücher.de",
            &long,
        ] {
            assert!(validate_dns_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn empty_validity_is_rejected() {
        let now = OffsetDateTime::now_utc();
        let v = Validity {
            not_before: now,
            not_after: now - Duration::seconds(1),
        };
        assert!(matches!(
            Ca::generate("x", &v),
            Err(PkiError::EmptyValidity { .. })
        ));
    }

    #[test]
    fn issued_certificates_have_the_promised_fields() {
        let validity = Validity::days_from_now(10);
        let ca = Ca::generate("test CA", &validity).expect("ca");
        let (_, ca_der) = x509_parser::pem::parse_x509_pem(ca.cert_pem().as_bytes()).expect("pem");
        let ca_cert = ca_der.parse_x509().expect("ca x509");
        assert!(ca_cert.is_ca());
        let ku = ca_cert.key_usage().expect("ku").expect("ku present").value;
        assert!(ku.key_cert_sign() && ku.crl_sign());

        let alice = client_name("alice").expect("name");
        let client = ca.issue_client(&alice, &validity).expect("client");
        let (_, pem) = x509_parser::pem::parse_x509_pem(client.cert_pem.as_bytes()).expect("pem");
        let cert = pem.parse_x509().expect("x509");
        assert!(!cert.is_ca());
        assert_eq!(cert.raw_serial(), client.serial.as_slice());
        assert_eq!(
            serial_of_pem(&client.cert_pem, "alice").expect("serial"),
            client.serial
        );
        let eku = cert
            .extended_key_usage()
            .expect("eku")
            .expect("eku present")
            .value;
        assert!(eku.client_auth && !eku.server_auth);
        let peer = crate::tls::PeerCertificate::from_der(pem.contents.as_slice()).expect("peer");
        assert_eq!(peer.subject_cn.as_deref(), Some("alice"));
        assert_eq!(peer.san_uris, vec!["airlock:user:alice"]);
        assert!(peer.san_emails.is_empty());
        assert!(cert.verify_signature(Some(ca_cert.public_key())).is_ok());

        let server = ca
            .issue_server(&["pypi.example".into(), "127.0.0.1".into()], &validity)
            .expect("server");
        let (_, pem) = x509_parser::pem::parse_x509_pem(server.cert_pem.as_bytes()).expect("pem");
        let cert = pem.parse_x509().expect("x509");
        let eku = cert
            .extended_key_usage()
            .expect("eku")
            .expect("eku present")
            .value;
        assert!(eku.server_auth && !eku.client_auth);
        let peer = crate::tls::PeerCertificate::from_der(pem.contents.as_slice()).expect("peer");
        assert_eq!(peer.san_dns, vec!["pypi.example"]);
        assert_ne!(server.serial, client.serial);
    }

    #[test]
    fn crl_roundtrip_and_ca_reload() {
        let validity = Validity::days_from_now(10);
        let ca = Ca::generate("test CA", &validity).expect("ca");
        let reloaded = Ca::from_pem(ca.cert_pem(), &ca.key_pem()).expect("reload");
        let when = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let serial = vec![0x41, 0x02, 0x03];
        let crl = reloaded
            .revocation_list(&[(serial.clone(), when)], 7)
            .expect("crl");
        let entries = revoked_in_crl(crl.as_bytes()).expect("parse");
        assert_eq!(entries, vec![(serial, when)]);
        assert!(revoked_in_crl(b"not a crl").is_err());
    }

    #[test]
    fn init_writes_files_with_modes_and_refuses_overwrite() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("pki");
        let args = CertsInitArgs {
            dir: dir.clone(),
            server_names: vec!["pypi.example".into()],
            clients: vec!["alice".into()],
            days: 5,
            force: false,
        };
        run_init(&args).expect("init");
        for (name, mode) in [
            ("ca.pem", 0o644),
            ("ca.key", 0o600),
            ("server.pem", 0o644),
            ("server.key", 0o600),
            ("alice.pem", 0o644),
            ("alice.key", 0o600),
        ] {
            let meta = fs::metadata(dir.join(name)).expect(name);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
            }
            #[cfg(not(unix))]
            let _ = (meta, mode);
        }
        let server_pem = fs::read_to_string(dir.join("server.pem")).expect("read");
        assert_eq!(server_pem.matches("BEGIN CERTIFICATE").count(), 2);

        let before = fs::read(dir.join("ca.key")).expect("read");
        let err = run_init(&args).expect_err("overwrite must be refused");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(fs::read(dir.join("ca.key")).expect("read"), before);

        run_init(&CertsInitArgs {
            force: true,
            ..args.clone()
        })
        .expect("forced");
        assert_ne!(fs::read(dir.join("ca.key")).expect("read"), before);
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        for bad in [vec!["ca".to_string()], vec!["x".into(), "X".into()]] {
            let err = run_init(&CertsInitArgs {
                clients: bad.clone(),
                force: true,
                ..args.clone()
            });
            assert!(err.is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn revoke_accumulates() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().to_path_buf();
        run_init(&CertsInitArgs {
            dir: dir.clone(),
            server_names: vec![],
            clients: vec!["alice".into(), "bob".into()],
            days: 5,
            force: false,
        })
        .expect("init");
        let serial = |name: &str| {
            let pem = fs::read_to_string(dir.join(format!("{name}.pem"))).expect("read");
            serial_of_pem(&pem, name).expect("serial")
        };
        let revoke = |name: &str| {
            run_revoke(&CertsRevokeArgs {
                dir: dir.clone(),
                certs: vec![dir.join(format!("{name}.pem"))],
                days: 3,
            })
        };
        revoke("alice").expect("revoke alice");
        let listed = |_: ()| -> Vec<Vec<u8>> {
            let crl = fs::read(dir.join("crl.pem")).expect("crl");
            revoked_in_crl(&crl)
                .expect("parse")
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        };
        assert_eq!(listed(()), vec![serial("alice")]);
        revoke("bob").expect("revoke bob");
        let mut want = vec![serial("alice"), serial("bob")];
        want.sort();
        assert_eq!(listed(()), want);
        assert!(run_revoke(&CertsRevokeArgs {
            dir: dir.clone(),
            certs: vec![dir.join("missing.pem")],
            days: 3,
        })
        .is_err());
    }
}
