//! Reading a `devpi-export` folder (devpi-server 6.x, `dumpversion` "2"):
//! `dataindex.json` parsed into checked, typed entries. Nothing here trusts
//! the export: names are validated, every file path is relative, inside the
//! export folder and inside its own index's folder, numbers are bounded.
//!
//! The layout devpi-server 6.20.3 writes:
//!
//! ```text
//! DIR/dataindex.json           {"dumpversion": "2", "pythonversion": [...], "devpi_server": "6.20.3",
//!                               "users": {NAME: {"username", "pwhash", "pwsalt"?, "email"?, "created"?, ...}},
//!                               "indexes": {"USER/INDEX": {"indexconfig": {...},
//!                                                          "projects": {NAME: {VERSION: metadata}},
//!                                                          "files": [ENTRY, ...]}}}
//! DIR/USER/INDEX/PROJECT/VERSION/FILENAME                 release files (type "releasefile")
//! DIR/USER/INDEX/PROJECT-VERSION.doc.zip                  doc zips (type "doczip")
//! DIR/USER/INDEX/PROJECT/sha256=HEX/FILENAME.toxresult-*  tox results (type "toxresult",
//!                                                          "for_entrypath": "USER/INDEX/+f/HHH/H13/FILENAME")
//! ```
//!
//! ENTRY: `{"type", "projectname", "version", "relpath", "entrymapping":
//! {"hashes": {"sha256": HEX}, "hash_spec": "sha256=HEX", ...}, "log": [{"what":
//! "upload"|"push"|"overwrite", "who", "when": [Y, M, D, h, m, s], "src"?, "dst"?}]}`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::DevpiImportError;
use crate::digest::Sha256;
use crate::names::{IndexPath, UserName};

/// Largest `dataindex.json` read (bytes).
pub const MAX_DATAINDEX: u64 = 1024 * 1024 * 1024;
/// Longest text field kept from the export (names, versions, paths, emails).
const MAX_TEXT: usize = 4096;
/// Most log entries kept per file.
const MAX_LOG: usize = 1000;

/// The parsed export.
#[derive(Debug)]
pub struct Export {
    pub dir: PathBuf,
    pub server_version: String,
    pub users: Vec<User>,
    pub indexes: Vec<Index>,
    /// Users or indexes that could not even be read (name, why).
    pub unreadable: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct User {
    pub name: UserName,
    pub pwhash: Option<String>,
    /// Set by devpi before its argon2 hashes (salted SHA-256).
    pub pwsalt: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug)]
pub struct Index {
    pub path: IndexPath,
    /// devpi's `indexconfig`, as exported.
    pub config: Map<String, Value>,
    pub entries: Vec<Entry>,
    /// Entries that could not be read (what, why).
    pub unreadable: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    ReleaseFile,
    DocZip,
    ToxResult,
}

#[derive(Debug)]
pub struct Entry {
    pub kind: EntryKind,
    pub project: String,
    pub version: String,
    /// The file inside the export folder (checked: relative, no `..`,
    /// under the index's own folder).
    pub relpath: String,
    pub sha256: Option<Sha256>,
    /// Tox results: the release file they are for (hash prefix, filename).
    pub for_file: Option<(String, String)>,
    pub log: Vec<LogEntry>,
}

impl Entry {
    /// The file's name (the last component of its path).
    pub fn filename(&self) -> &str {
        self.relpath.rsplit('/').next().unwrap_or(&self.relpath)
    }
}

/// One step of a file's history as devpi recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub what: String,
    pub who: Option<String>,
    /// Seconds since the epoch (UTC).
    pub when: Option<i64>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub count: Option<u64>,
}

/// Read and check `DIR/dataindex.json`. Errors here are fatal (the export
/// as a whole is unusable); problems with single users, indexes or entries
/// are collected in `unreadable` lists instead.
pub fn read_export(dir: &Path) -> Result<Export, DevpiImportError> {
    let file = dir.join("dataindex.json");
    let meta = std::fs::symlink_metadata(&file)
        .map_err(|e| DevpiImportError::Export(format!("{}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(DevpiImportError::Export(format!(
            "{} is not a regular file",
            file.display()
        )));
    }
    if meta.len() > MAX_DATAINDEX {
        return Err(DevpiImportError::Export(format!(
            "{} is {} bytes, more than the {} this import reads",
            file.display(),
            meta.len(),
            MAX_DATAINDEX
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&file)
        .and_then(|f| f.take(MAX_DATAINDEX + 1).read_to_end(&mut bytes))
        .map_err(|e| DevpiImportError::Export(format!("reading {}: {e}", file.display())))?;
    let root: Value = serde_json::from_slice(&bytes).map_err(|e| {
        DevpiImportError::Export(format!("{} is not valid JSON: {e}", file.display()))
    })?;
    drop(bytes);
    parse_export(dir, &root)
}

/// Check the top level of a parsed `dataindex.json`.
pub fn parse_export(dir: &Path, root: &Value) -> Result<Export, DevpiImportError> {
    let bad = |why: &str| DevpiImportError::Export(format!("dataindex.json: {why}"));
    let root = root.as_object().ok_or_else(|| bad("not a JSON object"))?;
    match root.get("dumpversion").and_then(Value::as_str) {
        Some("2") => {}
        Some(v) => {
            return Err(bad(&format!(
                "dumpversion {:?} is not supported (only \"2\", devpi-server 4 to 6)",
                clip(v)
            )))
        }
        None => return Err(bad("no dumpversion: is this the output of devpi-export?")),
    }
    let server_version = root
        .get("devpi_server")
        .and_then(Value::as_str)
        .map(clip)
        .unwrap_or_else(|| "unknown".into());
    let users_json = root
        .get("users")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("\"users\" is missing or not an object"))?;
    let indexes_json = root
        .get("indexes")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("\"indexes\" is missing or not an object"))?;

    let mut unreadable = Vec::new();
    let mut users = Vec::new();
    for (name, value) in users_json {
        match parse_user(name, value) {
            Ok(u) => users.push(u),
            Err(why) => unreadable.push((format!("user {}", clip(name)), why)),
        }
    }
    let mut indexes = Vec::new();
    for (name, value) in indexes_json {
        match parse_index(name, value) {
            Ok(i) => indexes.push(i),
            Err(why) => unreadable.push((format!("index {}", clip(name)), why)),
        }
    }
    Ok(Export {
        dir: dir.to_path_buf(),
        server_version,
        users,
        indexes,
        unreadable,
    })
}

fn parse_user(name: &str, value: &Value) -> Result<User, String> {
    let name = UserName::new(name).map_err(|e| e.to_string())?;
    let obj = value.as_object().ok_or("not a JSON object")?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key} is not a string of at most {MAX_TEXT} bytes")),
        }
    };
    Ok(User {
        name,
        pwhash: text("pwhash")?,
        pwsalt: text("pwsalt")?,
        email: text("email")?.filter(|e| !e.is_empty()),
    })
}

fn parse_index(name: &str, value: &Value) -> Result<Index, String> {
    let path = IndexPath::parse(name).map_err(|e| e.to_string())?;
    let obj = value.as_object().ok_or("not a JSON object")?;
    let config = obj
        .get("indexconfig")
        .and_then(Value::as_object)
        .ok_or("\"indexconfig\" is missing or not an object")?
        .clone();
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    let files = match obj.get("files") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err("\"files\" is not a list".into()),
    };
    for (n, f) in files.iter().enumerate() {
        match parse_entry(&path, f) {
            Ok(e) => entries.push(e),
            Err(why) => {
                let what = f
                    .get("relpath")
                    .and_then(Value::as_str)
                    .map(clip)
                    .unwrap_or_else(|| format!("{path}: file entry #{n}"));
                unreadable.push((what, why));
            }
        }
    }
    Ok(Index {
        path,
        config,
        entries,
        unreadable,
    })
}

fn parse_entry(index: &IndexPath, f: &Value) -> Result<Entry, String> {
    let obj = f.as_object().ok_or("not a JSON object")?;
    let text = |key: &str| -> Result<String, String> {
        match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_TEXT => Ok(s.clone()),
            _ => Err(format!(
                "\"{key}\" is missing or not a string of 1 to {MAX_TEXT} bytes"
            )),
        }
    };
    let kind = match text("type")?.as_str() {
        "releasefile" => EntryKind::ReleaseFile,
        "doczip" => EntryKind::DocZip,
        "toxresult" => EntryKind::ToxResult,
        other => return Err(format!("unknown entry type {:?}", clip(other))),
    };
    let relpath = text("relpath")?;
    check_relpath(index, &relpath)?;
    let mapping = obj.get("entrymapping").and_then(Value::as_object);
    let sha256 = match mapping {
        Some(m) => declared_sha256(m)?,
        None => None,
    };
    let for_file = match kind {
        EntryKind::ToxResult => Some(parse_for_entrypath(index, &text("for_entrypath")?)?),
        _ => None,
    };
    let log = match obj.get("log") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().take(MAX_LOG).filter_map(parse_log).collect(),
        Some(_) => return Err("\"log\" is not a list".into()),
    };
    Ok(Entry {
        kind,
        project: text("projectname")?,
        version: text("version")?,
        relpath,
        sha256,
        for_file,
        log,
    })
}

/// The sha256 an entry declares (`hashes.sha256`, else `hash_spec`); both,
/// when both are there, must agree.
fn declared_sha256(m: &Map<String, Value>) -> Result<Option<Sha256>, String> {
    let parse = |s: &str| -> Result<Sha256, String> {
        s.parse()
            .map_err(|_| format!("sha256 {:?} is not 64 hexadecimal characters", clip(s)))
    };
    let from_hashes = match m.get("hashes").and_then(|h| h.get("sha256")) {
        Some(Value::String(s)) => Some(parse(s)?),
        Some(_) => return Err("hashes.sha256 is not a string".into()),
        None => None,
    };
    let from_spec = match m.get("hash_spec").and_then(Value::as_str) {
        Some(spec) => match spec.split_once('=') {
            Some(("sha256", hex)) => Some(parse(hex)?),
            _ => None,
        },
        None => None,
    };
    match (from_hashes, from_spec) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "hashes.sha256 {a} and hash_spec sha256={b} disagree"
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// A relative path of plain components, inside `USER/INDEX/`.
fn check_relpath(index: &IndexPath, relpath: &str) -> Result<(), String> {
    let unsafe_path = || format!("unsafe path {:?}: refused", clip(relpath));
    if relpath.contains('\\') || relpath.contains('\0') || relpath.starts_with('/') {
        return Err(unsafe_path());
    }
    let p = Path::new(relpath);
    if p.is_absolute()
        || p.components().any(|c| !matches!(c, Component::Normal(_)))
        || relpath
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(unsafe_path());
    }
    let prefix = format!("{}/{}/", index.user, index.index);
    if !relpath.starts_with(&prefix) {
        return Err(format!(
            "path {:?} is not inside the index's folder {prefix}",
            clip(relpath)
        ));
    }
    Ok(())
}

/// `USER/INDEX/+f/HHH/HHHHHHHHHHHHH/FILENAME` → (hex prefix, filename).
fn parse_for_entrypath(index: &IndexPath, p: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = p.split('/').collect();
    let bad = || {
        format!(
            "for_entrypath {:?} is not USER/INDEX/+f/HASH/HASH/FILE",
            clip(p)
        )
    };
    let [user, name, plus_f, a, b, filename] = parts.as_slice() else {
        return Err(bad());
    };
    if *user != index.user.as_str() || *name != index.index.as_str() || *plus_f != "+f" {
        return Err(bad());
    }
    let prefix = format!("{a}{b}");
    if prefix.is_empty()
        || prefix.len() > 64
        || !prefix.bytes().all(|c| c.is_ascii_hexdigit())
        || filename.is_empty()
        || *filename == ".."
    {
        return Err(bad());
    }
    Ok((prefix.to_ascii_lowercase(), filename.to_string()))
}

fn parse_log(v: &Value) -> Option<LogEntry> {
    let obj = v.as_object()?;
    let text = |key: &str| {
        obj.get(key)
            .and_then(Value::as_str)
            .filter(|s| s.len() <= MAX_TEXT)
            .map(str::to_string)
    };
    Some(LogEntry {
        what: text("what")?,
        who: text("who"),
        when: obj.get("when").and_then(log_time),
        src: text("src"),
        dst: text("dst"),
        count: obj.get("count").and_then(Value::as_u64),
    })
}

/// devpi's `[Y, M, D, h, m, s]` (UTC) to seconds since the epoch; anything
/// out of range is `None`.
pub fn log_time(v: &Value) -> Option<i64> {
    let a = v.as_array()?;
    if a.len() != 6 {
        return None;
    }
    let n: Vec<i64> = a.iter().map(Value::as_i64).collect::<Option<_>>()?;
    let (y, mo, d, h, mi, s) = (n[0], n[1], n[2], n[3], n[4], n[5]);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Open a file of the export for reading: `relpath` (already checked) must
/// be a regular file (no symbolic link anywhere on the way) inside `dir`.
pub fn open_entry(dir: &Path, relpath: &str) -> Result<std::fs::File, String> {
    let mut p = dir.to_path_buf();
    for part in relpath.split('/') {
        p.push(part);
        let meta = std::fs::symlink_metadata(&p).map_err(|e| format!("cannot read it: {e}"))?;
        if meta.file_type().is_symlink() {
            return Err("a symbolic link in the export: refused".into());
        }
    }
    let meta = std::fs::symlink_metadata(&p).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file: refused".into());
    }
    std::fs::File::open(&p).map_err(|e| format!("cannot open it: {e}"))
}

/// At most [`MAX_TEXT`] bytes of `s`, for messages.
fn clip(s: &str) -> String {
    crate::echo::echo(s)
}

/// Every project's metadata per version (kept for reports only).
pub type Projects = BTreeMap<String, BTreeMap<String, Value>>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ix() -> IndexPath {
        IndexPath::parse("alice/dev").unwrap()
    }

    #[test]
    fn paths_out_of_the_index_folder_are_refused() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "alice/dev/../../../x",
            "alice/dev/./x",
            "alice/dev//x",
            "alice/other/x",
            "alice/dev\\..\\x",
            "alice/devx/y",
        ] {
            assert!(check_relpath(&ix(), bad).is_err(), "{bad}");
        }
        assert!(check_relpath(&ix(), "alice/dev/demo/1.0/demo-1.0.tar.gz").is_ok());
    }

    #[test]
    fn log_times_and_bounds() {
        assert_eq!(log_time(&json!([1970, 1, 1, 0, 0, 0])), Some(0));
        assert_eq!(
            log_time(&json!([2026, 12, 3, 8, 16, 47])),
            Some(1_796_285_807)
        );
        assert_eq!(
            log_time(&json!([99999999999999999u64, 1, 1, 0, 0, 0])),
            None
        );
        assert_eq!(log_time(&json!([2026, 13, 1, 0, 0, 0])), None);
        assert_eq!(log_time(&json!([2026, 1, 1, 0, 0])), None);
        assert_eq!(log_time(&json!("2026")), None);
    }

    #[test]
    fn top_level_problems_are_fatal_and_clear() {
        let dir = Path::new("/nonexistent");
        for (doc, want) in [
            (json!([]), "not a JSON object"),
            (json!({"users": {}, "indexes": {}}), "no dumpversion"),
            (
                json!({"dumpversion": "1", "users": {}, "indexes": {}}),
                "not supported",
            ),
            (json!({"dumpversion": "2", "indexes": {}}), "\"users\""),
        ] {
            let e = parse_export(dir, &doc).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn entries_are_checked_one_by_one() {
        let doc = json!({"dumpversion": "2", "users": {"bad name!": {}, "bob": {"pwhash": 5}},
            "indexes": {"alice/dev": {"indexconfig": {"type": "stage"}, "files": [
                {"type": "releasefile", "projectname": "p", "version": "1", "relpath": "../../x",
                 "entrymapping": {}},
                {"type": "releasefile", "projectname": "p", "version": "1",
                 "relpath": "alice/dev/p/1/p-1.tar.gz",
                 "entrymapping": {"hashes": {"sha256": "zz"}}},
                {"type": "toxresult", "projectname": "p", "version": "1",
                 "relpath": "alice/dev/p/sha256=00/p-1.tar.gz.toxresult-0",
                 "for_entrypath": "alice/dev/+f/abc/def/p-1.tar.gz",
                 "log": [{"what": "upload", "who": "alice", "when": [2026, 1, 1, 0, 0, 0]}, 7]}]}}});
        let e = parse_export(Path::new("/x"), &doc).unwrap();
        assert!(
            e.users.is_empty() && e.unreadable.len() == 2,
            "{:?}",
            e.unreadable
        );
        let ix = &e.indexes[0];
        assert_eq!(ix.unreadable.len(), 2, "{:?}", ix.unreadable);
        assert!(ix.unreadable[0].1.contains("unsafe path"));
        let tox = &ix.entries[0];
        assert_eq!(tox.for_file, Some(("abcdef".into(), "p-1.tar.gz".into())));
        assert_eq!(tox.log.len(), 1);
        assert_eq!(tox.log[0].who.as_deref(), Some("alice"));
    }
}
