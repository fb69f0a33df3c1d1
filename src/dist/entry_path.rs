//! Safety of member paths inside archives.
//!
//! airlock never extracts archives, but installers and reviewers do, so a
//! distribution whose members could land outside the extraction directory
//! ("zip-slip") is refused outright rather than stored and served.

use super::error::DistError;

/// Split a member path into its meaningful components (`.` and empty
/// components dropped), or refuse it if it is absolute, has a drive letter,
/// contains a backslash (a separator to Windows extractors, part of the name
/// to others: either way the two disagree), NUL or a `..` component.
pub(super) fn safe_components(raw: &[u8]) -> Result<Vec<&[u8]>, DistError> {
    let unsafe_path = || DistError::UnsafePath {
        entry: String::from_utf8_lossy(raw).chars().take(200).collect(),
    };
    let absolute = matches!(raw.first(), Some(b'/' | b'\\'));
    let drive_letter = matches!(raw, [letter, b':', ..] if letter.is_ascii_alphabetic());
    if raw.is_empty() || absolute || drive_letter || raw.contains(&0) || raw.contains(&b'\\') {
        return Err(unsafe_path());
    }
    let mut components = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(unsafe_path()),
            _ => components.push(part),
        }
    }
    Ok(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_paths() {
        for (raw, want) in [
            (&b"pkg/__init__.py"[..], &[&b"pkg"[..], b"__init__.py"][..]),
            (b"./foo-1.0/PKG-INFO", &[b"foo-1.0", b"PKG-INFO"]),
            (b"foo.dist-info/", &[b"foo.dist-info"]),
            (b"a//b", &[b"a", b"b"]),
            (b"a/..b/c..", &[b"a", b"..b", b"c.."]),
        ] {
            assert_eq!(safe_components(raw).unwrap(), want, "{raw:?}");
        }
    }

    #[test]
    fn refuses_escaping_paths() {
        for raw in [
            &b"../x"[..],
            b"a/../../x",
            b"a/..",
            b"a\\..\\x",
            b"a\\b",
            b"pkg/sub\\file.py",
            b"/etc/passwd",
            b"\\windows\\x",
            b"C:/x",
            b"c:x",
            b"a\0b",
            b"",
        ] {
            match safe_components(raw) {
                Err(DistError::UnsafePath { .. }) => {}
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }
}
