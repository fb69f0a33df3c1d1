//! Simple pages are served from a cache: every change that shows on a page
//! (upload, delete, a base added or removed) is visible on the very next
//! request, and pages come compressed (gzip, br) with ETags that answer
//! `If-None-Match` with 304.

mod common;

use std::io::Read;

use common::*;
use serde_json::json;

fn get(s: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut r = client().get(s.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().unwrap()
}

fn text(s: &Server, path: &str) -> String {
    let r = get(s, path, &[]);
    assert_eq!(r.status(), 200, "{path}");
    r.text().unwrap()
}

/// The `X-Airlock-Cache` answer of a GET.
fn cache_use(s: &Server, path: &str) -> String {
    let r = get(s, path, &[]);
    assert_eq!(r.status(), 200, "{path}");
    r.headers()["x-airlock-cache"].to_str().unwrap().to_string()
}

fn put_wheel(s: &Server, index: &str, name: &str, version: &str) {
    let (f, b) = wheel(name, version, name);
    let r = upload(s, index, root(), &f, b, &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

#[test]
fn every_change_shows_on_the_next_request() {
    let s = Server::start();
    put_wheel(&s, "root/dev", "alpha", "1.0");
    // Render and cache both pages; the second answer is a hit.
    for want in ["miss", "hit"] {
        assert_eq!(cache_use(&s, "/root/dev/+simple/alpha/"), want);
        assert_eq!(cache_use(&s, "/root/dev/+simple/"), want);
        assert!(text(&s, "/root/dev/+simple/alpha/").contains("alpha-1.0-py3-none-any.whl"));
        assert!(!text(&s, "/root/dev/+simple/").contains("beta"));
    }

    // An upload: a new version on the project page, a new project in the list.
    put_wheel(&s, "root/dev", "alpha", "2.0");
    put_wheel(&s, "root/dev", "beta", "1.0");
    assert_eq!(cache_use(&s, "/root/dev/+simple/alpha/"), "miss");
    assert!(text(&s, "/root/dev/+simple/alpha/").contains("alpha-2.0-py3-none-any.whl"));
    assert!(text(&s, "/root/dev/+simple/").contains(">beta<"));

    // A delete: gone at once.
    let r = client()
        .delete(s.url("/root/dev/alpha/2.0"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let page = text(&s, "/root/dev/+simple/alpha/");
    assert!(!page.contains("alpha-2.0"), "{page}");
    assert!(page.contains("alpha-1.0"), "{page}");

    // Inheritance: a base added shows its projects, removing it hides them.
    create_index(&s, "root/other", ("root", ROOT_PW), json!({"bases": []}));
    put_wheel(&s, "root/other", "gamma", "1.0");
    assert_eq!(
        get(&s, "/root/dev/+simple/gamma/", &[]).status(),
        404,
        "not inherited yet"
    );
    assert!(!text(&s, "/root/dev/+simple/").contains(">gamma<"));
    let r = client()
        .patch(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!(["bases+=root/other"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert!(text(&s, "/root/dev/+simple/").contains(">gamma<"));
    assert!(text(&s, "/root/dev/+simple/gamma/").contains("gamma-1.0-py3-none-any.whl"));
    let r = client()
        .patch(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!(["bases-=root/other"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert!(!text(&s, "/root/dev/+simple/").contains(">gamma<"));
    assert_eq!(get(&s, "/root/dev/+simple/gamma/", &[]).status(), 404);

    // A page of one format is never answered with the other's bytes.
    let r = get(
        &s,
        "/root/dev/+simple/alpha/",
        &[("Accept", "application/vnd.pypi.simple.v1+json")],
    );
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.pypi.simple.v1+json"
    );
    let j: serde_json::Value = r.json().unwrap();
    assert_eq!(j["name"], "alpha");
}

fn many_files(s: &Server) {
    // Enough files that the page is worth compressing.
    for v in 0..30 {
        put_wheel(s, "root/dev", "bulky", &format!("1.{v}"));
    }
}

#[test]
fn pages_are_compressed_when_asked() {
    let s = Server::start();
    many_files(&s);
    let plain = get(&s, "/root/dev/+simple/bulky/", &[]);
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.headers()["vary"]
        .to_str()
        .unwrap()
        .contains("Accept-Encoding"));
    let plain = plain.bytes().unwrap();
    assert!(plain.len() > 4000, "{}", plain.len());

    let r = get(
        &s,
        "/root/dev/+simple/bulky/",
        &[("Accept-Encoding", "gzip, deflate")],
    );
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().unwrap();
    assert!(
        gz.len() * 3 < plain.len(),
        "gzip {} of {}",
        gz.len(),
        plain.len()
    );
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);

    let r = get(
        &s,
        "/root/dev/+simple/bulky/",
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_eq!(r.headers()["content-encoding"], "br");
    let br = r.bytes().unwrap();
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
    assert_eq!(out, plain);

    // Refused encodings are honoured.
    let r = get(
        &s,
        "/root/dev/+simple/bulky/",
        &[("Accept-Encoding", "br;q=0, gzip;q=0")],
    );
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.bytes().unwrap(), plain);
}

#[test]
fn etags_answer_304_until_the_page_changes() {
    let s = Server::start();
    many_files(&s);
    let r = get(&s, "/root/dev/+simple/bulky/", &[]);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = get(
        &s,
        "/root/dev/+simple/bulky/",
        &[("Accept-Encoding", "gzip")],
    );
    let gz_etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(etag, gz_etag, "each representation has its own ETag");

    let r = get(&s, "/root/dev/+simple/bulky/", &[("If-None-Match", &etag)]);
    assert_eq!(r.status(), 304);
    assert!(r.bytes().unwrap().is_empty());
    let r = get(
        &s,
        "/root/dev/+simple/bulky/",
        &[("If-None-Match", "\"something-else\"")],
    );
    assert_eq!(r.status(), 200);

    put_wheel(&s, "root/dev", "bulky", "9.0");
    let r = get(&s, "/root/dev/+simple/bulky/", &[("If-None-Match", &etag)]);
    assert_eq!(r.status(), 200, "the page changed");
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.text().unwrap().contains("bulky-9.0-py3-none-any.whl"));
}

#[test]
fn cache_can_be_turned_off() {
    let s = Server::start_with(&["--page-cache-mb", "0"]);
    put_wheel(&s, "root/dev", "alpha", "1.0");
    assert!(text(&s, "/root/dev/+simple/alpha/").contains("alpha-1.0"));
    assert_eq!(cache_use(&s, "/root/dev/+simple/alpha/"), "miss");
    assert_eq!(cache_use(&s, "/root/dev/+simple/alpha/"), "miss");
    put_wheel(&s, "root/dev", "alpha", "2.0");
    assert!(text(&s, "/root/dev/+simple/alpha/").contains("alpha-2.0"));
}

/// After a change, concurrent requests for a project list wait for one
/// render (at 100k projects it is 4.5 MB and ~25 ms) instead of each
/// rendering it: exactly one of them is a miss.
#[test]
fn concurrent_list_misses_render_once() {
    // Names one edit apart are look-alikes of each other; not the point here.
    let s = Server::start_with(&["--typo-mode", "off"]);
    for i in 0..40 {
        put_wheel(&s, "root/dev", &format!("proj{i:02}"), "1.0");
    }
    for round in 0..3 {
        put_wheel(&s, "root/dev", &format!("late{round}"), "1.0");
        let barrier = std::sync::Barrier::new(16);
        let uses: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        cache_use(&s, "/root/dev/+simple/")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let misses = uses.iter().filter(|u| *u == "miss").count();
        assert_eq!(misses, 1, "round {round}: {uses:?}");
        assert!(text(&s, "/root/dev/+simple/").contains(&format!(">late{round}<")));
    }
}
