//! Core metadata (`METADATA` in wheels, `PKG-INFO` in sdists): the
//! RFC 822-style header block described by the Core Metadata Specification.
//!
//! Parsing is deliberately stricter than Python's `email` module where the
//! difference matters for security: identity fields (`Metadata-Version`,
//! `Name`, `Version`, `Requires-Python`) may appear only once, because tools
//! that pick "first" and tools that pick "last" would otherwise disagree about
//! what a file is.

use std::str::FromStr;

use pep440_rs::Version;
use serde::Serialize;

use crate::names::{NameError, ProjectName};

/// Largest metadata file accepted. Real ones are a few KiB; long READMEs make
/// some a few hundred KiB.
pub const MAX_METADATA_BYTES: usize = 4 * 1024 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("the metadata is {size} bytes; at most {MAX_METADATA_BYTES} bytes are accepted")]
    TooLarge { size: usize },
    #[error("the metadata is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("the metadata contains a NUL character on line {line}")]
    NulCharacter { line: usize },
    #[error("line {line} of the metadata is not a 'Field: value' header: {text:?}")]
    MalformedLine { line: usize, text: String },
    #[error(
        "line {line} of the metadata is an indented continuation line with no field before it"
    )]
    OrphanContinuation { line: usize },
    #[error("the metadata has no {0} field; it is required")]
    MissingField(&'static str),
    #[error("the metadata has more than one {0} field; it may appear only once")]
    DuplicateField(&'static str),
    #[error(
        "unsupported Metadata-Version {0:?}: expected 1.x or 2.x (e.g. 2.1); \
         upgrade the build tool that made this file only if it is older than 2013"
    )]
    UnsupportedMetadataVersion(String),
    #[error("the metadata's Name {name:?} is not a valid project name: {source}")]
    InvalidName {
        name: String,
        #[source]
        source: NameError,
    },
    #[error("the metadata's Version {version:?} is not a valid PEP 440 version: {reason}")]
    InvalidVersion { version: String, reason: String },
}

/// The fields of core metadata that airlock uses or shows. Unknown fields are
/// ignored; the raw bytes are kept separately by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoreMetadata {
    pub metadata_version: String,
    /// As written in the file (not normalised); validated as a project name.
    pub name: String,
    /// As written in the file; validated as a PEP 440 version.
    pub version: String,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
    pub provides_extra: Vec<String>,
    pub license: Option<String>,
    pub license_expression: Option<String>,
    pub classifiers: Vec<String>,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub maintainer: Option<String>,
    pub maintainer_email: Option<String>,
    pub home_page: Option<String>,
    pub project_urls: Vec<String>,
    pub keywords: Option<String>,
    pub description_content_type: Option<String>,
    pub dynamic: Vec<String>,
    /// The message body, or the legacy `Description` field when there is no body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl CoreMetadata {
    /// Parse a METADATA / PKG-INFO file. Tolerates CRLF line endings and a
    /// UTF-8 byte-order mark.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge { size: bytes.len() });
        }
        let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| MetadataError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let (headers, body) = split_headers(text)?;
        let mut meta = CoreMetadata::default();
        let mut seen = Required::default();
        for (field, value) in headers {
            meta.apply(&field, value, &mut seen)?;
        }
        if let Some(body) = body {
            meta.description = Some(body);
        }
        seen.finish(&meta)?;
        Ok(meta)
    }

    fn apply(
        &mut self,
        field: &str,
        value: String,
        seen: &mut Required,
    ) -> Result<(), MetadataError> {
        fn first(slot: &mut Option<String>, value: String) {
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        match field.to_ascii_lowercase().as_str() {
            "metadata-version" => {
                once(&mut seen.metadata_version, "Metadata-Version")?;
                self.metadata_version = value;
            }
            "name" => {
                once(&mut seen.name, "Name")?;
                self.name = value;
            }
            "version" => {
                once(&mut seen.version, "Version")?;
                self.version = value;
            }
            "requires-python" => {
                once(&mut seen.requires_python, "Requires-Python")?;
                self.requires_python = Some(value);
            }
            "summary" => first(&mut self.summary, value),
            "license" => first(&mut self.license, value),
            "license-expression" => first(&mut self.license_expression, value),
            "author" => first(&mut self.author, value),
            "author-email" => first(&mut self.author_email, value),
            "maintainer" => first(&mut self.maintainer, value),
            "maintainer-email" => first(&mut self.maintainer_email, value),
            "home-page" => first(&mut self.home_page, value),
            "keywords" => first(&mut self.keywords, value),
            "description-content-type" => first(&mut self.description_content_type, value),
            "description" => first(&mut self.description, strip_legacy_bars(&value)),
            "requires-dist" => self.requires_dist.push(value),
            "provides-extra" => self.provides_extra.push(value),
            "classifier" => self.classifiers.push(value),
            "project-url" => self.project_urls.push(value),
            "dynamic" => self.dynamic.push(value),
            _ => {}
        }
        Ok(())
    }
}

fn once(seen: &mut bool, field: &'static str) -> Result<(), MetadataError> {
    if std::mem::replace(seen, true) {
        Err(MetadataError::DuplicateField(field))
    } else {
        Ok(())
    }
}

/// Which single-use fields have been seen.
#[derive(Default)]
struct Required {
    metadata_version: bool,
    name: bool,
    version: bool,
    requires_python: bool,
}

impl Required {
    fn finish(&self, meta: &CoreMetadata) -> Result<(), MetadataError> {
        if !self.metadata_version || meta.metadata_version.is_empty() {
            return Err(MetadataError::MissingField("Metadata-Version"));
        }
        if !self.name || meta.name.is_empty() {
            return Err(MetadataError::MissingField("Name"));
        }
        if !self.version || meta.version.is_empty() {
            return Err(MetadataError::MissingField("Version"));
        }
        if !is_supported_metadata_version(&meta.metadata_version) {
            return Err(MetadataError::UnsupportedMetadataVersion(
                meta.metadata_version.clone(),
            ));
        }
        ProjectName::new(&meta.name).map_err(|source| MetadataError::InvalidName {
            name: meta.name.clone(),
            source,
        })?;
        Version::from_str(&meta.version).map_err(|e| MetadataError::InvalidVersion {
            version: meta.version.clone(),
            reason: e.to_string(),
        })?;
        Ok(())
    }
}

/// `1.x` or `2.x`: the spec says a newer minor version must be tolerated and
/// a newer major version refused.
fn is_supported_metadata_version(raw: &str) -> bool {
    let Some((major, minor)) = raw.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    matches!(major, "1" | "2") && digits(minor)
}

type Headers = Vec<(String, String)>;

/// Split the text into unfolded `(field, value)` headers and the body that
/// follows the first blank line (`None` if absent or blank).
fn split_headers(text: &str) -> Result<(Headers, Option<String>), MetadataError> {
    let mut headers: Headers = Vec::new();
    let mut lines = text.split('\n').enumerate();
    let mut body = None;
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.contains('\0') {
            return Err(MetadataError::NulCharacter { line: line_no });
        }
        if line.is_empty() {
            let rest: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l.strip_suffix('\r').unwrap_or(l))
                .collect();
            if let Some(n) = rest.iter().position(|l| l.contains('\0')) {
                return Err(MetadataError::NulCharacter {
                    line: line_no + 1 + n,
                });
            }
            let joined = rest.join("\n");
            let trimmed = joined.trim_end();
            if !trimmed.is_empty() {
                body = Some(trimmed.to_string());
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = headers.last_mut() else {
                return Err(MetadataError::OrphanContinuation { line: line_no });
            };
            value.push('\n');
            value.push_str(dedent(line));
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            return Err(malformed(line_no, line));
        };
        // RFC 5322 field names: printable ASCII, no spaces or colons.
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(malformed(line_no, line));
        }
        headers.push((field.to_string(), value.trim().to_string()));
    }
    for (_, value) in &mut headers {
        let end = value.trim_end().len();
        value.truncate(end);
    }
    Ok((headers, body))
}

fn malformed(line: usize, text: &str) -> MetadataError {
    MetadataError::MalformedLine {
        line,
        text: text.chars().take(80).collect(),
    }
}

/// Remove the folding indent of a continuation line: a tab, or up to the
/// eight spaces setuptools uses.
fn dedent(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix('\t') {
        return rest;
    }
    let spaces = line.bytes().take(8).take_while(|&b| b == b' ').count();
    &line[spaces..]
}

/// Old setuptools wrote multi-line `Description` fields with a `|` after the
/// indent of each continuation line; drop it.
fn strip_legacy_bars(value: &str) -> String {
    let mut lines = value.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        out.push('\n');
        out.push_str(line.strip_prefix('|').unwrap_or(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A predicate on the error a case must produce.
    type Expect = fn(&MetadataError) -> bool;

    const FULL: &str = "Metadata-Version: 2.1\n\
Name: My.Pkg\n\
Version: 1.0.post1\n\
Summary: A  package\n\
Requires-Python: >=3.8\n\
Requires-Dist: requests>=2\n\
Requires-Dist: rich; extra == \"cli\"\n\
Provides-Extra: cli\n\
License: MIT\n\
License-Expression: MIT OR Apache-2.0\n\
Classifier: Programming Language :: Python :: 3\n\
Classifier: License :: OSI Approved :: MIT License\n\
Author: Ada\n\
Author-email: Ada <ada@example.com>\n\
Maintainer: Bob\n\
Maintainer-email: bob@example.com\n\
Home-page: https://example.com\n\
Project-URL: Source, https://example.com/src\n\
Keywords: a,b\n\
Description-Content-Type: text/markdown\n\
Dynamic: license\n\
X-Unknown-Field: ignored\n\
\n\
# My pkg\n\
\n\
Body text.\n";

    #[test]
    fn parses_every_field() {
        let m = CoreMetadata::parse(FULL.as_bytes()).unwrap();
        assert_eq!(m.metadata_version, "2.1");
        assert_eq!(m.name, "My.Pkg");
        assert_eq!(m.version, "1.0.post1");
        assert_eq!(m.summary.as_deref(), Some("A  package"));
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.requires_dist, ["requests>=2", "rich; extra == \"cli\""]);
        assert_eq!(m.provides_extra, ["cli"]);
        assert_eq!(m.license.as_deref(), Some("MIT"));
        assert_eq!(m.license_expression.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(m.classifiers.len(), 2);
        assert_eq!(m.author.as_deref(), Some("Ada"));
        assert_eq!(m.author_email.as_deref(), Some("Ada <ada@example.com>"));
        assert_eq!(m.maintainer.as_deref(), Some("Bob"));
        assert_eq!(m.maintainer_email.as_deref(), Some("bob@example.com"));
        assert_eq!(m.home_page.as_deref(), Some("https://example.com"));
        assert_eq!(m.project_urls, ["Source, https://example.com/src"]);
        assert_eq!(m.keywords.as_deref(), Some("a,b"));
        assert_eq!(m.description_content_type.as_deref(), Some("text/markdown"));
        assert_eq!(m.dynamic, ["license"]);
        assert_eq!(m.description.as_deref(), Some("# My pkg\n\nBody text."));
    }

    #[test]
    fn tolerates_crlf_bom_case_and_folding() {
        let text = "\u{feff}metadata-version: 1.2\r\nNAME: foo\r\nversion:2.0\r\n\
                    License: line one\r\n        line two\r\n\tline three\r\n\
                    Description: first\r\n        |  indented\r\n        |last\r\n";
        let m = CoreMetadata::parse(text.as_bytes()).unwrap();
        assert_eq!(m.metadata_version, "1.2");
        assert_eq!(m.name, "foo");
        assert_eq!(m.version, "2.0");
        assert_eq!(m.license.as_deref(), Some("line one\nline two\nline three"));
        assert_eq!(m.description.as_deref(), Some("first\n  indented\nlast"));
    }

    #[test]
    fn body_wins_over_description_field_and_blank_body_is_none() {
        let with_both = "Metadata-Version: 2.1\nName: a\nVersion: 1\nDescription: old\n\nnew\n";
        let m = CoreMetadata::parse(with_both.as_bytes()).unwrap();
        assert_eq!(m.description.as_deref(), Some("new"));
        let blank_body = "Metadata-Version: 2.1\nName: a\nVersion: 1\n\n\n  \n";
        assert_eq!(
            CoreMetadata::parse(blank_body.as_bytes())
                .unwrap()
                .description,
            None
        );
        // A body line that looks like a header is still body.
        let tricky = "Metadata-Version: 2.1\nName: a\nVersion: 1\n\nName: evil\n";
        let m = CoreMetadata::parse(tricky.as_bytes()).unwrap();
        assert_eq!(m.name, "a");
        assert_eq!(m.description.as_deref(), Some("Name: evil"));
    }

    #[test]
    fn rejects_invalid_metadata() {
        let too_big = format!(
            "Metadata-Version: 2.1\nName: a\nVersion: 1\n\n{}",
            "x".repeat(MAX_METADATA_BYTES)
        );
        let cases: Vec<(Vec<u8>, Expect)> = vec![
            (b"".to_vec(), |e| {
                matches!(e, MetadataError::MissingField("Metadata-Version"))
            }),
            (b"Name: a\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::MissingField("Metadata-Version"))
            }),
            (b"Metadata-Version: 2.1\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::MissingField("Name"))
            }),
            (b"Metadata-Version: 2.1\nName: a\n".to_vec(), |e| {
                matches!(e, MetadataError::MissingField("Version"))
            }),
            (b"Metadata-Version: 2.1\nName:\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::MissingField("Name"))
            }),
            (b"Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::DuplicateField("Name"))
            }),
            (b"Metadata-Version: 2.1\nName: a\nVersion: 1\nversion: 2\n".to_vec(), |e| {
                matches!(e, MetadataError::DuplicateField("Version"))
            }),
            (
                b"Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Python: >=3\nRequires-Python: <3\n"
                    .to_vec(),
                |e| matches!(e, MetadataError::DuplicateField("Requires-Python")),
            ),
            (b"Metadata-Version: 3.0\nName: a\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::UnsupportedMetadataVersion(_))
            }),
            (b"Metadata-Version: two\nName: a\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::UnsupportedMetadataVersion(_))
            }),
            (b"Metadata-Version: 2.1\nName: ../etc\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::InvalidName { .. })
            }),
            (b"Metadata-Version: 2.1\nName: a\nVersion: one\n".to_vec(), |e| {
                matches!(e, MetadataError::InvalidVersion { .. })
            }),
            (b"Metadata-Version: 2.1\nthis is not a header\n".to_vec(), |e| {
                matches!(e, MetadataError::MalformedLine { line: 2, .. })
            }),
            (b"Metadata-Version: 2.1\nBad Field: x\n".to_vec(), |e| {
                matches!(e, MetadataError::MalformedLine { line: 2, .. })
            }),
            (b" leading: continuation\n".to_vec(), |e| {
                matches!(e, MetadataError::OrphanContinuation { line: 1 })
            }),
            (b"Metadata-Version: 2.1\nName: \xff\n".to_vec(), |e| {
                matches!(e, MetadataError::NotUtf8 { offset: 28 })
            }),
            (b"Metadata-Version: 2.1\nName: a\0b\nVersion: 1\n".to_vec(), |e| {
                matches!(e, MetadataError::NulCharacter { line: 2 })
            }),
            (b"Metadata-Version: 2.1\nName: a\nVersion: 1\n\nbody\0\n".to_vec(), |e| {
                matches!(e, MetadataError::NulCharacter { line: 5 })
            }),
            (too_big.into_bytes(), |e| matches!(e, MetadataError::TooLarge { .. })),
        ];
        for (input, want) in cases {
            let shown = String::from_utf8_lossy(&input[..input.len().min(60)]).into_owned();
            let err = CoreMetadata::parse(&input).expect_err(&shown);
            assert!(want(&err), "{shown:?} gave {err:?}");
        }
    }

    #[test]
    fn supported_metadata_versions() {
        for ok in ["1.0", "1.1", "1.2", "2.1", "2.4", "2.10"] {
            assert!(is_supported_metadata_version(ok), "{ok}");
        }
        for bad in ["", "2", "3.0", "0.9", "2.", ".1", "2.1.1", "2.x", "12.1"] {
            assert!(!is_supported_metadata_version(bad), "{bad}");
        }
    }
}
