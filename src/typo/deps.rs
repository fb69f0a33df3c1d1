//! Dependency names from the files projects declare them in: requirements
//! files (with nested `-r` includes), `pyproject.toml`, `pylock.toml` and `uv.lock`.
//!
//! Files are untrusted: includes must stay inside the directory of the first
//! file, cycles are skipped, nesting and file sizes are bounded.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Largest dependency file read.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Deepest chain of `-r` includes followed.
pub const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path} is not valid TOML: {source}")]
    Toml {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error(
        "{path} line {line}: include {include:?} points outside {root}; \
         only files in the same directory tree can be included"
    )]
    IncludeEscapes {
        path: PathBuf,
        line: usize,
        include: String,
        root: PathBuf,
    },
    #[error("{path} line {line}: includes are nested more than {MAX_INCLUDE_DEPTH} deep")]
    TooDeep { path: PathBuf, line: usize },
}

/// The project names a dependency file refers to, in order, without duplicates
/// (PEP 503 spelling is kept as written; the detector normalises).
pub fn names_in_file(path: &Path) -> Result<Vec<String>, DepsError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut names = Vec::new();
    if file_name.ends_with(".toml") || file_name.ends_with(".lock") {
        let text = read_bounded(path)?;
        let doc: toml::Table = text.parse().map_err(|e| DepsError::Toml {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        names_in_toml(&doc, &mut names);
    } else {
        let root = canonical(path)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut seen = HashSet::new();
        requirements_file(path, &root, 0, &mut seen, &mut names)?;
    }
    let mut unique = HashSet::new();
    names.retain(|n| unique.insert(crate::names::normalize(n)));
    Ok(names)
}

fn read_bounded(path: &Path) -> Result<String, DepsError> {
    let io = |source| DepsError::Io {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::metadata(path).map_err(io)?.len() > MAX_FILE_BYTES {
        return Err(DepsError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    std::fs::read_to_string(path).map_err(io)
}

fn canonical(path: &Path) -> Result<PathBuf, DepsError> {
    path.canonicalize().map_err(|source| DepsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// pyproject.toml (dependencies, optional dependencies, dependency groups,
/// build requirements), pylock.toml (`[[packages]]`) and uv.lock (`[[package]]`).
fn names_in_toml(doc: &toml::Table, out: &mut Vec<String>) {
    let strings = |v: Option<&toml::Value>, out: &mut Vec<String>| {
        for item in v.and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(name) = item.as_str().and_then(requirement_name) {
                out.push(name.to_string());
            }
        }
    };
    if let Some(project) = doc.get("project").and_then(|p| p.as_table()) {
        strings(project.get("dependencies"), out);
        if let Some(optional) = project
            .get("optional-dependencies")
            .and_then(|o| o.as_table())
        {
            for group in optional.values() {
                strings(Some(group), out);
            }
        }
    }
    if let Some(groups) = doc.get("dependency-groups").and_then(|g| g.as_table()) {
        for group in groups.values() {
            strings(Some(group), out);
        }
    }
    if let Some(build) = doc.get("build-system").and_then(|b| b.as_table()) {
        strings(build.get("requires"), out);
    }
    for key in ["packages", "package"] {
        for package in doc
            .get(key)
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(name) = package.get("name").and_then(|n| n.as_str()) {
                out.push(name.to_string());
            }
        }
    }
}

fn requirements_file(
    path: &Path,
    root: &Path,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<String>,
) -> Result<(), DepsError> {
    let real = canonical(path)?;
    if !seen.insert(real.clone()) {
        return Ok(()); // already read: a cycle or a diamond
    }
    let text = read_bounded(&real)?;
    let dir = real.parent().map(Path::to_path_buf).unwrap_or_default();
    for (line_no, line) in logical_lines(&text) {
        if let Some(include) = include_target(&line) {
            if depth + 1 > MAX_INCLUDE_DEPTH {
                return Err(DepsError::TooDeep {
                    path: path.to_path_buf(),
                    line: line_no,
                });
            }
            let escapes = || DepsError::IncludeEscapes {
                path: path.to_path_buf(),
                line: line_no,
                include: include.to_string(),
                root: root.to_path_buf(),
            };
            if Path::new(include).is_absolute() {
                return Err(escapes());
            }
            let target = canonical(&dir.join(include))?;
            if !target.starts_with(root) {
                return Err(escapes());
            }
            requirements_file(&target, root, depth + 1, seen, out)?;
        } else if let Some(name) = requirement_name(&line) {
            out.push(name.to_string());
        }
    }
    Ok(())
}

/// Lines with `\` continuations joined and comments removed, with 1-based line numbers.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        let without_comment = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(p) => &raw[..p],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        match without_comment.strip_suffix('\\') {
            Some(cont) => current.push_str(cont),
            None => {
                current.push_str(without_comment);
                let line = current.trim().to_string();
                if !line.is_empty() {
                    out.push((start, line));
                }
                current.clear();
            }
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    out
}

/// The file named by `-r FILE`, `-rFILE`, `--requirement FILE` or `--requirement=FILE`.
fn include_target(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("--requirement")
        .or_else(|| line.strip_prefix("-r"))?;
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (!rest.is_empty()).then_some(rest)
}

/// The project name at the start of a PEP 508 requirement, or `None` for
/// options (`-e`, `--index-url`), URLs and local paths.
pub fn requirement_name(line: &str) -> Option<&str> {
    let line = line.trim();
    let url = line.contains("://") && !line.contains('@');
    if url || line.starts_with(['-', '.', '/']) {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    let name = line[..end].trim_end_matches(['.', '-', '_']);
    let rest = line[end..].trim_start();
    let well_formed =
        rest.is_empty() || rest.starts_with(['[', '(', '<', '>', '=', '!', '~', ';', '@', ',']);
    (!name.is_empty() && well_formed).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("requests", Some("requests")),
            ("requests>=2.0", Some("requests")),
            (
                "Flask[async] ~= 3.0 ; python_version > '3.8'",
                Some("Flask"),
            ),
            ("zope.interface==6", Some("zope.interface")),
            ("pkg @ https://example.com/pkg.whl", Some("pkg")),
            ("-e .", None),
            ("--index-url https://example.com/simple", None),
            ("./local/dir", None),
            ("https://example.com/x.whl", None),
            ("not a requirement", None),
        ];
        for (line, want) in cases {
            assert_eq!(requirement_name(line), *want, "{line}");
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn nested_includes_and_cycles() {
        let dir = tempfile::tempdir().unwrap();
        let top = write(
            dir.path(),
            "requirements.txt",
            "# comment\nrequests==2 # pinned\n-r sub/dev.txt\nnumpy \\\n  >=1\n",
        );
        write(
            dir.path(),
            "sub/dev.txt",
            "--requirement=../requirements.txt\n-r more.txt\npytest\n",
        );
        write(dir.path(), "sub/more.txt", "reqeusts\nRequests\n");
        assert_eq!(
            names_in_file(&top).unwrap(),
            ["requests", "reqeusts", "pytest", "numpy"]
        );
    }

    #[test]
    fn includes_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        write(dir.path(), "outside.txt", "evil\n");
        let top = write(&inner, "requirements.txt", "-r ../outside.txt\n");
        let err = names_in_file(&top).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("outside"), "{err}");
        let abs = write(
            &inner,
            "abs.txt",
            &format!("-r {}\n", dir.path().join("outside.txt").display()),
        );
        assert!(matches!(
            names_in_file(&abs),
            Err(DepsError::IncludeEscapes { .. })
        ));
        let missing = write(&inner, "missing.txt", "-r nope.txt\n");
        assert!(matches!(names_in_file(&missing), Err(DepsError::Io { .. })));
    }

    #[test]
    fn toml_files() {
        let dir = tempfile::tempdir().unwrap();
        let pyproject = write(
            dir.path(),
            "pyproject.toml",
            r#"
[build-system]
requires = ["setuptools>=61"]
[project]
name = "mine"
dependencies = ["requests>=2", "numpy"]
[project.optional-dependencies]
dev = ["pytest; python_version>'3'"]
[dependency-groups]
lint = ["ruff", {include-group = "dev"}]
"#,
        );
        assert_eq!(
            names_in_file(&pyproject).unwrap(),
            ["requests", "numpy", "pytest", "ruff", "setuptools"]
        );
        let uv = write(
            dir.path(),
            "uv.lock",
            "version = 1\n[[package]]\nname = \"idna\"\nversion = \"3\"\n",
        );
        assert_eq!(names_in_file(&uv).unwrap(), ["idna"]);
        let pylock = write(
            dir.path(),
            "pylock.toml",
            "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\n",
        );
        assert_eq!(names_in_file(&pylock).unwrap(), ["six"]);
        let bad = write(dir.path(), "broken.toml", "[project\n");
        assert!(matches!(names_in_file(&bad), Err(DepsError::Toml { .. })));
    }
}
