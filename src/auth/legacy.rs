//! Password hashes carried over from devpi-server (`airlock import
//! --from-devpi`): passlib's argon2 PHC strings,
//! `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>`
//! (standard base64 without padding). devpi-server 6.x writes argon2id with
//! m=65536, t=3, p=4 (passlib 1.7 defaults); older devpi's salted SHA-256
//! (`pwsalt`) is not accepted (the import reports such accounts).
//!
//! Verification is bounded: costs beyond [`MAX_MEMORY_KIB`], [`MAX_PASSES`]
//! and [`MAX_LANES`] never verify (a hostile export cannot make a login
//! allocate gigabytes), and one check runs at a time.

use std::sync::Mutex;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;

/// Largest accepted memory cost (KiB): 256 MiB.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// Largest accepted number of passes.
pub const MAX_PASSES: u32 = 16;
/// Largest accepted parallelism.
pub const MAX_LANES: u32 = 16;
/// Longest accepted stored hash (the PHC string).
const MAX_LEN: usize = 512;

/// One argon2 check at a time: each may take up to [`MAX_MEMORY_KIB`].
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Does `stored` look like an argon2 PHC string (whatever its parameters)?
pub fn is_argon2(stored: &str) -> bool {
    stored.starts_with("$argon2")
}

/// The parsed parts of an argon2 PHC string.
#[derive(Debug)]
pub struct Argon2Hash {
    algorithm: Algorithm,
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// Why a stored argon2 hash is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LegacyHashError {
    #[error("not an argon2 PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)")]
    Malformed,
    #[error("argon2 version {0} is not supported (only v=19)")]
    Version(String),
    #[error(
        "argon2 costs m={m}, t={t}, p={p} exceed the accepted bounds \
         (m<={MAX_MEMORY_KIB}, t<={MAX_PASSES}, p<={MAX_LANES})"
    )]
    TooCostly { m: u32, t: u32, p: u32 },
}

/// Parse and bound-check an argon2 PHC string.
pub fn parse_argon2(stored: &str) -> Result<Argon2Hash, LegacyHashError> {
    use LegacyHashError::Malformed;
    if stored.len() > MAX_LEN {
        return Err(Malformed);
    }
    let parts: Vec<&str> = stored.split('$').collect();
    let [empty, alg, version, costs, salt, hash] = parts.as_slice() else {
        return Err(Malformed);
    };
    if !empty.is_empty() {
        return Err(Malformed);
    }
    let algorithm = match *alg {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return Err(Malformed),
    };
    if *version != "v=19" {
        return Err(LegacyHashError::Version(
            version.chars().take(16).collect::<String>(),
        ));
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in costs.split(',') {
        let (k, v) = kv.split_once('=').ok_or(Malformed)?;
        if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed);
        }
        let v: u32 = v.parse().map_err(|_| Malformed)?;
        let slot = match k {
            "m" => &mut m,
            "t" => &mut t,
            "p" => &mut p,
            _ => return Err(Malformed),
        };
        if slot.replace(v).is_some() {
            return Err(Malformed);
        }
    }
    let (Some(m), Some(t), Some(p)) = (m, t, p) else {
        return Err(Malformed);
    };
    if m > MAX_MEMORY_KIB || t > MAX_PASSES || p > MAX_LANES {
        return Err(LegacyHashError::TooCostly { m, t, p });
    }
    let salt = B64.decode(salt).map_err(|_| Malformed)?;
    let hash = B64.decode(hash).map_err(|_| Malformed)?;
    if !(8..=64).contains(&salt.len()) || !(4..=64).contains(&hash.len()) {
        return Err(Malformed);
    }
    let params = Params::new(m, t, p, Some(hash.len())).map_err(|_| Malformed)?;
    Ok(Argon2Hash {
        algorithm,
        params,
        salt,
        hash,
    })
}

/// Constant-time check of `password` against an argon2 PHC string; a
/// malformed or too costly one never verifies.
pub fn verify_argon2(password: &str, stored: &str) -> bool {
    let Ok(h) = parse_argon2(stored) else {
        return false;
    };
    let mut out = vec![0u8; h.hash.len()];
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let argon = Argon2::new(h.algorithm, Version::V0x13, h.params);
    if argon
        .hash_password_into(password.as_bytes(), &h.salt, &mut out)
        .is_err()
    {
        return false;
    }
    constant_time_eq(&out, &h.hash)
}

/// Equal bytes, compared without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by passlib 1.7.4 (devpi-server 6.20.3's hasher):
    // argon2.using(memory_cost=1024, time_cost=2, parallelism=2).hash("s3cret pw")
    const ID: &str =
        "$argon2id$v=19$m=1024,t=2,p=2$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs";
    const I: &str =
        "$argon2i$v=19$m=1024,t=2,p=2$MCaEMCbkXItxbi0FQGjtHQ$rnHkEgua71SAKp5k4gVWgCKg29Z0XOfdj9snRZ/9S64";

    #[test]
    fn passlib_hashes_verify() {
        assert!(verify_argon2("s3cret pw", ID));
        assert!(verify_argon2("s3cret pw", I));
        assert!(!verify_argon2("s3cret pw ", ID));
        assert!(!verify_argon2("", ID));
        assert!(crate::auth::password::verify("s3cret pw", ID));
        assert!(crate::auth::password::needs_rehash(ID));
        assert!(!crate::auth::password::needs_rehash(
            &crate::auth::password::hash_with("x", 1000)
        ));
    }

    #[test]
    fn bad_or_costly_hashes_never_verify() {
        for bad in [
            "$argon2id$v=19$m=1024,t=2,p=2$kvL+/3+vVSqltNZay7nXGg",
            "$argon2id$v=16$m=1024,t=2,p=2$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs",
            "$argon2x$v=19$m=1024,t=2,p=2$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs",
            "$argon2id$v=19$m=1024,t=2,p=2,p=3$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs",
            "$argon2id$v=19$m=-1,t=2,p=2$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs",
            "$argon2id$v=19$m=99999999999999,t=2,p=2$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs",
            "$argon2id$v=19$m=1024,t=2,p=2$!!$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs",
        ] {
            assert!(!verify_argon2("s3cret pw", bad), "{bad}");
        }
        assert_eq!(
            parse_argon2("$argon2id$v=19$m=4194304,t=2,p=2$kvL+/3+vVSqltNZay7nXGg$7Dr+2tPxcstkHe4u99yRCR9v+VuFfo94EPmYpjDXIJs")
                .unwrap_err(),
            LegacyHashError::TooCostly { m: 4194304, t: 2, p: 2 }
        );
    }
}
