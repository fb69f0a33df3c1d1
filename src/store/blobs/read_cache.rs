//! Small blobs a node has read from object storage and verified, kept in
//! memory so the next download of the same file does not go to the bucket.
//!
//! Blobs are content-addressed and never change, so a copy can never be
//! stale: the only question is whether it is right, and a copy enters only
//! after its bytes were hashed and matched its name. What the bucket holds
//! later does not change what this node serves: an object altered behind
//! airlock's back after it was cached is still served as the verified
//! original here (and found by re-hashing checks, which always read the
//! bucket: [`super::BlobStore::rehash`] and the copies pushes verify).
//!
//! Bounded by bytes (`--blob-cache-mb`); a blob larger than
//! [`ENTRY_MAX`] is never kept. Blobs deleted from the store are dropped
//! from it at once.

use bytes::Bytes;

use crate::digest::Sha256;

/// The largest blob kept (a wheel of a pure-Python project, every metadata
/// file; large files stream from the bucket).
pub const ENTRY_MAX: u64 = super::s3::WHOLE_MAX;

#[derive(Clone)]
struct ByLen;

impl quick_cache::Weighter<Sha256, Bytes> for ByLen {
    fn weight(&self, _key: &Sha256, bytes: &Bytes) -> u64 {
        // the key and the entry's bookkeeping count too
        bytes.len() as u64 + 64
    }
}

pub struct ReadCache {
    blobs: quick_cache::sync::Cache<Sha256, Bytes, ByLen>,
}

impl ReadCache {
    /// A cache of at most about `max_bytes`; `None` for 0 (off).
    pub fn new(max_bytes: u64) -> Option<Self> {
        if max_bytes == 0 {
            return None;
        }
        // wheels of a few tens of KiB are the common case
        let estimated = (max_bytes / (32 * 1024)).clamp(16, 1 << 20) as usize;
        Some(Self {
            blobs: quick_cache::sync::Cache::with_weighter(estimated, max_bytes, ByLen),
        })
    }

    /// The verified bytes of `sha`, if this node holds them.
    pub fn get(&self, sha: &Sha256) -> Option<Bytes> {
        self.blobs.get(sha)
    }

    /// Keep `bytes` as the blob `sha` if they are its bytes (hashed here)
    /// and small enough; anything else is ignored.
    pub fn offer(&self, sha: &Sha256, bytes: &Bytes) {
        if bytes.len() as u64 <= ENTRY_MAX && Sha256::of(bytes) == *sha {
            self.blobs.insert(*sha, bytes.clone());
        }
    }

    /// Drop `sha` (deleted or quarantined in the store).
    pub fn forget(&self, sha: &Sha256) {
        self.blobs.remove(sha);
    }

    /// Bytes held.
    pub fn weight(&self) -> u64 {
        self.blobs.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_bytes_that_hash_to_their_name() {
        let cache = ReadCache::new(1 << 20).expect("on");
        let good = Bytes::from_static(b"the wheel");
        let sha = Sha256::of(&good);
        cache.offer(&sha, &Bytes::from_static(b"an altered wheel"));
        assert!(cache.get(&sha).is_none(), "altered bytes are not kept");
        cache.offer(&sha, &good);
        assert_eq!(cache.get(&sha).as_deref(), Some(&b"the wheel"[..]));
        cache.forget(&sha);
        assert!(cache.get(&sha).is_none());
    }

    #[test]
    fn bounded_and_large_blobs_never_kept() {
        assert!(ReadCache::new(0).is_none(), "0 turns it off");
        let cache = ReadCache::new(256 * 1024).expect("on");
        let big = Bytes::from(vec![7u8; ENTRY_MAX as usize + 1]);
        cache.offer(&Sha256::of(&big), &big);
        assert_eq!(cache.weight(), 0, "larger than an entry may be");
        for i in 0..64u8 {
            let b = Bytes::from(vec![i; 16 * 1024]);
            cache.offer(&Sha256::of(&b), &b);
        }
        assert!(cache.weight() <= 256 * 1024, "held {}", cache.weight());
        assert!(cache.weight() > 0);
    }
}
