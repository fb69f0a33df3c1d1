//! The core-metadata member of an archive that airlock stored before.
//!
//! An archive was held to every archive rule by [`inspect`](super::inspect)
//! when it was uploaded; a blob that still hashes to its name is those
//! very bytes. Checking that the stored metadata is still the archive's
//! (`airlock fsck`) then only needs the member itself, not every member
//! checked again: this finds it, still within bounds (a member read is
//! capped at [`Limits::max_metadata`], a tar stream at
//! [`Limits::max_decompressed`]), but without the rules. A caller treats a
//! digest that matches the stored one as the answer and anything else
//! (`None`, a different digest) as a question for the full
//! [`inspect`](super::inspect), whose verdict is the one reported.

use std::io::{Cursor, Read};

use flate2::read::MultiGzDecoder;

use super::filename::{DistFilename, DistKind, SdistFormat};
use super::inspect::Limits;

/// The METADATA (wheel) or `TOP/PKG-INFO` (sdist) bytes of `archive`,
/// stored as `filename`; `None` when there is not exactly one such member
/// or it cannot be read within the limits.
pub fn stored_metadata(archive: &[u8], filename: &str, limits: &Limits) -> Option<Vec<u8>> {
    let parsed = DistFilename::parse(filename).ok()?;
    match (parsed.kind, parsed.sdist_format) {
        (DistKind::Wheel, _) => from_zip(
            archive,
            limits,
            |c| matches!(c, [top, b"METADATA"] if top.ends_with(b".dist-info")),
        ),
        (DistKind::Sdist, Some(SdistFormat::Zip)) => from_zip(archive, limits, |c| {
            matches!(c, [_, b"PKG-INFO"] | [b"PKG-INFO"])
        }),
        (DistKind::Sdist, _) => from_tar_gz(archive, limits),
    }
}

fn components(name: &[u8]) -> Vec<&[u8]> {
    name.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect()
}

fn from_zip(archive: &[u8], limits: &Limits, wanted: impl Fn(&[&[u8]]) -> bool) -> Option<Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).ok()?;
    let found: Vec<String> = zip
        .file_names()
        .filter(|n| !n.ends_with('/') && wanted(&components(n.as_bytes())))
        .take(2)
        .map(str::to_owned)
        .collect();
    let [name] = found.as_slice() else {
        return None;
    };
    let member = zip.by_name(name).ok()?;
    if member.size() > limits.max_metadata {
        return None;
    }
    read_capped(member, limits.max_metadata)
}

fn from_tar_gz(archive: &[u8], limits: &Limits) -> Option<Vec<u8>> {
    let stream = MultiGzDecoder::new(archive).take(limits.max_decompressed);
    let mut tar = tar::Archive::new(stream);
    for entry in tar.entries().ok()? {
        let entry = entry.ok()?;
        let is_pkg_info = entry.header().entry_type().is_file()
            && matches!(
                components(&entry.path_bytes()).as_slice(),
                [_, b"PKG-INFO"] | [b"PKG-INFO"]
            );
        if is_pkg_info {
            return read_capped(entry, limits.max_metadata);
        }
    }
    None
}

fn read_capped(member: impl Read, limit: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    member.take(limit + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= limit).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::inspect_tests::{add_file, metadata, tar_gz_bytes, zip_bytes};

    fn wheel(name: &str, version: &str) -> Vec<u8> {
        zip_bytes(&[
            (&format!("{name}/__init__.py"), b"x = 1\n"),
            (
                &format!("{name}-{version}.dist-info/METADATA"),
                &metadata(name, version),
            ),
            (&format!("{name}-{version}.dist-info/RECORD"), b""),
        ])
    }

    fn sdist_tar_gz(name: &str, version: &str) -> Vec<u8> {
        tar_gz_bytes(|b| {
            add_file(b, &format!("{name}-{version}/setup.py"), b"");
            add_file(
                b,
                &format!("{name}-{version}/{name}/PKG-INFO"),
                b"not this one",
            );
            add_file(
                b,
                &format!("{name}-{version}/PKG-INFO"),
                &metadata(name, version),
            );
        })
    }

    fn sdist_zip(name: &str, version: &str) -> Vec<u8> {
        zip_bytes(&[
            (
                &format!("{name}-{version}/PKG-INFO"),
                &metadata(name, version),
            ),
            (&format!("{name}-{version}/setup.py"), b""),
        ])
    }

    #[test]
    fn finds_the_member_inspect_finds() {
        let limits = Limits::default();
        for (filename, bytes) in [
            ("demo-1.0-py3-none-any.whl", wheel("demo", "1.0")),
            ("demo-1.0.tar.gz", sdist_tar_gz("demo", "1.0")),
            ("demo-1.0.zip", sdist_zip("demo", "1.0")),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(filename);
            std::fs::write(&path, &bytes).unwrap();
            let inspected = crate::dist::inspect(&path, filename).unwrap();
            assert_eq!(
                stored_metadata(&bytes, filename, &limits).as_deref(),
                Some(&inspected.metadata_bytes[..]),
                "{filename}"
            );
        }
    }

    #[test]
    fn anything_else_is_none() {
        let limits = Limits::default();
        let w = wheel("demo", "1.0");
        assert_eq!(
            stored_metadata(b"not a zip", "demo-1.0-py3-none-any.whl", &limits),
            None
        );
        assert_eq!(stored_metadata(&w, "not a dist filename", &limits), None);
        assert_eq!(
            stored_metadata(&w[..w.len() / 2], "demo-1.0-py3-none-any.whl", &limits),
            None
        );
        let tiny = Limits {
            max_metadata: 4,
            ..Limits::default()
        };
        assert_eq!(
            stored_metadata(&w, "demo-1.0-py3-none-any.whl", &tiny),
            None
        );
        let tgz = sdist_tar_gz("demo", "1.0");
        assert_eq!(stored_metadata(&tgz, "demo-1.0.tar.gz", &tiny), None);
        let short_stream = Limits {
            max_decompressed: 10,
            ..Limits::default()
        };
        assert_eq!(
            stored_metadata(&tgz, "demo-1.0.tar.gz", &short_stream),
            None
        );
    }
}
