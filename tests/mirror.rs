//! root/pypi against a fake upstream: pages and files on demand, verified
//! and cached; stale pages when upstream fails; single-flight; client
//! disconnects; negative cache; the dependency-confusion rule.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use std::time::{Duration, Instant};

use common::*;
use fake_upstream::{payload, Dist, FakeUpstream, Mode};
use serde_json::{json, Value};

const JSON: &str = "application/vnd.pypi.simple.v1+json";

struct Demo {
    wheel: Dist,
    sdist: Dist,
}

fn demo(up: &FakeUpstream) -> Demo {
    let wheel = Dist {
        filename: "demo-1.0-py3-none-any.whl".into(),
        bytes: payload(1, 300 * 1024),
        metadata: Some(metadata("demo", "1.0").into_bytes()),
    };
    let sdist = Dist {
        filename: "demo-1.0.tar.gz".into(),
        bytes: payload(2, 50 * 1024),
        metadata: None,
    };
    up.add("demo", wheel.clone());
    up.add("demo", sdist.clone());
    Demo { wheel, sdist }
}

fn airlock(up: &FakeUpstream, extra: &[&str]) -> Server {
    let url = up.simple_url();
    let mut args = vec![
        "--upstream",
        url.as_str(),
        "--upstream-timeout",
        "2",
        "--upstream-retries",
        "1",
    ];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

fn get(s: &Server, path: &str, accept: Option<&str>) -> reqwest::blocking::Response {
    let mut req = client().get(s.url(path));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().unwrap()
}

fn page_json(s: &Server, index: &str, project: &str) -> Value {
    let r = get(s, &format!("/{index}/+simple/{project}/"), Some(JSON));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    r.json().unwrap()
}

/// The absolute URL of `filename` on a simple page of `index`.
fn file_url(s: &Server, index: &str, project: &str, filename: &str) -> String {
    let page = page_json(s, index, project);
    let f = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == filename)
        .unwrap_or_else(|| panic!("{filename} not on {page}"));
    let base = reqwest::Url::parse(&s.url(&format!("/{index}/+simple/{project}/"))).unwrap();
    base.join(f["url"].as_str().unwrap()).unwrap().to_string()
}

fn blob_path(s: &Server, bytes: &[u8]) -> std::path::PathBuf {
    let hex = sha256_hex(bytes);
    s.data
        .join("blobs")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(hex)
}

fn patch_index(s: &Server, index: &str, body: Value) {
    let r = client()
        .patch(s.url(&format!("/{index}")))
        .basic_auth("root", Some(ROOT_PW))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pages_and_files_on_demand_then_from_cache() {
    let mut up = FakeUpstream::start();
    let d = demo(&up);
    let s = airlock(&up, &[]);

    // the default indexes: root/pypi is a mirror, root/dev sees it, root/prod does not
    let cfg: Value = get(&s, "/root/pypi", Some("application/json"))
        .json()
        .unwrap();
    assert_eq!(cfg["result"]["type"], "mirror");
    let dev: Value = get(&s, "/root/dev", Some("application/json"))
        .json()
        .unwrap();
    assert_eq!(dev["result"]["bases"], json!(["root/pypi"]));
    let prod: Value = get(&s, "/root/prod", Some("application/json"))
        .json()
        .unwrap();
    assert_eq!(prod["result"]["bases"], json!([]));

    // JSON page: metadata kept, links point at airlock
    let page = page_json(&s, "root/pypi", "demo");
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let whl = files
        .iter()
        .find(|f| f["filename"] == d.wheel.filename)
        .unwrap();
    assert_eq!(whl["hashes"]["sha256"], sha256_hex(&d.wheel.bytes));
    assert_eq!(whl["requires-python"], ">=3.8");
    assert_eq!(whl["size"], d.wheel.bytes.len());
    assert_eq!(whl["upload-time"], "2024-01-02T03:04:05Z");
    assert_eq!(
        whl["core-metadata"]["sha256"],
        sha256_hex(d.wheel.metadata.as_ref().unwrap())
    );
    let href = whl["url"].as_str().unwrap();
    assert!(href.contains("/root/pypi/+f/"), "{href}");
    assert!(!href.contains(&up.addr.to_string()), "{href}");
    assert_eq!(up.hits("/simple/demo/"), 1);

    // HTML page of the same, from the mirror's cache (never from the page
    // cache: a mirror's page also depends on upstream freshness)
    let r = get(&s, "/root/pypi/+simple/demo/", None);
    assert_eq!(r.headers()["x-airlock-cache"], "bypass");
    let html = r.text().unwrap();
    assert!(
        html.contains(&format!("#sha256={}", sha256_hex(&d.sdist.bytes))),
        "{html}"
    );
    assert!(html.contains("data-core-metadata="), "{html}");
    assert_eq!(
        up.hits("/simple/demo/"),
        1,
        "fresh pages are not re-fetched"
    );

    // files: first from upstream, verified; metadata too
    let wurl = file_url(&s, "root/pypi", "demo", &d.wheel.filename);
    let got = client().get(&wurl).send().unwrap().bytes().unwrap();
    assert_eq!(&got[..], &d.wheel.bytes[..]);
    let meta = client().get(format!("{wurl}.metadata")).send().unwrap();
    assert_eq!(meta.status(), 200);
    assert_eq!(meta.bytes().unwrap(), d.wheel.metadata.clone().unwrap());
    assert!(blob_path(&s, &d.wheel.bytes).is_file());

    // project list and devpi JSON
    let list = get(&s, "/root/pypi/+simple/", None).text().unwrap();
    assert!(list.contains("demo/"), "{list}");
    let devpi: Value = get(&s, "/root/pypi/demo", Some("application/json"))
        .json()
        .unwrap();
    assert!(
        devpi["result"]["1.0"]["+links"].as_array().unwrap().len() == 2,
        "{devpi}"
    );
    // root/dev sees it through its base
    let dev_page = page_json(&s, "root/dev", "demo");
    assert_eq!(dev_page["files"].as_array().unwrap().len(), 2);

    // upstream gone: everything cached still works
    up.stop();
    assert_eq!(
        page_json(&s, "root/pypi", "demo")["files"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let again = client().get(&wurl).send().unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(&again.bytes().unwrap()[..], &d.wheel.bytes[..]);
    // ... and a file never fetched fails cleanly (502), nothing else breaks
    let surl = file_url(&s, "root/pypi", "demo", &d.sdist.filename);
    assert_eq!(client().get(&surl).send().unwrap().status(), 502);
}

#[test]
fn hash_mismatch_fails_the_download_and_caches_nothing() {
    let up = FakeUpstream::start();
    let d = demo(&up);
    let s = airlock(&up, &[]);
    let wurl = file_url(&s, "root/pypi", "demo", &d.wheel.filename);
    up.set_mode(Mode::WrongBytes);
    let r = client().get(&wurl).send();
    let failed = match r {
        Err(_) => true,
        Ok(r) => r.bytes().is_err(),
    };
    assert!(failed, "a download whose digest does not match must fail");
    assert!(!blob_path(&s, &d.wheel.bytes).exists());
    let blobs: Vec<_> = s
        .data_files()
        .into_iter()
        .filter(|(p, _)| p.starts_with("blobs"))
        .collect();
    assert!(blobs.is_empty(), "nothing cached: {blobs:?}");
    wait_for("the security log line", || {
        let log = s.log_text();
        log.contains("\"target\":\"security\"")
            && log.contains("do not match the advertised sha256")
    });
    // upstream fixed: the same file now downloads and verifies
    up.set_mode(Mode::Normal);
    let ok = client().get(&wurl).send().unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(&ok.bytes().unwrap()[..], &d.wheel.bytes[..]);
}

#[test]
fn stale_page_when_upstream_fails_and_502_when_nothing_is_cached() {
    let mut up = FakeUpstream::start();
    demo(&up);
    let s = airlock(&up, &[]);
    patch_index(&s, "root/pypi", json!({"mirror_cache_expiry": 0}));
    let r = get(&s, "/root/pypi/+simple/demo/", Some(JSON));
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-airlock-stale").is_none());
    // expiry 0: the next request revalidates; upstream says 304
    let r = get(&s, "/root/pypi/+simple/demo/", Some(JSON));
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits("/simple/demo/"), 2);

    for mode in [Mode::ServerError, Mode::Stall] {
        up.set_mode(mode);
        let r = get(&s, "/root/pypi/+simple/demo/", Some(JSON));
        assert_eq!(r.status(), 200, "{mode:?}");
        assert_eq!(r.headers()["x-airlock-stale"], "1", "{mode:?}");
        assert!(r.headers()["warning"].to_str().unwrap().starts_with("110"));
        let v: Value = r.json().unwrap();
        assert_eq!(v["files"].as_array().unwrap().len(), 2);
        // a project never cached cannot be served
        let r = get(
            &s,
            &format!("/root/pypi/+simple/other-{}/", mode as u8),
            Some(JSON),
        );
        assert_eq!(r.status(), 502, "{mode:?}");
    }
    up.stop();
    let r = get(&s, "/root/pypi/+simple/demo/", None);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-airlock-stale"], "1");
    assert!(s.log_text().contains("upstream failed"));
}

#[test]
fn html_only_upstream() {
    let up = FakeUpstream::start();
    let d = demo(&up);
    up.set_mode(Mode::HtmlOnly);
    let s = airlock(&up, &[]);
    let page = page_json(&s, "root/pypi", "demo");
    let whl = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == d.wheel.filename)
        .unwrap()
        .clone();
    assert_eq!(whl["requires-python"], ">=3.8");
    assert_eq!(
        whl["core-metadata"]["sha256"],
        sha256_hex(d.wheel.metadata.as_ref().unwrap())
    );
    let wurl = file_url(&s, "root/pypi", "demo", &d.wheel.filename);
    assert_eq!(
        &client().get(&wurl).send().unwrap().bytes().unwrap()[..],
        &d.wheel.bytes[..]
    );
    let meta = client()
        .get(format!("{wurl}.metadata"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(meta, d.wheel.metadata.clone().unwrap());
}

#[test]
fn single_flight_for_pages_and_files() {
    let up = FakeUpstream::start();
    let d = demo(&up);
    let s = airlock(&up, &[]);
    up.set_delay(Duration::from_millis(400));
    let results: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let v = page_json(&s, "root/pypi", "demo");
                    v["files"].as_array().unwrap().len()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|n| *n == 2), "{results:?}");
    assert_eq!(
        up.hits("/simple/demo/"),
        1,
        "one upstream fetch for 20 page requests"
    );

    let wurl = file_url(&s, "root/pypi", "demo", &d.wheel.filename);
    up.set_chunk_delay(Duration::from_millis(20));
    let bodies: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    client()
                        .get(&wurl)
                        .send()
                        .unwrap()
                        .bytes()
                        .unwrap()
                        .to_vec()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(bodies.iter().all(|b| *b == d.wheel.bytes));
    assert_eq!(
        up.hits(&format!("/files/{}", d.wheel.filename)),
        1,
        "one upstream download"
    );
}

#[test]
fn client_disconnect_does_not_abandon_the_download() {
    let mut up = FakeUpstream::start();
    let d = demo(&up);
    let s = airlock(&up, &[]);
    let wurl = file_url(&s, "root/pypi", "demo", &d.wheel.filename);
    up.set_chunk_delay(Duration::from_millis(30));
    {
        let mut r = client().get(&wurl).send().unwrap();
        let mut first = [0u8; 1024];
        std::io::Read::read_exact(&mut r, &mut first).unwrap();
        assert_eq!(&first[..], &d.wheel.bytes[..1024]);
        // dropped here, mid-body
    }
    let blob = blob_path(&s, &d.wheel.bytes);
    wait_for("the download to finish in the background", || {
        blob.is_file()
    });
    up.stop();
    let got = client().get(&wurl).send().unwrap().bytes().unwrap();
    assert_eq!(&got[..], &d.wheel.bytes[..]);
    assert_eq!(std::fs::read(&blob).unwrap(), d.wheel.bytes);
}

#[test]
fn negative_cache_spares_upstream() {
    let up = FakeUpstream::start();
    demo(&up);
    let s = airlock(&up, &["--mirror-negative-ttl", "300"]);
    for _ in 0..3 {
        let r = get(&s, "/root/pypi/+simple/no-such-thing/", None);
        assert_eq!(r.status(), 404);
    }
    assert_eq!(up.hits("/simple/no-such-thing/"), 1);
    // a stage index with the mirror as base: the same remembered answer
    assert_eq!(
        get(&s, "/root/dev/+simple/no-such-thing/", None).status(),
        404
    );
    assert_eq!(up.hits("/simple/no-such-thing/"), 1);
    // with a ttl of 0 upstream is asked every time
    let s0 = airlock(&up, &["--mirror-negative-ttl", "0"]);
    for _ in 0..2 {
        assert_eq!(
            get(&s0, "/root/pypi/+simple/no-such-thing/", None).status(),
            404
        );
    }
    assert_eq!(up.hits("/simple/no-such-thing/"), 3);
}

#[test]
fn private_names_shadow_the_mirror() {
    let up = FakeUpstream::start();
    demo(&up);
    let s = airlock(&up, &[]);
    // a private "demo" on root/dev (whose base is root/pypi)
    let (fname, bytes) = wheel("demo", "0.1", "demo");
    let r = upload(&s, "root/dev", root(), &fname, bytes, &[]);
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let page = page_json(&s, "root/dev", "demo");
    let names: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [fname.as_str()],
        "the mirror must not add files to a private name"
    );
    // The mirror does not consult upstream for the name; the only request
    // upstream may see is the dependency-confusion watch's single,
    // rate-limited, uncached probe (tests/confusion.rs).
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(up.hits("/simple/demo/") <= 1, "at most the watch's probe");
    let listing = get(&s, "/root/pypi/+simple/", None).text().unwrap();
    assert!(!listing.contains("demo"), "the probe caches nothing");
    let probes = up.hits("/simple/demo/");

    // whitelisting the name lets the mirror in, own files first
    patch_index(&s, "root/dev", json!({"mirror_whitelist": ["demo"]}));
    let page = page_json(&s, "root/dev", "demo");
    let names: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], fname);
    assert_eq!(
        up.hits("/simple/demo/"),
        probes + 1,
        "now the mirror fetches the page"
    );
}

#[test]
fn mirrors_refuse_uploads_and_more_can_be_created() {
    let up = FakeUpstream::start();
    let d = demo(&up);
    let s = airlock(&up, &[]);
    let (fname, bytes) = wheel("demo", "9.0", "demo");
    let r = upload(&s, "root/pypi", root(), &fname, bytes, &[]);
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("mirror"));

    // a second mirror with its own upstream URL
    create_index(
        &s,
        "root/other",
        ("root", ROOT_PW),
        json!({"type": "mirror", "mirror_url": up.simple_url()}),
    );
    let wurl = file_url(&s, "root/other", "demo", &d.sdist.filename);
    assert!(wurl.contains("/root/other/+f/"), "{wurl}");
    assert_eq!(
        &client().get(&wurl).send().unwrap().bytes().unwrap()[..],
        &d.sdist.bytes[..]
    );
}

/// A cached mirror file altered on disk is never served as the file: it is
/// quarantined and fetched (and verified) again from upstream, in the same
/// request for a small file, on the next request for a large one.
#[test]
fn altered_cached_files_are_quarantined_and_fetched_again() {
    let up = FakeUpstream::start();
    let small = Dist {
        filename: "healme-1.0-py3-none-any.whl".into(),
        bytes: payload(7, 200 * 1024),
        metadata: None,
    };
    let large = Dist {
        filename: "healme-1.0.tar.gz".into(),
        bytes: payload(8, 3 * 1024 * 1024 + 5),
        metadata: None,
    };
    up.add("healme", small.clone());
    up.add("healme", large.clone());
    let s = airlock(&up, &[]);
    let fetch = |d: &Dist| {
        client()
            .get(file_url(&s, "root/pypi", "healme", &d.filename))
            .send()
            .unwrap()
    };
    for d in [&small, &large] {
        let r = fetch(d);
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().unwrap().as_ref(), d.bytes.as_slice());
        assert_eq!(
            up.hits(&format!("/files/{}", d.filename)),
            1,
            "{}",
            d.filename
        );
    }
    let alter = |d: &Dist| {
        let p = blob_path(&s, &d.bytes);
        let mut b = std::fs::read(&p).unwrap();
        b[100] ^= 0xff;
        std::fs::write(&p, b).unwrap();
    };

    // small: quarantined and fetched again within the same request
    alter(&small);
    let r = fetch(&small);
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), small.bytes.as_slice());
    assert_eq!(up.hits(&format!("/files/{}", small.filename)), 2);
    assert_eq!(
        std::fs::read(blob_path(&s, &small.bytes)).unwrap(),
        small.bytes
    );

    // large: this response is cut short, the next one is right
    alter(&large);
    let r = fetch(&large);
    assert_eq!(r.status(), 200);
    assert!(r.bytes().is_err(), "an altered file must not arrive whole");
    let r = fetch(&large);
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), large.bytes.as_slice());
    assert_eq!(up.hits(&format!("/files/{}", large.filename)), 2);

    // the altered copies are kept for inspection
    let kept: Vec<String> = std::fs::read_dir(s.data.join("quarantine"))
        .expect("quarantine folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for d in [&small, &large] {
        let hex = sha256_hex(&d.bytes);
        assert!(
            kept.iter().any(|k| k.starts_with(&hex)),
            "{hex} in {kept:?}"
        );
    }
    let log = s.log_text();
    assert!(log.contains("quarantined"), "{log}");
}
