//! `--mirror-unverified-files`: upstream files without a sha256 (or with a
//! malformed one) listed, downloaded and pinned the way devpi does; off by
//! default, and never for files with a valid sha256.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::{json, Value};

const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// devpi's test PyPI page: a hashless link, a quoted name, a malformed hash.
const PAGE: &str = r#"<a href="../../pkg/pkg-1.0.zip">pkg-1.0.zip</a>
<a href="../../pkg/pkg-1%212017.4%2Bdevpi.zip">pkg-1%212017.4%2Bdevpi.zip</a>
<a href="../../pkg/pkg-3.0.zip#sha256=1234">pkg-3.0.zip#sha256=1234</a>"#;

fn airlock(up: &FakeUpstream, unverified: bool) -> Server {
    let url = up.simple_url();
    let mut args = vec![
        "--upstream",
        url.as_str(),
        "--upstream-timeout",
        "2",
        "--upstream-retries",
        "0",
    ];
    if unverified {
        args.push("--mirror-unverified-files");
    }
    let s = Server::start_with(&args);
    let r = client()
        .patch(s.url("/root/pypi"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"mirror_cache_expiry": 0}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    s
}

/// The `+links` hrefs devpi's `list` prints, per version.
fn release_links(s: &Server, project: &str) -> Vec<String> {
    let r = client()
        .get(s.url(&format!("/root/pypi/{project}")))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let j: Value = r.json().unwrap();
    let mut out: Vec<String> = j["result"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v["+links"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["rel"] == "releasefile")
        .map(|l| l["href"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn simple_files(s: &Server, project: &str) -> Vec<Value> {
    let r = client()
        .get(s.url(&format!("/root/pypi/+simple/{project}/")))
        .header("accept", JSON)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().unwrap();
    j["files"].as_array().cloned().unwrap()
}

/// GET as a plain client would (no JSON asked for).
fn fetch(url: &str) -> (u16, Vec<u8>) {
    let r = client().get(url).header("accept", "*/*").send().unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

fn dirname(up: &FakeUpstream) -> String {
    format!("http_127.0.0.1_{}_pkg", up.addr.port())
}

#[test]
fn hashless_files_are_listed_served_byte_exact_and_pinned() {
    let up = FakeUpstream::start();
    up.set_raw_page("pkg", Some(PAGE));
    up.set_raw_file("/pkg/pkg-1.0.zip", Some(b"13"));
    let s = airlock(&up, true);

    let links = release_links(&s, "pkg");
    let e = format!("/root/pypi/+e/{}/pkg-1.0.zip", dirname(&up));
    let quoted = format!("/root/pypi/+e/{}/pkg-1!2017.4+devpi.zip", dirname(&up));
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(links.iter().any(|l| l.ends_with(&e)), "{links:?}");
    assert!(links.iter().any(|l| l.ends_with(&quoted)), "{links:?}");
    assert!(
        links
            .iter()
            .any(|l| l.ends_with("/root/pypi/+f/123/4/pkg-3.0.zip")),
        "{links:?}"
    );
    // the simple page claims no hash for a file never downloaded
    let files = simple_files(&s, "pkg");
    let f = files
        .iter()
        .find(|f| f["filename"] == "pkg-1.0.zip")
        .unwrap();
    assert_eq!(f["hashes"], json!({}));

    // first download: byte-exact, and its digest pinned
    let url = links.iter().find(|l| l.ends_with(&e)).unwrap();
    assert_eq!(fetch(url), (200, b"13".to_vec()));
    let files = simple_files(&s, "pkg");
    let f = files
        .iter()
        .find(|f| f["filename"] == "pkg-1.0.zip")
        .unwrap();
    assert_eq!(f["hashes"]["sha256"], sha256_hex(b"13"));
    assert!(s.log_text().contains("trust on first use"));

    // upstream changes the bytes: the pinned ones are still served
    up.set_raw_file("/pkg/pkg-1.0.zip", Some(b"666"));
    let hits = up.hits("/pkg/pkg-1.0.zip");
    assert_eq!(fetch(url), (200, b"13".to_vec()));
    assert_eq!(up.hits("/pkg/pkg-1.0.zip"), hits, "served from the store");

    // the stored bytes are lost: fetched again, and refused for not matching
    let hex = sha256_hex(b"13");
    let blob = s
        .data
        .join("blobs")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(&hex);
    std::fs::remove_file(&blob).unwrap();
    let (status, body) = fetch(url);
    assert_eq!(status, 502);
    let msg: Value = serde_json::from_slice(&body).unwrap();
    assert!(msg["message"].as_str().unwrap().contains("pinned"), "{msg}");
    // upstream back to the pinned bytes: served again
    up.set_raw_file("/pkg/pkg-1.0.zip", Some(b"13"));
    assert_eq!(fetch(url), (200, b"13".to_vec()));
}

#[test]
fn malformed_digests_are_listed_but_never_served() {
    let up = FakeUpstream::start();
    up.set_raw_page("pkg", Some(PAGE));
    up.set_raw_file("/pkg/pkg-3.0.zip", Some(b"x"));
    let s = airlock(&up, true);
    let links = release_links(&s, "pkg");
    let url = links
        .iter()
        .find(|l| l.ends_with("/+f/123/4/pkg-3.0.zip"))
        .unwrap();
    let (status, body) = fetch(url);
    assert_eq!(status, 502);
    let msg = String::from_utf8_lossy(&body);
    assert!(
        msg.contains("upstream declared a malformed sha256"),
        "{msg}"
    );
    assert_eq!(up.hits("/pkg/pkg-3.0.zip"), 0, "never fetched");
}

#[test]
fn upstream_404_on_download_says_so_in_devpi_words() {
    let up = FakeUpstream::start();
    up.set_raw_page("pkg", Some(PAGE));
    let s = airlock(&up, true);
    let links = release_links(&s, "pkg");
    let url = links.iter().find(|l| l.ends_with("/pkg-1.0.zip")).unwrap();
    let (status, body) = fetch(url);
    assert_eq!(status, 502);
    let msg: Value = serde_json::from_slice(&body).expect("a JSON error");
    assert!(
        msg["message"]
            .as_str()
            .unwrap()
            .contains("error 404 getting"),
        "{msg}"
    );
}

#[test]
fn removed_projects_keep_their_links_in_this_mode() {
    let up = FakeUpstream::start();
    up.set_raw_page("pkg", Some(PAGE));
    let s = airlock(&up, true);
    assert_eq!(release_links(&s, "pkg").len(), 3);
    up.set_raw_page("pkg", None);
    assert_eq!(release_links(&s, "pkg").len(), 3, "stale links served");
    let r = client()
        .get(s.url("/root/pypi/+simple/pkg/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-airlock-stale"], "1");
}

#[test]
fn off_by_default_and_never_for_files_with_a_sha256() {
    let up = FakeUpstream::start();
    up.set_raw_page("pkg", Some(PAGE));
    up.set_raw_file("/pkg/pkg-1.0.zip", Some(b"13"));
    let (dn, db) = sdist("demo", "1.0");
    up.add(
        "demo",
        Dist {
            filename: dn.clone(),
            bytes: db.clone(),
            metadata: None,
        },
    );
    for unverified in [false, true] {
        let s = airlock(&up, unverified);
        // a file with a sha256 keeps the verified +f/ path either way
        let links = release_links(&s, "demo");
        let hex = sha256_hex(&db);
        assert_eq!(links.len(), 1);
        assert!(
            links[0].ends_with(&format!("/+f/{}/{}/{dn}", &hex[..3], &hex[3..16])),
            "{links:?}"
        );
        if unverified {
            continue;
        }
        // off: hashless files are not listed, and +e/ serves nothing
        assert!(release_links(&s, "pkg").is_empty());
        assert!(simple_files(&s, "pkg").is_empty());
        let url = s.url(&format!("/root/pypi/+e/{}/pkg-1.0.zip", dirname(&up)));
        assert_eq!(fetch(&url).0, 404);
        assert_eq!(up.hits("/pkg/pkg-1.0.zip"), 0);
        // and a project upstream removed is gone (removals propagate)
        up.set_raw_page("pkg", None);
        let r = client()
            .get(s.url("/root/pypi/+simple/pkg/"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 404);
        up.set_raw_page("pkg", Some(PAGE));
    }
}

#[test]
fn pushes_take_only_pinned_bytes_and_say_trust_on_first_use() {
    let up = FakeUpstream::start();
    let (sn, sb) = sdist("pkg", "2.0");
    up.set_raw_page("pkg", Some(&format!("<a href=\"/pkg/{sn}\">{sn}</a>")));
    up.set_raw_file(&format!("/pkg/{sn}"), Some(&sb));
    let s = airlock(&up, true);
    create_user(&s, "acme", "acme-pw");
    create_index(
        &s,
        "acme/dev",
        ("acme", "acme-pw"),
        json!({"volatile": true}),
    );
    let push = || {
        client()
            .post(s.url("/root/pypi"))
            .basic_auth("acme", Some("acme-pw"))
            .json(&json!({"name": "pkg", "version": "2.0", "targetindex": "acme/dev"}))
            .send()
            .unwrap()
    };
    // never downloaded, so nothing is pinned: refused
    let r = push();
    assert_eq!(r.status(), 409);
    assert!(r.text().unwrap().contains("pinned"));
    // downloaded once: the pinned bytes are pushed, provenance says how
    let links = release_links(&s, "pkg");
    assert_eq!(fetch(&links[0]), (200, sb.clone()));
    let r = push();
    let text = r.text().unwrap();
    assert!(text.contains("trust on first use"), "{text}");
    let j: Value = client()
        .get(s.url("/acme/dev/pkg"))
        .header("accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let link = &j["result"]["2.0"]["+links"][0];
    assert_eq!(link["hashes"]["sha256"], sha256_hex(&sb), "{j}");
    assert_eq!(link["log"][0]["verified"], "trust-on-first-use", "{j}");
}
