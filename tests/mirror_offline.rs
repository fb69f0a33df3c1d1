//! `airlock serve --offline`: mirrors serve only what is cached and never
//! contact upstream. (Its own test binary: the restart switches offline
//! mode on through AIRLOCK_OFFLINE, which must not leak into other tests.)

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::Value;

const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn file_url(s: &Server, page: &Value, filename: &str) -> String {
    let f = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == filename)
        .unwrap();
    let base = reqwest::Url::parse(&s.url("/root/pypi/+simple/demo/")).unwrap();
    base.join(f["url"].as_str().unwrap()).unwrap().to_string()
}

#[test]
fn offline_serves_the_cache_and_never_contacts_upstream() {
    let up = FakeUpstream::start();
    let cached = Dist {
        filename: "demo-1.0-py3-none-any.whl".into(),
        bytes: b"wheel bytes".repeat(1000),
        metadata: Some(metadata("demo", "1.0").into_bytes()),
    };
    let uncached = Dist {
        filename: "demo-1.0.tar.gz".into(),
        bytes: b"sdist bytes".repeat(1000),
        metadata: None,
    };
    up.add("demo", cached.clone());
    up.add("demo", uncached.clone());
    let url = up.simple_url();
    let mut s = Server::start_with(&["--upstream", &url]);
    let page: Value = client()
        .get(s.url("/root/pypi/+simple/demo/"))
        .header("accept", JSON)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let wurl = file_url(&s, &page, &cached.filename);
    assert_eq!(
        client().get(&wurl).send().unwrap().bytes().unwrap(),
        cached.bytes
    );

    std::env::set_var("AIRLOCK_OFFLINE", "true");
    s.restart();
    std::env::remove_var("AIRLOCK_OFFLINE");
    let hits_before = up.total_hits();

    let r = client()
        .get(s.url("/root/pypi/+simple/demo/"))
        .header("accept", JSON)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().unwrap();
    assert_eq!(page["files"].as_array().unwrap().len(), 2);
    let wurl = file_url(&s, &page, &cached.filename);
    assert_eq!(
        client().get(&wurl).send().unwrap().bytes().unwrap(),
        cached.bytes
    );
    // not cached: 404 that says why
    let surl = file_url(&s, &page, &uncached.filename);
    let r = client().get(&surl).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("--offline"));
    let r = client()
        .get(s.url("/root/pypi/+simple/other/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("--offline"));
    // root/dev too
    assert_eq!(
        client()
            .get(s.url("/root/dev/+simple/demo/"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        up.total_hits(),
        hits_before,
        "offline mode contacted upstream"
    );
}
