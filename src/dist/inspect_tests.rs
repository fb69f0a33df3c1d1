//! Tests for `inspect`, with every archive built in a temp dir by the test
//! itself (no binary fixtures in the repository).

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use tempfile::TempDir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;

pub(super) fn metadata(name: &str, version: &str) -> Vec<u8> {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test\n\nReadme\n")
        .into_bytes()
}

/// A zip of `(member name, contents)` in that order.
pub(super) fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, contents) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(contents).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn save(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A tar.gz built by `fill`.
pub(super) fn tar_gz_bytes(fill: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    fill(&mut builder);
    builder.into_inner().unwrap().finish().unwrap()
}

pub(super) fn add_file<W: Write>(builder: &mut tar::Builder<W>, path: &str, contents: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    builder.append_data(&mut header, path, contents).unwrap();
}

/// A member whose raw header name is written as-is, bypassing the tar
/// crate's own refusal of `..` (an attacker's tool would not refuse).
fn add_raw<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &[u8],
    kind: tar::EntryType,
    data: &[u8],
) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

fn inspect_bytes(file_name: &str, bytes: &[u8]) -> Result<InspectedDist, DistError> {
    let dir = TempDir::new().unwrap();
    let path = save(&dir, file_name, bytes);
    inspect(&path, file_name)
}

fn valid_wheel() -> Vec<u8> {
    zip_bytes(&[
        ("mypkg/__init__.py", b"print('hi')\n"),
        ("mypkg-1.0.dist-info/METADATA", &metadata("mypkg", "1.0")),
        (
            "mypkg-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\nmy = mypkg:main\n",
        ),
        ("mypkg-1.0.dist-info/RECORD", b""),
    ])
}

/// Overwrite every occurrence of `from` with the same-length `to`.
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut found = false;
    for i in 0..=bytes.len() - from.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            found = true;
        }
    }
    assert!(found, "patch target not found");
}

/// Set the uncompressed size recorded for `member` in both its local header
/// and its central-directory record, leaving the data alone.
fn patch_declared_size(bytes: &mut [u8], member: &str, size: u32) {
    let name = member.as_bytes();
    let mut patched = 0;
    for i in 0..bytes.len().saturating_sub(46) {
        let (name_at, size_at) = match &bytes[i..i + 4] {
            b"PK\x03\x04" => (i + 30, i + 22),
            b"PK\x01\x02" => (i + 46, i + 24),
            _ => continue,
        };
        if bytes.get(name_at..name_at + name.len()) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(
        patched, 2,
        "expected a local and a central header for {member}"
    );
}

#[test]
fn accepts_a_valid_wheel() {
    let bytes = valid_wheel();
    let dist = inspect_bytes("mypkg-1.0-py3-none-any.whl", &bytes).unwrap();
    assert_eq!(dist.filename.name.as_str(), "mypkg");
    assert_eq!(dist.filename.kind, DistKind::Wheel);
    assert_eq!(dist.metadata.name, "mypkg");
    assert_eq!(dist.metadata.summary.as_deref(), Some("test"));
    assert_eq!(dist.metadata_bytes, metadata("mypkg", "1.0"));
    assert_eq!(
        dist.entry_points.as_deref(),
        Some("[console_scripts]\nmy = mypkg:main\n")
    );
}

#[test]
fn accepts_wheels_that_match_after_normalisation() {
    for (file, dist_info, meta_name, meta_version) in [
        // Filename escaped, dist-info and metadata in original spelling.
        (
            "my_pkg-1.0-py3-none-any.whl",
            "My.Pkg-1.0.dist-info",
            "My.Pkg",
            "1.0",
        ),
        // PEP 440 equality: 1.0 == 1.0.0 == v1.0.
        (
            "mypkg-1.0-py3-none-any.whl",
            "mypkg-1.0.0.dist-info",
            "mypkg",
            "1.0.0",
        ),
        (
            "mypkg-1.0rc1-py3-none-any.whl",
            "mypkg-1.0rc1.dist-info",
            "MyPkg",
            "1.0-rc1",
        ),
    ] {
        let metadata_path = format!("{dist_info}/METADATA");
        let bytes = zip_bytes(&[(&metadata_path, &metadata(meta_name, meta_version))]);
        let dist = inspect_bytes(file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(dist.metadata.name, meta_name, "{file}");
        assert_eq!(dist.entry_points, None, "{file}");
    }
}

#[test]
fn ignores_nested_dist_info_of_vendored_packages() {
    let bytes = zip_bytes(&[
        (
            "mypkg/_vendor/evil-9.0.dist-info/METADATA",
            &metadata("evil", "9.0"),
        ),
        ("mypkg-1.0.dist-info/METADATA", &metadata("mypkg", "1.0")),
    ]);
    let dist = inspect_bytes("mypkg-1.0-py3-none-any.whl", &bytes).unwrap();
    assert_eq!(dist.metadata.name, "mypkg");
}

#[test]
fn accepts_a_valid_tar_gz_sdist_and_prefers_the_top_level_pkg_info() {
    let bytes = tar_gz_bytes(|b| {
        add_file(b, "mypkg-1.0/setup.py", b"from setuptools import setup\n");
        // A vendored package's PKG-INFO comes first and must be skipped.
        add_file(
            b,
            "mypkg-1.0/vendor/evil-9.0/PKG-INFO",
            &metadata("evil", "9.0"),
        );
        add_file(b, "mypkg-1.0/PKG-INFO", &metadata("mypkg", "1.0"));
    });
    let dist = inspect_bytes("mypkg-1.0.tar.gz", &bytes).unwrap();
    assert_eq!(dist.filename.kind, DistKind::Sdist);
    assert_eq!(dist.filename.sdist_format, Some(SdistFormat::TarGz));
    assert_eq!(dist.metadata.name, "mypkg");
    assert_eq!(dist.metadata_bytes, metadata("mypkg", "1.0"));
    assert_eq!(dist.entry_points, None);
}

#[test]
fn accepts_a_valid_zip_sdist() {
    let bytes = zip_bytes(&[
        ("mypkg-1.0/setup.py", b""),
        ("mypkg-1.0/PKG-INFO", &metadata("mypkg", "1.0")),
        ("mypkg-1.0/sub/PKG-INFO", &metadata("other", "2.0")),
    ]);
    let dist = inspect_bytes("mypkg-1.0.zip", &bytes).unwrap();
    assert_eq!(dist.filename.sdist_format, Some(SdistFormat::Zip));
    assert_eq!(dist.metadata.version, "1.0");
}

#[test]
fn accepts_a_legacy_hyphenated_sdist() {
    let bytes = tar_gz_bytes(|b| add_file(b, "foo-bar-1.0/PKG-INFO", &metadata("foo-bar", "1.0")));
    let dist = inspect_bytes("foo-bar-1.0.tar.gz", &bytes).unwrap();
    assert_eq!(dist.filename.name.as_str(), "foo-bar");
    assert_eq!(dist.metadata.name, "foo-bar");
}

#[test]
fn follows_gnu_long_names_and_pax_paths_in_tar() {
    let long_top = format!("mypkg-1.0{}", "x".repeat(120));
    let long = tar_gz_bytes(|b| {
        add_file(
            b,
            &format!("{long_top}/PKG-INFO"),
            &metadata("mypkg", "1.0"),
        )
    });
    assert_eq!(
        inspect_bytes("mypkg-1.0.tar.gz", &long)
            .unwrap()
            .metadata
            .name,
        "mypkg"
    );

    // A PAX path overrides the header name in both directions: it can make
    // a member PKG-INFO, and it can stop a header-named one from being it.
    let pax = tar_gz_bytes(|b| {
        b.append_pax_extensions([("path", &b"mypkg-1.0/README"[..])])
            .unwrap();
        add_raw(
            b,
            b"mypkg-1.0/PKG-INFO",
            tar::EntryType::Regular,
            &metadata("evil", "1.0"),
        );
        b.append_pax_extensions([("path", &b"mypkg-1.0/PKG-INFO"[..])])
            .unwrap();
        add_raw(
            b,
            b"placeholder",
            tar::EntryType::Regular,
            &metadata("mypkg", "1.0"),
        );
    });
    assert_eq!(
        inspect_bytes("mypkg-1.0.tar.gz", &pax)
            .unwrap()
            .metadata
            .name,
        "mypkg"
    );
}

#[test]
fn rejects_corrupt_and_truncated_archives() {
    let wheel = valid_wheel();
    let sdist = tar_gz_bytes(|b| {
        add_file(b, "mypkg-1.0/big.bin", &vec![7u8; 200_000]);
        add_file(b, "mypkg-1.0/PKG-INFO", &metadata("mypkg", "1.0"));
    });
    // Corrupt the deflated METADATA, the first member, past its header.
    let mut bad_deflate = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &metadata("mypkg", "1.0"))]);
    let data_start = 30 + "mypkg-1.0.dist-info/METADATA".len();
    for byte in &mut bad_deflate[data_start + 2..data_start + 12] {
        *byte ^= 0x5a;
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "mypkg-1.0-py3-none-any.whl",
            b"not a zip at all".to_vec(),
            "not a valid zip archive",
        ),
        (
            "mypkg-1.0-py3-none-any.whl",
            Vec::new(),
            "not a valid zip archive",
        ),
        (
            "mypkg-1.0-py3-none-any.whl",
            wheel[..wheel.len() / 2].to_vec(),
            "not a valid zip archive",
        ),
        (
            "mypkg-1.0-py3-none-any.whl",
            bad_deflate,
            "could not read mypkg-1.0.dist-info/METADATA",
        ),
        (
            "mypkg-1.0.zip",
            wheel[..wheel.len() - 10].to_vec(),
            "not a valid zip archive",
        ),
        (
            "mypkg-1.0.tar.gz",
            b"not gzip".to_vec(),
            "not a valid gzip-compressed tar",
        ),
        (
            "mypkg-1.0.tar.gz",
            sdist[..sdist.len() / 2].to_vec(),
            "not a valid gzip-compressed tar",
        ),
        (
            "mypkg-1.0.tar.gz",
            Vec::new(),
            "not a valid gzip-compressed tar",
        ),
        // gzip of something that is not a tar.
        (
            "mypkg-1.0.tar.gz",
            {
                let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                gz.write_all(&[b'x'; 2048]).unwrap();
                gz.finish().unwrap()
            },
            "not a valid gzip-compressed tar",
        ),
    ];
    for (file, bytes, want) in cases {
        let err = inspect_bytes(file, &bytes).expect_err(file).to_string();
        assert!(
            err.contains(want),
            "{file}: {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn rejects_metadata_that_disagrees_with_the_filename() {
    let evil_wheel = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &metadata("evil", "1.0"))]);
    let newer_wheel = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &metadata("mypkg", "1.1"))]);
    let local_wheel = zip_bytes(&[(
        "mypkg-1.0.dist-info/METADATA",
        &metadata("mypkg", "1.0+evil"),
    )]);
    let evil_sdist = tar_gz_bytes(|b| add_file(b, "mypkg-1.0/PKG-INFO", &metadata("evil", "1.0")));
    let newer_zip_sdist = zip_bytes(&[("mypkg-1.0/PKG-INFO", &metadata("mypkg", "2.0"))]);
    let cases = [
        (
            "mypkg-1.0-py3-none-any.whl",
            evil_wheel,
            "the wheel's METADATA names project 'evil' but the filename says 'mypkg'",
        ),
        (
            "mypkg-1.0-py3-none-any.whl",
            newer_wheel,
            "the wheel's METADATA says version '1.1' but the filename says '1.0'",
        ),
        (
            "mypkg-1.0-py3-none-any.whl",
            local_wheel,
            "the wheel's METADATA says version '1.0+evil' but the filename says '1.0'",
        ),
        (
            "mypkg-1.0.tar.gz",
            evil_sdist,
            "the sdist's PKG-INFO names project 'evil' but the filename says 'mypkg'",
        ),
        (
            "mypkg-1.0.zip",
            newer_zip_sdist,
            "the sdist's PKG-INFO says version '2.0' but the filename says '1.0'",
        ),
    ];
    for (file, bytes, want) in cases {
        let err = inspect_bytes(file, &bytes).expect_err(file);
        assert_eq!(err.to_string(), want, "{file}");
    }
}

#[test]
fn rejects_wheels_without_exactly_one_matching_dist_info() {
    let meta = metadata("mypkg", "1.0");
    let cases: Vec<(Vec<u8>, &str)> =
        vec![
        (zip_bytes(&[("mypkg/__init__.py", b"")]), "no top-level *.dist-info/METADATA"),
        (
            zip_bytes(&[("mypkg-1.0.dist-info/RECORD", b"")]),
            "must contain mypkg-1.0.dist-info/METADATA",
        ),
        (
            zip_bytes(&[("mypkg-1.0.dist-info/metadata", &meta)]),
            "must contain mypkg-1.0.dist-info/METADATA",
        ),
        (
            zip_bytes(&[
                ("mypkg-1.0.dist-info/METADATA", &meta),
                ("evil-1.0.dist-info/METADATA", &metadata("evil", "1.0")),
            ]),
            "more than one .dist-info directory (evil-1.0.dist-info, mypkg-1.0.dist-info)",
        ),
        (
            zip_bytes(&[("other-1.0.dist-info/METADATA", &meta)]),
            "metadata directory \"other-1.0.dist-info\" does not match",
        ),
        (
            zip_bytes(&[("mypkg-2.0.dist-info/METADATA", &meta)]),
            "metadata directory \"mypkg-2.0.dist-info\" does not match",
        ),
        (
            zip_bytes(&[("mypkg-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: mypkg\n")]),
            "mypkg-1.0.dist-info/METADATA in the archive is invalid: the metadata has no Version",
        ),
        (
            zip_bytes(&[
                ("mypkg-1.0.dist-info/METADATA", &meta),
                ("mypkg-1.0.dist-info/entry_points.txt", b"\xff\xfe"),
            ]),
            "entry_points.txt in the archive is not valid UTF-8",
        ),
    ];
    for (bytes, want) in cases {
        let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &bytes)
            .expect_err(want)
            .to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn accepts_pkg_info_at_the_archive_root() {
    // older tools (and devpi's own tests) make sdists without a top folder
    let tar = tar_gz_bytes(|b| {
        add_file(b, "PKG-INFO", &metadata("mypkg", "1.0"));
        add_file(b, "content", b"x");
    });
    let zip = zip_bytes(&[("PKG-INFO", &metadata("mypkg", "1.0"))]);
    for (file, bytes) in [("mypkg-1.0.tar.gz", tar), ("mypkg-1.0.zip", zip)] {
        let got = inspect_bytes(file, &bytes).unwrap();
        assert_eq!(got.metadata.version, "1.0", "{file}");
    }
}

#[test]
fn rejects_sdists_without_exactly_one_top_level_pkg_info() {
    let only_nested =
        tar_gz_bytes(|b| add_file(b, "mypkg-1.0/sub/PKG-INFO", &metadata("mypkg", "1.0")));
    let two_in_zip = zip_bytes(&[
        ("a/PKG-INFO", &metadata("mypkg", "1.0")),
        ("b/PKG-INFO", &metadata("mypkg", "1.0")),
    ]);
    let symlink = tar_gz_bytes(|b| {
        add_raw(b, b"mypkg-1.0/PKG-INFO", tar::EntryType::Symlink, b"");
    });
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "mypkg-1.0.tar.gz",
            only_nested,
            "no PKG-INFO file in its top-level directory (expected \"mypkg-1.0/PKG-INFO\")",
        ),
        (
            "mypkg-1.0.zip",
            zip_bytes(&[("mypkg-1.0/setup.py", b"")]),
            "no PKG-INFO file",
        ),
        (
            "mypkg-1.0.zip",
            two_in_zip,
            "more than one top-level PKG-INFO (a/PKG-INFO, b/PKG-INFO)",
        ),
        (
            "mypkg-1.0.tar.gz",
            symlink,
            "mypkg-1.0/PKG-INFO in the archive is not a regular file",
        ),
    ];
    for (file, bytes, want) in cases {
        let err = inspect_bytes(file, &bytes).expect_err(want).to_string();
        assert!(
            err.contains(want),
            "{file}: {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn rejects_oversized_metadata_without_reading_it_all() {
    let limit = MAX_METADATA_BYTES;
    let mut big = metadata("mypkg", "1.0");
    big.resize(limit + 1, b'x');
    let mut just_fits = metadata("mypkg", "1.0");
    just_fits.resize(limit, b'x');

    let big_wheel = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &big)]);
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &big_wheel).unwrap_err();
    assert!(
        matches!(err, DistError::EntryTooLarge { size, .. } if size == limit as u64 + 1),
        "{err:?}"
    );
    let ok_wheel = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &just_fits)]);
    assert!(inspect_bytes("mypkg-1.0-py3-none-any.whl", &ok_wheel).is_ok());

    let big_sdist = tar_gz_bytes(|b| add_file(b, "mypkg-1.0/PKG-INFO", &big));
    let err = inspect_bytes("mypkg-1.0.tar.gz", &big_sdist).unwrap_err();
    assert!(matches!(err, DistError::EntryTooLarge { .. }), "{err:?}");

    // A zip-bomb-style header: tiny data, but METADATA claims ~4 GiB.
    let mut liar = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &metadata("mypkg", "1.0"))]);
    patch_declared_size(&mut liar, "mypkg-1.0.dist-info/METADATA", 0xFFFF_FFF0);
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &liar).unwrap_err();
    assert!(
        matches!(
            err,
            DistError::EntryTooLarge {
                size: 0xFFFF_FFF0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_unsafe_member_paths() {
    let meta = metadata("mypkg", "1.0");
    for bad in [
        "../x",
        "mypkg/../../x",
        "/etc/passwd",
        "C:/x",
        "mypkg\\..\\..\\x",
    ] {
        let wheel = zip_bytes(&[("mypkg-1.0.dist-info/METADATA", &meta), (bad, b"boom")]);
        let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &wheel).unwrap_err();
        assert!(
            matches!(&err, DistError::UnsafePath { entry } if entry == bad),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("unsafe path"), "{err}");

        let zip_sdist = zip_bytes(&[("mypkg-1.0/PKG-INFO", &meta), (bad, b"boom")]);
        let err = inspect_bytes("mypkg-1.0.zip", &zip_sdist).unwrap_err();
        assert!(
            matches!(err, DistError::UnsafePath { .. }),
            "{bad}: {err:?}"
        );

        let tar = tar_gz_bytes(|b| {
            add_raw(b, bad.as_bytes(), tar::EntryType::Regular, b"boom");
            add_file(b, "mypkg-1.0/PKG-INFO", &meta);
        });
        let err = inspect_bytes("mypkg-1.0.tar.gz", &tar).unwrap_err();
        assert!(
            matches!(err, DistError::UnsafePath { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn rejects_duplicate_names_and_prepended_data_in_zips() {
    // Two METADATA members under one name: the zip crate would keep one,
    // Python's zipfile the other.
    let mut dup = zip_bytes(&[
        ("mypkg-1.0.dist-info/METADATA", &metadata("mypkg", "1.0")),
        ("mypkg-1.0.dist-info/METADATX", &metadata("evil", "1.0")),
    ]);
    patch(&mut dup, b"METADATX", b"METADATA");
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &dup).unwrap_err();
    assert!(
        matches!(
            err,
            DistError::DuplicateEntries {
                listed: 2,
                unique: 1
            }
        ),
        "{err:?}"
    );

    let mut prepended = b"#!/bin/sh\nexit 0\n".to_vec();
    prepended.extend(valid_wheel());
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &prepended).unwrap_err();
    assert!(matches!(err, DistError::PrependedData(17)), "{err:?}");
}

#[test]
fn rejects_metadata_that_is_not_a_regular_file() {
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .add_symlink(
            "mypkg-1.0.dist-info/METADATA",
            "/etc/passwd",
            SimpleFileOptions::default(),
        )
        .unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &bytes).unwrap_err();
    assert!(matches!(err, DistError::NotRegularFile { .. }), "{err:?}");
}

#[test]
fn enforces_entry_and_decompression_limits() {
    let dir = TempDir::new().unwrap();
    let small = Limits {
        max_entries: 3,
        max_decompressed: 64 * 1024,
        ..Limits::default()
    };
    let meta = metadata("mypkg", "1.0");
    let many: Vec<(String, &[u8])> = (0..5)
        .map(|i| (format!("mypkg/m{i}.py"), &b""[..]))
        .collect();
    let mut wheel_entries: Vec<(&str, &[u8])> =
        many.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    wheel_entries.push(("mypkg-1.0.dist-info/METADATA", &meta));
    let path = save(&dir, "w.whl", &zip_bytes(&wheel_entries));
    let err = inspect_with_limits(&path, "mypkg-1.0-py3-none-any.whl", &small).unwrap_err();
    assert!(
        matches!(err, DistError::TooManyEntries { limit: 3 }),
        "{err:?}"
    );

    let many_tar = tar_gz_bytes(|b| {
        for (name, contents) in &many {
            add_file(b, name, contents);
        }
        add_file(b, "mypkg-1.0/PKG-INFO", &meta);
    });
    let path = save(&dir, "many.tar.gz", &many_tar);
    let err = inspect_with_limits(&path, "mypkg-1.0.tar.gz", &small).unwrap_err();
    assert!(
        matches!(err, DistError::TooManyEntries { limit: 3 }),
        "{err:?}"
    );

    // Highly compressible filler before PKG-INFO: a tar bomb in miniature.
    let bomb = tar_gz_bytes(|b| {
        add_file(b, "mypkg-1.0/zeros", &vec![0u8; 1024 * 1024]);
        add_file(b, "mypkg-1.0/PKG-INFO", &meta);
    });
    assert!(bomb.len() < 16 * 1024, "filler should compress well");
    let path = save(&dir, "bomb.tar.gz", &bomb);
    let err = inspect_with_limits(&path, "mypkg-1.0.tar.gz", &small).unwrap_err();
    assert!(
        matches!(err, DistError::TooMuchData { limit: 65536 }),
        "{err:?}"
    );
    // The same archive is fine under the default limits.
    assert!(inspect_with_limits(&path, "mypkg-1.0.tar.gz", &Limits::default()).is_ok());

    // An oversized GNU long-name record is refused, not buffered.
    let long_name = tar_gz_bytes(|b| {
        add_raw(
            b,
            b"././@LongLink",
            tar::EntryType::GNULongName,
            &vec![b'a'; 200_000],
        );
        add_file(b, "mypkg-1.0/PKG-INFO", &meta);
    });
    let err = inspect_bytes("mypkg-1.0.tar.gz", &long_name).unwrap_err();
    assert!(err.to_string().contains("extended-header record"), "{err}");
}

#[test]
fn reports_filename_and_io_errors() {
    let err = inspect(Path::new("/nonexistent/airlock-test"), "mypkg-1.0.tar.gz").unwrap_err();
    assert!(matches!(err, DistError::Io(_)), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("could not read the uploaded file"));

    let err = inspect(Path::new("/nonexistent"), "mypkg-1.0.tar.bz2").unwrap_err();
    assert!(
        matches!(
            err,
            DistError::Filename(FilenameError::RejectedFormat { .. })
        ),
        "{err:?}"
    );
}

/// A member whose header (name, type, link target, size) is written as-is.
fn add_special<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, &[][..]).unwrap();
}

#[test]
fn walks_every_tar_member_after_pkg_info() {
    use tar::EntryType as T;
    let meta = metadata("mypkg", "1.0");
    type Fill = Box<dyn Fn(&mut tar::Builder<GzEncoder<Vec<u8>>>)>;
    let cases: Vec<(&str, Fill, &str)> = vec![
        (
            "symlink out of the tree",
            Box::new(|b| add_special(b, "mypkg-1.0/escape", T::Symlink, Some("../../../outside"))),
            "mypkg-1.0/escape in the archive is not a regular file: it is a symbolic link",
        ),
        (
            "harmless-looking symlink",
            Box::new(|b| add_special(b, "mypkg-1.0/link", T::Symlink, Some("setup.py"))),
            "it is a symbolic link",
        ),
        (
            "hard link",
            Box::new(|b| add_special(b, "mypkg-1.0/hard", T::Link, Some("/etc/passwd"))),
            "mypkg-1.0/hard in the archive is not a regular file: it is a hard link",
        ),
        (
            "FIFO",
            Box::new(|b| add_special(b, "mypkg-1.0/fifo", T::Fifo, None)),
            "it is a FIFO",
        ),
        (
            "character device",
            Box::new(|b| add_special(b, "mypkg-1.0/null", T::Char, None)),
            "it is a character device",
        ),
        (
            "block device",
            Box::new(|b| add_special(b, "mypkg-1.0/sda", T::Block, None)),
            "it is a block device",
        ),
        (
            "GNU sparse",
            Box::new(|b| add_special(b, "mypkg-1.0/sparse", T::GNUSparse, None)),
            "special member",
        ),
        (
            "dot-dot after PKG-INFO",
            Box::new(|b| add_raw(b, b"mypkg-1.0/../../pwned.txt", T::Regular, b"x")),
            "unsafe path \"mypkg-1.0/../../pwned.txt\"",
        ),
        (
            "absolute after PKG-INFO",
            Box::new(|b| add_raw(b, b"/tmp/pwned.txt", T::Regular, b"x")),
            "unsafe path \"/tmp/pwned.txt\"",
        ),
        (
            "backslash",
            Box::new(|b| add_raw(b, b"mypkg-1.0\\..\\pwned.txt", T::Regular, b"x")),
            "unsafe path",
        ),
        (
            "drive letter",
            Box::new(|b| add_raw(b, b"C:/pwned.txt", T::Regular, b"x")),
            "unsafe path",
        ),
        (
            "second top-level folder",
            Box::new(|b| add_file(b, "other/evil.py", b"x")),
            "\"other\" in the sdist is outside its top-level folder \"mypkg-1.0\"",
        ),
        (
            "file at the root",
            Box::new(|b| add_file(b, "setup.py", b"x")),
            "\"setup.py\" in the sdist is outside its top-level folder",
        ),
        (
            "duplicate member",
            Box::new(|b| add_file(b, "mypkg-1.0/PKG-INFO", &metadata("evil", "1.0"))),
            "contains \"mypkg-1.0/PKG-INFO\" more than once",
        ),
        (
            "duplicate after normalisation",
            Box::new(|b| add_raw(b, b"./mypkg-1.0//PKG-INFO", T::Regular, b"x")),
            "more than once",
        ),
        (
            "PAX path escaping behind a safe header name",
            Box::new(|b| {
                b.append_pax_extensions([("path", &b"../pwned.txt"[..])])
                    .unwrap();
                add_raw(b, b"mypkg-1.0/innocent", T::Regular, b"x");
            }),
            "unsafe path \"../pwned.txt\"",
        ),
        (
            "safe PAX path over an escaping header name",
            Box::new(|b| {
                b.append_pax_extensions([("path", &b"mypkg-1.0/innocent"[..])])
                    .unwrap();
                add_raw(b, b"../pwned.txt", T::Regular, b"x");
            }),
            "unsafe path \"../pwned.txt\"",
        ),
        (
            "global PAX path",
            Box::new(|b| {
                let record = b"25 path=../../pwned.txtx\n";
                let mut header = tar::Header::new_ustar();
                header.set_entry_type(T::XGlobalHeader);
                header.set_size(record.len() as u64);
                header.set_cksum();
                b.append(&header, &record[..]).unwrap();
                add_file(b, "mypkg-1.0/x", b"x");
            }),
            "global PAX header sets \"path\"",
        ),
    ];
    for (what, fill, want) in cases {
        let bytes = tar_gz_bytes(|b| {
            add_file(b, "mypkg-1.0/setup.py", b"");
            add_file(b, "mypkg-1.0/PKG-INFO", &meta);
            fill(b);
        });
        let err = inspect_bytes("mypkg-1.0.tar.gz", &bytes)
            .expect_err(what)
            .to_string();
        assert!(
            err.contains(want),
            "{what}: {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn reads_concatenated_gzip_members_as_python_does() {
    // A clean first gzip member, then a second one holding an escaping
    // symlink: Python's tarfile reads both.
    let meta = metadata("mypkg", "1.0");
    // The first member has no end-of-archive blocks: the tar stream goes
    // on in the second.
    let mut header = tar::Header::new_gnu();
    header.set_path("mypkg-1.0/PKG-INFO").unwrap();
    header.set_size(meta.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut first = header.as_bytes().to_vec();
    first.extend(&meta);
    first.resize(first.len().div_ceil(512) * 512, 0);
    let mut second = tar::Builder::new(Vec::new());
    add_special(
        &mut second,
        "mypkg-1.0/escape",
        tar::EntryType::Symlink,
        Some("../../x"),
    );
    let second = second.into_inner().unwrap();
    let gz = |data: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut bytes = gz(&first);
    bytes.extend(gz(&second));
    let err = inspect_bytes("mypkg-1.0.tar.gz", &bytes).unwrap_err();
    assert!(
        matches!(
            &err,
            DistError::NotRegularFile {
                kind: "symbolic link",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn refuses_compression_bombs_in_every_member() {
    let meta = metadata("mypkg", "1.0");
    let zeros = vec![0u8; 8 * 1024 * 1024];
    // tar.gz: a bomb member after PKG-INFO.
    let tar_bomb = tar_gz_bytes(|b| {
        add_file(b, "mypkg-1.0/PKG-INFO", &meta);
        add_file(b, "mypkg-1.0/data.bin", &zeros);
    });
    let err = inspect_bytes("mypkg-1.0.tar.gz", &tar_bomb).unwrap_err();
    assert!(
        matches!(err, DistError::ArchiveRatio { limit: 50, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("compression bomb"), "{err}");

    // wheel: the bomb is a non-metadata member.
    let wheel_bomb = zip_bytes(&[
        ("mypkg-1.0.dist-info/METADATA", &meta),
        ("mypkg/data.bin", &zeros),
    ]);
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &wheel_bomb).unwrap_err();
    assert!(
        matches!(&err, DistError::MemberRatio { path, limit: 50, .. } if path == "mypkg/data.bin"),
        "{err:?}"
    );
    // zip sdist likewise.
    let zip_bomb = zip_bytes(&[("mypkg-1.0/PKG-INFO", &meta), ("mypkg-1.0/d.bin", &zeros)]);
    let err = inspect_bytes("mypkg-1.0.zip", &zip_bomb).unwrap_err();
    assert!(matches!(err, DistError::MemberRatio { .. }), "{err:?}");

    // Many members each under the exemption, together over the ratio.
    let small = vec![0u8; 1024 * 1024];
    let names: Vec<String> = (0..6).map(|i| format!("mypkg/d{i}.bin")).collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("mypkg-1.0.dist-info/METADATA", &meta)];
    entries.extend(names.iter().map(|n| (n.as_str(), &small[..])));
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &zip_bytes(&entries)).unwrap_err();
    assert!(matches!(err, DistError::ArchiveRatio { .. }), "{err:?}");

    // Limits are configurable: a tighter total cap, and a looser ratio.
    let dir = TempDir::new().unwrap();
    let path = save(&dir, "w.whl", &wheel_bomb);
    let loose = Limits {
        max_ratio: 100_000,
        ..Limits::default()
    };
    assert!(inspect_with_limits(&path, "mypkg-1.0-py3-none-any.whl", &loose).is_ok());
    let tight = Limits {
        max_ratio: 100_000,
        max_decompressed: 1024 * 1024,
        ..Limits::default()
    };
    let err = inspect_with_limits(&path, "mypkg-1.0-py3-none-any.whl", &tight).unwrap_err();
    assert!(matches!(err, DistError::TooMuchData { .. }), "{err:?}");

    // A non-metadata member whose header understates its size.
    let mut liar = zip_bytes(&[
        ("mypkg-1.0.dist-info/METADATA", &meta),
        ("mypkg/data.bin", &[7u8; 5000]),
    ]);
    patch_declared_size(&mut liar, "mypkg/data.bin", 10);
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &liar).unwrap_err();
    assert!(
        err.to_string().contains("could not read mypkg/data.bin"),
        "{err}"
    );
}

#[test]
fn refuses_special_zip_members_anywhere() {
    let meta = metadata("mypkg", "1.0");
    // A symlink that is not the metadata.
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default();
    writer
        .start_file("mypkg-1.0.dist-info/METADATA", opts)
        .unwrap();
    writer.write_all(&meta).unwrap();
    writer
        .add_symlink("mypkg/escape", "../../../outside", opts)
        .unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &bytes).unwrap_err();
    assert!(
        err.to_string()
            .contains("mypkg/escape in the archive is not a regular file: it is a symbolic link"),
        "{err}"
    );
    // FIFO and device modes in the external attributes.
    for (mode, kind) in [
        (0o010_644, "FIFO"),
        (0o020_644, "character device"),
        (0o140_644, "socket"),
    ] {
        let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer
            .start_file("mypkg-1.0.dist-info/METADATA", opts)
            .unwrap();
        writer.write_all(&meta).unwrap();
        writer.start_file("mypkg/special", opts).unwrap();
        let mut bytes = writer.finish().unwrap().into_inner();
        patch_external_mode(&mut bytes, "mypkg/special", mode);
        let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &bytes).unwrap_err();
        assert!(
            err.to_string().contains(&format!("it is a {kind}")),
            "{mode:o}: {err}"
        );
    }
    // Zip sdists keep to one top-level folder; names must be unique after
    // normalisation.
    let outside = zip_bytes(&[("mypkg-1.0/PKG-INFO", &meta), ("evil/x.py", b"x")]);
    let err = inspect_bytes("mypkg-1.0.zip", &outside).unwrap_err();
    assert!(matches!(err, DistError::OutsideTopLevel { .. }), "{err:?}");
    let dup = zip_bytes(&[
        ("mypkg-1.0.dist-info/METADATA", &meta),
        ("mypkg/a.py", b"x"),
        ("mypkg//a.py", b"y"),
    ]);
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &dup).unwrap_err();
    assert!(matches!(err, DistError::DuplicateMember { .. }), "{err:?}");
    let backslash = zip_bytes(&[
        ("mypkg-1.0.dist-info/METADATA", &meta),
        ("mypkg\\a.py", b"x"),
    ]);
    let err = inspect_bytes("mypkg-1.0-py3-none-any.whl", &backslash).unwrap_err();
    assert!(matches!(err, DistError::UnsafePath { .. }), "{err:?}");
}

/// Make the central-directory record of `member` say it was written on Unix
/// with the file mode `mode` (type bits included).
fn patch_external_mode(bytes: &mut [u8], member: &str, mode: u32) {
    let name = member.as_bytes();
    for i in 0..bytes.len().saturating_sub(46) {
        if &bytes[i..i + 4] == b"PK\x01\x02" && bytes.get(i + 46..i + 46 + name.len()) == Some(name)
        {
            bytes[i + 5] = 3; // version made by: Unix
            bytes[i + 38..i + 42].copy_from_slice(&(mode << 16).to_le_bytes());
            return;
        }
    }
    panic!("no central record for {member}");
}
