//! `--blobs s3://`: file bytes in an S3-compatible bucket, metadata in the
//! local SQLite. Against the real binary and a real S3 protocol server
//! (s3s-fs, signatures checked, tests/common/s3.rs), no mocks: uploads,
//! pages and byte-identical downloads; objects altered in the bucket are
//! never served as the file; a stopped bucket makes uploads fail with a
//! 503 in bounded time, nothing committed; tools that need local files
//! refuse such a data folder.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use common::{client, create_index, create_user, sha256_hex, upload, wheel, Server};
use s3::S3Server;

const PREFIX: &str = "prod/node";

fn airlock(s3: &S3Server, extra: &[&str]) -> Server {
    let url = s3.blobs_url(PREFIX);
    let mut args = vec!["--blobs", url.as_str()];
    args.extend_from_slice(extra);
    let s = Server::start_with_env(&args, &s3.env());
    create_user(&s, "alice", "alice-pw");
    create_index(
        &s,
        "alice/dev",
        ("alice", "alice-pw"),
        serde_json::json!({"type": "stage", "bases": [], "volatile": false}),
    );
    s
}

const ALICE: Option<(&str, &str)> = Some(("alice", "alice-pw"));

/// A valid wheel with an incompressible member of `extra` bytes.
fn big_wheel(name: &str, version: &str, extra: usize) -> (String, Vec<u8>) {
    let filename = format!("{name}-{version}-py3-none-any.whl");
    let dist_info = format!("{name}-{version}.dist-info");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
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

fn url_of(filename: &str, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    format!("/alice/dev/+f/{}/{}/{filename}", &hex[..3], &hex[3..16])
}

fn flip_byte(path: &std::path::Path, at: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open object file for writing");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0xff;
    f.write_all_at(&b, at).unwrap();
}

/// Files below the data folder's `blobs/` (none in S3 mode).
fn local_blobs(s: &Server) -> usize {
    s.data_files()
        .iter()
        .filter(|(p, _)| p.starts_with("blobs/"))
        .count()
}

#[test]
fn uploads_pages_and_downloads_go_through_the_bucket() {
    let s3 = S3Server::start();
    let s = airlock(&s3, &[]);
    let (small_name, small) = wheel("s3demo", "1.0", "s3demo");
    let (big_name, big) = big_wheel("s3big", "1.0", 3 * 1024 * 1024 + 4321);
    for (name, bytes) in [(&small_name, &small), (&big_name, &big)] {
        let r = upload(&s, "alice/dev", ALICE, name, bytes.clone(), &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        assert!(
            s3.object_file(PREFIX, &sha256_hex(bytes)).is_file(),
            "{name} is an object in the bucket"
        );
    }
    assert_eq!(local_blobs(&s), 0, "no file bytes in the data folder");

    let page = client()
        .get(s.url("/alice/dev/+simple/s3demo/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(&small_name), "{page}");
    assert!(page.contains(&sha256_hex(&small)), "{page}");
    // PEP 658 metadata is a blob in the bucket too
    let meta = client()
        .get(s.url(&format!("{}.metadata", url_of(&small_name, &small))))
        .send()
        .unwrap();
    assert_eq!(meta.status(), 200);
    assert!(meta.text().unwrap().contains("Name: s3demo"));

    for (name, bytes) in [(&small_name, &small), (&big_name, &big)] {
        let r = client().get(s.url(&url_of(name, bytes))).send().unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice(), "{name}");
    }
    let r = client()
        .get(s.url(&url_of(&big_name, &big)))
        .header("Range", "bytes=1000-1999")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &big[1000..2000]);

    // the log names the bucket, never the secret
    let log = s.log_text();
    assert!(log.contains(&s3.endpoint), "the location is logged");
    assert!(!log.contains(s3::SECRET_KEY), "the secret is never logged");
}

#[test]
fn the_same_filename_twice_is_a_conflict_as_with_local_files() {
    let s3 = S3Server::start();
    let s = airlock(&s3, &[]);
    let (name, bytes) = wheel("twice", "1.0", "twice");
    let r = upload(&s, "alice/dev", ALICE, &name, bytes.clone(), &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // identical bytes again: accepted as unchanged (idempotent put)
    let r = upload(&s, "alice/dev", ALICE, &name, bytes.clone(), &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // other bytes under the same name: 409
    let (_, other) = wheel("twice", "1.0", "Twice");
    assert_ne!(other, bytes);
    let r = upload(&s, "alice/dev", ALICE, &name, other.clone(), &[]);
    assert_eq!(r.status(), 409, "{}", r.text().unwrap());
    let r = client().get(s.url(&url_of(&name, &bytes))).send().unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
}

#[test]
fn objects_altered_in_the_bucket_are_never_served_as_the_file() {
    let s3 = S3Server::start();
    let s = airlock(&s3, &[]);
    let (small_name, small) = wheel("altered", "1.0", "altered");
    let (big_name, big) = big_wheel("alteredbig", "1.0", 2 * 1024 * 1024 + 99);
    for (name, bytes) in [(&small_name, &small), (&big_name, &big)] {
        let r = upload(&s, "alice/dev", ALICE, name, bytes.clone(), &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }

    // small object: refused before a byte is sent
    flip_byte(&s3.object_file(PREFIX, &sha256_hex(&small)), 30);
    let r = client()
        .get(s.url(&url_of(&small_name, &small)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 500);
    let text = r.text().unwrap();
    assert!(text.contains("integrity check"), "{text}");

    // large object: the body ends short with an error, never the whole file
    flip_byte(&s3.object_file(PREFIX, &sha256_hex(&big)), 100);
    let r = client()
        .get(s.url(&url_of(&big_name, &big)))
        .send()
        .unwrap();
    // (an error reading the body is the client seeing the truncation)
    if let Ok(b) = r.bytes() {
        assert!(
            b.len() < big.len(),
            "cut short: {} of {}",
            b.len(),
            big.len()
        );
        assert_ne!(b.as_ref(), big.as_slice());
    }
    // a range of it is refused up front
    let r = client()
        .get(s.url(&url_of(&big_name, &big)))
        .header("Range", "bytes=0-99")
        .send()
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(s.log_text().contains("altered"), "the refusal is logged");
}

#[test]
fn a_stopped_bucket_refuses_uploads_with_a_503_in_bounded_time() {
    let mut s3 = S3Server::start();
    let s = airlock(&s3, &[]);
    s3.stop();
    let (name, bytes) = wheel("nobucket", "1.0", "nobucket");
    let started = Instant::now();
    let r = upload(&s, "alice/dev", ALICE, &name, bytes, &[]);
    let took = started.elapsed();
    let status = r.status();
    let text = r.text().unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("object storage"), "{text}");
    assert!(text.contains("nothing was stored"), "{text}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // no row was committed: the project does not exist
    let r = client()
        .get(s.url("/alice/dev/+simple/nobucket/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!s.log_text().contains(s3::SECRET_KEY));
}

#[test]
fn a_hung_bucket_refuses_uploads_with_a_503_in_bounded_time() {
    let s3 = S3Server::start();
    // something that accepts connections and never answers
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!(
        "s3://{}/p?endpoint=http://{}&region=us-east-1",
        s3::BUCKET,
        hung.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hung.incoming().flatten() {
            held.push(c);
        }
    });
    let s = Server::start_with_env(&["--blobs", &hung_url], &s3.env());
    let (name, bytes) = wheel("hung", "1.0", "hung");
    let started = Instant::now();
    let r = upload(&s, "root/dev", common::root(), &name, bytes, &[]);
    let took = started.elapsed();
    let status = r.status();
    let text = r.text().unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let r = client()
        .get(s.url("/root/dev/+simple/hung/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn an_s3_data_folder_is_not_served_from_local_files_nor_sent_by_nginx() {
    let s3 = S3Server::start();
    let mut s = airlock(&s3, &[]);
    s.stop();
    let dest = tempfile::tempdir().unwrap();
    // (fsck, gc, backup and export read the bucket: tests/store_migrate.rs,
    // tests/mirror_gc.rs)
    // serving that folder from local files, silently empty, is refused
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--offline", "--data"])
        .arg(&s.data)
        .env("AIRLOCK_ROOT_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--blobs"));
    // --accel-redirect needs local files
    let url = s3.blobs_url(PREFIX);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--offline", "--blobs"])
        .arg(&url)
        .args(["--accel-redirect", "/+airlock-internal", "--data"])
        .arg(dest.path().join("other"))
        .env("AIRLOCK_ROOT_PASSWORD", "x")
        .envs(s3.env())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not yet supported with --blobs s3://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--blobs-redirect`: an authorised download is a redirect to a presigned
/// URL of the bucket, which serves the bytes (signature checked by the S3
/// server) until it expires; the redirect is never cached.
#[test]
fn downloads_can_be_redirected_to_presigned_urls() {
    let s3 = S3Server::start();
    let s = airlock(&s3, &["--blobs-redirect", "2"]);
    let (name, bytes) = wheel("s3redirect", "1.0", "s3redirect");
    assert_eq!(
        upload(&s, "alice/dev", ALICE, &name, bytes.clone(), &[]).status(),
        200
    );
    let r = client().get(s.url(&url_of(&name, &bytes))).send().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&s3.endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let got = client().get(&location).send().unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().unwrap().as_ref(), bytes.as_slice());
    // a tampered signature is refused by the bucket
    let at = location.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut forged = location.clone();
    let flipped = if &location[at..at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    forged.replace_range(at..at + 1, flipped);
    assert_eq!(client().get(&forged).send().unwrap().status(), 403);
    // and the URL expires
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(client().get(&location).send().unwrap().status(), 403);
    // without the bucket, --blobs-redirect is refused at start
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--offline",
            "--blobs-redirect",
            "60",
        ])
        .arg("--data")
        .arg(tempfile::tempdir().unwrap().path().join("d"))
        .env("AIRLOCK_ROOT_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--blobs-redirect needs --blobs s3://"));
}

/// POST a push request (devpi's `:action: push`) to `from` as alice.
fn push_to(s: &Server, from: &str, body: serde_json::Value) -> reqwest::blocking::Response {
    let mut body = body;
    body[":action"] = serde_json::json!("push");
    client()
        .post(s.url(&format!("/{from}/")))
        .basic_auth("alice", Some("alice-pw"))
        .json(&body)
        .send()
        .unwrap()
}

#[test]
fn a_verified_copy_in_memory_is_served_and_pushes_still_check_the_bucket() {
    let s3 = S3Server::start();
    let s = airlock(&s3, &[]);
    create_index(
        &s,
        "alice/qa",
        ("alice", "alice-pw"),
        serde_json::json!({"type": "stage", "bases": [], "volatile": false}),
    );
    let (name, bytes) = wheel("remembered", "1.0", "remembered");
    let r = upload(&s, "alice/dev", ALICE, &name, bytes.clone(), &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let first = client().get(s.url(&url_of(&name, &bytes))).send().unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.bytes().unwrap().as_ref(), bytes.as_slice());

    // altered in the bucket after this node verified it: the node serves
    // the copy it verified, which is the file, never the altered bytes
    flip_byte(&s3.object_file(PREFIX, &sha256_hex(&bytes)), 30);
    for _ in 0..3 {
        let r = client().get(s.url(&url_of(&name, &bytes))).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
    }
    // a range of it too
    let r = client()
        .get(s.url(&url_of(&name, &bytes)))
        .header("Range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &bytes[..10]);

    // but a push re-hashes what the bucket holds, not the node's copy
    let r = push_to(
        &s,
        "alice/dev",
        serde_json::json!({"name": "remembered", "version": "1.0", "targetindex": "alice/qa"}),
    );
    assert_eq!(r.status(), 409);
    let msg = r.text().unwrap();
    assert!(msg.contains("no longer match"), "{msg}");
    let r = client()
        .get(s.url("/alice/qa/+simple/remembered/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404, "nothing reached alice/qa");
}

#[test]
fn with_the_memory_copy_off_every_download_checks_the_bucket() {
    let s3 = S3Server::start();
    let s = airlock(&s3, &["--blob-cache-mb", "0"]);
    let (name, bytes) = wheel("unremembered", "1.0", "unremembered");
    let r = upload(&s, "alice/dev", ALICE, &name, bytes.clone(), &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let first = client().get(s.url(&url_of(&name, &bytes))).send().unwrap();
    assert_eq!(first.bytes().unwrap().as_ref(), bytes.as_slice());
    flip_byte(&s3.object_file(PREFIX, &sha256_hex(&bytes)), 30);
    let r = client().get(s.url(&url_of(&name, &bytes))).send().unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().unwrap().contains("integrity check"));
}
