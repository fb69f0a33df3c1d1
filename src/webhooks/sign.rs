//! Standard Webhooks signing: a `whsec_` secret (base64 of random bytes,
//! generated here, shown once) and the `webhook-signature` header,
//! `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed with
//! the secret's decoded bytes.

use base64::Engine;
use ring::rand::SecureRandom;

/// Every secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret.
const SECRET_BYTES: usize = 32;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the system random generator failed")]
    Random,
    #[error("a webhook secret must be whsec_ followed by base64")]
    BadSecret,
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> Result<String, SignError> {
    let mut raw = [0u8; SECRET_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| SignError::Random)?;
    Ok(format!("{SECRET_PREFIX}{}", B64.encode(raw)))
}

/// A random id for a new event (`msg_` + 32 hex digits).
pub fn new_event_id() -> Result<String, SignError> {
    let mut raw = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| SignError::Random)?;
    Ok(format!("msg_{}", hex::encode(raw)))
}

/// The key bytes of `secret`.
pub fn key_bytes(secret: &str) -> Result<Vec<u8>, SignError> {
    let b64 = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SignError::BadSecret)?;
    B64.decode(b64).map_err(|_| SignError::BadSecret)
}

/// The `webhook-signature` header value for one delivery.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignError> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes(secret)?);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Ok(format!("v1,{}", B64.encode(ctx.sign().as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_base64_of_32_random_bytes() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(key_bytes(&a).unwrap().len(), 32);
        assert!(key_bytes("abc").is_err());
        assert!(key_bytes("whsec_not base64!").is_err());
    }

    /// The example of the Standard Webhooks specification's reference
    /// libraries: this secret, id, timestamp and body sign to this value.
    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let s = new_secret().unwrap();
        let base = signature(&s, "msg_1", 10, b"{}").unwrap();
        assert_ne!(base, signature(&s, "msg_2", 10, b"{}").unwrap());
        assert_ne!(base, signature(&s, "msg_1", 11, b"{}").unwrap());
        assert_ne!(base, signature(&s, "msg_1", 10, b"{ }").unwrap());
        assert_eq!(base, signature(&s, "msg_1", 10, b"{}").unwrap());
    }
}
