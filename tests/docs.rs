//! Documentation zip validation against hostile archives: zip-slip,
//! absolute paths, symlinks, device files, bombs, lying headers, duplicate
//! names; and serving members straight out of a valid zip.

use std::io::Write;
use std::path::{Path, PathBuf};

use airlock::dist::doczip::{lookup_doc, validate_doc_zip, DocLookup, DocZipError, DocZipLimits};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(CompressionMethod::Deflated, members)
}

fn zip_with(method: CompressionMethod, members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(method);
    for (name, data) in members {
        w.start_file(*name, opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// Set the unix mode (file type and permissions) of the `n`th central
/// directory record, as a hostile zip tool would.
fn set_mode(mut bytes: Vec<u8>, n: usize, mode: u32) -> Vec<u8> {
    let mut seen = 0;
    let mut i = 0;
    while i + 46 <= bytes.len() {
        if bytes[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            if seen == n {
                bytes[i + 5] = 3; // made by: unix
                let attrs = (mode << 16).to_le_bytes();
                bytes[i + 38..i + 42].copy_from_slice(&attrs);
                return bytes;
            }
            seen += 1;
        }
        i += 1;
    }
    panic!("no central record {n}");
}

/// Replace every occurrence of `from` with `to` (same length).
fn patch(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write zip");
    p
}

#[test]
fn hostile_zips_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ok: &[u8] = b"<html>ok</html>";
    let zeros = vec![0u8; 20 * 1024 * 1024];
    let small = DocZipLimits {
        max_members: 3,
        max_total_bytes: 100,
        ..DocZipLimits::default()
    };
    type Check = fn(&DocZipError) -> bool;
    let cases: Vec<(&str, Vec<u8>, DocZipLimits, Check)> = vec![
        (
            "zip-slip",
            zip_of(&[("index.html", ok), ("../../escaped.html", ok)]),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::UnsafePath(p) if p.contains("..")),
        ),
        (
            "zip-slip inside",
            zip_of(&[("a/../../x.html", ok)]),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::UnsafePath(_)),
        ),
        (
            "absolute",
            zip_of(&[("/tmp/airlock-absolute.html", ok)]),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::UnsafePath(_)),
        ),
        (
            "windows drive",
            zip_of(&[("C:\\evil.html", ok)]),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::UnsafePath(_)),
        ),
        (
            "symlink",
            set_mode(
                zip_of(&[("index.html", ok), ("link", b"/etc/passwd")]),
                1,
                0o120_777,
            ),
            DocZipLimits::default(),
            |e| {
                matches!(
                    e,
                    DocZipError::NotRegular {
                        kind: "symbolic link",
                        ..
                    }
                )
            },
        ),
        (
            "character device",
            set_mode(zip_of(&[("tty", b"")]), 0, 0o020_666),
            DocZipLimits::default(),
            |e| {
                matches!(
                    e,
                    DocZipError::NotRegular {
                        kind: "character device",
                        ..
                    }
                )
            },
        ),
        (
            "fifo",
            set_mode(zip_of(&[("pipe", b"")]), 0, 0o010_644),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::NotRegular { kind: "FIFO", .. }),
        ),
        (
            "bomb (ratio)",
            zip_of(&[("zeros.html", &zeros)]),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::Ratio { .. }),
        ),
        (
            "too many members",
            zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")]),
            small,
            |e| matches!(e, DocZipError::TooManyMembers(3)),
        ),
        (
            "total unpacked size",
            zip_of(&[("a", &[b'x'; 60]), ("b", &[b'y'; 60])]),
            small,
            |e| matches!(e, DocZipError::TotalTooLarge(100)),
        ),
        (
            "member size",
            zip_of(&[("a", &[b'x'; 60])]),
            DocZipLimits {
                max_member_bytes: 50,
                ..DocZipLimits::default()
            },
            |e| matches!(e, DocZipError::MemberTooLarge { size: 60, .. }),
        ),
        (
            "duplicate names",
            patch(
                zip_of(&[("a.html", ok), ("b.html", ok)]),
                b"b.html",
                b"a.html",
            ),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::DuplicateMember(_)),
        ),
        (
            "names equal after normalising",
            zip_of(&[("a/b.html", ok), ("a//b.html", ok)]),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::DuplicateMember(_)),
        ),
        (
            "lying checksum",
            patch(
                zip_with(CompressionMethod::Stored, &[("a.txt", b"hello world")]),
                b"hello world",
                b"hello WORLD",
            ),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::Corrupt { .. }),
        ),
        (
            "not a zip",
            b"<html>not a zip</html>".to_vec(),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::NotZip(_)),
        ),
        (
            "prepended data",
            [b"#!/bin/sh\n".to_vec(), zip_of(&[("index.html", ok)])].concat(),
            DocZipLimits::default(),
            |e| matches!(e, DocZipError::PrependedData(_) | DocZipError::NotZip(_)),
        ),
    ];
    for (label, bytes, limits, check) in cases {
        let p = write(dir.path(), "doc.zip", &bytes);
        match validate_doc_zip(&p, &limits) {
            Err(e) => assert!(check(&e), "{label}: unexpected error {e:?}"),
            Ok(s) => panic!("{label}: accepted ({s:?})"),
        }
    }
    assert!(!Path::new("/tmp/airlock-absolute.html").exists());
}

#[test]
fn valid_docs_are_accepted_and_served_from_the_zip() {
    let dir = tempfile::tempdir().unwrap();
    let css = vec![b'a'; 100 * 1024]; // compresses well but within the ratio
    let p = write(
        dir.path(),
        "doc.zip",
        &zip_of(&[
            ("index.html", b"<html>home</html>"),
            ("api/index.html", b"api"),
            ("api/mod.html", b"mod"),
            ("_static/logo.png", b"\x89PNG"),
            ("_static/site.css", &css),
            ("data.bin", b"\0\x01"),
        ]),
    );
    let limits = DocZipLimits {
        max_ratio: 2000,
        ..DocZipLimits::default()
    };
    let s = validate_doc_zip(&p, &limits).expect("valid docs");
    assert_eq!(s.files, 6);

    let file = |bytes: &[u8], ct: &'static str| DocLookup::File {
        bytes: bytes.to_vec(),
        content_type: ct,
    };
    let html = "text/html; charset=utf-8";
    let cases: Vec<(&str, DocLookup)> = vec![
        ("", file(b"<html>home</html>", html)),
        ("index.html", file(b"<html>home</html>", html)),
        ("api/", file(b"api", html)),
        ("api", DocLookup::Directory),
        ("api//mod.html", file(b"mod", html)),
        ("_static/logo.png", file(b"\x89PNG", "image/png")),
        ("data.bin", file(b"\0\x01", "application/octet-stream")),
        ("_static/", DocLookup::Missing), // no index.html there
        ("missing.html", DocLookup::Missing),
        ("../index.html", DocLookup::Missing),
        ("api/../../index.html", DocLookup::Missing),
        ("/etc/passwd", DocLookup::Missing),
    ];
    for (request, want) in cases {
        assert_eq!(
            lookup_doc(&p, request, &limits).unwrap(),
            want,
            "{request:?}"
        );
    }
}
