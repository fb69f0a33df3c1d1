//! Documentation zips (`devpi upload` of `name-version.doc.zip`): validated
//! completely before they are stored, and read member by member when a page
//! is served. Nothing is ever extracted to disk.
//!
//! Refused: member paths that are absolute, have a drive letter, `..` or NUL
//! (zip-slip), names that are not UTF-8 or that collide after
//! normalisation, symlinks, device files, FIFOs and sockets, encryption,
//! compression methods other than stored/deflate, more than
//! [`DocZipLimits::max_members`] members, more unpacked bytes than the
//! limits, members whose compression ratio is implausible (bombs), and
//! members whose headers lie about their size or checksum.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use zip::{CompressionMethod, ZipArchive};

use super::entry_path::safe_components;
use super::zip_archive::count_central_records;

/// Bounds on what a documentation zip may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocZipLimits {
    pub max_members: usize,
    /// All members together, unpacked.
    pub max_total_bytes: u64,
    /// One member, unpacked (also what a page request may decompress).
    pub max_member_bytes: u64,
    /// Largest unpacked/packed ratio for members above 64 KiB.
    pub max_ratio: u64,
}

impl Default for DocZipLimits {
    fn default() -> Self {
        Self {
            max_members: 20_000,
            max_total_bytes: 512 * 1024 * 1024,
            max_member_bytes: 64 * 1024 * 1024,
            max_ratio: 200,
        }
    }
}

/// Members smaller than this are exempt from the ratio check (a small file
/// of repeated bytes legitimately compresses very well).
const RATIO_EXEMPT_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocZipError {
    #[error("the documentation is not a valid zip archive: {0}")]
    NotZip(String),
    #[error("the documentation zip has {0} bytes of unexpected data before its first member")]
    PrependedData(u64),
    #[error("the documentation zip has more than {0} members")]
    TooManyMembers(usize),
    #[error(
        "the documentation zip lists a member name twice ({0:?}, after normalising the path); \
         which copy is served would be ambiguous"
    )]
    DuplicateMember(String),
    #[error(
        "the documentation zip contains the unsafe path {0:?}: absolute paths, drive letters \
         and '..' components are refused (they could write outside the unpack folder)"
    )]
    UnsafePath(String),
    #[error("the documentation zip contains a member name that is not UTF-8 ({0:?})")]
    NotUtf8(String),
    #[error(
        "the documentation zip contains {path:?}, which is a {kind}; only regular files and \
         directories are allowed"
    )]
    NotRegular { path: String, kind: &'static str },
    #[error("the documentation zip member {0:?} is encrypted")]
    Encrypted(String),
    #[error("the documentation zip member {path:?} uses the unsupported compression {method}; use deflate")]
    Compression { path: String, method: String },
    #[error("the documentation zip member {path:?} unpacks to {size} bytes, over the {limit}-byte limit per file")]
    MemberTooLarge { path: String, size: u64, limit: u64 },
    #[error("the documentation zip unpacks to more than {0} bytes in total")]
    TotalTooLarge(u64),
    #[error(
        "the documentation zip member {path:?} is compressed {ratio}:1, more than the {limit}:1 \
         allowed (a zip bomb?)"
    )]
    Ratio {
        path: String,
        ratio: u64,
        limit: u64,
    },
    #[error("the documentation zip member {path:?} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("reading the documentation zip: {0}")]
    Io(String),
}

/// What validation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocZipSummary {
    /// Regular files.
    pub files: usize,
    pub unpacked_bytes: u64,
}

/// Check every member of the documentation zip at `path`, decompressing
/// each one (bounded) to prove its header tells the truth.
pub fn validate_doc_zip(path: &Path, limits: &DocZipLimits) -> Result<DocZipSummary, DocZipError> {
    let mut zip = open(path, limits)?;
    let mut seen = HashSet::new();
    let mut summary = DocZipSummary {
        files: 0,
        unpacked_bytes: 0,
    };
    for i in 0..zip.len() {
        let (name, is_dir, declared) = {
            let member = zip
                .by_index_raw(i)
                .map_err(|e| DocZipError::NotZip(e.to_string()))?;
            let name = checked_name(member.name_raw())?;
            if !seen.insert(name.clone()) {
                return Err(DocZipError::DuplicateMember(name));
            }
            let is_dir = check_kind(&member, &name)?;
            if member.encrypted() {
                return Err(DocZipError::Encrypted(name));
            }
            if !matches!(
                member.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            ) {
                return Err(DocZipError::Compression {
                    path: name,
                    method: member.compression().to_string(),
                });
            }
            let size = member.size();
            if size > limits.max_member_bytes {
                return Err(DocZipError::MemberTooLarge {
                    path: name,
                    size,
                    limit: limits.max_member_bytes,
                });
            }
            if size > RATIO_EXEMPT_BYTES {
                let ratio = size / member.compressed_size().max(1);
                if ratio > limits.max_ratio {
                    return Err(DocZipError::Ratio {
                        path: name,
                        ratio,
                        limit: limits.max_ratio,
                    });
                }
            }
            (name, is_dir, size)
        };
        if is_dir {
            continue;
        }
        summary.unpacked_bytes = summary.unpacked_bytes.saturating_add(declared);
        if summary.unpacked_bytes > limits.max_total_bytes {
            return Err(DocZipError::TotalTooLarge(limits.max_total_bytes));
        }
        // Decompress (into nothing) to prove size and CRC are what the
        // header says: a lying header would otherwise bypass every limit.
        let member = zip.by_index(i).map_err(|e| corrupt(&name, e.to_string()))?;
        let got = std::io::copy(&mut member.take(declared + 1), &mut std::io::sink())
            .map_err(|e| corrupt(&name, e.to_string()))?;
        if got != declared {
            return Err(corrupt(
                &name,
                format!("it unpacks to a different size than its header declares ({declared})"),
            ));
        }
        summary.files += 1;
    }
    Ok(summary)
}

/// What a documentation URL path names inside a stored zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocLookup {
    /// A file: its bytes and the content type to serve them with.
    File {
        bytes: Vec<u8>,
        content_type: &'static str,
    },
    /// A directory: the client should be redirected to `path/`.
    Directory,
    Missing,
}

/// Look up `request` (the part of the URL after `+doc/`) in the stored,
/// already validated zip at `path`. An empty path or one ending in `/`
/// means its `index.html`. Unsafe request paths are simply `Missing`.
pub fn lookup_doc(
    path: &Path,
    request: &str,
    limits: &DocZipLimits,
) -> Result<DocLookup, DocZipError> {
    let Some(wanted) = normalise_request(request) else {
        return Ok(DocLookup::Missing);
    };
    let mut zip = open_unchecked(path)?;
    let dir_prefix = format!("{wanted}/");
    let mut is_dir = wanted.is_empty();
    let mut found = None;
    for i in 0..zip.len() {
        let member = zip
            .by_index_raw(i)
            .map_err(|e| DocZipError::NotZip(e.to_string()))?;
        let Ok(name) = checked_name(member.name_raw()) else {
            continue;
        };
        if name == wanted && !member.is_dir() {
            found = Some(i);
            break;
        }
        is_dir |= name.starts_with(&dir_prefix) || (name == wanted && member.is_dir());
    }
    let Some(i) = found else {
        return Ok(
            if is_dir && !request.is_empty() && !request.ends_with('/') {
                DocLookup::Directory
            } else if is_dir {
                // "dir/" or "": serve its index.html, if there is one.
                let index = if wanted.is_empty() {
                    "index.html".to_string()
                } else {
                    format!("{wanted}/index.html")
                };
                match lookup_doc(path, &index, limits)? {
                    DocLookup::File {
                        bytes,
                        content_type,
                    } => DocLookup::File {
                        bytes,
                        content_type,
                    },
                    _ => DocLookup::Missing,
                }
            } else {
                DocLookup::Missing
            },
        );
    };
    let member = zip
        .by_index(i)
        .map_err(|e| corrupt(&wanted, e.to_string()))?;
    if member.size() > limits.max_member_bytes {
        return Err(DocZipError::MemberTooLarge {
            path: wanted,
            size: member.size(),
            limit: limits.max_member_bytes,
        });
    }
    let mut bytes = Vec::new();
    member
        .take(limits.max_member_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(&wanted, e.to_string()))?;
    Ok(DocLookup::File {
        bytes,
        content_type: doc_content_type(&wanted),
    })
}

/// The content type a documentation file is served with. Only types a
/// browser treats predictably; anything else is a download.
pub fn doc_content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "rst" | "md" | "py" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

/// The request path as a member name (`a/b.html`), `""` for the root, or
/// `None` if it is not a safe relative path.
fn normalise_request(request: &str) -> Option<String> {
    if request.trim_matches('/').is_empty() {
        return Some(String::new());
    }
    if request.starts_with('/') || request.contains('\\') {
        return None;
    }
    let parts = safe_components(request.as_bytes()).ok()?;
    let parts: Vec<&str> = parts
        .into_iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(parts.join("/"))
}

fn open(path: &Path, limits: &DocZipLimits) -> Result<ZipArchive<BufReader<File>>, DocZipError> {
    let file = File::open(path).map_err(|e| DocZipError::Io(e.to_string()))?;
    let counter = file
        .try_clone()
        .map_err(|e| DocZipError::Io(e.to_string()))?;
    let zip =
        ZipArchive::new(BufReader::new(file)).map_err(|e| DocZipError::NotZip(e.to_string()))?;
    if zip.len() > limits.max_members {
        return Err(DocZipError::TooManyMembers(limits.max_members));
    }
    if zip.offset() != 0 {
        return Err(DocZipError::PrependedData(zip.offset()));
    }
    // The zip crate keys members by name, so a repeated name silently
    // collapses: count the central directory's records ourselves.
    let listed = count_central_records(counter, zip.central_directory_start(), limits.max_members)
        .map_err(|e| DocZipError::NotZip(e.to_string()))?;
    if listed > limits.max_members {
        return Err(DocZipError::TooManyMembers(limits.max_members));
    }
    if listed != zip.len() {
        return Err(DocZipError::DuplicateMember(format!(
            "{} records for {} distinct names",
            listed,
            zip.len()
        )));
    }
    Ok(zip)
}

fn open_unchecked(path: &Path) -> Result<ZipArchive<BufReader<File>>, DocZipError> {
    let file = File::open(path).map_err(|e| DocZipError::Io(e.to_string()))?;
    ZipArchive::new(BufReader::new(file)).map_err(|e| DocZipError::NotZip(e.to_string()))
}

/// A member name as a normalised relative path, or why it is refused.
fn checked_name(raw: &[u8]) -> Result<String, DocZipError> {
    let shown = || {
        String::from_utf8_lossy(raw)
            .chars()
            .take(200)
            .collect::<String>()
    };
    std::str::from_utf8(raw).map_err(|_| DocZipError::NotUtf8(shown()))?;
    let parts = safe_components(raw).map_err(|_| DocZipError::UnsafePath(shown()))?;
    if parts.is_empty() {
        return Err(DocZipError::UnsafePath(shown()));
    }
    let parts: Vec<&str> = parts
        .into_iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|_| DocZipError::NotUtf8(shown()))?;
    Ok(parts.join("/"))
}

/// `Ok(true)` for a directory, `Ok(false)` for a regular file; anything
/// else (symlink, device, FIFO, socket) is refused.
fn check_kind<R: Read>(
    member: &zip::read::ZipFile<'_, R>,
    name: &str,
) -> Result<bool, DocZipError> {
    const S_IFMT: u32 = 0o170_000;
    let kind = match member.unix_mode().map(|m| m & S_IFMT) {
        None | Some(0) | Some(0o100_000) => None,
        Some(0o040_000) => return Ok(true),
        Some(0o120_000) => Some("symbolic link"),
        Some(0o020_000) => Some("character device"),
        Some(0o060_000) => Some("block device"),
        Some(0o010_000) => Some("FIFO"),
        Some(0o140_000) => Some("socket"),
        Some(_) => Some("special file"),
    };
    if let Some(kind) = kind {
        return Err(DocZipError::NotRegular {
            path: name.to_string(),
            kind,
        });
    }
    Ok(member.is_dir())
}

fn corrupt(path: &str, reason: String) -> DocZipError {
    DocZipError::Corrupt {
        path: path.to_string(),
        reason,
    }
}

/// Hand the HTML pages (`.html`, `.htm`) of the stored, already validated
/// zip at `path` to `page`, the top-level `index.html` first, then in zip
/// order, reading at most `max_bytes` of HTML in all (a page past the
/// budget is cut; invalid UTF-8 is replaced). `page` returns `false` to
/// stop early. Returns how many pages it was given.
pub fn for_each_html_page(
    path: &Path,
    max_bytes: u64,
    mut page: impl FnMut(&str) -> bool,
) -> Result<usize, DocZipError> {
    let mut zip = open_unchecked(path)?;
    let mut order = Vec::new();
    for i in 0..zip.len() {
        let member = zip
            .by_index_raw(i)
            .map_err(|e| DocZipError::NotZip(e.to_string()))?;
        let Ok(name) = checked_name(member.name_raw()) else {
            continue;
        };
        let lower = name.to_ascii_lowercase();
        if !member.is_dir() && (lower.ends_with(".html") || lower.ends_with(".htm")) {
            order.push((lower != "index.html", i));
        }
    }
    order.sort();
    let mut budget = max_bytes;
    let mut given = 0;
    for (_, i) in order {
        if budget == 0 {
            break;
        }
        let member = zip
            .by_index(i)
            .map_err(|e| corrupt("html page", e.to_string()))?;
        let mut bytes = Vec::new();
        member
            .take(budget)
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt("html page", e.to_string()))?;
        budget = budget.saturating_sub(bytes.len() as u64);
        given += 1;
        if !page(&String::from_utf8_lossy(&bytes)) {
            break;
        }
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths() {
        for (raw, want) in [
            ("", Some("")),
            ("/", Some("")),
            ("index.html", Some("index.html")),
            ("a//b/./c.css", Some("a/b/c.css")),
            ("_static/", Some("_static")),
            ("../secret", None),
            ("a/../../b", None),
            ("/etc/passwd", None),
            ("a\\b", None),
            ("C:/x", None),
        ] {
            assert_eq!(normalise_request(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn content_types() {
        for (p, want) in [
            ("index.html", "text/html; charset=utf-8"),
            ("A.HTM", "text/html; charset=utf-8"),
            ("_static/x.css", "text/css; charset=utf-8"),
            ("x.js", "text/javascript; charset=utf-8"),
            ("logo.png", "image/png"),
            ("page.xhtml", "application/octet-stream"),
            ("evil.exe", "application/octet-stream"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(doc_content_type(p), want, "{p}");
        }
    }

    #[test]
    fn member_names() {
        assert_eq!(checked_name(b"a/b.html").unwrap(), "a/b.html");
        assert_eq!(checked_name(b"./a//b").unwrap(), "a/b");
        for bad in [
            &b"../x"[..],
            b"/abs",
            b"a/../../x",
            b"C:\\x",
            b".",
            b"\xff.html",
        ] {
            assert!(checked_name(bad).is_err(), "{bad:?}");
        }
    }
}
