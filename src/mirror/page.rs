//! Upstream project pages: PEP 691 JSON and PEP 503 HTML parsed into one
//! form, then vetted into the rows airlock stores.
//!
//! Vetting is where upstream stops being trusted: a file without a sha256
//! is dropped (airlock never serves bytes it cannot verify), unless the
//! server runs `--mirror-unverified-files`: then it is kept apart, as an
//! unverified link (see [`super::unverified`]). Always dropped: a file whose
//! name is unsafe as a path segment, that belongs to another project, or
//! that is not served over http(s).

use std::collections::HashSet;

use reqwest::Url;
use serde_json::Value;

use super::html;
use crate::digest::Sha256;
use crate::dist::DistFilename;
use crate::names::ProjectName;
use crate::store::mirror::{MirrorFileRow, MirrorLinkRow};

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
    /// What upstream declared as the sha256 when it is not a digest.
    pub malformed_sha256: Option<String>,
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
    let (sha256, malformed_sha256) = declared(f["hashes"]["sha256"].as_str());
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
        malformed_sha256,
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
            let (sha256, malformed_sha256) =
                declared(fragment.as_deref().and_then(|f| f.strip_prefix("sha256=")));
            let meta = a
                .attrs
                .get("data-core-metadata")
                .or_else(|| a.attrs.get("data-dist-info-metadata"));
            // The anchor text must be the filename (PEP 503); fall back to
            // the last path segment, percent-decoded, for pages that put
            // something else there (devpi's test PyPI: the quoted file name
            // with its fragment).
            let filename = if safe_filename(&a.text) {
                a.text.clone()
            } else {
                url_basename(&url).unwrap_or_else(|| a.text.clone())
            };
            Some(ParsedFile {
                filename,
                sha256,
                malformed_sha256,
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

/// A declared sha256 as a digest, or else as the malformed text it is.
fn declared(raw: Option<&str>) -> (Option<Sha256>, Option<String>) {
    match raw.map(str::trim) {
        None | Some("") => (None, None),
        Some(h) => match h.parse() {
            Ok(sha) => (Some(sha), None),
            Err(_) => (None, Some(h.chars().take(200).collect())),
        },
    }
}

/// The last path segment of a URL, percent-decoded (`None` if empty or
/// not UTF-8).
pub fn url_basename(url: &Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let decoded = percent_decode(last)?;
    (!decoded.is_empty()).then_some(decoded)
}

/// `%XX` escapes decoded; `None` if the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
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
    /// Upstream declared a sha256 that is not one, and it cannot even be
    /// listed (unverified files allowed, but the text is no path segment).
    MalformedSha256(String),
    UnsafeFilename(String),
    OtherProject {
        filename: String,
        project: String,
    },
    Duplicate(String),
}

/// What vetting keeps of a page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Vetted {
    /// Files with the sha256 upstream declared: verified when downloaded.
    pub files: Vec<MirrorFileRow>,
    /// Files without a usable sha256, when unverified files are allowed.
    pub links: Vec<MirrorLinkRow>,
    pub skipped: Vec<Skipped>,
}

/// Files fit to store, and the ones dropped with the reason. Files without
/// a valid sha256 are kept as [`Vetted::links`] only if `unverified`
/// (`--mirror-unverified-files`).
pub fn vet(project: &ProjectName, files: Vec<ParsedFile>, unverified: bool) -> Vetted {
    let mut out = Vetted {
        files: Vec::with_capacity(files.len()),
        ..Vetted::default()
    };
    let mut seen = HashSet::new();
    for f in files {
        if !safe_filename(&f.filename) {
            out.skipped.push(Skipped::UnsafeFilename(
                f.filename.chars().take(100).collect(),
            ));
            continue;
        }
        if let Ok(parsed) = DistFilename::parse(&f.filename) {
            if parsed.name != *project {
                out.skipped.push(Skipped::OtherProject {
                    filename: f.filename,
                    project: parsed.name.to_string(),
                });
                continue;
            }
        }
        if f.sha256.is_none() {
            if !unverified {
                out.skipped.push(Skipped::NoSha256(f.filename));
                continue;
            }
            if let Some(bad) = &f.malformed_sha256 {
                if !listable_malformed(bad) {
                    out.skipped.push(Skipped::MalformedSha256(f.filename));
                    continue;
                }
            }
        }
        if !seen.insert(f.filename.clone()) {
            out.skipped.push(Skipped::Duplicate(f.filename));
            continue;
        }
        let requires_python = f.requires_python.filter(|r| r.len() <= 1024);
        let yanked = f.yanked.map(|y| y.chars().take(1024).collect());
        match f.sha256 {
            Some(sha256) => out.files.push(MirrorFileRow {
                project: project.as_str().to_string(),
                filename: f.filename,
                url: f.url.to_string(),
                sha256,
                requires_python,
                yanked,
                size: f.size,
                upload_time: f.upload_time,
                metadata_sha256: f.metadata_sha256,
            }),
            None => out.links.push(MirrorLinkRow {
                project: project.as_str().to_string(),
                filename: f.filename,
                url: f.url.to_string(),
                malformed_sha256: f.malformed_sha256,
                pinned_sha256: None,
                pinned_at: None,
                requires_python,
                yanked,
                size: f.size,
                upload_time: f.upload_time,
            }),
        }
    }
    out
}

/// A malformed declared sha256 can be listed devpi's way (`+f/{first 3}/
/// {next 13}/…`) if it is a few ASCII letters and digits.
fn listable_malformed(s: &str) -> bool {
    (4..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
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
            malformed_sha256: None,
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
        let Vetted {
            files: rows,
            links,
            skipped,
        } = vet(
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
            false,
        );
        assert!(links.is_empty());
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

    #[test]
    fn unverified_files_become_links_only_when_allowed() {
        let project = ProjectName::new("pkg").unwrap();
        let mut bad = file("pkg-2.0.zip", None);
        bad.malformed_sha256 = Some("1234".into());
        let mut unlistable = file("pkg-3.0.zip", None);
        unlistable.malformed_sha256 = Some("12/4".into());
        let files = vec![
            file("pkg-1.0.zip", None),
            bad,
            unlistable,
            file("pkg-4.0.zip", Some(sha("x"))),
            file("pkg-1.0.zip", None),
        ];
        let off = vet(&project, files.clone(), false);
        assert_eq!(off.files.len(), 1);
        assert!(off.links.is_empty());
        assert_eq!(
            off.skipped,
            vec![
                Skipped::NoSha256("pkg-1.0.zip".into()),
                Skipped::NoSha256("pkg-2.0.zip".into()),
                Skipped::NoSha256("pkg-3.0.zip".into()),
                Skipped::NoSha256("pkg-1.0.zip".into()),
            ]
        );
        let on = vet(&project, files, true);
        assert_eq!(on.files.len(), 1);
        assert_eq!(on.files[0].filename, "pkg-4.0.zip");
        let names: Vec<(&str, Option<&str>)> = on
            .links
            .iter()
            .map(|l| (l.filename.as_str(), l.malformed_sha256.as_deref()))
            .collect();
        assert_eq!(
            names,
            [("pkg-1.0.zip", None), ("pkg-2.0.zip", Some("1234"))]
        );
        assert_eq!(
            on.skipped,
            vec![
                Skipped::MalformedSha256("pkg-3.0.zip".into()),
                Skipped::Duplicate("pkg-1.0.zip".into()),
            ]
        );
    }

    #[test]
    fn html_links_without_or_with_a_malformed_sha256() {
        // devpi's test PyPI: quoted names, the fragment in the anchor text
        let html = r#"<a href="../../pkg/pkg-1.0.zip">pkg-1.0.zip</a>
            <a href="../../pkg/pkg-1%212017.4%2Bdevpi.zip">pkg-1%212017.4%2Bdevpi.zip</a>
            <a href="../../pkg/pkg-1%212017.4%2Bdevpi.zip#sha256=1234">pkg-1%212017.4%2Bdevpi.zip#sha256=1234</a>"#;
        let url = Url::parse("http://localhost:4567/simple/pkg/").unwrap();
        let p = parse(html.as_bytes(), false, &url).unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = p
            .files
            .iter()
            .map(|f| {
                (
                    f.filename.as_str(),
                    f.url.as_str(),
                    f.malformed_sha256.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("pkg-1.0.zip", "http://localhost:4567/pkg/pkg-1.0.zip", None),
                (
                    "pkg-1!2017.4+devpi.zip",
                    "http://localhost:4567/pkg/pkg-1%212017.4%2Bdevpi.zip",
                    None
                ),
                (
                    "pkg-1!2017.4+devpi.zip",
                    "http://localhost:4567/pkg/pkg-1%212017.4%2Bdevpi.zip",
                    Some("1234")
                ),
            ]
        );
        assert!(p.files.iter().all(|f| f.sha256.is_none()));
        assert_eq!(percent_decode("a%2"), Some("a%2".into()));
        assert_eq!(percent_decode("%ff"), None);
    }
}
