//! SHA-256 digests: the identity of every stored file.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sha256 digest {0:?}: expected 64 hexadecimal characters")]
pub struct DigestError(pub String);

/// A SHA-256 digest, always rendered as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_ring(digest::digest(&digest::SHA256, bytes))
    }

    pub fn from_ring(d: digest::Digest) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The other digests an upload form may declare (twine sends both beside
/// `sha256_digest`): MD5 and BLAKE2b-256, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDigests {
    pub md5: String,
    pub blake2_256: String,
}

impl FormDigests {
    /// Hash the file at `path`, reading it in chunks.
    pub fn of_file(path: &std::path::Path) -> std::io::Result<Self> {
        use blake2::Digest as _;
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mut md5 = md5::Md5::new();
        let mut blake = blake2::Blake2b::<blake2::digest::consts::U32>::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            blake.update(&buf[..n]);
        }
        Ok(Self {
            md5: hex::encode(md5.finalize()),
            blake2_256: hex::encode(blake.finalize()),
        })
    }
}

/// Incremental hashing for streamed bodies.
pub struct Sha256Hasher(digest::Context);

impl Default for Sha256Hasher {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }
}

impl Sha256Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub fn finish(self) -> Sha256 {
        Sha256::from_ring(self.0.finish())
    }
    /// The digest of what was fed so far, without consuming the hasher.
    pub fn clone_finish(&self) -> Sha256 {
        Sha256::from_ring(self.0.clone().finish())
    }
}

impl FromStr for Sha256 {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DigestError(s.chars().take(80).collect());
        if s.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.to_ascii_lowercase(), &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_roundtrip() {
        let d = Sha256::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_hex().to_uppercase().parse::<Sha256>().unwrap(), d);
        let mut h = Sha256Hasher::default();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), d);
    }

    #[test]
    fn form_digests_match_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let d = FormDigests::of_file(&path).unwrap();
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        // BLAKE2b with a 32-byte output, as twine's hashlib.blake2b(digest_size=32)
        assert_eq!(
            d.blake2_256,
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!("abc".parse::<Sha256>().is_err());
        assert!("z".repeat(64).parse::<Sha256>().is_err());
    }
}
