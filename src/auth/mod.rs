//! Who is asking: credentials from HTTP headers, checked against the user
//! table (passwords), the token signer (login tokens), and later client
//! certificates.

pub mod cert;
pub mod legacy;
pub mod password;
pub mod proxy;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;

use crate::store::{users, Db, StoreError};
pub use token::{Claims, TokenError, TokenSigner};

/// How the requester proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    Token,
    ClientCert,
    /// A web UI session, opened with the user's password.
    Session,
    /// The trusted front proxy said who the user is (`--trusted-proxy`).
    Proxy,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub user: String,
    /// The credential that established the identity.
    pub method: AuthMethod,
    /// SHA-256 fingerprint of the verified client certificate that also
    /// identifies this user, when one was presented.
    pub cert_fingerprint: Option<String>,
    /// Groups the trusted front proxy says the user is in (sorted; empty
    /// for every other way of logging in). ACLs and policies name them as
    /// `:group:NAME`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(user: String, method: AuthMethod) -> Self {
        Self {
            user,
            method,
            cert_fingerprint: None,
            groups: Vec::new(),
        }
    }

    /// Who this identity is to an ACL: the user and their groups.
    pub fn principal(&self) -> crate::index::config::Principal<'_> {
        crate::index::config::Principal {
            user: Some(&self.user),
            groups: &self.groups,
        }
    }

    pub fn is_root(&self) -> bool {
        self.user == "root"
    }

    /// Did the request prove this identity with a password or login token?
    /// An identity from the trusted front proxy counts: the proxy did the
    /// login in airlock's stead (policies' `password` credential; see
    /// docs/proxy-sso.md). It never counts as a client certificate.
    pub fn has_password(&self) -> bool {
        matches!(
            self.method,
            AuthMethod::Password | AuthMethod::Token | AuthMethod::Session | AuthMethod::Proxy
        )
    }

    /// Did the request prove this identity with a client certificate?
    pub fn has_client_cert(&self) -> bool {
        self.cert_fingerprint.is_some()
    }
}

/// Credentials as sent by a client, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic` (the secret may be a password or a token).
    Basic { user: String, secret: String },
    /// `X-Devpi-Auth: base64(user:token)` as devpi-client sends it.
    DevpiToken { user: String, token: String },
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "malformed {0} header: expected 'Basic ' and base64 of user:password in UTF-8; \
         credentials that cannot be read are refused, never treated as anonymous"
    )]
    MalformedHeader(&'static str),
    #[error(
        "the {0} header is not readable text (only visible ASCII is allowed); credentials \
         that cannot be read are refused, never treated as anonymous"
    )]
    UnreadableHeader(&'static str),
    #[error("more than one {0} header; send one")]
    RepeatedHeader(&'static str),
    #[error("invalid user name or password")]
    BadCredentials,
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("the login token was issued for a password that has since changed; log in again")]
    TokenRevoked,
    #[error(
        "the client certificate identifies user {cert_user} but the credentials are for {cred_user}; \
         send credentials of the certificate's user, or none"
    )]
    CertMismatch {
        cert_user: String,
        cred_user: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Credentials {
    /// Parse the `Authorization` and `X-Devpi-Auth` header values.
    /// `X-Devpi-Auth` wins when both are present (devpi-client sends both
    /// when a proxy needs basic auth).
    pub fn from_headers(
        authorization: Option<&str>,
        devpi_auth: Option<&str>,
    ) -> Result<Option<Self>, AuthError> {
        if let Some(v) = devpi_auth {
            let (user, token) =
                decode_pair(v.trim()).ok_or(AuthError::MalformedHeader("X-Devpi-Auth"))?;
            return Ok(Some(Self::DevpiToken { user, token }));
        }
        if let Some(v) = authorization {
            let Some(b64) = v
                .trim()
                .strip_prefix("Basic ")
                .or_else(|| v.trim().strip_prefix("basic "))
            else {
                return Err(AuthError::MalformedHeader("Authorization"));
            };
            let (user, secret) =
                decode_pair(b64.trim()).ok_or(AuthError::MalformedHeader("Authorization"))?;
            return Ok(Some(Self::Basic { user, secret }));
        }
        Ok(None)
    }
}

fn decode_pair(b64: &str) -> Option<(String, String)> {
    if b64.len() > 8192 {
        return None;
    }
    let raw = String::from_utf8(B64.decode(b64).ok()?).ok()?;
    let (u, s) = raw.split_once(':')?;
    Some((u.to_string(), s.to_string()))
}

/// Checks credentials. Successful password checks are remembered for a few
/// minutes under a keyed digest of (user, password, stored hash), so that
/// twine's basic auth on every upload does not pay the slow hash each time;
/// a password change makes the old entries unreachable.
pub struct Authenticator {
    pub signer: TokenSigner,
    pub token_ttl: Duration,
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 10_000;

impl Authenticator {
    pub fn new(signer: TokenSigner, token_ttl: Duration) -> Self {
        Self {
            signer,
            token_ttl,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Check `creds`, returning the identity they prove.
    pub async fn authenticate(
        self: &Arc<Self>,
        db: &Arc<Db>,
        creds: Credentials,
    ) -> Result<Identity, AuthError> {
        let (user, secret, token_only) = match creds {
            Credentials::Basic { user, secret } => (user, secret, false),
            Credentials::DevpiToken { user, token } => (user, token, true),
        };
        let lookup = user.clone();
        let row = db
            .read(move |c| users::get(c, &lookup))
            .await?
            .ok_or(AuthError::BadCredentials)?;

        if token_only || token::looks_like_token(&secret) {
            let claims = self.signer.verify(&secret, crate::store::now())?;
            if claims.u != row.name {
                return Err(AuthError::BadCredentials);
            }
            if claims.pw != token::password_fingerprint(row.pwhash.as_deref()) {
                return Err(AuthError::TokenRevoked);
            }
            return Ok(Identity::new(row.name, AuthMethod::Token));
        }

        let Some(stored) = row.pwhash.clone() else {
            return Err(AuthError::BadCredentials);
        };
        let key = self.cache_key(&row.name, &secret, &stored);
        if self.cached(&key) {
            return Ok(Identity::new(row.name, AuthMethod::Password));
        }
        let rehash = password::needs_rehash(&stored);
        let check = (secret.clone(), stored.clone());
        let ok = tokio::task::spawn_blocking(move || password::verify(&check.0, &check.1))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(AuthError::BadCredentials);
        }
        if rehash {
            // An imported (devpi) hash: replace it with airlock's own now
            // that the password is known. Only if it is still the same hash.
            let new = tokio::task::spawn_blocking(move || password::hash(&secret))
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            let (name, old) = (row.name.clone(), stored.clone());
            db.write(move |tx| users::replace_password(tx, &name, &old, &new))
                .await?;
            tracing::info!(user = %row.name, "imported password hash re-hashed to pbkdf2-sha256 at login");
            return Ok(Identity::new(row.name, AuthMethod::Password));
        }
        self.remember(key);
        Ok(Identity::new(row.name, AuthMethod::Password))
    }

    /// Issue a login token for `user` whose stored hash is `pwhash`.
    pub fn issue_token(&self, user: &str, pwhash: Option<&str>) -> (String, i64) {
        let now = crate::store::now();
        let exp = now + self.token_ttl.as_secs() as i64;
        let t = self.signer.issue(&Claims {
            u: user.to_string(),
            exp,
            iat: now,
            pw: token::password_fingerprint(pwhash),
        });
        (t, exp)
    }

    fn cache_key(&self, user: &str, secret: &str, stored: &str) -> [u8; 32] {
        let mut data = Vec::with_capacity(user.len() + secret.len() + stored.len() + 2);
        data.extend_from_slice(user.as_bytes());
        data.push(0);
        data.extend_from_slice(secret.as_bytes());
        data.push(0);
        data.extend_from_slice(stored.as_bytes());
        self.signer.mac(&data)
    }

    fn cached(&self, key: &[u8; 32]) -> bool {
        let map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).is_some_and(|t| t.elapsed() < CACHE_TTL)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.retain(|_, t| t.elapsed() < CACHE_TTL);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(key, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        let basic = format!("Basic {}", B64.encode("alice:pa:ss"));
        assert_eq!(
            Credentials::from_headers(Some(&basic), None).unwrap(),
            Some(Credentials::Basic {
                user: "alice".into(),
                secret: "pa:ss".into()
            })
        );
        let devpi = B64.encode("bob:tok");
        assert_eq!(
            Credentials::from_headers(Some(&basic), Some(&devpi)).unwrap(),
            Some(Credentials::DevpiToken {
                user: "bob".into(),
                token: "tok".into()
            })
        );
        assert_eq!(Credentials::from_headers(None, None).unwrap(), None);
        for bad in [
            "Bearer x",
            "Basic !!!",
            &format!("Basic {}", B64.encode("nocolon")),
        ] {
            assert!(Credentials::from_headers(Some(bad), None).is_err(), "{bad}");
        }
    }
}
