//! Login tokens: `airlock1.<claims>.<hmac>`, signed with HMAC-SHA256 (ring)
//! under a per-data-folder secret.
//!
//! A token names its user, its expiry, and a fingerprint of the user's
//! password hash at issue time: changing the password revokes every token
//! issued before.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::hmac;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "airlock1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the login token is malformed")]
    Malformed,
    #[error("the login token's signature is invalid")]
    BadSignature,
    #[error("the login token expired; log in again")]
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// user name
    pub u: String,
    /// expiry, Unix seconds
    pub exp: i64,
    /// issued at, Unix seconds
    pub iat: i64,
    /// fingerprint of the password hash the token was issued under
    pub pw: String,
}

pub struct TokenSigner {
    key: hmac::Key,
}

impl TokenSigner {
    /// Load the signing secret from `data_dir/secret`, creating it (mode
    /// 0600, 32 random bytes) on first start.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join("secret");
        let secret = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => bytes,
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is shorter than 32 bytes", path.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = vec![0u8; 32];
                ring::rand::SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| std::io::Error::other("no system randomness"))?;
                write_private(&path, &bytes)?;
                bytes
            }
            Err(e) => return Err(e),
        };
        Ok(Self::from_secret(&secret))
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signed = format!("{PREFIX}.{payload}");
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", B64.encode(tag.as_ref()))
    }

    /// Check signature and expiry (at time `now`); the caller checks the
    /// password fingerprint against the user's current hash.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > 2048 {
            return Err(TokenError::Malformed);
        }
        let (signed, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (prefix, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if prefix != PREFIX {
            return Err(TokenError::Malformed);
        }
        let tag = B64.decode(tag).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, signed.as_bytes(), &tag).map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// A keyed digest, used for the verified-credentials cache.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// Short fingerprint of a stored password hash, embedded in tokens.
pub fn password_fingerprint(pwhash: Option<&str>) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, pwhash.unwrap_or("").as_bytes());
    hex::encode(&d.as_ref()[..8])
}

/// Heuristic used to tell a token from a password in basic auth.
pub fn looks_like_token(s: &str) -> bool {
    s.starts_with("airlock1.") && s.matches('.').count() == 2
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            u: "alice".into(),
            exp,
            iat: 0,
            pw: "abcd".into(),
        }
    }

    #[test]
    fn roundtrip_and_expiry() {
        let s = TokenSigner::from_secret(&[7u8; 32]);
        let t = s.issue(&claims(100));
        assert!(looks_like_token(&t));
        assert_eq!(s.verify(&t, 99).unwrap(), claims(100));
        assert_eq!(s.verify(&t, 100), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_and_foreign_keys_are_detected() {
        let s = TokenSigner::from_secret(&[7u8; 32]);
        let other = TokenSigner::from_secret(&[8u8; 32]);
        let t = s.issue(&claims(100));
        assert_eq!(other.verify(&t, 0), Err(TokenError::BadSignature));
        // swap in claims for another user, keep the signature
        let forged_payload = B64.encode(
            serde_json::to_vec(&Claims {
                u: "root".into(),
                ..claims(100)
            })
            .unwrap(),
        );
        let sig = t.rsplit_once('.').unwrap().1;
        let forged = format!("{PREFIX}.{forged_payload}.{sig}");
        assert_eq!(s.verify(&forged, 0), Err(TokenError::BadSignature));
        for junk in [
            "",
            "x",
            "airlock1..",
            "airlock1.a.b",
            "other.a.b",
            &"a".repeat(5000),
        ] {
            assert!(s.verify(junk, 0).is_err(), "{junk}");
        }
    }
}
