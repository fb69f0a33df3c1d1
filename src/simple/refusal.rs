//! The project page pip gets for a name refused as a likely typosquat.
//!
//! pip prints nothing of a 4xx index page unless run with `-v`, but it does
//! print the versions it saw when none fits, and the HTTP error (status and
//! reason phrase) of a file it cannot download. So pip is answered with a
//! real simple page listing one *decoy* release whose version spells the
//! refusal in its PEP 440 local label (`0+airlock.refused.looks.like.requests`)
//! and whose file URLs, under the page itself, are always refused with the
//! full message (see `server::simple::refused_file`). Nothing on the page
//! can ever be installed: no URL on it serves a byte of a distribution.
//! What pip prints for each way of asking is in docs/typosquatting.md
//! ("What each client shows").

use super::SimpleFile;

/// What a decoy version's local label starts with.
const LABEL: &str = "airlock.refused";

/// The decoy's version: `0+airlock.refused.looks.like.<name>` (the name
/// with its separators as dots, as a local label allows), or
/// `0+airlock.refused.denied.by.rule` when no look-alike is named.
pub fn decoy_version(looks_like: Option<&str>) -> String {
    let target = looks_like.map(local_segments).filter(|t| !t.is_empty());
    match target {
        Some(t) => format!("0+{LABEL}.looks.like.{t}"),
        None => format!("0+{LABEL}.denied.by.rule"),
    }
}

/// The decoy files for `project` (a normalised name): a universal wheel and
/// an sdist of [`decoy_version`], so pip shows the version whichever formats
/// it is told to accept (`--only-binary`, `--no-binary`). Their URLs are
/// relative to the project page. No hash, no metadata file, no
/// `Requires-Python`: pip treats them as ordinary candidates, and asking
/// for one gets the refusal.
pub fn decoy_files(project: &str, looks_like: Option<&str>) -> Vec<SimpleFile> {
    decoy_filenames(project, looks_like)
        .into_iter()
        .map(|filename| SimpleFile {
            url: filename.clone(),
            filename,
            sha256: None,
            requires_python: None,
            yanked: None,
            size: 0,
            upload_time: 0,
            core_metadata: None,
        })
        .collect()
}

/// Whether `filename` could be a decoy file of some refusal (a cheap test
/// before the name is looked up).
pub fn may_be_decoy(filename: &str) -> bool {
    filename.contains(&format!("-0+{LABEL}."))
}

/// Whether `filename` is one of the decoy files of `project` refused for
/// looking like `looks_like`.
pub fn is_decoy_filename(project: &str, looks_like: Option<&str>, filename: &str) -> bool {
    decoy_filenames(project, looks_like)
        .iter()
        .any(|f| f == filename)
}

fn decoy_filenames(project: &str, looks_like: Option<&str>) -> [String; 2] {
    // PEP 427 / PEP 625: the distribution name with `-` written as `_`.
    let dist = project.replace(['-', '.'], "_");
    let version = decoy_version(looks_like);
    [
        format!("{dist}-{version}-py3-none-any.whl"),
        format!("{dist}-{version}.tar.gz"),
    ]
}

/// A project name as local-label segments: lower case, runs of anything but
/// ASCII letters and digits written as one dot, none at either end.
fn local_segments(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('.') {
            out.push('.');
        }
    }
    while out.ends_with('.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simple::{render_project, Format, ProjectPage};

    #[test]
    fn the_version_names_the_lookalike_in_a_valid_local_label() {
        assert_eq!(
            decoy_version(Some("requests")),
            "0+airlock.refused.looks.like.requests"
        );
        assert_eq!(
            decoy_version(Some("Scikit_Learn")),
            "0+airlock.refused.looks.like.scikit.learn"
        );
        assert_eq!(
            decoy_version(Some("-zope..interface-")),
            "0+airlock.refused.looks.like.zope.interface"
        );
        assert_eq!(decoy_version(None), "0+airlock.refused.denied.by.rule");
        assert_eq!(
            decoy_version(Some("--")),
            "0+airlock.refused.denied.by.rule"
        );
        // PEP 440: a local label is alphanumeric segments joined by dots
        for v in [
            decoy_version(Some("a-b_c.d")),
            decoy_version(Some("ÄÖ-x")),
            decoy_version(None),
        ] {
            let local = v.strip_prefix("0+").expect("public part 0");
            assert!(
                local
                    .split('.')
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())),
                "{v}"
            );
        }
    }

    #[test]
    fn decoys_are_a_wheel_and_an_sdist_under_the_page_with_nothing_to_verify() {
        let files = decoy_files("reqeusts", Some("requests"));
        let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "reqeusts-0+airlock.refused.looks.like.requests-py3-none-any.whl",
                "reqeusts-0+airlock.refused.looks.like.requests.tar.gz",
            ]
        );
        for f in &files {
            // relative to the project page: the refused-file route
            assert_eq!(f.url, f.filename);
            assert!(!f.url.contains('/'));
            assert!(f.sha256.is_none() && f.core_metadata.is_none());
            assert!(f.yanked.is_none() && f.requires_python.is_none());
        }
        let files = decoy_files("my-pkg", None);
        assert_eq!(
            files[0].filename,
            "my_pkg-0+airlock.refused.denied.by.rule-py3-none-any.whl"
        );
    }

    #[test]
    fn only_the_decoys_of_that_refusal_are_recognised() {
        let whl = "reqeusts-0+airlock.refused.looks.like.requests-py3-none-any.whl";
        assert!(is_decoy_filename("reqeusts", Some("requests"), whl));
        assert!(is_decoy_filename(
            "reqeusts",
            Some("requests"),
            "reqeusts-0+airlock.refused.looks.like.requests.tar.gz"
        ));
        assert!(!is_decoy_filename("reqeusts", Some("urllib3"), whl));
        assert!(!is_decoy_filename("reqeust", Some("requests"), whl));
        assert!(!is_decoy_filename(
            "reqeusts",
            Some("requests"),
            "reqeusts-1.0.tar.gz"
        ));
        assert!(!is_decoy_filename("reqeusts", Some("requests"), ""));
        assert!(may_be_decoy(whl));
        assert!(!may_be_decoy("reqeusts-1.0-py3-none-any.whl"));
        assert!(!may_be_decoy("airlock.refused.whl"));
    }

    #[test]
    fn both_page_forms_list_the_decoys_as_pip_reads_them() {
        let files = decoy_files("reqeusts", Some("requests"));
        let versions = [decoy_version(Some("requests"))];
        let page = ProjectPage {
            name: "reqeusts",
            files: &files,
            versions: &versions,
        };
        let json: serde_json::Value =
            serde_json::from_str(&render_project(&page, Format::Json)).unwrap();
        let listed = json["files"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        for (f, want) in listed.iter().zip(&files) {
            assert_eq!(f["filename"], want.filename.as_str());
            assert_eq!(f["url"], want.url.as_str());
            assert_eq!(f["hashes"], serde_json::json!({}));
            assert_eq!(f["yanked"], false);
            assert_eq!(f["core-metadata"], false);
        }
        assert_eq!(json["versions"][0], "0+airlock.refused.looks.like.requests");

        let html = render_project(&page, Format::Html);
        for f in &files {
            let anchor = format!("<a href=\"{}\">{}</a>", f.url, f.filename);
            assert!(html.contains(&anchor), "{html}");
        }
        assert!(!html.contains("#sha256="), "{html}");
    }
}
