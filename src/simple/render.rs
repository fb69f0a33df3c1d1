//! Rendering of simple pages.

use std::fmt::Write;

use serde_json::{json, Value};

use super::{Format, API_VERSION};
use crate::digest::Sha256;

/// One file on a project page.
#[derive(Debug, Clone)]
pub struct SimpleFile {
    pub filename: String,
    /// URL relative to the project page, or absolute.
    pub url: String,
    /// `None`: an unverified mirror file not downloaded yet (served under
    /// `--mirror-unverified-files` only); no hash is claimed for it.
    pub sha256: Option<Sha256>,
    pub requires_python: Option<String>,
    /// `Some("")` = yanked without reason.
    pub yanked: Option<String>,
    pub size: u64,
    /// Unix seconds.
    pub upload_time: i64,
    /// Digest of the PEP 658 metadata file, when served.
    pub core_metadata: Option<Sha256>,
}

pub struct ProjectPage<'a> {
    /// Normalised project name.
    pub name: &'a str,
    pub files: &'a [SimpleFile],
    /// All versions, PEP 440 sorted ascending.
    pub versions: &'a [String],
}

pub fn render_project(page: &ProjectPage<'_>, format: Format) -> String {
    match format {
        Format::Json => project_json(page).to_string(),
        Format::Html | Format::HtmlV1 => project_html(page),
    }
}

fn project_json(page: &ProjectPage<'_>) -> Value {
    let files: Vec<Value> = page
        .files
        .iter()
        .map(|f| {
            let mut o = json!({
                "filename": f.filename,
                "url": f.url,
                "hashes": match f.sha256 {
                    Some(h) => json!({"sha256": h.to_hex()}),
                    None => json!({}),
                },
                "requires-python": f.requires_python,
                "size": f.size,
                "upload-time": rfc3339(f.upload_time),
                "yanked": match &f.yanked {
                    None => Value::Bool(false),
                    Some(r) if r.is_empty() => Value::Bool(true),
                    Some(r) => Value::String(r.clone()),
                },
            });
            let meta = match f.core_metadata {
                Some(s) => json!({"sha256": s.to_hex()}),
                None => Value::Bool(false),
            };
            o["core-metadata"] = meta.clone();
            o["data-dist-info-metadata"] = meta;
            o
        })
        .collect();
    json!({
        "meta": {"api-version": API_VERSION},
        "name": page.name,
        "files": files,
        "versions": page.versions,
    })
}

fn project_html(page: &ProjectPage<'_>) -> String {
    let mut out = String::with_capacity(256 + page.files.len() * 256);
    let name = escape(page.name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n\
         <title>Links for {name}</title>\n</head>\n<body>\n<h1>Links for {name}</h1>\n"
    );
    for f in page.files {
        match f.sha256 {
            Some(h) => {
                let _ = write!(out, "<a href=\"{}#sha256={h}\"", escape(&f.url));
            }
            None => {
                let _ = write!(out, "<a href=\"{}\"", escape(&f.url));
            }
        }
        if let Some(rp) = &f.requires_python {
            let _ = write!(out, " data-requires-python=\"{}\"", escape(rp));
        }
        if let Some(y) = &f.yanked {
            let _ = write!(out, " data-yanked=\"{}\"", escape(y));
        }
        if let Some(m) = f.core_metadata {
            let _ = write!(
                out,
                " data-dist-info-metadata=\"sha256={m}\" data-core-metadata=\"sha256={m}\""
            );
        }
        let _ = writeln!(out, ">{}</a><br/>", escape(&f.filename));
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// One project on an index's project list.
pub struct IndexEntry<'a> {
    pub name: &'a str,
}

pub fn render_index(projects: &[IndexEntry<'_>], format: Format) -> String {
    match format {
        Format::Json => json!({
            "meta": {"api-version": API_VERSION},
            "projects": projects.iter().map(|p| json!({"name": p.name})).collect::<Vec<_>>(),
        })
        .to_string(),
        Format::Html | Format::HtmlV1 => {
            let mut out = String::with_capacity(128 + projects.len() * 48);
            let _ = write!(
                out,
                "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n\
                 <title>Simple index</title>\n</head>\n<body>\n"
            );
            for p in projects {
                let n = escape(p.name);
                let _ = writeln!(out, "<a href=\"{n}/\">{n}</a><br/>");
            }
            out.push_str("</body>\n</html>\n");
            out
        }
    }
}

/// Minimal HTML escaping for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 UTC timestamp with seconds, as PEP 700 asks.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> SimpleFile {
        SimpleFile {
            filename: "demo-1.0-py3-none-any.whl".into(),
            url: "../../+f/abc/demo-1.0-py3-none-any.whl".into(),
            sha256: Some(Sha256::of(b"x")),
            requires_python: Some(">=3.8".into()),
            yanked: None,
            size: 42,
            upload_time: 0,
            core_metadata: Some(Sha256::of(b"m")),
        }
    }

    #[test]
    fn html_has_all_pep_attributes() {
        let files = [file()];
        let versions = ["1.0".to_string()];
        let html = render_project(
            &ProjectPage {
                name: "demo",
                files: &files,
                versions: &versions,
            },
            Format::Html,
        );
        assert!(html.contains(&format!("#sha256={}", Sha256::of(b"x"))));
        assert!(html.contains("data-requires-python=\"&gt;=3.8\""));
        assert!(html.contains(&format!(
            "data-core-metadata=\"sha256={}\"",
            Sha256::of(b"m")
        )));
        assert!(html.contains("data-dist-info-metadata="));
        assert!(html.contains("pypi:repository-version\" content=\"1.1\""));
        assert!(!html.contains("data-yanked"));
    }

    #[test]
    fn no_hash_claimed_for_unverified_files() {
        let mut f = file();
        f.sha256 = None;
        let files = [f];
        let page = ProjectPage {
            name: "demo",
            files: &files,
            versions: &[],
        };
        let html = render_project(&page, Format::Html);
        assert!(html.contains("<a href=\"../../+f/abc/demo-1.0-py3-none-any.whl\""));
        assert!(!html.contains("#sha256"));
        let v: Value = serde_json::from_str(&render_project(&page, Format::Json)).unwrap();
        assert_eq!(v["files"][0]["hashes"], json!({}));
    }

    #[test]
    fn json_has_pep_700_fields_and_yank() {
        let mut f = file();
        f.yanked = Some("broken".into());
        let files = [f];
        let versions = ["1.0".to_string()];
        let v: Value = serde_json::from_str(&render_project(
            &ProjectPage {
                name: "demo",
                files: &files,
                versions: &versions,
            },
            Format::Json,
        ))
        .unwrap();
        assert_eq!(v["meta"]["api-version"], "1.1");
        assert_eq!(v["versions"][0], "1.0");
        assert_eq!(v["files"][0]["size"], 42);
        assert_eq!(v["files"][0]["yanked"], "broken");
        assert_eq!(v["files"][0]["upload-time"], "1970-01-01T00:00:00Z");
        assert_eq!(
            v["files"][0]["core-metadata"]["sha256"],
            Sha256::of(b"m").to_hex()
        );
    }

    #[test]
    fn escapes_hostile_text() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let html = render_index(&[IndexEntry { name: "<script>" }], Format::Html);
        assert!(!html.contains("<script>"));
    }
}
