//! The hash chain: a canonical, unambiguous encoding of an entry.

use crate::digest::Sha256;
use crate::store::audit::AuditRow;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separator: a hash of this encoding is never a hash of anything else.
const DOMAIN: &[u8] = b"airlock audit entry v1\n";

/// SHA-256 (hex) over seq, time, actor, fingerprint, remote, action, target,
/// details and prev_hash. Integers are 8 bytes big-endian; every string is
/// length-prefixed (8 bytes big-endian) and every optional field is preceded
/// by a presence byte, so no two different entries encode alike.
pub fn entry_hash(row: &AuditRow) -> String {
    let mut buf = Vec::with_capacity(256 + row.details.len());
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(&row.seq.to_be_bytes());
    buf.extend_from_slice(&row.time.to_be_bytes());
    for field in [&row.actor, &row.cert_fingerprint, &row.remote] {
        match field {
            None => buf.push(0),
            Some(s) => {
                buf.push(1);
                put_str(&mut buf, s);
            }
        }
    }
    for s in [&row.action, &row.target, &row.details, &row.prev_hash] {
        put_str(&mut buf, s);
    }
    Sha256::of(&buf).to_hex()
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}
