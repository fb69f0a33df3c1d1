//! Client certificates pinned to users (`airlock user cert add/list/remove`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action};
use crate::auth::Identity;
use crate::store::{user_certs, users as user_table};
use crate::tls::PeerCertificate;

/// Largest PEM accepted for pinning.
const MAX_PEM: usize = 64 * 1024;

fn require_self_or_root(actor: Option<&Identity>, user: &str) -> Result<()> {
    match actor {
        None => Err(RegistryError::Unauthenticated(
            "log in to manage client certificates".into(),
        )),
        Some(a) if a.user == user || a.is_root() => Ok(()),
        Some(a) => Err(RegistryError::Forbidden(format!(
            "user {} may not manage the certificates of {user}",
            a.user
        ))),
    }
}

/// Parse the first certificate of a PEM text.
pub fn parse_pem_certificate(pem: &str) -> Result<PeerCertificate> {
    if pem.len() > MAX_PEM {
        return Err(RegistryError::Invalid(
            "the certificate file is larger than 64 KiB".into(),
        ));
    }
    let mut reader = std::io::Cursor::new(pem.as_bytes());
    let der = rustls_pemfile_first_cert(&mut reader).ok_or_else(|| {
        RegistryError::Invalid(
            "no PEM certificate found: expected a -----BEGIN CERTIFICATE----- block".into(),
        )
    })?;
    PeerCertificate::from_der(&der)
        .map_err(|e| RegistryError::Invalid(format!("the certificate cannot be parsed: {e}")))
}

fn rustls_pemfile_first_cert(reader: &mut dyn std::io::BufRead) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    CertificateDer::pem_reader_iter(reader)
        .next()?
        .ok()
        .map(|c| c.as_ref().to_vec())
}

impl Registry {
    pub async fn add_user_cert(
        self: &Arc<Self>,
        by: &Actor,
        user: &str,
        pem: &str,
    ) -> Result<Value> {
        let actor = by.identity();
        require_self_or_root(actor, user)?;
        let cert = parse_pem_certificate(pem)?;
        if cert.not_after <= crate::store::now() {
            return Err(RegistryError::Invalid(
                "the certificate has expired; pin a valid one".into(),
            ));
        }
        let u = user.to_string();
        let fp = cert.fingerprint_sha256.clone();
        let subject = cert
            .subject_cn
            .clone()
            .unwrap_or_else(|| cert.issuer.clone());
        let not_after = cert.not_after;
        let entry = by.entry(Action::UserModify, user).details(json!({
            "change": "cert_pin", "fingerprint": fp, "subject": subject, "not_after": not_after,
        }));
        let clash = self
            .store
            .db
            .write(move |tx| {
                let Some(row) = user_table::get(tx, &u)? else {
                    return Ok(Err(RegistryError::NotFound(format!(
                        "user {u} does not exist"
                    ))));
                };
                let clash = user_certs::add(tx, row.id, &fp, &subject, not_after)?;
                if clash.is_none() {
                    audit::append(tx, entry)?;
                }
                Ok(Ok(clash))
            })
            .await??;
        match clash {
            Some(owner) if owner == user => {}
            Some(owner) => {
                return Err(RegistryError::Conflict(format!(
                    "this certificate is already pinned to user {owner}"
                )))
            }
            None => {}
        }
        tracing::info!(user, fingerprint = %cert.fingerprint_sha256, by = actor.map(|a| a.user.as_str()), "client certificate pinned");
        Ok(
            json!({"fingerprint": cert.fingerprint_sha256, "subject": cert.subject_cn, "not_after": cert.not_after}),
        )
    }

    pub async fn list_user_certs(
        self: &Arc<Self>,
        actor: Option<&Identity>,
        user: &str,
    ) -> Result<Value> {
        require_self_or_root(actor, user)?;
        let u = user.to_string();
        let rows = self
            .store
            .db
            .read(move |c| user_certs::list_of_user(c, &u))
            .await?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|r| json!({"fingerprint": r.fingerprint, "subject": r.subject, "not_after": r.not_after, "added": r.added}))
                .collect(),
        ))
    }

    pub async fn remove_user_cert(
        self: &Arc<Self>,
        by: &Actor,
        user: &str,
        fingerprint: &str,
    ) -> Result<()> {
        require_self_or_root(by.identity(), user)?;
        let u = user.to_string();
        let fp = fingerprint.to_ascii_lowercase().replace(':', "");
        let entry = by
            .entry(Action::UserModify, user)
            .details(json!({"change": "cert_unpin", "fingerprint": fp}));
        let removed = self
            .store
            .db
            .write(move |tx| {
                let Some(row) = user_table::get(tx, &u)? else {
                    return Ok(false);
                };
                let removed = user_certs::remove(tx, row.id, &fp)?;
                if removed {
                    audit::append(tx, entry)?;
                }
                Ok(removed)
            })
            .await?;
        if !removed {
            return Err(RegistryError::NotFound(format!(
                "user {user} has no certificate with fingerprint {fingerprint}"
            )));
        }
        Ok(())
    }
}
