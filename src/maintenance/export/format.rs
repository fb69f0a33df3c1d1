//! The export format, version 1 (docs/export-format.md): the manifest,
//! the tables and their columns, and the checks every imported value
//! passes. Changing a table or column here changes the format: bump
//! [`FORMAT_VERSION`] and document it.

use serde::{Deserialize, Serialize};

use crate::audit::Head;

/// The version this airlock writes and the only one it reads.
pub const FORMAT_VERSION: u64 = 1;
/// The manifest's `format` field.
pub const FORMAT_NAME: &str = "airlock-export";
/// The manifest, at the top of an export folder.
pub const MANIFEST_FILE: &str = "airlock-export.json";
/// Folder of the tables (`tables/<name>.ndjson`).
pub const TABLES_DIR: &str = "tables";
/// Folder of the blobs (`files/aa/bb/<sha256>`).
pub const FILES_DIR: &str = "files";

/// `airlock-export.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u64,
    /// The airlock that wrote the export (informational).
    pub airlock_version: String,
    /// The source database's schema version (informational).
    pub schema_version: u64,
    /// When the export was taken (seconds since the Unix epoch).
    pub exported_at: i64,
    /// Whether the mirror tables (and their cached blobs) are included.
    pub with_mirror_files: bool,
    /// Every table file, in import order.
    pub tables: Vec<TableEntry>,
    /// What `files/` holds.
    pub blobs: BlobsEntry,
    /// The last audit entry in `tables/audit_log.ndjson`.
    pub audit_head: Head,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub name: String,
    /// `tables/<name>.ndjson`, relative to the export folder.
    pub file: String,
    /// Number of lines (records).
    pub records: u64,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsEntry {
    pub count: u64,
    pub bytes: u64,
}

/// The JSON type of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A JSON integer (64-bit signed).
    Int,
    /// A JSON string (UTF-8).
    Text,
}

/// What a value must be, beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// A blob in `files/`: 64 lower-case hex digits, and the blob must be
    /// in the export.
    Blob,
    /// A blob that may be absent (mirror caches: fetched again on demand).
    OptionalBlob,
    /// Text that parses as JSON.
    Json,
    /// A file name: no `/`, `\`, NUL or control character, not `.`/`..`.
    FileName,
    /// A user name (`names::UserName`).
    User,
    /// An index name (`names::IndexName`).
    Index,
    /// A project name in its normalised form.
    Project,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: Ty,
    pub nullable: bool,
    pub check: Check,
}

const fn col(name: &'static str, ty: Ty, nullable: bool, check: Check) -> Column {
    Column {
        name,
        ty,
        nullable,
        check,
    }
}
const fn int(name: &'static str) -> Column {
    col(name, Ty::Int, false, Check::None)
}
const fn opt_int(name: &'static str) -> Column {
    col(name, Ty::Int, true, Check::None)
}
const fn text(name: &'static str) -> Column {
    col(name, Ty::Text, false, Check::None)
}
const fn opt_text(name: &'static str) -> Column {
    col(name, Ty::Text, true, Check::None)
}
const fn checked(name: &'static str, check: Check) -> Column {
    col(name, Ty::Text, false, check)
}

/// How a table's records come from and go to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The database table of the same name, every column.
    Table,
    /// The description and documentation text of each release's search
    /// entry (`search_entries`, whose rows the import's release inserts
    /// create; the text is set afterwards).
    SearchTexts,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// The columns whose values together are unique.
    pub key: &'static [&'static str],
    /// In record order.
    pub columns: &'static [Column],
    /// Only with `--with-mirror-files`.
    pub mirror: bool,
    pub source: Source,
}

impl Table {
    pub fn file(&self) -> String {
        format!("{TABLES_DIR}/{}.ndjson", self.name)
    }

    /// `SELECT` of every record, in key order.
    pub fn select_sql(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        match self.source {
            Source::Table => format!(
                "SELECT {} FROM {} ORDER BY {}",
                cols.join(", "),
                self.name,
                self.key.join(", ")
            ),
            Source::SearchTexts => "SELECT release_id, description, docs FROM search_entries \
                 WHERE release_id IS NOT NULL ORDER BY release_id"
                .to_string(),
        }
    }

    /// The statement that stores one record (parameters in column order).
    pub fn insert_sql(&self) -> String {
        match self.source {
            Source::Table => {
                // quoted: `user` is a reserved word in PostgreSQL
                let cols: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| format!("\"{}\"", c.name))
                    .collect();
                let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    self.name,
                    cols.join(", "),
                    params.join(", ")
                )
            }
            Source::SearchTexts => {
                "UPDATE search_entries SET description = ?2, docs = ?3 WHERE release_id = ?1"
                    .to_string()
            }
        }
    }
}

const fn table(
    name: &'static str,
    key: &'static [&'static str],
    columns: &'static [Column],
) -> Table {
    Table {
        name,
        key,
        columns,
        mirror: false,
        source: Source::Table,
    }
}

const fn mirror(
    name: &'static str,
    key: &'static [&'static str],
    columns: &'static [Column],
) -> Table {
    Table {
        name,
        key,
        columns,
        mirror: true,
        source: Source::Table,
    }
}

/// The tables of format version 1, in import order (a record only refers
/// to records of earlier tables).
pub const TABLES: &[Table] = &[
    table(
        "users",
        &["id"],
        &[
            int("id"),
            checked("name", Check::User),
            opt_text("pwhash"),
            opt_text("email"),
            int("created"),
        ],
    ),
    table(
        "user_certs",
        &["fingerprint"],
        &[
            text("fingerprint"),
            int("user_id"),
            text("subject"),
            int("not_after"),
            int("added"),
        ],
    ),
    table(
        "indexes",
        &["id"],
        &[
            int("id"),
            int("user_id"),
            checked("name", Check::Index),
            checked("config", Check::Json),
            int("created"),
        ],
    ),
    table(
        "descriptions",
        &["key"],
        &[
            text("key"),
            text("source"),
            opt_text("content_type"),
            int("truncated"),
            text("html"),
            text("kind"),
            text("renderer"),
            int("rendered_at"),
        ],
    ),
    table(
        "projects",
        &["id"],
        &[
            int("id"),
            int("index_id"),
            checked("name", Check::Project),
            text("display_name"),
            int("created"),
        ],
    ),
    table(
        "releases",
        &["id"],
        &[
            int("id"),
            int("project_id"),
            checked("version", Check::FileName),
            checked("metadata", Check::Json),
            int("created"),
            opt_text("description_key"),
        ],
    ),
    table(
        "files",
        &["id"],
        &[
            int("id"),
            int("index_id"),
            int("release_id"),
            checked("filename", Check::FileName),
            text("kind"),
            checked("sha256", Check::Blob),
            int("size"),
            opt_text("requires_python"),
            col("metadata_sha256", Ty::Text, true, Check::Blob),
            opt_text("yanked"),
            text("uploader"),
            int("created"),
            checked("provenance", Check::Json),
        ],
    ),
    table(
        "toxresults",
        &["id"],
        &[
            int("id"),
            int("file_id"),
            checked("sha256", Check::Blob),
            checked("summary", Check::Json),
            opt_text("uploader"),
            int("created"),
            opt_text("uploader_cert"),
        ],
    ),
    table(
        "doczips",
        &["release_id"],
        &[
            int("release_id"),
            checked("sha256", Check::Blob),
            int("size"),
            text("uploader"),
            int("created"),
        ],
    ),
    Table {
        name: "search_texts",
        key: &["release_id"],
        columns: &[int("release_id"), text("description"), text("docs")],
        mirror: false,
        source: Source::SearchTexts,
    },
    table(
        "pending_pushes",
        &["id"],
        &[
            int("id"),
            int("created"),
            text("source"),
            text("target"),
            text("project"),
            checked("version", Check::FileName),
            text("pusher"),
            opt_text("pusher_cert"),
            checked("review", Check::Json),
            text("status"),
            checked("approvals", Check::Json),
            opt_int("decided"),
            opt_text("reason"),
            text("pusher_groups"),
        ],
    ),
    table(
        "security_alerts",
        &["id"],
        &[
            int("id"),
            int("created"),
            text("kind"),
            text("severity"),
            text("index_path"),
            text("project"),
            text("message"),
            text("detail"),
            text("dedupe"),
            opt_int("acked"),
            opt_text("acked_by"),
            opt_text("ack_note"),
        ],
    ),
    table(
        "typo_rules",
        &["scope", "name"],
        &[
            text("scope"),
            text("name"),
            text("verdict"),
            text("set_by"),
            int("created"),
        ],
    ),
    table(
        "webhooks",
        &["id"],
        &[
            int("id"),
            text("index_path"),
            text("kind"),
            text("url"),
            text("events"),
            text("secret"),
            int("created"),
            opt_text("created_by"),
        ],
    ),
    table(
        "audit_log",
        &["seq"],
        &[
            int("seq"),
            int("time"),
            opt_text("actor"),
            opt_text("cert_fingerprint"),
            opt_text("remote"),
            text("action"),
            text("target"),
            text("details"),
            text("prev_hash"),
            text("hash"),
        ],
    ),
    mirror(
        "mirror_pages",
        &["index_id", "project"],
        &[
            int("index_id"),
            checked("project", Check::Project),
            text("display_name"),
            int("found"),
            opt_text("etag"),
            opt_text("last_modified"),
            opt_int("serial"),
            text("versions"),
            int("fetched"),
        ],
    ),
    mirror(
        "mirror_files",
        &["id"],
        &[
            int("id"),
            int("index_id"),
            text("project"),
            checked("filename", Check::FileName),
            text("url"),
            checked("sha256", Check::OptionalBlob),
            opt_text("requires_python"),
            opt_text("yanked"),
            opt_int("size"),
            opt_int("upload_time"),
            col("metadata_sha256", Ty::Text, true, Check::OptionalBlob),
        ],
    ),
    mirror(
        "mirror_links",
        &["id"],
        &[
            int("id"),
            int("index_id"),
            text("project"),
            checked("filename", Check::FileName),
            text("url"),
            opt_text("malformed_sha256"),
            col("pinned_sha256", Ty::Text, true, Check::OptionalBlob),
            opt_int("pinned_at"),
            opt_text("requires_python"),
            opt_text("yanked"),
            opt_int("size"),
            opt_int("upload_time"),
        ],
    ),
];

/// The tables an export with (or without) mirror files holds.
pub fn tables(with_mirror_files: bool) -> impl Iterator<Item = &'static Table> {
    TABLES
        .iter()
        .filter(move |t| with_mirror_files || !t.mirror)
}

/// Why `value` fails `check` (None: it passes).
pub fn check_value(check: Check, value: &str) -> Option<String> {
    match check {
        Check::None => None,
        Check::Blob | Check::OptionalBlob => {
            (!is_sha_hex(value)).then(|| "not a sha256 (64 lower-case hex digits)".to_string())
        }
        Check::Json => serde_json::from_str::<serde::de::IgnoredAny>(value)
            .err()
            .map(|e| format!("not JSON text: {e}")),
        Check::FileName => unsafe_name(value).map(str::to_string),
        Check::User => crate::names::UserName::new(value)
            .err()
            .map(|e| e.to_string()),
        Check::Index => crate::names::IndexName::new(value)
            .err()
            .map(|e| e.to_string()),
        Check::Project => match crate::names::ProjectName::new(value) {
            Err(e) => Some(e.to_string()),
            Ok(p) if p.as_str() != value => Some("not in normalised form".to_string()),
            Ok(_) => None,
        },
    }
}

pub fn is_sha_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why `name` cannot be a single file name, if it cannot.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty")
    } else if name == "." || name == ".." {
        Some("a relative path (`.` or `..`)")
    } else if name.contains('\0') {
        Some("contains NUL")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator (path traversal)")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_a_folder_are_refused() {
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a\\b", "a\0b", "a\nb"] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for good in ["pkg-1.0-py3-none-any.whl", "a..b.tar.gz", "1.0+local"] {
            assert!(unsafe_name(good).is_none(), "{good:?}");
        }
    }

    #[test]
    fn every_table_has_its_key_among_its_columns_and_unique_names() {
        let mut names = std::collections::HashSet::new();
        for t in TABLES {
            assert!(names.insert(t.name), "{} twice", t.name);
            for k in t.key {
                assert!(t.columns.iter().any(|c| c.name == *k), "{}.{k}", t.name);
            }
        }
    }

    /// Every column of every exported database table is in the format, and
    /// every table is either exported or listed here as derived/transient:
    /// a migration that adds a column must decide (and bump the version).
    #[test]
    fn the_format_covers_the_schema() {
        const NOT_EXPORTED: &[&str] = &[
            "search_entries",
            "typo_queue",
            "typo_names",
            "typo_keys",
            "typo_words",
            "typo_index_state",
            "web_sessions",
            "webhook_outbox",
            "webhook_deliveries",
            // last use of cached mirror blobs: an imported blob counts as
            // used when it was imported
            "mirror_blob_use",
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airlock.sqlite3");
        drop(crate::store::Db::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search_fts%' \
                 AND name NOT LIKE 'search_head%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for t in tables {
            if NOT_EXPORTED.contains(&t.as_str()) {
                continue;
            }
            let spec = TABLES
                .iter()
                .find(|s| s.name == t && s.source == Source::Table)
                .unwrap_or_else(|| panic!("table {t} is neither exported nor listed as derived"));
            let cols: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                cols,
                spec.columns.iter().map(|c| c.name).collect::<Vec<_>>(),
                "columns of {t}"
            );
        }
    }
}
