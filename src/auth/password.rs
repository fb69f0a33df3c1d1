//! Password hashing: PBKDF2-HMAC-SHA256 (ring) with a random 16-byte salt.
//!
//! Stored form: `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`, so the
//! cost can be raised later without invalidating existing hashes.
//!
//! Accounts imported from devpi-server (`airlock import --from-devpi`) keep
//! devpi's hash, an argon2 PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`,
//! passlib's format) until their first successful login, which re-hashes the
//! password to PBKDF2 ([`needs_rehash`]). See [`crate::auth::legacy`].

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use ring::rand::SecureRandom;
use ring::{pbkdf2, rand};

/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const ITERATIONS: u32 = 600_000;
const ALGO: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const PREFIX: &str = "pbkdf2-sha256";

pub fn hash(password: &str) -> String {
    hash_with(password, ITERATIONS)
}

pub fn hash_with(password: &str, iterations: u32) -> String {
    let mut salt = [0u8; 16];
    rand::SystemRandom::new()
        .fill(&mut salt)
        .expect("the system random number generator failed");
    let iters = NonZeroU32::new(iterations.max(1)).expect("nonzero");
    let mut out = [0u8; 32];
    pbkdf2::derive(ALGO, iters, &salt, password.as_bytes(), &mut out);
    format!(
        "{PREFIX}${iterations}${}${}",
        B64.encode(salt),
        B64.encode(out)
    )
}

/// Constant-time check of `password` against a stored hash; a malformed
/// stored hash never verifies.
pub fn verify(password: &str, stored: &str) -> bool {
    if super::legacy::is_argon2(stored) {
        return super::legacy::verify_argon2(password, stored);
    }
    let mut parts = stored.split('$');
    let (Some(PREFIX), Some(iters), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iters), Ok(salt), Ok(hash)) =
        (iters.parse::<u32>(), B64.decode(salt), B64.decode(hash))
    else {
        return false;
    };
    let Some(iters) = NonZeroU32::new(iters) else {
        return false;
    };
    pbkdf2::verify(ALGO, iters, &salt, password.as_bytes(), &hash).is_ok()
}

/// Is `stored` in a scheme other than airlock's own (an imported hash that
/// the next successful login replaces)?
pub fn needs_rehash(stored: &str) -> bool {
    !stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_with("s3cret", 1000);
        assert!(h.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cret ", &h));
        assert!(!verify("", &h));
        // salts differ
        assert_ne!(h, hash_with("s3cret", 1000));
    }

    #[test]
    fn malformed_hashes_never_verify() {
        for bad in [
            "",
            "plain",
            "pbkdf2-sha256$x$a$b",
            "pbkdf2-sha256$0$AAAA$AAAA",
            "md5$1$a$b",
        ] {
            assert!(!verify("x", bad), "{bad}");
        }
    }
}
