//! What a verified client certificate says about its holder.
//!
//! The TLS layer has already verified the chain, validity period, key usage and revocation
//! status by the time a [`PeerCertificate`] is built; this module only extracts the fields the
//! server needs to map a connection to an airlock user. It never trusts anything it parses
//! beyond that: ambiguous certificates (two common names, two e-mail SANs, …) map to no name.

use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::digest::Sha256;

/// The fields of a verified client (leaf) certificate that identify its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// SHA-256 of the DER encoding, lowercase hex (what `openssl x509 -fingerprint -sha256`
    /// shows, without colons).
    pub fingerprint_sha256: String,
    /// The subject common name, if there is exactly one and it is valid UTF-8.
    pub subject_cn: Option<String>,
    /// `rfc822Name` subject alternative names.
    pub san_emails: Vec<String>,
    /// `uniformResourceIdentifier` subject alternative names.
    pub san_uris: Vec<String>,
    /// `dNSName` subject alternative names.
    pub san_dns: Vec<String>,
    /// End of the validity period, seconds since the Unix epoch.
    pub not_after: i64,
    /// Serial number as lowercase hex of its DER content bytes.
    pub serial_hex: String,
    /// The issuer distinguished name in RFC 4514-like text form.
    pub issuer: String,
}

/// Errors while reading a certificate that rustls already accepted.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("client certificate is not valid X.509 DER: {0}")]
    Malformed(String),
    #[error("client certificate has trailing data after the DER structure")]
    TrailingData,
    #[error("client certificate has an unreadable subjectAltName extension: {0}")]
    BadSubjectAltName(String),
}

/// Which certificate field names the airlock user of a connection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityRule {
    /// The subject common name (`CN=`).
    #[default]
    SubjectCn,
    /// The single `rfc822Name` SAN, returned whole (`alice@example.org`).
    SanEmail,
    /// The single URI SAN, returned whole (`airlock:user:alice`).
    SanUri,
    /// The single DNS SAN.
    SanDns,
    /// The SHA-256 fingerprint; the server maps it to a user through its database.
    Fingerprint,
}

impl PeerCertificate {
    /// Parses a DER-encoded leaf certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| IdentityError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(IdentityError::TrailingData);
        }

        let mut common_names = cert
            .subject()
            .iter_common_name()
            .map(|attr| attr.as_str().map(str::to_owned));
        let subject_cn = match (common_names.next(), common_names.next()) {
            (Some(Ok(cn)), None) => Some(cn),
            _ => None,
        };

        let mut san_emails = Vec::new();
        let mut san_uris = Vec::new();
        let mut san_dns = Vec::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|e| IdentityError::BadSubjectAltName(e.to_string()))?;
        if let Some(san) = san {
            for name in &san.value.general_names {
                match name {
                    GeneralName::RFC822Name(v) => san_emails.push((*v).to_owned()),
                    GeneralName::URI(v) => san_uris.push((*v).to_owned()),
                    GeneralName::DNSName(v) => san_dns.push((*v).to_owned()),
                    _ => {}
                }
            }
        }

        Ok(PeerCertificate {
            fingerprint_sha256: Sha256::of(der).to_hex(),
            subject_cn,
            san_emails,
            san_uris,
            san_dns,
            not_after: cert.validity().not_after.timestamp(),
            serial_hex: hex::encode(cert.raw_serial()),
            issuer: cert.issuer().to_string(),
        })
    }

    /// The name the given rule selects, or `None` when the field is absent or ambiguous
    /// (more than one value). The value is returned verbatim; validating it as a user name
    /// is the caller's job.
    pub fn mapped_name(&self, rule: IdentityRule) -> Option<String> {
        match rule {
            IdentityRule::SubjectCn => self.subject_cn.clone(),
            IdentityRule::SanEmail => single(&self.san_emails),
            IdentityRule::SanUri => single(&self.san_uris),
            IdentityRule::SanDns => single(&self.san_dns),
            IdentityRule::Fingerprint => Some(self.fingerprint_sha256.clone()),
        }
    }
}

fn single(values: &[String]) -> Option<String> {
    match values {
        [only] => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    /// DER encoding of the attribute type OIDs for organizationName and commonName.
    const OID_O: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x0a];
    const OID_CN: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];

    /// A self-signed certificate with the given common names. rcgen keeps one value per
    /// attribute type, so a second name is written as organizationName and its OID is then
    /// patched to commonName (the signature breaks, which parsing does not check).
    fn cert_der(cns: &[&str], sans: Vec<SanType>) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        match cns {
            [] => {}
            [cn] => params.distinguished_name.push(DnType::CommonName, *cn),
            [cn, second] => {
                params.distinguished_name.push(DnType::CommonName, *cn);
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, *second);
            }
            _ => panic!("at most two common names supported"),
        }
        params.subject_alt_names = sans;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x4a, 0x01, 0xff]));
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let key = KeyPair::generate().expect("key");
        let mut der = params.self_signed(&key).expect("sign").der().to_vec();
        let mut i = 0;
        while i + OID_O.len() <= der.len() {
            if der[i..i + OID_O.len()] == OID_O {
                der[i..i + OID_O.len()].copy_from_slice(&OID_CN);
            }
            i += 1;
        }
        der
    }

    fn uri(s: &str) -> SanType {
        SanType::URI(s.try_into().expect("ia5"))
    }
    fn email(s: &str) -> SanType {
        SanType::Rfc822Name(s.try_into().expect("ia5"))
    }
    fn dns(s: &str) -> SanType {
        SanType::DnsName(s.try_into().expect("ia5"))
    }

    #[test]
    fn extracts_fields() {
        let der = cert_der(
            &["alice"],
            vec![
                uri("airlock:user:alice"),
                email("alice@example.org"),
                dns("alice.example.org"),
            ],
        );
        let peer = PeerCertificate::from_der(&der).expect("parse");
        assert_eq!(peer.subject_cn.as_deref(), Some("alice"));
        assert_eq!(peer.san_uris, vec!["airlock:user:alice"]);
        assert_eq!(peer.san_emails, vec!["alice@example.org"]);
        assert_eq!(peer.san_dns, vec!["alice.example.org"]);
        assert_eq!(peer.serial_hex, "4a01ff");
        assert_eq!(peer.fingerprint_sha256, Sha256::of(&der).to_hex());
        assert_eq!(peer.fingerprint_sha256.len(), 64);
        assert!(peer.issuer.contains("alice"), "issuer: {}", peer.issuer);
        assert_eq!(peer.not_after, 1_893_456_000); // 2030-01-01T00:00:00Z
    }

    #[test]
    fn mapped_name_per_rule() {
        let one = PeerCertificate::from_der(&cert_der(
            &["bob"],
            vec![
                uri("airlock:user:bob"),
                email("bob@example.org"),
                dns("bob.example"),
            ],
        ))
        .expect("parse");
        let two = PeerCertificate::from_der(&cert_der(
            &["bob", "mallory"],
            vec![
                uri("airlock:user:bob"),
                uri("airlock:user:mallory"),
                email("bob@example.org"),
                email("mallory@example.org"),
                dns("a.example"),
                dns("b.example"),
            ],
        ))
        .expect("parse");
        let none = PeerCertificate::from_der(&cert_der(&[], vec![])).expect("parse");
        // The patching really produced two common names.
        assert_eq!(
            X509Certificate::from_der(&cert_der(&["a", "b"], vec![]))
                .expect("parse")
                .1
                .subject()
                .iter_common_name()
                .count(),
            2
        );

        let cases: &[(&PeerCertificate, IdentityRule, Option<&str>)] = &[
            (&one, IdentityRule::SubjectCn, Some("bob")),
            (&one, IdentityRule::SanUri, Some("airlock:user:bob")),
            (&one, IdentityRule::SanEmail, Some("bob@example.org")),
            (&one, IdentityRule::SanDns, Some("bob.example")),
            // Ambiguous certificates map to nobody.
            (&two, IdentityRule::SubjectCn, None),
            (&two, IdentityRule::SanUri, None),
            (&two, IdentityRule::SanEmail, None),
            (&two, IdentityRule::SanDns, None),
            // Absent fields map to nobody.
            (&none, IdentityRule::SubjectCn, None),
            (&none, IdentityRule::SanUri, None),
            (&none, IdentityRule::SanEmail, None),
            (&none, IdentityRule::SanDns, None),
        ];
        for (peer, rule, want) in cases {
            assert_eq!(
                peer.mapped_name(*rule).as_deref(),
                *want,
                "rule {rule:?} on {peer:?}"
            );
        }
        for peer in [&one, &two, &none] {
            assert_eq!(
                peer.mapped_name(IdentityRule::Fingerprint).as_deref(),
                Some(peer.fingerprint_sha256.as_str())
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        let valid = cert_der(&["x"], vec![]);
        let mut trailing = valid.clone();
        trailing.push(0);
        let cases: &[(&str, &[u8])] = &[
            ("empty", &[]),
            ("not der", b"-----BEGIN CERTIFICATE-----"),
            ("truncated", &valid[..valid.len() / 2]),
            ("trailing byte", &trailing),
        ];
        for (what, der) in cases {
            assert!(
                PeerCertificate::from_der(der).is_err(),
                "{what} was accepted"
            );
        }
    }

    #[test]
    fn identity_rule_names() {
        use clap::ValueEnum;
        let cases = [
            ("subject-cn", IdentityRule::SubjectCn),
            ("san-email", IdentityRule::SanEmail),
            ("san-uri", IdentityRule::SanUri),
            ("san-dns", IdentityRule::SanDns),
            ("fingerprint", IdentityRule::Fingerprint),
        ];
        for (text, rule) in cases {
            assert_eq!(IdentityRule::from_str(text, false), Ok(rule));
            let json = serde_json::to_string(&rule).expect("json");
            assert_eq!(json, format!("\"{text}\""));
        }
        assert!(IdentityRule::from_str("cn", false).is_err());
    }
}
