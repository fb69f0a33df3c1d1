//! Importing an export (`airlock import DIR --data DATA`) into an empty or
//! new data folder.
//!
//! Before anything is written: `DATA` must be absent or empty (a live data
//! folder is refused), the manifest must be of [`FORMAT_VERSION`] and list
//! exactly the tables of the format, and `files/` may hold only regular
//! files at `aa/bb/<sha256>`. Then:
//!
//! 1. Every blob is copied into `DATA/blobs/` and **re-hashed** on the way.
//! 2. A new database is created (`airlock.sqlite3.importing`, every
//!    migration applied) and every table loaded in **one transaction**,
//!    streaming: each line one JSON object with exactly the table's fields
//!    (each once), each value of its type, every name checked (no path
//!    separators, `..`, NUL), no duplicate key, every blob named present,
//!    every reference to an earlier record resolving (foreign keys), each
//!    table file's SHA-256 and record count as in the manifest.
//! 3. The audit chain is **re-verified** entry by entry from the export
//!    (every hash recomputed, every link followed) and must end at the
//!    manifest's `audit_head`; then the import itself is **appended** as a
//!    `data_import` entry, chained to that head.
//! 4. Commit, and rename the database into place.
//!
//! Any failure removes everything written into `DATA`.

use std::collections::HashSet;
use std::io::{BufRead, Read, Write};
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{json, Value};

use super::format::{self, Check, Manifest, Ty, FORMAT_VERSION};
use super::ExportError;
use crate::audit::{self, Action, Head, NewEntry, GENESIS_HASH};
use crate::maintenance::refs::{self, BlobEntry};
use crate::maintenance::DB_FILE;
use crate::store::audit::AuditRow;
use crate::store::sql::{refs, Conn, Kind, Value as SqlParam};

/// One field of a record, checked and ready to bind.
#[derive(Debug, Clone)]
enum SqlValue {
    Null(Kind),
    Integer(i64),
    Text(String),
}

impl SqlValue {
    fn param(&self) -> SqlParam<'_> {
        match self {
            SqlValue::Null(k) => SqlParam::Null(*k),
            SqlValue::Integer(i) => SqlParam::Int(*i),
            SqlValue::Text(s) => SqlParam::Text(s),
        }
    }
}

/// The longest record line read (descriptions and documentation text are
/// bounded far below this).
const MAX_LINE: u64 = 64 * 1024 * 1024;
/// The largest manifest read.
const MAX_MANIFEST: u64 = 1024 * 1024;

#[derive(Debug)]
pub struct ImportReport {
    pub manifest: Manifest,
    pub records: u64,
    pub blobs: u64,
    pub bytes: u64,
    /// The `data_import` entry appended to the chain.
    pub import_entry: Head,
}

/// Import the export `dir` into `data` (absent or empty).
pub fn import(dir: &Path, data: &Path) -> Result<ImportReport, ExportError> {
    if data.join(DB_FILE).exists() {
        return Err(ExportError::NotEmpty(
            data.to_path_buf(),
            "import (it holds an airlock database: a data folder in use?)",
        ));
    }
    if !crate::maintenance::is_absent_or_empty(data)? {
        return Err(ExportError::NotEmpty(data.to_path_buf(), "import"));
    }
    let manifest = read_manifest(dir)?;
    let present = scan_files(&dir.join(format::FILES_DIR))?;
    let existed = data.exists();
    let result = import_into(dir, data, manifest, &present);
    if result.is_err() {
        super::remove_written(data, existed);
    }
    result
}

/// Import the export `dir` into an opened store whose database is new
/// (`airlock store migrate`: PostgreSQL and a bucket, or any other `Db` and
/// `BlobStore`): no user, index or audit entry in it yet. Every blob is
/// re-hashed into `blobs` first (durable before any row names it), then
/// every table is loaded, the chain re-verified and the import appended in
/// one write transaction; on PostgreSQL the identity sequences are moved
/// past the imported ids. On failure nothing is committed; blobs already
/// put stay (unreferenced: what `airlock fsck --repair` removes on a local
/// folder).
pub fn import_into_store(
    dir: &Path,
    db: &crate::store::Db,
    blobs: &crate::store::BlobStore,
) -> Result<ImportReport, ExportError> {
    let manifest = read_manifest(dir)?;
    let present = scan_files(&dir.join(format::FILES_DIR))?;
    let used: i64 = db.read_blocking(|c| {
        c.query_one(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM indexes)
                  + (SELECT COUNT(*) FROM audit_log)",
            &[],
            |r| r.get(0),
        )
    })?;
    if used != 0 {
        return Err(ExportError::TargetInUse(format!(
            "the target database already holds {used} users, indexes or audit entries \
             (a server has run on it): migrate into a new, empty database"
        )));
    }
    let src_root = dir.join(format::FILES_DIR);
    let mut bytes = 0u64;
    for sha in &present {
        bytes += put_verified(blobs, &refs::blob_path(&src_root, sha), sha)?;
    }
    if present.len() as u64 != manifest.blobs.count || bytes != manifest.blobs.bytes {
        return Err(ExportError::TableMismatch {
            table: "files/".into(),
            reason: format!(
                "{} blobs of {bytes} bytes; the manifest says {} of {}",
                present.len(),
                manifest.blobs.count,
                manifest.blobs.bytes
            ),
        });
    }
    // The closure's errors must be StoreErrors (they roll the transaction
    // back): the import's own error is kept aside and returned.
    let failed: std::sync::Mutex<Option<ExportError>> = std::sync::Mutex::new(None);
    let outcome = db.write_blocking(|c| {
        let run = || -> Result<(u64, Head), ExportError> {
            let records = load_tables(c, dir, &manifest, &present)?;
            let entry = append_import(c, &manifest)?;
            if c.dialect() == crate::store::sql::Dialect::Postgres {
                advance_identities(c)?;
            }
            Ok((records, entry))
        };
        run().map_err(|e| {
            let shown = e.to_string();
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            crate::store::StoreError::Internal(shown)
        })
    });
    let (records, entry) = match outcome {
        Ok(v) => v,
        Err(e) => {
            return Err(failed
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or(ExportError::Store(e)))
        }
    };
    Ok(ImportReport {
        manifest,
        records,
        blobs: present.len() as u64,
        bytes,
        import_entry: entry,
    })
}

/// Move every identity column's sequence past the largest id imported (rows
/// were inserted with their ids; the next insert must not collide).
fn advance_identities(c: &Conn<'_>) -> Result<(), ExportError> {
    let columns: Vec<(String, String)> = c.query_map(
        "SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (table, column) in columns {
        // names from the catalogue, not from the export
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let col = format!("\"{}\"", column.replace('"', "\"\""));
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence(?1, ?2),
                           (SELECT COALESCE(MAX({col}), 0) + 1 FROM {quoted}), false)"
        );
        c.query_one(&sql, &[&quoted.as_str(), &column.as_str()], |_| Ok(()))?;
    }
    Ok(())
}

/// Put the file `from` into `blobs` as the blob `sha`, re-hashed on the way
/// (refused if it is other bytes); returns its size.
fn put_verified(
    blobs: &crate::store::BlobStore,
    from: &Path,
    sha: &str,
) -> Result<u64, ExportError> {
    let mut src = std::fs::File::open(from).map_err(|e| ExportError::io("opening", from, e))?;
    let mut temp = blobs.create_temp()?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| ExportError::io("reading", from, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        temp.write_all(&buf[..n])?;
    }
    let actual = temp.sha256().to_hex();
    if actual != sha {
        return Err(ExportError::BlobMismatch {
            path: from.to_path_buf(),
            actual,
        });
    }
    blobs.commit(temp)?;
    Ok(total)
}

/// Read and check the manifest: the version first (so that a newer
/// format is named as such), then every field.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ExportError> {
    let path = dir.join(format::MANIFEST_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ExportError::NotAnExport(dir.to_path_buf()))
        }
        Err(e) => return Err(ExportError::io("opening", &path, e)),
    };
    let mut text = String::new();
    file.take(MAX_MANIFEST)
        .read_to_string(&mut text)
        .map_err(|e| ExportError::io("reading", &path, e))?;
    let raw: Value =
        serde_json::from_str(&text).map_err(|e| ExportError::Manifest(e.to_string()))?;
    if raw.get("format").and_then(Value::as_str) != Some(format::FORMAT_NAME) {
        return Err(ExportError::Manifest(format!(
            "its format is not {:?}",
            format::FORMAT_NAME
        )));
    }
    match raw.get("format_version") {
        Some(v) if v.as_u64() == Some(FORMAT_VERSION) => {}
        Some(v) => return Err(ExportError::UnknownVersion(v.to_string())),
        None => return Err(ExportError::Manifest("no format_version".into())),
    }
    let manifest: Manifest =
        serde_json::from_value(raw).map_err(|e| ExportError::Manifest(e.to_string()))?;
    let expected: Vec<_> = format::tables(manifest.with_mirror_files).collect();
    let names: Vec<&str> = manifest.tables.iter().map(|t| t.name.as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|t| t.name).collect();
    if names != wanted {
        return Err(ExportError::Manifest(format!(
            "it lists the tables {names:?}; format version {FORMAT_VERSION} has {wanted:?}"
        )));
    }
    for (entry, table) in manifest.tables.iter().zip(&expected) {
        if entry.file != table.file() || !format::is_sha_hex(&entry.sha256) {
            return Err(ExportError::Manifest(format!(
                "table {}: file must be {:?} with a sha256 of 64 lower-case hex digits",
                table.name,
                table.file()
            )));
        }
    }
    if !format::is_sha_hex(&manifest.audit_head.hash) && manifest.audit_head.hash != GENESIS_HASH {
        return Err(ExportError::Manifest(
            "audit_head.hash is not a sha256".into(),
        ));
    }
    Ok(manifest)
}

/// The blobs below `files/`; anything else there (a symlink, a misplaced
/// or misnamed file) is refused.
pub fn scan_files(root: &Path) -> Result<Vec<String>, ExportError> {
    let mut out = Vec::new();
    for e in refs::walk_blobs(root)? {
        match e {
            BlobEntry::Blob { sha, .. } => out.push(sha),
            BlobEntry::Stray(path) => return Err(ExportError::StrayFile(path)),
        }
    }
    Ok(out)
}

fn import_into(
    dir: &Path,
    data: &Path,
    manifest: Manifest,
    present: &[String],
) -> Result<ImportReport, ExportError> {
    crate::maintenance::create_private_dir(data)?;

    // 1. Blobs, re-hashed.
    let (src_root, dst_root) = (dir.join(format::FILES_DIR), data.join("blobs"));
    let mut bytes = 0u64;
    for sha in present {
        bytes += copy_verified(
            &refs::blob_path(&src_root, sha),
            &refs::blob_path(&dst_root, sha),
            sha,
        )?;
    }
    if present.len() as u64 != manifest.blobs.count || bytes != manifest.blobs.bytes {
        return Err(ExportError::TableMismatch {
            table: "files/".into(),
            reason: format!(
                "{} blobs of {bytes} bytes; the manifest says {} of {}",
                present.len(),
                manifest.blobs.count,
                manifest.blobs.bytes
            ),
        });
    }

    // 2. The database, under a temporary name.
    let part = data.join(format!("{DB_FILE}.importing"));
    drop(crate::store::Db::open(&part)?);
    let mut conn = rusqlite::Connection::open(&part)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    let tx = conn.transaction()?;
    let records = load_tables(&Conn::sqlite(&tx), dir, &manifest, present)?;
    let bad_fk: Option<String> = tx
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |r| r.get::<_, String>(0))?
        .next()
        .transpose()?;
    if let Some(table) = bad_fk {
        return Err(ExportError::TableMismatch {
            table,
            reason: "a record refers to a record that is not in the export".into(),
        });
    }
    // 3. The import on top of the chain as exported.
    let entry = append_import(&Conn::sqlite(&tx), &manifest)?;
    tx.commit()?;
    // 4. One self-contained file, renamed into place.
    conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    drop(conn);
    let db = data.join(DB_FILE);
    std::fs::rename(&part, &db).map_err(|e| ExportError::io("renaming", &part, e))?;
    Ok(ImportReport {
        manifest,
        records,
        blobs: present.len() as u64,
        bytes,
        import_entry: entry,
    })
}

/// Load every table of the export `dir` into `conn` (inside the caller's
/// transaction), each checked against the manifest, every blob named
/// present and every present blob named, the audit chain followed to the
/// manifest's head. Returns the number of records.
fn load_tables(
    conn: &Conn<'_>,
    dir: &Path,
    manifest: &Manifest,
    present: &[String],
) -> Result<u64, ExportError> {
    let present_set: HashSet<&str> = present.iter().map(String::as_str).collect();
    let mut loader = Loader {
        present: &present_set,
        referenced: HashSet::new(),
        chain: Chain::default(),
    };
    let mut records = 0u64;
    for (table, entry) in format::tables(manifest.with_mirror_files).zip(&manifest.tables) {
        let (n, sha) = loader.load(conn, dir, table)?;
        if n != entry.records || sha != entry.sha256 {
            return Err(ExportError::TableMismatch {
                table: table.file(),
                reason: format!(
                    "{n} records hashing to {sha}; the manifest says {} hashing to {} \
                     (the file was changed or cut)",
                    entry.records, entry.sha256
                ),
            });
        }
        records += n;
    }
    if let Some(sha) = present
        .iter()
        .find(|s| !loader.referenced.contains(s.as_str()))
    {
        return Err(ExportError::Unreferenced(sha.clone()));
    }
    let head = loader.chain.head();
    if head != manifest.audit_head {
        return Err(ExportError::AuditChain(format!(
            "it ends at entry {} ({}), the manifest's audit_head is entry {} ({}): \
             entries were cut off or added",
            head.seq, head.hash, manifest.audit_head.seq, manifest.audit_head.hash
        )));
    }
    Ok(records)
}

/// Append the `data_import` entry (chained to the exported head) and verify
/// the whole chain as it now stands in `conn`.
fn append_import(conn: &Conn<'_>, manifest: &Manifest) -> Result<Head, ExportError> {
    let counts: serde_json::Map<String, Value> = manifest
        .tables
        .iter()
        .map(|t| (t.name.clone(), json!(t.records)))
        .collect();
    let entry = audit::append(
        conn,
        NewEntry::new(Action::DataImport, "data folder").details(json!({
            "format_version": manifest.format_version,
            "exported_by": manifest.airlock_version,
            "exported_at": manifest.exported_at,
            "export_audit_head": manifest.audit_head,
            "records": counts,
            "blobs": {"count": manifest.blobs.count, "bytes": manifest.blobs.bytes},
            "with_mirror_files": manifest.with_mirror_files,
        })),
    )?;
    let verified = audit::verify(conn)?;
    if !verified.is_intact() {
        let problems: Vec<String> = verified.problems.iter().map(|p| p.to_string()).collect();
        return Err(ExportError::AuditChain(problems.join("; ")));
    }
    Ok(Head {
        seq: entry.seq,
        hash: entry.hash,
    })
}

struct Loader<'a> {
    present: &'a HashSet<&'a str>,
    referenced: HashSet<String>,
    chain: Chain,
}

impl Loader<'_> {
    /// Load one table file; returns its record count and SHA-256.
    fn load(
        &mut self,
        tx: &Conn<'_>,
        dir: &Path,
        table: &'static format::Table,
    ) -> Result<(u64, String), ExportError> {
        let path = dir.join(table.file());
        let file = std::fs::File::open(&path).map_err(|e| ExportError::io("opening", &path, e))?;
        let mut reader = std::io::BufReader::with_capacity(256 * 1024, file);
        let mut hasher = crate::digest::Sha256Hasher::default();
        let insert = table.insert_sql();
        let mut keys: HashSet<String> = HashSet::new();
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| ExportError::io("reading", &path, e))?;
            if n == 0 {
                break;
            }
            line += 1;
            hasher.update(&buf);
            let malformed = |reason: String| ExportError::Malformed {
                table: table.name,
                line,
                reason,
            };
            if buf.last() != Some(&b'\n') {
                return Err(malformed(if n as u64 > MAX_LINE {
                    format!("longer than {MAX_LINE} bytes")
                } else {
                    "the last line has no newline (the file was cut?)".into()
                }));
            }
            let record: Record = serde_json::from_slice(&buf[..buf.len() - 1])
                .map_err(|e| malformed(format!("not a JSON object: {e}")))?;
            let values = self.values(table, line, record)?;
            let key = table
                .key
                .iter()
                .map(|k| {
                    let i = table.columns.iter().position(|c| c.name == *k).unwrap();
                    format!("{}={}", k, sql_text(&values[i]))
                })
                .collect::<Vec<_>>()
                .join(", ");
            if !keys.insert(key.clone()) {
                return Err(ExportError::DuplicateKey {
                    table: table.name,
                    line,
                    key,
                });
            }
            if table.name == "audit_log" {
                self.chain
                    .follow(&values)
                    .map_err(ExportError::AuditChain)?;
            }
            let params: Vec<SqlParam<'_>> = values.iter().map(SqlValue::param).collect();
            let changed = tx
                .execute(&insert, &refs(&params))
                .map_err(|e| malformed(format!("refused by the database: {e}")))?;
            if changed != 1 {
                return Err(malformed("it belongs to no record of the export".into()));
            }
        }
        Ok((line, hasher.finish().to_hex()))
    }

    /// The record's values in column order, every one checked.
    fn values(
        &mut self,
        table: &'static format::Table,
        line: u64,
        record: Record,
    ) -> Result<Vec<SqlValue>, ExportError> {
        let malformed = |reason: String| ExportError::Malformed {
            table: table.name,
            line,
            reason,
        };
        let mut slots: Vec<Option<Value>> = vec![None; table.columns.len()];
        for (name, value) in record.0 {
            let Some(i) = table.columns.iter().position(|c| c.name == name) else {
                return Err(malformed(format!("unknown field {name:?}")));
            };
            if slots[i].is_some() {
                return Err(malformed(format!("field {name:?} appears twice")));
            }
            slots[i] = Some(value);
        }
        let mut out = Vec::with_capacity(slots.len());
        for (column, slot) in table.columns.iter().zip(slots) {
            let Some(value) = slot else {
                return Err(malformed(format!("no field {:?}", column.name)));
            };
            let v = match (value, column.ty) {
                (Value::Null, ty) if column.nullable => SqlValue::Null(match ty {
                    Ty::Int => Kind::Int,
                    Ty::Text => Kind::Text,
                }),
                (Value::Number(n), Ty::Int) if n.is_i64() => {
                    SqlValue::Integer(n.as_i64().expect("is_i64"))
                }
                (Value::String(s), Ty::Text) => {
                    if let Some(reason) = format::check_value(column.check, &s) {
                        return Err(if column.check == Check::FileName {
                            ExportError::UnsafeName {
                                table: table.name,
                                line,
                                column: column.name,
                                value: crate::echo::echo(&s),
                                reason,
                            }
                        } else {
                            malformed(format!("{}: {reason}", column.name))
                        });
                    }
                    match column.check {
                        Check::Blob if !self.present.contains(s.as_str()) => {
                            return Err(ExportError::BlobMissing {
                                table: table.name,
                                line,
                                sha: s,
                            })
                        }
                        Check::Blob | Check::OptionalBlob if self.present.contains(s.as_str()) => {
                            self.referenced.insert(s.clone());
                        }
                        _ => {}
                    }
                    SqlValue::Text(s)
                }
                (other, ty) => {
                    return Err(malformed(format!(
                        "{} is {other}, not {}{}",
                        column.name,
                        match ty {
                            Ty::Int => "an integer",
                            Ty::Text => "a string",
                        },
                        if column.nullable { " or null" } else { "" }
                    )))
                }
            };
            out.push(v);
        }
        Ok(out)
    }
}

fn sql_text(v: &SqlValue) -> String {
    match v {
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Text(s) => format!("{s:?}"),
        SqlValue::Null(_) => "null".into(),
    }
}

/// The audit chain followed entry by entry as the records are read.
#[derive(Default)]
struct Chain {
    last: Option<(i64, String)>,
}

impl Chain {
    fn head(&self) -> Head {
        match &self.last {
            Some((seq, hash)) => Head {
                seq: *seq,
                hash: hash.clone(),
            },
            None => Head {
                seq: 0,
                hash: GENESIS_HASH.to_string(),
            },
        }
    }

    /// Check one `audit_log` record (values in column order).
    fn follow(&mut self, v: &[SqlValue]) -> Result<(), String> {
        let text = |i: usize| match &v[i] {
            SqlValue::Text(s) => Some(s.clone()),
            _ => None,
        };
        let int = |i: usize| match &v[i] {
            SqlValue::Integer(n) => *n,
            _ => 0,
        };
        let row = AuditRow {
            seq: int(0),
            time: int(1),
            actor: text(2),
            cert_fingerprint: text(3),
            remote: text(4),
            action: text(5).unwrap_or_default(),
            target: text(6).unwrap_or_default(),
            details: text(7).unwrap_or_default(),
            prev_hash: text(8).unwrap_or_default(),
            hash: text(9).unwrap_or_default(),
        };
        let head = self.head();
        if row.seq != head.seq + 1 {
            return Err(format!(
                "entry {} follows entry {}: entries are missing or out of order",
                row.seq, head.seq
            ));
        }
        if row.prev_hash != head.hash {
            return Err(format!(
                "entry {} does not follow the entry before it (its prev_hash differs)",
                row.seq
            ));
        }
        if audit::entry_hash(&row) != row.hash {
            return Err(format!(
                "entry {} was modified: its content does not match its recorded hash",
                row.seq
            ));
        }
        self.last = Some((row.seq, row.hash));
        Ok(())
    }
}

/// A JSON object's fields in order, duplicates kept (so they can be refused).
struct Record(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Record(out))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// Copy a blob, re-hashing it on the way; returns its size.
fn copy_verified(from: &Path, to: &Path, sha: &str) -> Result<u64, ExportError> {
    let parent = to.parent().expect("blob path has a parent");
    std::fs::create_dir_all(parent).map_err(|e| ExportError::io("creating", parent, e))?;
    let mut src = std::fs::File::open(from).map_err(|e| ExportError::io("opening", from, e))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| ExportError::io("creating", to, e))?;
    let mut h = crate::digest::Sha256Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| ExportError::io("reading", from, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .map_err(|e| ExportError::io("writing", to, e))?;
    }
    dst.sync_all()
        .map_err(|e| ExportError::io("syncing", to, e))?;
    let actual = h.finish().to_hex();
    if actual != sha {
        return Err(ExportError::BlobMismatch {
            path: from.to_path_buf(),
            actual,
        });
    }
    Ok(total)
}
