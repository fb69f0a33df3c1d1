//! Hostile requests against the real binary: unreadable credentials,
//! digests that do not match, conflicting framing headers, oversized or
//! echoed input. Each gets a clear 4xx, changes nothing on disk or in any
//! listing, and leaves the server answering.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::time::Duration;

use common::*;
use hostile::*;
use reqwest::header::HeaderValue;

#[test]
fn unreadable_credentials_are_a_401_never_anonymous() {
    let s = Server::start();
    let (name, bytes) = wheel("demo", "1.0", "demo");
    assert_eq!(
        upload(&s, "root/dev", root(), &name, bytes.clone(), &[]).status(),
        200
    );
    let before = snapshot(&s);
    let b64 = |raw: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "non-UTF-8 basic",
            "Authorization",
            b"Basic \xff\xfe".to_vec(),
            "not readable text",
        ),
        (
            "latin-1 in basic",
            "Authorization",
            b"Basic r\xe9sum\xe9".to_vec(),
            "not readable text",
        ),
        (
            "bad base64",
            "Authorization",
            b"Basic !!!".to_vec(),
            "malformed Authorization",
        ),
        (
            "base64 of non-UTF-8",
            "Authorization",
            format!("Basic {}", b64(b"root:\xff\xfe")).into_bytes(),
            "malformed Authorization",
        ),
        (
            "no colon",
            "Authorization",
            format!("Basic {}", b64(b"rootonly")).into_bytes(),
            "malformed Authorization",
        ),
        (
            "other scheme",
            "Authorization",
            b"Bearer abc.def".to_vec(),
            "malformed Authorization",
        ),
        (
            "empty basic",
            "Authorization",
            b"Basic ".to_vec(),
            "malformed Authorization",
        ),
        (
            "non-UTF-8 devpi",
            "X-Devpi-Auth",
            b"\xff\xfe\xfd".to_vec(),
            "X-Devpi-Auth header is not readable",
        ),
        (
            "bad base64 devpi",
            "X-Devpi-Auth",
            b"%%%".to_vec(),
            "malformed X-Devpi-Auth",
        ),
        (
            "oversized devpi",
            "X-Devpi-Auth",
            b64(&vec![b'a'; 20_000]).into_bytes(),
            "malformed X-Devpi-Auth",
        ),
    ];
    for (what, header, value, needle) in &cases {
        let value = HeaderValue::from_bytes(value).unwrap();
        // an upload, a JSON read, a simple page, a file download, an
        // account change: each would have run anonymously before
        let (ctype, body) = multipart(
            &[(":action", "file_upload")],
            "demo-2.0-py3-none-any.whl",
            &bytes,
        );
        let requests = vec![
            client()
                .post(s.url("/root/dev/"))
                .header("content-type", ctype)
                .body(body),
            client().get(s.url("/root/dev")),
            client().get(s.url("/root/dev/+simple/demo/")),
            client().get(s.url("/+api/../root/dev/demo/1.0")),
            client()
                .put(s.url("/mallory"))
                .json(&serde_json::json!({"password": "x"})),
        ];
        for req in requests {
            let r = req.header(*header, value.clone()).send().unwrap();
            let status = r.status().as_u16();
            let challenge = r.headers().get("www-authenticate").cloned();
            let text = r.text().unwrap();
            assert_eq!(status, 401, "{what}: {text}");
            assert!(text.contains(needle), "{what}: {text:?} lacks {needle:?}");
            assert!(challenge.is_some(), "{what}: no WWW-Authenticate");
        }
    }
    // the same requests without any credential header are anonymous reads
    assert_eq!(
        client().get(s.url("/root/dev")).send().unwrap().status(),
        200
    );
    // a header sent twice is refused too (a proxy may read the other one)
    let r = client()
        .get(s.url("/root/dev"))
        .header("Authorization", basic("root", ROOT_PW))
        .header("Authorization", "Basic !!!")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("more than one Authorization"));
    // raw bytes on the wire, as the review sent them
    let (status, text) = raw_request(
        &s,
        b"GET /root/dev HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(status, 401, "{text}");
    // /+login reads basic auth itself
    let r = client()
        .post(s.url("/+login"))
        .header(
            "Authorization",
            HeaderValue::from_bytes(b"Basic \xff").unwrap(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(snapshot(&s), before);
    assert_alive(&s);
    // real credentials still work
    let r = client()
        .get(s.url("/root/dev"))
        .header("Authorization", basic("root", ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn reference_digests(bytes: &[u8]) -> String {
    // MD5 and BLAKE2b-256 from Python's hashlib (what twine uses), not from
    // the crates the server uses
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,hashlib;d=sys.stdin.buffer.read();\
             print(hashlib.md5(d).hexdigest(), hashlib.blake2b(d, digest_size=32).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("python3 for reference digests");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn every_declared_digest_is_checked() {
    let s = Server::start();
    let (name, bytes) = wheel("digests", "1.0", "digests");
    let reference = reference_digests(&bytes);
    let (md5, blake2) = reference.split_once(' ').unwrap();
    let before = snapshot(&s);
    let zeros32 = "0".repeat(32);
    let zeros64 = "0".repeat(64);
    let long = "a".repeat(100_000);
    let g32 = "g".repeat(32);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let refused: Vec<Case> = vec![
        (
            "wrong md5",
            vec![("md5_digest", &zeros32)],
            "md5_digest mismatch",
        ),
        (
            "wrong blake2",
            vec![("blake2_256_digest", &zeros64)],
            "blake2_256_digest mismatch",
        ),
        (
            "right md5, wrong blake2",
            vec![("md5_digest", md5), ("blake2_256_digest", &zeros64)],
            "blake2_256_digest mismatch",
        ),
        (
            "short md5",
            vec![("md5_digest", "abc")],
            "md5_digest \"abc\" is not a hex digest",
        ),
        (
            "md5 length, not hex",
            vec![("md5_digest", &g32)],
            "not a hex digest",
        ),
        (
            "blake2 of md5 length",
            vec![("blake2_256_digest", md5)],
            "not a hex digest",
        ),
        (
            "huge digest field",
            vec![("md5_digest", &long)],
            "more bytes not shown",
        ),
    ];
    for (what, fields, needle) in &refused {
        let r = upload(&s, "root/dev", root(), &name, bytes.clone(), fields);
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert_eq!(status, 400, "{what}: {text}");
        // uploads get devpi's JSON error; the message is what a user reads
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.clone());
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
        assert!(
            text.len() < 2000,
            "{what}: echoed input in full ({} bytes)",
            text.len()
        );
        assert_eq!(snapshot(&s), before, "{what}: something changed");
    }
    if let Some(m) = refused.iter().find(|c| c.0 == "wrong md5") {
        let r = upload(&s, "root/dev", root(), &name, bytes.clone(), &m.1);
        assert!(
            r.text().unwrap().contains(md5),
            "the message names the real md5"
        );
    }
    assert_alive(&s);
    // the right digests (any case), or empty fields, are accepted
    let upper = md5.to_ascii_uppercase();
    let r = upload(
        &s,
        "root/dev",
        root(),
        &name,
        bytes.clone(),
        &[("md5_digest", &upper), ("blake2_256_digest", blake2)],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let (n2, b2) = wheel("digests", "2.0", "digests");
    let r = upload(
        &s,
        "root/dev",
        root(),
        &n2,
        b2,
        &[("md5_digest", ""), ("blake2_256_digest", " ")],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

#[test]
fn echoed_input_is_truncated_and_oversized_reports_get_airlocks_413() {
    let s = Server::start();
    let (name, bytes) = wheel("echo", "1.0", "echo");
    assert_eq!(
        upload(&s, "root/dev", root(), &name, bytes.clone(), &[]).status(),
        200
    );
    let before = snapshot(&s);
    let huge_name = format!("{}-1.0-py3-none-any.whl", "a".repeat(2 * 1024 * 1024));
    type Case<'a> = (&'a str, Vec<(String, String)>, String);
    let cases: Vec<Case> = vec![
        ("2 MiB filename", vec![], huge_name),
        (
            "2 MiB :action",
            vec![(":action".into(), "x".repeat(2 * 1024 * 1024))],
            name.clone(),
        ),
        (
            "1 MiB version field",
            vec![("version".into(), "9".repeat(1024 * 1024))],
            name.clone(),
        ),
        (
            "1 MiB name field",
            vec![("name".into(), "-".repeat(1024 * 1024))],
            name.clone(),
        ),
        (
            "long sdist filename",
            vec![],
            format!("{}.tar.gz", "b-".repeat(300_000)),
        ),
    ];
    for (what, fields, filename) in cases {
        let mut all: Vec<(&str, &str)> = vec![];
        if !fields.iter().any(|(k, _)| k == ":action") {
            all.push((":action", "file_upload"));
        }
        all.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (ctype, body) = multipart(&all, &filename, &bytes);
        let r = client()
            .post(s.url("/root/dev/"))
            .header("Authorization", basic("root", ROOT_PW))
            .header("content-type", ctype)
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert!((400..500).contains(&status), "{what}: {status} {text:.300}");
        assert!(
            text.len() < 5000,
            "{what}: {} bytes echoed: {:.300}",
            text.len(),
            text
        );
        assert_eq!(snapshot(&s), before, "{what}: something changed");
    }
    // a test report over the limit: airlock's own words
    let page: serde_json::Value = client()
        .get(s.url("/root/dev/+simple/echo/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let file_url = s.url(&format!(
        "/root/dev/+simple/echo/{}",
        page["files"][0]["url"].as_str().unwrap()
    ));
    let r = client()
        .post(&file_url)
        .header("Authorization", basic("root", ROOT_PW))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    let text = r.text().unwrap();
    assert!(
        text.contains("the test result report is larger than the 1024 KiB"),
        "{text}"
    );
    assert_eq!(snapshot(&s), before);
    assert_alive(&s);
}

#[test]
fn long_paths_are_not_echoed_in_full() {
    let s = Server::start();
    let long = "x".repeat(20_000);
    for path in [
        format!("/{long}/a/b/c/d/e/f/g"),
        format!("/root/dev/+f/abc/def/{long}.whl"),
        format!("/root/dev/+f/abc/def/{long}.whl.toxresult-1"),
    ] {
        let r = client().get(s.url(&path)).send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert!((400..500).contains(&status), "{status}");
        assert!(text.len() < 1000, "{} bytes echoed", text.len());
        assert!(text.contains("more bytes not shown"), "{text}");
    }
    assert_alive(&s);
}
