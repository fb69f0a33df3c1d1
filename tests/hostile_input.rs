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
