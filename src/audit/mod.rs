//! The audit log: an append-only, hash-chained record of every action that
//! changes what airlock serves or who may change it, and of every blocked
//! attempt.
//!
//! Each entry's `hash` is SHA-256 over a canonical encoding of its fields
//! and the previous entry's hash ([`entry_hash`]), so editing, deleting,
//! inserting or reordering an entry breaks the chain at a place
//! [`verify`] names. SQLite triggers refuse UPDATE and DELETE on the table,
//! but someone with write access to the database file can drop them and
//! rewrite the whole chain consistently; to detect that, copy [`head`]
//! somewhere the server cannot write (a ticket, a log shipper, a signed
//! commit) and check it later with [`verify_with_anchor`].
//!
//! Entries are appended inside the caller's transaction ([`append`]), so an
//! action and its audit entry commit or roll back together, and so do the
//! webhook events the entry stands for ([`crate::webhooks::enqueue`]).

mod action;
mod anchor;
mod chain;
pub mod jsonl;

#[cfg(test)]
mod tests;

use std::io::Write;

use crate::store::sql::Conn;
use serde::{Deserialize, Serialize};

use crate::store::audit::{self as table, AuditRow};
use crate::store::StoreError;

pub use action::Action;
pub use chain::{entry_hash, GENESIS_HASH};

/// Longest `target` accepted.
pub const MAX_TARGET_LEN: usize = 1024;
/// Longest actor, fingerprint or remote address accepted.
pub const MAX_FIELD_LEN: usize = 256;
/// Largest `details` JSON accepted.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the audit export: {0}")]
    Io(#[from] std::io::Error),
    #[error("the audit entry's {field} is {len} bytes; at most {limit} are recorded")]
    TooLarge {
        field: &'static str,
        len: usize,
        limit: usize,
    },
}

/// Lets [`append`] run inside `Db::write` closures with `?`.
impl From<AuditError> for StoreError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(inner) => inner,
            other => StoreError::Internal(other.to_string()),
        }
    }
}

/// An entry to append; `seq`, `time` and the hashes are filled in by [`append`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub actor: Option<String>,
    pub cert_fingerprint: Option<String>,
    pub remote: Option<String>,
    pub action: Action,
    /// What was acted on, e.g. `root/prod`, `root/prod/requests/2.32.3`.
    pub target: String,
    /// Structured details: file hashes, the review, a reason.
    pub details: serde_json::Value,
}

impl NewEntry {
    pub fn new(action: Action, target: impl Into<String>) -> Self {
        Self {
            actor: None,
            cert_fingerprint: None,
            remote: None,
            action,
            target: target.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn actor(mut self, user: Option<&str>, cert_fingerprint: Option<&str>) -> Self {
        self.actor = user.map(str::to_string);
        self.cert_fingerprint = cert_fingerprint.map(str::to_string);
        self
    }

    pub fn remote(mut self, remote: impl Into<String>) -> Self {
        self.remote = Some(remote.into());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub time: i64,
    pub actor: Option<String>,
    pub cert_fingerprint: Option<String>,
    pub remote: Option<String>,
    /// The action as stored (see [`Action`]; kept as text so entries written
    /// by a newer airlock stay readable).
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    fn from_row(row: AuditRow) -> Self {
        let details =
            serde_json::from_str(&row.details).unwrap_or(serde_json::Value::String(row.details));
        Self {
            seq: row.seq,
            time: row.time,
            actor: row.actor,
            cert_fingerprint: row.cert_fingerprint,
            remote: row.remote,
            action: row.action,
            target: row.target,
            details,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// The latest entry's sequence number and hash: what to anchor outside the
/// server. An empty log has head `(0, GENESIS_HASH)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Append `entry` inside the caller's transaction and return it as recorded.
pub fn append(tx: &Conn<'_>, entry: NewEntry) -> Result<Entry, AuditError> {
    append_at(tx, entry, crate::store::now())
}

fn append_at(conn: &Conn<'_>, entry: NewEntry, time: i64) -> Result<Entry, AuditError> {
    for (field, value) in [
        ("actor", &entry.actor),
        ("certificate fingerprint", &entry.cert_fingerprint),
        ("remote address", &entry.remote),
    ] {
        check_len(field, value.as_deref().unwrap_or(""), MAX_FIELD_LEN)?;
    }
    check_len("target", &entry.target, MAX_TARGET_LEN)?;
    let details = entry.details.to_string();
    check_len("details", &details, MAX_DETAILS_BYTES)?;

    let previous = table::last(conn)?;
    let (seq, prev_hash) = match previous {
        Some(p) => (p.seq + 1, p.hash),
        None => (1, GENESIS_HASH.to_string()),
    };
    let mut row = AuditRow {
        seq,
        time,
        actor: entry.actor,
        cert_fingerprint: entry.cert_fingerprint,
        remote: entry.remote,
        action: entry.action.as_str().to_string(),
        target: entry.target,
        details,
        prev_hash,
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    table::insert(conn, &row)?;
    let entry = Entry::from_row(row);
    // the webhook events of this change, in the same transaction
    crate::webhooks::enqueue(conn, &entry)?;
    Ok(entry)
}

fn check_len(field: &'static str, value: &str, limit: usize) -> Result<(), AuditError> {
    if value.len() > limit {
        return Err(AuditError::TooLarge {
            field,
            len: value.len(),
            limit,
        });
    }
    Ok(())
}

/// The current head of the chain.
pub fn head(conn: &Conn<'_>) -> Result<Head, AuditError> {
    Ok(match table::last(conn)? {
        Some(row) => Head {
            seq: row.seq,
            hash: row.hash,
        },
        None => Head {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        },
    })
}

/// One way the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The entry's content no longer matches its own hash.
    Modified { seq: i64 },
    /// The entry's `prev_hash` is not the hash of the entry before it.
    BrokenLink { seq: i64 },
    /// Sequence numbers `from..=to` are missing.
    Missing { from: i64, to: i64 },
    /// The anchored entry is absent or differs from the anchor.
    AnchorMismatch { seq: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Modified { seq } => write!(
                f,
                "entry {seq} was modified: its content does not match its recorded hash"
            ),
            Problem::BrokenLink { seq } => write!(
                f,
                "entry {seq} does not follow the entry before it (its prev_hash differs): an \
                 entry was inserted, deleted or reordered before it, or the previous entry \
                 was rewritten"
            ),
            Problem::Missing { from, to } if from == to => {
                write!(f, "entry {from} is missing: it was deleted")
            }
            Problem::Missing { from, to } => {
                write!(f, "entries {from} to {to} are missing: they were deleted")
            }
            Problem::AnchorMismatch { seq } => write!(
                f,
                "entry {seq} does not match the anchored hash: the log was truncated or \
                 rewritten since the anchor was taken"
            ),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    pub head: Head,
    /// Every break found, in sequence order (empty = intact).
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walk the whole chain and report every break.
pub fn verify(conn: &Conn<'_>) -> Result<VerifyReport, AuditError> {
    let mut problems = Vec::new();
    let mut entries = 0u64;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS_HASH.to_string();
    table::for_each_after(conn, 0, |row: AuditRow| -> Result<(), AuditError> {
        entries += 1;
        if row.seq > expected_seq {
            problems.push(Problem::Missing {
                from: expected_seq,
                to: row.seq - 1,
            });
        }
        if entry_hash(&row) != row.hash {
            problems.push(Problem::Modified { seq: row.seq });
        }
        if row.prev_hash != prev_hash {
            problems.push(Problem::BrokenLink { seq: row.seq });
        }
        expected_seq = row.seq.saturating_add(1);
        prev_hash = row.hash;
        Ok(())
    })?;
    Ok(VerifyReport {
        entries,
        head: head(conn)?,
        problems,
    })
}

/// [`verify`], and also check that the entry `anchor.seq` still has the
/// anchored hash (detects truncation and whole-chain rewrites).
pub fn verify_with_anchor(conn: &Conn<'_>, anchor: &Head) -> Result<VerifyReport, AuditError> {
    let mut report = verify(conn)?;
    let matches = if anchor.seq == 0 {
        anchor.hash == GENESIS_HASH
    } else {
        table::get(conn, anchor.seq)?.is_some_and(|row| row.hash == anchor.hash)
    };
    if !matches {
        report
            .problems
            .push(Problem::AnchorMismatch { seq: anchor.seq });
    }
    Ok(report)
}

/// Write every entry with `seq > since_seq` as one JSON object per line;
/// returns how many were written. `details` is exported as JSON; the hash
/// covers its stored text, so verify against the database, not the export.
pub fn export_jsonl(
    conn: &Conn<'_>,
    mut out: impl Write,
    since_seq: i64,
) -> Result<u64, AuditError> {
    let mut n = 0u64;
    table::for_each_after(conn, since_seq, |row: AuditRow| -> Result<(), AuditError> {
        let line = serde_json::to_string(&Entry::from_row(row))
            .map_err(|e| AuditError::Io(std::io::Error::other(e)))?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        n += 1;
        Ok(())
    })?;
    out.flush()?;
    Ok(n)
}

/// At most `limit` entries with `seq > since_seq`, in sequence order.
pub fn entries_after(
    conn: &Conn<'_>,
    since_seq: i64,
    limit: usize,
) -> Result<Vec<Entry>, AuditError> {
    Ok(table::list_after(conn, since_seq, limit)?
        .into_iter()
        .map(Entry::from_row)
        .collect())
}

/// At most `limit` entries matching `filter`, newest first.
pub fn entries_filtered(
    conn: &Conn<'_>,
    filter: &table::AuditFilter,
    limit: usize,
) -> Result<Vec<Entry>, AuditError> {
    Ok(table::list_filtered(conn, filter, limit)?
        .into_iter()
        .map(Entry::from_row)
        .collect())
}

impl VerifyReport {
    /// The report as the API and the CLI show it: every problem as a sentence.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.is_intact(),
            "entries": self.entries,
            "head": self.head,
            "problems": self.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    }
}
