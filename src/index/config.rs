//! Index configuration: the keys devpi clients read and write, validated.
//!
//! devpi clients send configuration as JSON objects whose values are often
//! strings (`"volatile": "True"`, `"bases": "root/pypi,alice/dev"`), and as
//! PATCH operation lists (`["bases+=root/pypi", "volatile=False"]`). Both are
//! parsed here into one typed [`IndexConfig`]; unknown keys are refused.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::names::IndexPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    Stage,
    Mirror,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexConfig {
    #[serde(rename = "type")]
    pub kind: IndexKind,
    pub bases: Vec<IndexPath>,
    pub volatile: bool,
    pub acl_upload: Vec<String>,
    pub acl_toxresult_upload: Vec<String>,
    pub mirror_whitelist: Vec<String>,
    pub mirror_whitelist_inheritance: WhitelistInheritance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Upstream simple index URL (mirror indexes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_url: Option<String>,
    /// Seconds a mirrored project page stays fresh (mirror indexes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_cache_expiry: Option<u64>,
    /// Free-form data a client keeps with the index (devpi's `custom_data`):
    /// stored and returned as given, never interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhitelistInheritance {
    Intersection,
    Union,
}

/// The ACL entries with special meaning (devpi's spelling).
pub const ACL_ANONYMOUS: &str = ":ANONYMOUS:";
pub const ACL_AUTHENTICATED: &str = ":AUTHENTICATED:";
/// `:group:NAME`: a user the trusted front proxy puts in group NAME.
pub const ACL_GROUP_PREFIX: &str = ":group:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown index configuration key(s): {0}; known keys are: {KNOWN_KEYS}")]
    UnknownKeys(String),
    #[error("invalid value for {key}: {why}")]
    InvalidValue { key: &'static str, why: String },
    #[error("the index type cannot be changed after creation (it is {0:?})")]
    TypeChange(IndexKind),
    #[error("a mirror index cannot have bases")]
    MirrorWithBases,
    #[error("an index cannot have itself as a base")]
    SelfBase,
    #[error("invalid configuration operation {0:?}: expected KEY=VALUE, KEY+=VALUE or KEY-=VALUE")]
    BadOperation(String),
    #[error("'{0}' cannot be changed with += or -= (it is not a list)")]
    NotAList(String),
}

const KNOWN_KEYS: &str = "type, bases, volatile, acl_upload, acl_toxresult_upload, \
    mirror_whitelist, mirror_whitelist_inheritance, title, description, mirror_url, \
    mirror_cache_expiry, custom_data";

/// Largest `custom_data` value, serialised.
const MAX_CUSTOM_DATA: usize = 64 * 1024;

impl IndexConfig {
    /// Defaults for a new index of `kind` owned by `owner`, as devpi has them.
    pub fn new(kind: IndexKind, owner: &str) -> Self {
        Self {
            kind,
            bases: Vec::new(),
            // devpi's default for stages and mirrors alike: deletable.
            // root/pypi and production indexes are made non-volatile.
            volatile: true,
            acl_upload: vec![owner.to_string()],
            acl_toxresult_upload: vec![ACL_ANONYMOUS.to_string()],
            mirror_whitelist: Vec::new(),
            mirror_whitelist_inheritance: WhitelistInheritance::Intersection,
            title: None,
            description: None,
            mirror_url: None,
            mirror_cache_expiry: None,
            custom_data: None,
        }
    }

    /// Build the config for `PUT /user/index` from a devpi-style JSON object.
    pub fn from_create_request(
        path: &IndexPath,
        body: &Map<String, Value>,
    ) -> Result<Self, ConfigError> {
        let kind = match body.get("type") {
            None => IndexKind::Stage,
            Some(v) => parse_kind(v)?,
        };
        let mut cfg = Self::new(kind, path.user.as_str());
        let mut rest = body.clone();
        rest.remove("type");
        cfg.apply_object(path, &rest)?;
        Ok(cfg)
    }

    /// Apply a JSON object of new values (PATCH with an object, or the
    /// fields of a PUT). Keys not present keep their values.
    pub fn apply_object(
        &mut self,
        path: &IndexPath,
        body: &Map<String, Value>,
    ) -> Result<(), ConfigError> {
        let unknown: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN_KEYS.split(", ").any(|known| known == *k))
            .collect();
        // devpi clients send these read-only keys back on a full PUT.
        let unknown: Vec<&str> = unknown
            .into_iter()
            .filter(|k| !matches!(*k, "projects" | "pypi_whitelist"))
            .collect();
        if !unknown.is_empty() {
            return Err(ConfigError::UnknownKeys(unknown.join(", ")));
        }
        for (key, value) in body {
            self.set(key, value)?;
        }
        self.validate(path)
    }

    /// Apply devpi's PATCH operation list: `key=value`, `key+=value`, `key-=value`.
    pub fn apply_operations(
        &mut self,
        path: &IndexPath,
        ops: &[String],
    ) -> Result<(), ConfigError> {
        for op in ops {
            let (key, mode, value) = split_operation(op)?;
            match mode {
                OpMode::Set => {
                    let mut m = Map::new();
                    m.insert(key.to_string(), Value::String(value.to_string()));
                    self.apply_object(path, &m)?;
                }
                OpMode::Add | OpMode::Remove if key == "bases" => {
                    let base = IndexPath::parse(value).map_err(|e| ConfigError::InvalidValue {
                        key: "bases",
                        why: e.to_string(),
                    })?;
                    if mode == OpMode::Remove {
                        self.bases.retain(|b| *b != base);
                    } else if !self.bases.contains(&base) {
                        self.bases.push(base);
                    }
                }
                OpMode::Add | OpMode::Remove => {
                    let list = self
                        .list_mut(key)
                        .ok_or_else(|| ConfigError::NotAList(key.to_string()))?;
                    if mode == OpMode::Add {
                        if !list.iter().any(|v| v == value) {
                            list.push(value.to_string());
                        }
                    } else {
                        list.retain(|v| v != value);
                    }
                    // bases are typed; re-validate through the generic path.
                    self.validate(path)?;
                }
            }
        }
        self.validate(path)
    }

    fn list_mut(&mut self, key: &str) -> Option<&mut Vec<String>> {
        match key {
            "acl_upload" => Some(&mut self.acl_upload),
            "acl_toxresult_upload" => Some(&mut self.acl_toxresult_upload),
            "mirror_whitelist" => Some(&mut self.mirror_whitelist),
            _ => None,
        }
    }

    fn set(&mut self, key: &str, value: &Value) -> Result<(), ConfigError> {
        match key {
            "type" => {
                let kind = parse_kind(value)?;
                if kind != self.kind {
                    return Err(ConfigError::TypeChange(self.kind));
                }
            }
            "bases" => {
                self.bases = string_list("bases", value)?
                    .iter()
                    .map(|b| {
                        IndexPath::parse(b).map_err(|e| ConfigError::InvalidValue {
                            key: "bases",
                            why: e.to_string(),
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "volatile" => self.volatile = parse_bool("volatile", value)?,
            "acl_upload" => self.acl_upload = acl_list("acl_upload", value)?,
            "acl_toxresult_upload" => {
                self.acl_toxresult_upload = acl_list("acl_toxresult_upload", value)?
            }
            "mirror_whitelist" => {
                self.mirror_whitelist = string_list("mirror_whitelist", value)?
                    .into_iter()
                    .map(|n| {
                        if n == "*" {
                            Ok(n)
                        } else {
                            crate::names::ProjectName::new(&n)
                                .map(|p| p.as_str().to_string())
                                .map_err(|e| ConfigError::InvalidValue {
                                    key: "mirror_whitelist",
                                    why: e.to_string(),
                                })
                        }
                    })
                    .collect::<Result<_, _>>()?
            }
            "mirror_whitelist_inheritance" => {
                self.mirror_whitelist_inheritance = match value.as_str() {
                    Some("intersection") => WhitelistInheritance::Intersection,
                    Some("union") => WhitelistInheritance::Union,
                    _ => {
                        return Err(ConfigError::InvalidValue {
                            key: "mirror_whitelist_inheritance",
                            why: "expected \"intersection\" or \"union\"".into(),
                        })
                    }
                }
            }
            "title" => self.title = optional_text("title", value)?,
            "description" => self.description = optional_text("description", value)?,
            "mirror_url" => {
                let url = optional_text("mirror_url", value)?;
                if let Some(u) = &url {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        return Err(ConfigError::InvalidValue {
                            key: "mirror_url",
                            why: format!("{u:?} is not an http(s) URL"),
                        });
                    }
                }
                self.mirror_url = url;
            }
            "mirror_cache_expiry" => {
                let secs = match value {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                self.mirror_cache_expiry = Some(secs.ok_or(ConfigError::InvalidValue {
                    key: "mirror_cache_expiry",
                    why: "expected a whole number of seconds".into(),
                })?);
            }
            "custom_data" => {
                let size = serde_json::to_vec(value)
                    .map(|v| v.len())
                    .unwrap_or(usize::MAX);
                if size > MAX_CUSTOM_DATA {
                    return Err(ConfigError::InvalidValue {
                        key: "custom_data",
                        why: format!("{size} bytes of JSON; at most {MAX_CUSTOM_DATA} are kept"),
                    });
                }
                self.custom_data = Some(value.clone()).filter(|v| !v.is_null());
            }
            // read-only keys some clients echo back
            "projects" | "pypi_whitelist" => {}
            _ => return Err(ConfigError::UnknownKeys(key.to_string())),
        }
        Ok(())
    }

    fn validate(&self, path: &IndexPath) -> Result<(), ConfigError> {
        if self.kind == IndexKind::Mirror && !self.bases.is_empty() {
            return Err(ConfigError::MirrorWithBases);
        }
        if self.bases.iter().any(|b| b == path) {
            return Err(ConfigError::SelfBase);
        }
        Ok(())
    }

    /// The JSON devpi clients expect for this index (`GET /user/index`),
    /// without the `projects` key, which the caller adds.
    pub fn to_devpi_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpMode {
    Set,
    Add,
    Remove,
}

fn split_operation(op: &str) -> Result<(&str, OpMode, &str), ConfigError> {
    let bad = || ConfigError::BadOperation(op.chars().take(100).collect());
    let eq = op.find('=').ok_or_else(bad)?;
    let (lhs, value) = (&op[..eq], &op[eq + 1..]);
    let (key, mode) = if let Some(k) = lhs.strip_suffix('+') {
        (k, OpMode::Add)
    } else if let Some(k) = lhs.strip_suffix('-') {
        (k, OpMode::Remove)
    } else {
        (lhs, OpMode::Set)
    };
    if key.is_empty() {
        return Err(bad());
    }
    Ok((key, mode, value))
}

fn parse_kind(v: &Value) -> Result<IndexKind, ConfigError> {
    match v.as_str() {
        Some("stage") => Ok(IndexKind::Stage),
        Some("mirror") => Ok(IndexKind::Mirror),
        _ => Err(ConfigError::InvalidValue {
            key: "type",
            why: "expected \"stage\" or \"mirror\"".into(),
        }),
    }
}

fn parse_bool(key: &'static str, v: &Value) -> Result<bool, ConfigError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err(ConfigError::InvalidValue {
                key,
                why: format!("{s:?} is not true or false"),
            }),
        },
        _ => Err(ConfigError::InvalidValue {
            key,
            why: "expected true or false".into(),
        }),
    }
}

/// A list given as a JSON array of strings or as one comma-separated string.
fn string_list(key: &'static str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or(ConfigError::InvalidValue {
                        key,
                        why: "expected a list of strings".into(),
                    })
            })
            .collect::<Result<_, _>>()?,
        Value::Null => Vec::new(),
        _ => {
            return Err(ConfigError::InvalidValue {
                key,
                why: "expected a list of strings or a comma-separated string".into(),
            })
        }
    };
    let mut out: Vec<String> = Vec::new();
    for i in items.into_iter().filter(|s| !s.is_empty()) {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// An ACL list; the special entries are matched without regard to case and
/// kept in devpi's upper-case spelling (`:anonymous:` → `:ANONYMOUS:`);
/// group entries keep their name as given, under a lower-case `:group:`.
fn acl_list(key: &'static str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let mut list = string_list(key, v)?;
    for entry in &mut list {
        for special in [ACL_ANONYMOUS, ACL_AUTHENTICATED] {
            if entry.eq_ignore_ascii_case(special) {
                *entry = special.to_string();
            }
        }
        if let Some(group) = acl_group(entry) {
            *entry = format!("{ACL_GROUP_PREFIX}{group}");
        }
    }
    let mut seen = std::collections::HashSet::new();
    list.retain(|e| seen.insert(e.clone()));
    for entry in &list {
        let valid = match acl_group(entry) {
            Some(group) => crate::auth::proxy::valid_group_name(group),
            None => {
                entry == ACL_ANONYMOUS
                    || entry == ACL_AUTHENTICATED
                    || crate::names::UserName::new(entry).is_ok()
            }
        };
        if !valid {
            return Err(ConfigError::InvalidValue {
                key,
                why: format!(
                    "{entry:?} is neither a user name, {ACL_GROUP_PREFIX}GROUP (1-64 of \
                     A-Z a-z 0-9 . _ -) nor {ACL_ANONYMOUS} / {ACL_AUTHENTICATED}"
                ),
            });
        }
    }
    Ok(list)
}

fn optional_text(key: &'static str, v: &Value) -> Result<Option<String>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.len() <= 4096 => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        _ => Err(ConfigError::InvalidValue {
            key,
            why: "expected a string of at most 4096 characters".into(),
        }),
    }
}

/// Who an ACL is asked about: a user (None = anonymous) and the groups the
/// trusted front proxy put them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Principal<'a> {
    pub user: Option<&'a str>,
    pub groups: &'a [String],
}

impl<'a> Principal<'a> {
    /// Nobody logged in.
    pub const ANONYMOUS: Principal<'static> = Principal {
        user: None,
        groups: &[],
    };

    /// A user in no group.
    pub fn user(name: &'a str) -> Self {
        Self {
            user: Some(name),
            groups: &[],
        }
    }

    /// The principal of an optional identity.
    pub fn of(identity: Option<&'a crate::auth::Identity>) -> Self {
        identity.map_or(Principal::ANONYMOUS, |i| i.principal())
    }
}

/// The group a `:group:NAME` entry names, if `entry` is one (prefix in any case).
pub fn acl_group(entry: &str) -> Option<&str> {
    let prefix = entry.get(..ACL_GROUP_PREFIX.len())?;
    prefix
        .eq_ignore_ascii_case(ACL_GROUP_PREFIX)
        .then(|| &entry[ACL_GROUP_PREFIX.len()..])
}

/// Does `acl` admit `who`? `:group:NAME` admits a logged-in user in group
/// NAME (compared exactly); groups never admit anonymous callers.
pub fn acl_allows(acl: &[String], who: Principal<'_>) -> bool {
    acl.iter().any(|entry| match entry.as_str() {
        ACL_ANONYMOUS => true,
        ACL_AUTHENTICATED => who.user.is_some(),
        name => match acl_group(name) {
            Some(group) => who.user.is_some() && who.groups.iter().any(|g| g == group),
            None => who.user == Some(name),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path() -> IndexPath {
        IndexPath::parse("alice/dev").unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn devpi_string_values_are_parsed() {
        let cfg = IndexConfig::from_create_request(
            &path(),
            &obj(json!({"bases": "root/pypi, alice/base", "volatile": "False", "acl_upload": "alice,:AUTHENTICATED:"})),
        )
        .unwrap();
        assert_eq!(cfg.kind, IndexKind::Stage);
        assert_eq!(cfg.bases.len(), 2);
        assert!(!cfg.volatile);
        assert_eq!(cfg.acl_upload, vec!["alice", ":AUTHENTICATED:"]);
    }

    #[test]
    fn defaults_follow_devpi() {
        let cfg = IndexConfig::from_create_request(&path(), &Map::new()).unwrap();
        assert!(cfg.volatile);
        assert_eq!(cfg.acl_upload, vec!["alice"]);
        assert!(cfg.bases.is_empty());
    }

    #[test]
    fn patch_operations() {
        let mut cfg = IndexConfig::new(IndexKind::Stage, "alice");
        cfg.apply_operations(
            &path(),
            &[
                "acl_upload+=bob".into(),
                "volatile=no".into(),
                "bases=root/pypi".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.acl_upload, vec!["alice", "bob"]);
        assert!(!cfg.volatile);
        cfg.apply_operations(&path(), &["acl_upload-=alice".into()])
            .unwrap();
        assert_eq!(cfg.acl_upload, vec!["bob"]);
        cfg.apply_operations(
            &path(),
            &["bases+=root/other".into(), "bases+=root/pypi".into()],
        )
        .unwrap();
        let bases: Vec<String> = cfg.bases.iter().map(|b| b.to_string()).collect();
        assert_eq!(bases, ["root/pypi", "root/other"], "added once, in order");
        cfg.apply_operations(&path(), &["bases-=root/pypi".into()])
            .unwrap();
        let bases: Vec<String> = cfg.bases.iter().map(|b| b.to_string()).collect();
        assert_eq!(bases, ["root/other"]);
        assert!(matches!(
            cfg.apply_operations(&path(), &["bases+=not a path".into()]),
            Err(ConfigError::InvalidValue { key: "bases", .. })
        ));
        assert!(matches!(
            cfg.apply_operations(&path(), &["volatile+=x".into()]),
            Err(ConfigError::NotAList(_))
        ));
        assert!(matches!(
            cfg.apply_operations(&path(), &["novalue".into()]),
            Err(ConfigError::BadOperation(_))
        ));
    }

    #[test]
    fn rejects_bad_config() {
        let p = path();
        for body in [
            json!({"bases": "../x"}),
            json!({"volatile": "maybe"}),
            json!({"type": "weird"}),
            json!({"frobnicate": 1}),
            json!({"acl_upload": ["bad name"]}),
            json!({"bases": "alice/dev"}),
            json!({"type": "mirror", "bases": "root/pypi"}),
            json!({"mirror_url": "file:///etc/passwd"}),
        ] {
            assert!(
                IndexConfig::from_create_request(&p, &obj(body.clone())).is_err(),
                "{body}"
            );
        }
        let mut cfg = IndexConfig::new(IndexKind::Stage, "alice");
        assert_eq!(
            cfg.apply_object(&p, &obj(json!({"type": "mirror"}))),
            Err(ConfigError::TypeChange(IndexKind::Stage))
        );
    }

    #[test]
    fn acl_specials() {
        let acl = vec![ACL_AUTHENTICATED.to_string()];
        let anon = Principal::ANONYMOUS;
        assert!(acl_allows(&acl, Principal::user("x")));
        assert!(!acl_allows(&acl, anon));
        assert!(acl_allows(&[ACL_ANONYMOUS.into()], anon));
        assert!(acl_allows(&["bob".into()], Principal::user("bob")));
        assert!(!acl_allows(&["bob".into()], Principal::user("eve")));
    }

    #[test]
    fn acl_groups() {
        let rm = vec!["release-managers".to_string()];
        let alice = Principal {
            user: Some("alice"),
            groups: &rm,
        };
        let acl = vec![":group:release-managers".to_string()];
        assert!(acl_allows(&acl, alice));
        assert!(!acl_allows(&acl, Principal::user("alice")));
        // a group never admits an anonymous caller, whatever it claims
        assert!(!acl_allows(
            &acl,
            Principal {
                user: None,
                groups: &rm
            }
        ));
        // a user named like the group is not its member
        assert!(!acl_allows(&acl, Principal::user("release-managers")));
        // group names compare exactly
        assert!(!acl_allows(&[":group:Release-Managers".into()], alice));

        // parsing: the prefix in any case, the name kept; bad names refused
        let p = path();
        let cfg = IndexConfig::from_create_request(
            &p,
            &obj(json!({"acl_upload": [":GROUP:ops", ":anonymous:", "bob", ":group:ops"]})),
        )
        .unwrap();
        assert_eq!(cfg.acl_upload, [":group:ops", ":ANONYMOUS:", "bob"]);
        for bad in [
            ":group:",
            ":group:a b",
            ":group:a,b",
            ":group:x/y",
            ":groupx",
        ] {
            assert!(
                IndexConfig::from_create_request(&p, &obj(json!({ "acl_upload": [bad] }))).is_err(),
                "{bad}"
            );
        }
    }
}
