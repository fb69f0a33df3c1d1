//! Distribution filenames: wheels (PEP 427/491) and sdists (PEP 625 plus the
//! legacy forms PyPI still serves).
//!
//! The filename is the first thing an uploader controls, and it becomes a
//! storage key and a URL path segment, so it is checked against a strict
//! allowlist before any structure is parsed out of it.

use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use serde::Serialize;

use crate::names::{NameError, ProjectName};

/// Longest filename accepted; the common filesystem limit for one path segment.
pub const MAX_FILENAME_LEN: usize = 255;

/// What sort of distribution a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistKind {
    Wheel,
    Sdist,
}

/// The container format of a source distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SdistFormat {
    /// `.tar.gz`, the only format PEP 625 allows for new uploads.
    #[serde(rename = "tar.gz")]
    TarGz,
    /// `.zip`, legacy but still permitted by PEP 527.
    #[serde(rename = "zip")]
    Zip,
}

impl SdistFormat {
    pub fn extension(self) -> &'static str {
        match self {
            SdistFormat::TarGz => ".tar.gz",
            SdistFormat::Zip => ".zip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    #[error("the filename is empty")]
    Empty,
    #[error("the filename is {0} bytes long; at most {MAX_FILENAME_LEN} are allowed")]
    TooLong(usize),
    #[error("the filename must not contain '/' or '\\': upload the bare file name, not a path")]
    PathSeparator,
    #[error("the filename must not contain NUL or other control characters")]
    ControlCharacter,
    #[error("the filename must not start with '.'")]
    LeadingDot,
    #[error(
        "the filename contains the non-ASCII character {0:?}; distribution filenames are ASCII only"
    )]
    NonAscii(char),
    #[error(
        "the filename contains the character {0:?}; only ASCII letters, digits and '.', '_', '-', \
         '+', '!' may appear in a distribution filename"
    )]
    DisallowedCharacter(char),
    #[error("'{extension}' {what} are not accepted: {rule}")]
    RejectedFormat {
        extension: &'static str,
        what: &'static str,
        rule: &'static str,
    },
    #[error(
        "unrecognised distribution file type: the filename must end in '.whl' (wheel), \
         '.tar.gz' (sdist, PEP 625) or '.zip' (legacy sdist)"
    )]
    UnknownExtension,
    #[error(
        "invalid wheel filename: expected NAME-VERSION(-BUILD)?-PYTHON-ABI-PLATFORM.whl \
         (PEP 427), found {0} '-'-separated parts"
    )]
    WheelShape(usize),
    #[error("invalid project name in filename: {0}")]
    InvalidName(#[source] NameError),
    #[error("invalid version {version:?} in filename: {reason} (versions must follow PEP 440)")]
    InvalidVersion { version: String, reason: String },
    #[error("invalid wheel build tag {0:?}: a build tag must start with a digit (PEP 427)")]
    InvalidBuildTag(String),
    #[error(
        "invalid wheel {which} tag {tag:?}: tags are '.'-separated, non-empty runs of ASCII \
         letters, digits and '_'"
    )]
    InvalidTag { which: &'static str, tag: String },
    #[error(
        "invalid sdist filename: expected NAME-VERSION{extension} with a PEP 440 version \
         after the last name part, but no '-' in {stem:?} is followed by a valid version"
    )]
    SdistShape {
        stem: String,
        extension: &'static str,
    },
}

/// A parsed, validated distribution filename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFilename {
    /// The project name, PEP 503 normalised.
    pub name: ProjectName,
    pub version: Version,
    pub kind: DistKind,
    /// Wheels only: the optional build tag (starts with a digit).
    pub build_tag: Option<String>,
    /// Wheels only: the compressed tag sets, split on '.'.
    pub python_tags: Vec<String>,
    pub abi_tags: Vec<String>,
    pub platform_tags: Vec<String>,
    /// Sdists only.
    pub sdist_format: Option<SdistFormat>,
}

/// Extensions that are recognisably Python (or OS) packages but not accepted,
/// with the rule that excludes them. Checked case-insensitively so that
/// `FOO.TGZ` gets the helpful message too.
const REJECTED: &[(&str, &str, &str)] = &[
    (
        ".tar.bz2",
        "sdists",
        "source distributions must be .tar.gz (PEP 625); legacy .zip sdists are also accepted",
    ),
    (
        ".tar.xz",
        "sdists",
        "source distributions must be .tar.gz (PEP 625); legacy .zip sdists are also accepted",
    ),
    (
        ".tar.z",
        "sdists",
        "source distributions must be .tar.gz (PEP 625); legacy .zip sdists are also accepted",
    ),
    (
        ".tgz",
        "sdists",
        "source distributions must be named .tar.gz, not .tgz (PEP 625)",
    ),
    (
        ".tbz",
        "sdists",
        "source distributions must be .tar.gz (PEP 625); legacy .zip sdists are also accepted",
    ),
    (
        ".tar",
        "sdists",
        "source distributions must be gzip-compressed .tar.gz files (PEP 625)",
    ),
    (
        ".egg",
        "files",
        "eggs are obsolete and no longer accepted by PyPI (PEP 715); upload a wheel instead",
    ),
    (
        ".exe",
        "files",
        "Windows installers (bdist_wininst) are not accepted (PEP 527); upload a wheel instead",
    ),
    (
        ".msi",
        "files",
        "Windows installers (bdist_msi) are not accepted (PEP 527); upload a wheel instead",
    ),
    (
        ".rpm",
        "files",
        "OS packages are not Python distributions (PEP 527); upload a wheel or sdist",
    ),
    (
        ".deb",
        "files",
        "OS packages are not Python distributions (PEP 527); upload a wheel or sdist",
    ),
    (
        ".dmg",
        "files",
        "macOS disk images are not Python distributions (PEP 527); upload a wheel or sdist",
    ),
];

impl DistFilename {
    /// Parse and validate an uploaded distribution's filename.
    pub fn parse(filename: &str) -> Result<Self, FilenameError> {
        check_characters(filename)?;
        if let Some(stem) = filename.strip_suffix(".whl") {
            return parse_wheel(stem);
        }
        if let Some(stem) = filename.strip_suffix(".tar.gz") {
            return parse_sdist(stem, SdistFormat::TarGz);
        }
        if let Some(stem) = filename.strip_suffix(".zip") {
            return parse_sdist(stem, SdistFormat::Zip);
        }
        let lower = filename.to_ascii_lowercase();
        for &(extension, what, rule) in REJECTED {
            if lower.ends_with(extension) {
                return Err(FilenameError::RejectedFormat {
                    extension,
                    what,
                    rule,
                });
            }
        }
        Err(FilenameError::UnknownExtension)
    }

    /// The filename this distribution is stored and served under: the
    /// project name PEP 503-normalised with `_` for `-`, the version PEP
    /// 440-normalised, wheel tags lowercased (as `packaging` reads them).
    /// `HostBase-1.0-py3-none-any.whl` becomes `hostbase-1.0-py3-none-any.whl`.
    pub fn canonical_filename(&self) -> String {
        let name = self.name.as_dist_filename_part();
        match self.kind {
            DistKind::Wheel => {
                let tags = |set: &[String]| set.join(".").to_ascii_lowercase();
                let build = self
                    .build_tag
                    .as_deref()
                    .map(|b| format!("-{b}"))
                    .unwrap_or_default();
                format!(
                    "{name}-{}{build}-{}-{}-{}.whl",
                    self.version,
                    tags(&self.python_tags),
                    tags(&self.abi_tags),
                    tags(&self.platform_tags)
                )
            }
            DistKind::Sdist => format!(
                "{name}-{}{}",
                self.version,
                self.sdist_format.unwrap_or(SdistFormat::TarGz).extension()
            ),
        }
    }

    /// What a release may hold only one file of, whatever the spelling of
    /// its filename: the sdist (one per release, in any format, as on PyPI),
    /// or a wheel's build tag and tag sets (compared as lowercase sets, so
    /// `py2.py3` and `PY3.py2` are the same wheel). Name and version are
    /// the release's own.
    pub fn release_slot(&self) -> String {
        match self.kind {
            DistKind::Sdist => "sdist".to_string(),
            DistKind::Wheel => {
                let set = |tags: &[String]| {
                    let mut t: Vec<String> = tags.iter().map(|t| t.to_ascii_lowercase()).collect();
                    t.sort();
                    t.dedup();
                    t.join(".")
                };
                format!(
                    "wheel {} {}-{}-{}",
                    self.build_tag.as_deref().unwrap_or(""),
                    set(&self.python_tags),
                    set(&self.abi_tags),
                    set(&self.platform_tags)
                )
            }
        }
    }

    /// True for wheels that run on any Python implementation and platform
    /// (ABI `none`, platform `any`). Always false for sdists, which may
    /// compile code at install time.
    pub fn is_pure_python(&self) -> bool {
        self.kind == DistKind::Wheel
            && self.abi_tags.iter().all(|t| t == "none")
            && self.platform_tags.iter().all(|t| t == "any")
    }
}

impl fmt::Display for DistFilename {
    /// A short human description, e.g. `wheel mypkg 1.0` (not the filename).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DistKind::Wheel => "wheel",
            DistKind::Sdist => "sdist",
        };
        write!(f, "{kind} {} {}", self.name, self.version)
    }
}

fn check_characters(filename: &str) -> Result<(), FilenameError> {
    if filename.is_empty() {
        return Err(FilenameError::Empty);
    }
    if filename.len() > MAX_FILENAME_LEN {
        return Err(FilenameError::TooLong(filename.len()));
    }
    // Order matters only for the message: the most specific problem wins.
    if filename.contains(['/', '\\']) {
        return Err(FilenameError::PathSeparator);
    }
    if filename.chars().any(char::is_control) {
        return Err(FilenameError::ControlCharacter);
    }
    if let Some(c) = filename.chars().find(|c| !c.is_ascii()) {
        return Err(FilenameError::NonAscii(c));
    }
    if filename.starts_with('.') {
        return Err(FilenameError::LeadingDot);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!');
    if let Some(c) = filename.chars().find(|&c| !allowed(c)) {
        return Err(FilenameError::DisallowedCharacter(c));
    }
    Ok(())
}

fn parse_wheel(stem: &str) -> Result<DistFilename, FilenameError> {
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build, py, abi, plat) = match parts.as_slice() {
        [n, v, py, abi, plat] => (*n, *v, None, *py, *abi, *plat),
        [n, v, b, py, abi, plat] => (*n, *v, Some(*b), *py, *abi, *plat),
        _ => return Err(FilenameError::WheelShape(parts.len())),
    };
    let build_tag = build.map(parse_build_tag).transpose()?;
    Ok(DistFilename {
        name: ProjectName::new(name).map_err(FilenameError::InvalidName)?,
        version: parse_version(version)?,
        kind: DistKind::Wheel,
        build_tag,
        python_tags: parse_tag_set("python", py)?,
        abi_tags: parse_tag_set("ABI", abi)?,
        platform_tags: parse_tag_set("platform", plat)?,
        sdist_format: None,
    })
}

fn parse_build_tag(tag: &str) -> Result<String, FilenameError> {
    let starts_with_digit = tag.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let tag_chars = tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if starts_with_digit && tag_chars {
        Ok(tag.to_string())
    } else {
        Err(FilenameError::InvalidBuildTag(tag.to_string()))
    }
}

fn parse_tag_set(which: &'static str, set: &str) -> Result<Vec<String>, FilenameError> {
    set.split('.')
        .map(|tag| {
            let ok = !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if ok {
                Ok(tag.to_string())
            } else {
                Err(FilenameError::InvalidTag {
                    which,
                    tag: set.to_string(),
                })
            }
        })
        .collect()
}

fn parse_version(raw: &str) -> Result<Version, FilenameError> {
    Version::from_str(raw).map_err(|e| FilenameError::InvalidVersion {
        version: raw.to_string(),
        reason: e.to_string(),
    })
}

/// `NAME-VERSION`. PEP 625 names contain no '-', but legacy sdists do
/// (`foo-bar-1.0`), so try each '-' from the left and take the first split
/// whose right side is a valid PEP 440 version and whose left side is a valid
/// name. A wrong guess cannot smuggle anything in: `inspect` later requires
/// the archive's own metadata to agree on both name and version.
fn parse_sdist(stem: &str, format: SdistFormat) -> Result<DistFilename, FilenameError> {
    let shape_error = || FilenameError::SdistShape {
        stem: stem.to_string(),
        extension: format.extension(),
    };
    let mut last_name_error = None;
    for (i, _) in stem.match_indices('-') {
        let (name, version) = (&stem[..i], &stem[i + 1..]);
        let Ok(version) = Version::from_str(version) else {
            continue;
        };
        match ProjectName::new(name) {
            Ok(name) => {
                return Ok(DistFilename {
                    name,
                    version,
                    kind: DistKind::Sdist,
                    build_tag: None,
                    python_tags: Vec::new(),
                    abi_tags: Vec::new(),
                    platform_tags: Vec::new(),
                    sdist_format: Some(format),
                })
            }
            Err(e) => last_name_error = Some(e),
        }
    }
    match last_name_error {
        Some(e) => Err(FilenameError::InvalidName(e)),
        None => Err(shape_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A predicate on the error a case must produce.
    type Expect = fn(&FilenameError) -> bool;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    #[test]
    fn parses_valid_wheels() {
        struct Case {
            file: &'static str,
            name: &'static str,
            version: &'static str,
            build: Option<&'static str>,
            py: &'static [&'static str],
            abi: &'static [&'static str],
            plat: &'static [&'static str],
            pure: bool,
        }
        let cases = [
            Case {
                file: "mypkg-1.0-py3-none-any.whl",
                name: "mypkg",
                version: "1.0",
                build: None,
                py: &["py3"],
                abi: &["none"],
                plat: &["any"],
                pure: true,
            },
            Case {
                file: "My_Pkg-2.0.1rc1-1-py2.py3-none-any.whl",
                name: "my-pkg",
                version: "2.0.1rc1",
                build: Some("1"),
                py: &["py2", "py3"],
                abi: &["none"],
                plat: &["any"],
                pure: true,
            },
            Case {
                file: "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                name: "numpy",
                version: "1.26.4",
                build: None,
                py: &["cp312"],
                abi: &["cp312"],
                plat: &["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
                pure: false,
            },
            Case {
                file: "torch-2.0.0+cu118-20230101abc-cp311-cp311-win_amd64.whl",
                name: "torch",
                version: "2.0.0+cu118",
                build: Some("20230101abc"),
                py: &["cp311"],
                abi: &["cp311"],
                plat: &["win_amd64"],
                pure: false,
            },
            Case {
                file: "zope.interface-1!5.0.post2-py3-abi3-any.whl",
                name: "zope-interface",
                version: "1!5.0.post2",
                build: None,
                py: &["py3"],
                abi: &["abi3"],
                plat: &["any"],
                pure: false,
            },
        ];
        for c in cases {
            let f = DistFilename::parse(c.file).unwrap_or_else(|e| panic!("{}: {e}", c.file));
            assert_eq!(f.kind, DistKind::Wheel, "{}", c.file);
            assert_eq!(f.name.as_str(), c.name, "{}", c.file);
            assert_eq!(f.version, v(c.version), "{}", c.file);
            assert_eq!(f.build_tag.as_deref(), c.build, "{}", c.file);
            assert_eq!(f.python_tags, c.py, "{}", c.file);
            assert_eq!(f.abi_tags, c.abi, "{}", c.file);
            assert_eq!(f.platform_tags, c.plat, "{}", c.file);
            assert_eq!(f.sdist_format, None, "{}", c.file);
            assert_eq!(f.is_pure_python(), c.pure, "{}", c.file);
        }
    }

    #[test]
    fn parses_valid_sdists() {
        for (file, name, version, format) in [
            ("mypkg-1.0.tar.gz", "mypkg", "1.0", SdistFormat::TarGz),
            (
                "my_pkg-1.0.post1.tar.gz",
                "my-pkg",
                "1.0.post1",
                SdistFormat::TarGz,
            ),
            ("Legacy-0.9.zip", "legacy", "0.9", SdistFormat::Zip),
            // Legacy hyphenated names: split where a valid version follows.
            ("foo-bar-1.0.tar.gz", "foo-bar", "1.0", SdistFormat::TarGz),
            (
                "foo-bar-baz-2.0b1.zip",
                "foo-bar-baz",
                "2.0b1",
                SdistFormat::Zip,
            ),
            (
                "django-2fa-0.3.tar.gz",
                "django-2fa",
                "0.3",
                SdistFormat::TarGz,
            ),
            (
                "pkg-1.0+local.7.tar.gz",
                "pkg",
                "1.0+local.7",
                SdistFormat::TarGz,
            ),
        ] {
            let f = DistFilename::parse(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(f.kind, DistKind::Sdist, "{file}");
            assert_eq!(f.name.as_str(), name, "{file}");
            assert_eq!(f.version, v(version), "{file}");
            assert_eq!(f.sdist_format, Some(format), "{file}");
            assert!(f.build_tag.is_none() && f.python_tags.is_empty(), "{file}");
            assert!(!f.is_pure_python(), "{file}");
        }
    }

    #[test]
    fn rejects_unsafe_characters() {
        let long = format!("{}-1.0.tar.gz", "a".repeat(250));
        let cases: Vec<(&str, Expect)> = vec![
            ("", |e| matches!(e, FilenameError::Empty)),
            (&long, |e| matches!(e, FilenameError::TooLong(_))),
            ("../mypkg-1.0.tar.gz", |e| {
                matches!(e, FilenameError::PathSeparator)
            }),
            ("dir/mypkg-1.0.tar.gz", |e| {
                matches!(e, FilenameError::PathSeparator)
            }),
            ("dir\\mypkg-1.0.tar.gz", |e| {
                matches!(e, FilenameError::PathSeparator)
            }),
            ("mypkg-1.0.tar.gz\0.whl", |e| {
                matches!(e, FilenameError::ControlCharacter)
            }),
            ("mypkg-1.0\n.tar.gz", |e| {
                matches!(e, FilenameError::ControlCharacter)
            }),
            ("mypkg-1.0\u{7f}.tar.gz", |e| {
                matches!(e, FilenameError::ControlCharacter)
            }),
            (".mypkg-1.0.tar.gz", |e| {
                matches!(e, FilenameError::LeadingDot)
            }),
            ("mурkg-1.0.tar.gz", |e| {
                matches!(e, FilenameError::NonAscii(_))
            }),
            ("my pkg-1.0.tar.gz", |e| {
                matches!(e, FilenameError::DisallowedCharacter(' '))
            }),
            ("mypkg-1.0%2f.tar.gz", |e| {
                matches!(e, FilenameError::DisallowedCharacter('%'))
            }),
        ];
        for (file, want) in cases {
            let err = DistFilename::parse(file).expect_err(file);
            assert!(want(&err), "{file:?} gave {err:?}");
        }
    }

    #[test]
    fn rejects_obsolete_formats_with_the_rule() {
        for (file, ext) in [
            ("mypkg-1.0.tar.bz2", ".tar.bz2"),
            ("mypkg-1.0.tgz", ".tgz"),
            ("mypkg-1.0.TGZ", ".tgz"),
            ("mypkg-1.0.tar.xz", ".tar.xz"),
            ("mypkg-1.0.tar", ".tar"),
            ("mypkg-1.0-py2.7.egg", ".egg"),
            ("mypkg-1.0.win32.exe", ".exe"),
            ("mypkg-1.0.win32.msi", ".msi"),
            ("mypkg-1.0-1.noarch.rpm", ".rpm"),
            ("mypkg_1.0_all.deb", ".deb"),
            ("mypkg-1.0.dmg", ".dmg"),
        ] {
            match DistFilename::parse(file) {
                Err(e @ FilenameError::RejectedFormat { extension, .. }) => {
                    assert_eq!(extension, ext, "{file}");
                    let msg = e.to_string();
                    assert!(msg.starts_with(&format!("'{ext}' ")), "{msg}");
                    assert!(msg.contains("PEP"), "message should name the rule: {msg}");
                }
                other => panic!("{file}: expected RejectedFormat, got {other:?}"),
            }
        }
        assert_eq!(
            DistFilename::parse("mypkg-1.0.tar.bz2")
                .unwrap_err()
                .to_string(),
            "'.tar.bz2' sdists are not accepted: source distributions must be .tar.gz (PEP 625); \
             legacy .zip sdists are also accepted"
        );
        for file in [
            "mypkg-1.0.txt",
            "mypkg-1.0.whl.sig",
            "mypkg-1.0.TAR.GZ",
            "README",
        ] {
            assert!(
                matches!(
                    DistFilename::parse(file),
                    Err(FilenameError::UnknownExtension)
                ),
                "{file}"
            );
        }
    }

    #[test]
    fn rejects_malformed_wheels() {
        let cases: Vec<(&str, Expect)> = vec![
            ("mypkg-1.0-none-any.whl", |e| {
                matches!(e, FilenameError::WheelShape(4))
            }),
            ("my-pkg-1.0-1-py3-none-any.whl", |e| {
                matches!(e, FilenameError::WheelShape(7))
            }),
            ("mypkg-1.0-abc-py3-none-any.whl", |e| {
                matches!(e, FilenameError::InvalidBuildTag(_))
            }),
            ("mypkg-1.0--py3-none-any.whl", |e| {
                matches!(e, FilenameError::InvalidBuildTag(_))
            }),
            ("mypkg-1.0-py3..py2-none-any.whl", |e| {
                matches!(
                    e,
                    FilenameError::InvalidTag {
                        which: "python",
                        ..
                    }
                )
            }),
            ("mypkg-1.0-py3-none-.whl", |e| {
                matches!(
                    e,
                    FilenameError::InvalidTag {
                        which: "platform",
                        ..
                    }
                )
            }),
            ("mypkg-1.0-py3-+-any.whl", |e| {
                matches!(e, FilenameError::InvalidTag { which: "ABI", .. })
            }),
            ("mypkg-notaversion-py3-none-any.whl", |e| {
                matches!(e, FilenameError::InvalidVersion { .. })
            }),
            ("_mypkg-1.0-py3-none-any.whl", |e| {
                matches!(e, FilenameError::InvalidName(_))
            }),
            ("-1.0-py3-none-any.whl", |e| {
                matches!(e, FilenameError::InvalidName(_))
            }),
        ];
        for (file, want) in cases {
            let err = DistFilename::parse(file).expect_err(file);
            assert!(want(&err), "{file:?} gave {err:?}");
        }
    }

    #[test]
    fn rejects_malformed_sdists() {
        let cases: Vec<(&str, Expect)> = vec![
            ("mypkg.tar.gz", |e| {
                matches!(e, FilenameError::SdistShape { .. })
            }),
            ("mypkg-.tar.gz", |e| {
                matches!(e, FilenameError::SdistShape { .. })
            }),
            ("mypkg-one.zip", |e| {
                matches!(e, FilenameError::SdistShape { .. })
            }),
            ("-1.0.tar.gz", |e| {
                matches!(e, FilenameError::InvalidName(_))
            }),
            ("a_-1.0.tar.gz", |e| {
                matches!(e, FilenameError::InvalidName(_))
            }),
            (".tar.gz", |e| matches!(e, FilenameError::LeadingDot)),
        ];
        for (file, want) in cases {
            let err = DistFilename::parse(file).expect_err(file);
            assert!(want(&err), "{file:?} gave {err:?}");
        }
    }

    #[test]
    fn canonical_filenames_and_release_slots() {
        for (given, canonical) in [
            (
                "HostBase-1.0-py3-none-any.whl",
                "hostbase-1.0-py3-none-any.whl",
            ),
            (
                "Host.Base-01.0-PY3-None-Any.whl",
                "host_base-1.0-py3-none-any.whl",
            ),
            (
                "host_base-1.0.0-1-py2.py3-none-any.whl",
                "host_base-1.0.0-1-py2.py3-none-any.whl",
            ),
            ("Foo-Bar-1.0RC1.tar.gz", "foo_bar-1.0rc1.tar.gz"),
            ("foo.bar-1.0.zip", "foo_bar-1.0.zip"),
        ] {
            let parsed = DistFilename::parse(given).unwrap();
            assert_eq!(parsed.canonical_filename(), canonical, "{given}");
            let again = DistFilename::parse(canonical).unwrap();
            assert_eq!(
                again.canonical_filename(),
                canonical,
                "canonical is a fixed point"
            );
            assert_eq!(again.release_slot(), parsed.release_slot());
        }
        let slot = |f: &str| DistFilename::parse(f).unwrap().release_slot();
        assert_eq!(
            slot("a-1.0-py2.py3-none-any.whl"),
            slot("A-1.0-PY3.py2-none-any.whl")
        );
        assert_eq!(
            slot("a-1.0.tar.gz"),
            slot("a-1.0.zip"),
            "one sdist per release"
        );
        assert_ne!(
            slot("a-1.0-py3-none-any.whl"),
            slot("a-1.0-1-py3-none-any.whl")
        );
        assert_ne!(
            slot("a-1.0-py3-none-any.whl"),
            slot("a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
        );
        assert_ne!(slot("a-1.0-py3-none-any.whl"), slot("a-1.0.tar.gz"));
    }

    #[test]
    fn kinds_serialize_lowercase() {
        assert_eq!(
            serde_json::to_string(&DistKind::Wheel).unwrap(),
            "\"wheel\""
        );
        assert_eq!(
            serde_json::to_string(&DistKind::Sdist).unwrap(),
            "\"sdist\""
        );
        assert_eq!(
            serde_json::to_string(&SdistFormat::TarGz).unwrap(),
            "\"tar.gz\""
        );
    }
}
