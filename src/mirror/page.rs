//! Upstream project pages: PEP 691 JSON and PEP 503 HTML parsed into one
//! form, then vetted into the rows airlock stores.
//!
//! Vetting is where upstream stops being trusted: a file without a sha256
//! is dropped (airlock never serves bytes it cannot verify), as is a file
//! whose name is unsafe as a path segment, that belongs to another project,
//! or that is not served over http(s).

use std::collections::HashSet;

use reqwest::Url;
use serde_json::Value;

use super::html;
use crate::digest::Sha256;
use crate::dist::DistFilename;
use crate::names::ProjectName;
use crate::store::mirror::MirrorFileRow;

/// A project page as upstream described it, before vetting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedPage {
    /// The project's display name, when the page says (JSON only).
    pub name: Option<String>,
    pub files: Vec<ParsedFile>,
    /// PEP 700 versions (JSON only).
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    pub filename: String,
    /// Absolute URL, fragment removed.
    pub url: Url,
    pub sha256: Option<Sha256>,
    pub requires_python: Option<String>,
    pub yanked: Option<String>,
    pub size: Option<u64>,
    pub upload_time: Option<i64>,
    /// Digest of the PEP 658 metadata file; `None` also when upstream has
    /// metadata but no digest for it (unverifiable, so not offered).
    pub metadata_sha256: Option<Sha256>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the upstream page is not valid JSON: {0}")]
    Json(String),
    #[error("the upstream page speaks simple API version {0}; airlock understands 1.x")]
    ApiVersion(String),
    #[error("the upstream page is not UTF-8 text")]
    NotText,
}

/// Parse a page body; `json` tells which format upstream said it sent.
/// Relative links are resolved against `page_url`.
pub fn parse(body: &[u8], json: bool, page_url: &Url) -> Result<ParsedPage, PageError> {
    if json {
        parse_json(body, page_url)
    } else {
        let text = std::str::from_utf8(body).map_err(|_| PageError::NotText)?;
        Ok(parse_html(text, page_url))
    }
}

fn parse_json(body: &[u8], page_url: &Url) -> Result<ParsedPage, PageError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| PageError::Json(e.to_string()))?;
    let api = v["meta"]["api-version"].as_str().unwrap_or("1.0");
    if api.split('.').next() != Some("1") {
        return Err(PageError::ApiVersion(api.chars().take(20).collect()));
    }
    let files = v["files"]
        .as_array()
        .ok_or_else(|| PageError::Json("\"files\" is missing or not a list".into()))?;
    let files = files
        .iter()
        .filter_map(|f| json_file(f, page_url))
        .collect();
    let versions = v["versions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(ParsedPage {
        name: v["name"].as_str().map(str::to_string),
        files,
        versions,
    })
}

fn json_file(f: &Value, page_url: &Url) -> Option<ParsedFile> {
    let filename = f["filename"].as_str()?.to_string();
    let (url, _) = resolve(page_url, f["url"].as_str()?)?;
    let sha256 = f["hashes"]["sha256"].as_str().and_then(|h| h.parse().ok());
    let yanked = match &f["yanked"] {
        Value::Bool(true) => Some(String::new()),
        Value::String(reason) => Some(reason.clone()),
        _ => None,
    };
    // PEP 714 renamed data-dist-info-metadata to core-metadata.
    let meta = match &f["core-metadata"] {
        Value::Null => &f["data-dist-info-metadata"],
        m => m,
    };
    Some(ParsedFile {
        filename,
        url,
        sha256,
        requires_python: f["requires-python"].as_str().map(str::to_string),
        yanked,
        size: f["size"].as_u64(),
        upload_time: f["upload-time"].as_str().and_then(parse_time),
        metadata_sha256: meta["sha256"].as_str().and_then(|h| h.parse().ok()),
    })
}

fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn parse_html(text: &str, page_url: &Url) -> ParsedPage {
    let links = html::parse_links(text);
    let base = links
        .base
        .as_deref()
        .and_then(|b| page_url.join(b).ok())
        .unwrap_or_else(|| page_url.clone());
    let files = links
        .anchors
        .iter()
        .filter_map(|a| {
            let (url, fragment) = resolve(&base, a.attrs.get("href")?)?;
            let sha256 = fragment
                .as_deref()
                .and_then(|f| f.strip_prefix("sha256="))
                .and_then(|h| h.parse().ok());
            let meta = a
                .attrs
                .get("data-core-metadata")
                .or_else(|| a.attrs.get("data-dist-info-metadata"));
            // The anchor text must be the filename (PEP 503); fall back to
            // the last path segment for pages that put something else there.
            let filename = if a.text.is_empty() {
                url.path_segments()?.next_back()?.to_string()
            } else {
                a.text.clone()
            };
            Some(ParsedFile {
                filename,
                sha256,
                requires_python: a.attrs.get("data-requires-python").cloned(),
                yanked: a.attrs.get("data-yanked").cloned(),
                size: None,
                upload_time: None,
                metadata_sha256: meta
                    .and_then(|m| m.strip_prefix("sha256="))
                    .and_then(|h| h.parse().ok()),
                url,
            })
        })
        .collect();
    ParsedPage {
        name: None,
        files,
        versions: Vec::new(),
    }
}

/// Resolve a link against the page; split off the fragment. Only http(s)
/// URLs are kept.
fn resolve(base: &Url, href: &str) -> Option<(Url, Option<String>)> {
    let mut url = base.join(href.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let fragment = url.fragment().map(str::to_string);
    url.set_fragment(None);
    Some((url, fragment))
}

/// Why a listed file is not offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    NoSha256(String),
    UnsafeFilename(String),
    OtherProject { filename: String, project: String },
    Duplicate(String),
}

/// Files fit to store, and the ones dropped with the reason.
pub fn vet(project: &ProjectName, files: Vec<ParsedFile>) -> (Vec<MirrorFileRow>, Vec<Skipped>) {
    let mut rows = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for f in files {
        if !safe_filename(&f.filename) {
            skipped.push(Skipped::UnsafeFilename(
                f.filename.chars().take(100).collect(),
            ));
            continue;
        }
        if let Ok(parsed) = DistFilename::parse(&f.filename) {
            if parsed.name != *project {
                skipped.push(Skipped::OtherProject {
                    filename: f.filename,
                    project: parsed.name.to_string(),
                });
                continue;
            }
        }
        let Some(sha256) = f.sha256 else {
            skipped.push(Skipped::NoSha256(f.filename));
            continue;
        };
        if !seen.insert(f.filename.clone()) {
            skipped.push(Skipped::Duplicate(f.filename));
            continue;
        }
        rows.push(MirrorFileRow {
            project: project.as_str().to_string(),
            filename: f.filename,
            url: f.url.to_string(),
            sha256,
            requires_python: f.requires_python.filter(|r| r.len() <= 1024),
            yanked: f.yanked.map(|y| y.chars().take(1024).collect()),
            size: f.size,
            upload_time: f.upload_time,
            metadata_sha256: f.metadata_sha256,
        });
    }
    (rows, skipped)
}

/// A filename that is safe as one URL path segment and one file name:
/// printable ASCII without separators, not starting with '.', bounded.
/// (Legacy formats such as `.egg` pass; the name check above only applies
/// to names airlock can parse.)
pub fn safe_filename(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= crate::dist::filename::MAX_FILENAME_LEN
        && !name.starts_with('.')
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'/' | b'\\' | b'%' | b'?' | b'#' | b'"' | b'<' | b'>')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_url() -> Url {
        Url::parse("https://up.example/simple/demo/").unwrap()
    }

    fn sha(s: &str) -> Sha256 {
        Sha256::of(s.as_bytes())
    }

    #[test]
    fn json_pages() {
        let body = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "Demo",
            "versions": ["1.0"],
            "files": [
                {"filename": "demo-1.0.tar.gz", "url": "../../files/demo-1.0.tar.gz#frag",
                 "hashes": {"sha256": sha("a").to_hex()}, "requires-python": ">=3.8",
                 "size": 10, "upload-time": "2024-01-02T03:04:05.123456Z", "yanked": false},
                {"filename": "demo-1.0-py3-none-any.whl", "url": "https://cdn.example/w.whl",
                 "hashes": {"sha256": sha("b").to_hex()}, "yanked": "broken",
                 "data-dist-info-metadata": {"sha256": sha("m").to_hex()}},
                {"filename": "nohash-1.0.tar.gz", "url": "x", "hashes": {"md5": "00"},
                 "core-metadata": true},
                {"filename": "bad-url.tar.gz", "url": "file:///etc/passwd"},
                {"url": "missing-filename"}
            ]
        });
        let p = parse(body.to_string().as_bytes(), true, &page_url()).unwrap();
        assert_eq!(p.name.as_deref(), Some("Demo"));
        assert_eq!(p.versions, ["1.0"]);
        assert_eq!(p.files.len(), 3);
        let a = &p.files[0];
        assert_eq!(a.url.as_str(), "https://up.example/files/demo-1.0.tar.gz");
        assert_eq!(a.sha256, Some(sha("a")));
        assert_eq!(a.size, Some(10));
        assert_eq!(a.upload_time, Some(1_704_164_645));
        assert_eq!(a.yanked, None);
        let b = &p.files[1];
        assert_eq!(b.yanked.as_deref(), Some("broken"));
        assert_eq!(b.metadata_sha256, Some(sha("m")));
        let c = &p.files[2];
        assert_eq!((c.sha256, c.metadata_sha256), (None, None));
    }

    #[test]
    fn json_errors() {
        for (body, want) in [
            ("{", "JSON"),
            (
                "{\"meta\": {\"api-version\": \"2.0\"}, \"files\": []}",
                "version 2.0",
            ),
            ("{\"meta\": {\"api-version\": \"1.0\"}}", "files"),
        ] {
            let e = parse(body.as_bytes(), true, &page_url()).unwrap_err();
            assert!(e.to_string().contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn html_pages() {
        let html = format!(
            r#"<a href="../../files/demo-1.0.tar.gz#sha256={}" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>
               <a href="/w/demo-1.0-py3-none-any.whl#sha256={}" data-yanked="" data-core-metadata="sha256={}">demo-1.0-py3-none-any.whl</a>
               <a href="demo-0.9.tar.gz#md5=00">demo-0.9.tar.gz</a>
               <a href="javascript:alert(1)">x</a>"#,
            sha("a"),
            sha("b"),
            sha("m")
        );
        let p = parse(html.as_bytes(), false, &page_url()).unwrap();
        assert_eq!(p.files.len(), 3);
        assert_eq!(
            p.files[0].url.as_str(),
            "https://up.example/files/demo-1.0.tar.gz"
        );
        assert_eq!(p.files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(
            p.files[1].url.as_str(),
            "https://up.example/w/demo-1.0-py3-none-any.whl"
        );
        assert_eq!(p.files[1].yanked.as_deref(), Some(""));
        assert_eq!(p.files[1].metadata_sha256, Some(sha("m")));
        assert_eq!(p.files[2].sha256, None);
        assert!(parse(&[0xff, 0xfe], false, &page_url()).is_err());
    }

    fn file(name: &str, hash: Option<Sha256>) -> ParsedFile {
        ParsedFile {
            filename: name.into(),
            url: Url::parse("https://up.example/f").unwrap(),
            sha256: hash,
            requires_python: None,
            yanked: None,
            size: None,
            upload_time: None,
            metadata_sha256: None,
        }
    }

    #[test]
    fn vetting() {
        let project = ProjectName::new("demo").unwrap();
        let h = Some(sha("x"));
        let (rows, skipped) = vet(
            &project,
            vec![
                file("demo-1.0.tar.gz", h),
                file("Demo-1.1-py3-none-any.whl", h),
                file("demo-0.1.egg", h),
                file("demo-1.0.tar.gz", h),
                file("demo-0.9.tar.gz", None),
                file("evil-1.0.tar.gz", h),
                file("../demo-1.0.tar.gz", h),
                file(".hidden", h),
                file("demo 1.0.tar.gz", h),
            ],
        );
        let names: Vec<&str> = rows.iter().map(|r| r.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo-1.0.tar.gz",
                "Demo-1.1-py3-none-any.whl",
                "demo-0.1.egg"
            ]
        );
        assert_eq!(
            skipped,
            vec![
                Skipped::Duplicate("demo-1.0.tar.gz".into()),
                Skipped::NoSha256("demo-0.9.tar.gz".into()),
                Skipped::OtherProject {
                    filename: "evil-1.0.tar.gz".into(),
                    project: "evil".into()
                },
                Skipped::UnsafeFilename("../demo-1.0.tar.gz".into()),
                Skipped::UnsafeFilename(".hidden".into()),
                Skipped::UnsafeFilename("demo 1.0.tar.gz".into()),
            ]
        );
    }
}
