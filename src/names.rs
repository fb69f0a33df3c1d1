//! Validated names: projects (PEP 503/508), users and indexes.
//!
//! Every name that crosses a trust boundary is parsed into one of these types
//! once; code that takes a `ProjectName` can never receive an un-normalised
//! or malicious string (path separators, `..`, non-ASCII look-alikes).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest project name accepted. PyPI has no hard limit, but nothing real
/// comes near this and it bounds every path and key built from a name.
pub const MAX_PROJECT_NAME_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("project name is empty")]
    EmptyProject,
    #[error("project name {0:?} is longer than {MAX_PROJECT_NAME_LEN} characters")]
    ProjectTooLong(String),
    #[error(
        "invalid project name {0:?}: a name must consist of ASCII letters, digits, '.', '_' and '-', \
         and start and end with a letter or digit (PEP 508)"
    )]
    InvalidProject(String),
    #[error(
        "invalid {kind} name {name:?}: use 1 to 64 ASCII letters, digits, '.', '_' or '-', \
         starting with a letter or digit"
    )]
    InvalidSegment { kind: &'static str, name: String },
    #[error("invalid index {0:?}: expected the form USER/INDEX")]
    InvalidIndexPath(String),
}

/// A project name in its PEP 503 normalised form (`Foo_Bar.baz` → `foo-bar-baz`),
/// validated against PEP 508's name grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validate `raw` and normalise it.
    pub fn new(raw: &str) -> Result<Self, NameError> {
        validate_project(raw)?;
        Ok(Self(normalize(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used in wheel and sdist file names: normalised with `_` for `-`
    /// (PEP 427 / PEP 625 escaping).
    pub fn as_dist_filename_part(&self) -> String {
        self.0.replace('-', "_")
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProjectName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProjectName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// True when `raw` is already in PEP 503 normal form.
pub fn is_normalized(raw: &str) -> bool {
    normalize(raw) == raw
}

/// PEP 503 normalisation: lowercase, and every run of `-`, `_`, `.` becomes one `-`.
/// Does not validate; use [`ProjectName::new`] for untrusted input.
pub fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_sep = false;
    for c in raw.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

fn validate_project(raw: &str) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::EmptyProject);
    }
    if raw.len() > MAX_PROJECT_NAME_LEN {
        return Err(NameError::ProjectTooLong(raw.chars().take(40).collect()));
    }
    let bytes = raw.as_bytes();
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let ok = bytes
        .iter()
        .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1]);
    if ok {
        Ok(())
    } else {
        Err(NameError::InvalidProject(raw.to_string()))
    }
}

fn validate_segment(kind: &'static str, raw: &str) -> Result<(), NameError> {
    let bytes = raw.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(NameError::InvalidSegment {
            kind,
            name: raw.chars().take(80).collect(),
        })
    }
}

macro_rules! segment_name {
    ($ty:ident, $kind:literal) => {
        #[doc = concat!("A validated ", $kind, " name (first segment rules: ASCII, no `+` prefix, no `/`).")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            pub fn new(raw: &str) -> Result<Self, NameError> {
                validate_segment($kind, raw)?;
                Ok(Self(raw.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $ty::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

segment_name!(UserName, "user");
segment_name!(IndexName, "index");

/// `user/index`, the full name of an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexPath {
    pub user: UserName,
    pub index: IndexName,
}

impl IndexPath {
    pub fn new(user: UserName, index: IndexName) -> Self {
        Self { user, index }
    }

    /// Parse `user/index` (a leading or trailing `/` is tolerated).
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim_matches('/');
        let mut parts = trimmed.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(u), Some(i), None) => Ok(Self {
                user: UserName::new(u)?,
                index: IndexName::new(i)?,
            }),
            _ => Err(NameError::InvalidIndexPath(raw.chars().take(80).collect())),
        }
    }
}

impl fmt::Display for IndexPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.index)
    }
}

impl Serialize for IndexPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IndexPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IndexPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_per_pep_503() {
        for (raw, want) in [
            ("Foo", "foo"),
            ("foo_bar", "foo-bar"),
            ("Foo.Bar", "foo-bar"),
            ("foo--_.bar", "foo-bar"),
            ("zope.interface", "zope-interface"),
            ("A1", "a1"),
        ] {
            assert_eq!(ProjectName::new(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn rejects_bad_project_names() {
        for raw in [
            "",
            "-foo",
            "foo-",
            "../etc",
            "foo/bar",
            "fo o",
            "requеsts", /* Cyrillic e */
            ".hidden",
            "a\0b",
            "foo%2f",
        ] {
            assert!(ProjectName::new(raw).is_err(), "{raw:?} should be rejected");
        }
        assert!(matches!(
            ProjectName::new(&"a".repeat(200)),
            Err(NameError::ProjectTooLong(_))
        ));
    }

    #[test]
    fn dist_filename_part_uses_underscores() {
        assert_eq!(
            ProjectName::new("Foo.Bar-baz")
                .unwrap()
                .as_dist_filename_part(),
            "foo_bar_baz"
        );
    }

    #[test]
    fn index_paths() {
        let p = IndexPath::parse("/root/dev/").unwrap();
        assert_eq!(p.to_string(), "root/dev");
        for bad in [
            "root",
            "root/dev/x",
            "root/+simple",
            "../dev",
            "root/..",
            "ro ot/dev",
            "root/",
        ] {
            assert!(IndexPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn segment_rejects_traversal_and_reserved() {
        for bad in ["..", ".", "+api", "a/b", "", "é"] {
            assert!(UserName::new(bad).is_err(), "{bad:?}");
        }
        assert!(UserName::new(&"u".repeat(65)).is_err());
        assert!(UserName::new("alice.smith-2").is_ok());
    }
}
