//! A stored file altered on disk behind airlock's back is never served as
//! the file: small ones are refused before a byte is sent, large ones are
//! cut short before their last chunk, ranges are refused; the metric counts
//! it. Against the real binary, with real downloads (curl-like reqwest).

mod common;

use std::io::Write;
use std::os::unix::fs::FileExt;

use common::{client, create_index, create_user, sha256_hex, upload, wheel, Server};

/// A valid wheel with an incompressible member of `extra` bytes.
fn big_wheel(name: &str, version: &str, extra: usize) -> (String, Vec<u8>) {
    let filename = format!("{name}-{version}-py3-none-any.whl");
    let dist_info = format!("{name}-{version}.dist-info");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file(format!("{name}/__init__.py"), stored).unwrap();
        z.write_all(b"VALUE = 1\n").unwrap();
        // xorshift noise: does not compress, so the wheel is `extra` big
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..extra)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        z.start_file(format!("{name}/data.bin"), stored).unwrap();
        z.write_all(&noise).unwrap();
        z.start_file(format!("{dist_info}/METADATA"), stored)
            .unwrap();
        z.write_all(common::metadata(name, version).as_bytes())
            .unwrap();
        z.start_file(format!("{dist_info}/WHEEL"), stored).unwrap();
        z.write_all(
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        .unwrap();
        z.start_file(format!("{dist_info}/RECORD"), stored).unwrap();
        z.finish().unwrap();
    }
    (filename, buf.into_inner())
}

fn blob_path(s: &Server, bytes: &[u8]) -> std::path::PathBuf {
    let hex = sha256_hex(bytes);
    s.data
        .join("blobs")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&hex)
}

fn flip_byte(path: &std::path::Path, at: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open blob for writing");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0xff;
    f.write_all_at(&b, at).unwrap();
}

fn url_of(filename: &str, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    format!("/alice/dev/+f/{}/{}/{filename}", &hex[..3], &hex[3..16])
}

fn integrity_failures(s: &Server) -> u64 {
    let text = client()
        .get(s.url("/+metrics"))
        .bearer_auth("integrity-metrics-token")
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("airlock_blob_integrity_failures_total "))
        .unwrap_or_else(|| panic!("no integrity metric in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn altered_stored_files_are_never_served_as_the_file() {
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("token");
    std::fs::write(&token, "integrity-metrics-token\n").unwrap();
    let s = Server::start_with(&["--metrics-token-file", token.to_str().unwrap()]);
    create_user(&s, "alice", "alice-pw");
    create_index(
        &s,
        "alice/dev",
        ("alice", "alice-pw"),
        serde_json::json!({"type": "stage", "bases": []}),
    );
    let alice = Some(("alice", "alice-pw"));
    let (small_name, small) = wheel("smallpkg", "1.0", "smallpkg");
    let (big_name, big) = big_wheel("bigpkg", "1.0", 3 * 1024 * 1024 + 12345);
    for (name, bytes) in [(&small_name, &small), (&big_name, &big)] {
        let r = upload(&s, "alice/dev", alice, name, bytes.clone(), &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
    let get = |path: &str| client().get(s.url(path)).send().unwrap();

    // Sound: both served whole, a range of the big one too.
    for (name, bytes) in [(&small_name, &small), (&big_name, &big)] {
        let r = get(&url_of(name, bytes));
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
    }
    let r = client()
        .get(s.url(&url_of(&big_name, &big)))
        .header("Range", "bytes=100-199")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &big[100..200]);
    assert_eq!(integrity_failures(&s), 0);

    // Small file altered in place: refused with a clear 500, nothing sent.
    flip_byte(&blob_path(&s, &small), 40);
    let r = get(&url_of(&small_name, &small));
    assert_eq!(r.status(), 500);
    let text = r.text().unwrap();
    assert!(text.contains("integrity check"), "{text}");
    assert_eq!(integrity_failures(&s), 1);

    // Big file altered in its first megabyte: the response starts (200 and
    // its length) but ends short with an error; the client never holds the
    // whole altered file.
    flip_byte(&blob_path(&s, &big), 1000);
    let r = get(&url_of(&big_name, &big));
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(big.len() as u64));
    match r.bytes() {
        Ok(got) => panic!("{} bytes received as a whole file", got.len()),
        Err(e) => assert!(e.is_body() || e.is_decode(), "{e}"),
    }
    // A range of it is refused up front, even one far from the change.
    let r = client()
        .get(s.url(&url_of(&big_name, &big)))
        .header("Range", "bytes=2000000-2000099")
        .send()
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(integrity_failures(&s) >= 3);
    let log = s.log_text();
    assert!(log.contains("altered on disk"), "{log}");

    // Restored bytes are served again.
    flip_byte(&blob_path(&s, &big), 1000);
    let r = get(&url_of(&big_name, &big));
    assert_eq!(r.bytes().unwrap().as_ref(), big.as_slice());
}
