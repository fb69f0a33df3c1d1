//! Client certificates as identities: which airlock user a verified
//! certificate stands for.
//!
//! A fingerprint pinned to a user (`airlock user cert add`) always wins.
//! Otherwise the configured rule reads one field of the certificate: the
//! subject CN or DNS SAN names the user directly, a URI SAN of the form
//! `airlock:user:NAME` names NAME, an email SAN names the user registered
//! with that email. The named user must exist; a certificate that maps to
//! nobody proves nothing.

use std::sync::Arc;

use super::AuthError;
use crate::names::UserName;
use crate::store::{user_certs, users, Db};
use crate::tls::{IdentityRule, PeerCertificate};

use crate::tls::pki::CLIENT_URI_PREFIX as URI_PREFIX;

/// The user `cert` identifies under `rule`, if any.
pub async fn user_for_cert(
    db: &Arc<Db>,
    cert: &PeerCertificate,
    rule: IdentityRule,
) -> Result<Option<String>, AuthError> {
    let fp = cert.fingerprint_sha256.clone();
    if let Some(user) = db.read(move |c| user_certs::user_of(c, &fp)).await? {
        return Ok(Some(user));
    }
    let candidate = match rule {
        IdentityRule::Fingerprint => return Ok(None),
        IdentityRule::SanEmail => {
            let Some(email) = cert.mapped_name(rule) else {
                return Ok(None);
            };
            return Ok(db
                .read(move |c| {
                    Ok(users::list(c)?.into_iter().find(|u| {
                        u.email
                            .as_deref()
                            .is_some_and(|e| e.eq_ignore_ascii_case(&email))
                    }))
                })
                .await?
                .map(|u| u.name));
        }
        IdentityRule::SanUri => cert
            .mapped_name(rule)
            .and_then(|u| u.strip_prefix(URI_PREFIX).map(str::to_string)),
        IdentityRule::SubjectCn | IdentityRule::SanDns => cert.mapped_name(rule),
    };
    let Some(name) = candidate.filter(|n| UserName::new(n).is_ok()) else {
        return Ok(None);
    };
    let lookup = name.clone();
    let exists = db.read(move |c| users::get(c, &lookup)).await?.is_some();
    Ok(exists.then_some(name))
}
