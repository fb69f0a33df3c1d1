//! Mirror cache retention against a fake upstream: `airlock gc` on the data
//! folder of a running server evicts only unreferenced, least recently used
//! mirror files (a file pushed to a stage index stays, even when oldest),
//! by size and by age; `--dry-run` changes nothing; an evicted file is
//! fetched from upstream and verified again on the next download. The
//! server's own retention (`--mirror-cache-max-gb`) runs after fetches take
//! the cache over its cap, and says so in its log and metrics.
//!
//! With `AIRLOCK_TEST_DATABASE=postgres` the same tests run on PostgreSQL
//! with the files in a bucket of a real S3 protocol server.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;
#[path = "common/s3.rs"]
mod s3;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fake_upstream::{payload, Dist, FakeUpstream, Mode};
use serde_json::{json, Value};

const JSON: &str = "application/vnd.pypi.simple.v1+json";
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Three files upstream: `a` (100 KiB) and `b` (50 KiB) of project demo,
/// and `kept`, a real wheel of project keeper that gets pushed to root/dev.
struct Files {
    a: Dist,
    b: Dist,
    kept: Dist,
}

fn files(up: &FakeUpstream) -> Files {
    let a = Dist {
        filename: "demo-1.0-py3-none-any.whl".into(),
        bytes: payload(1, 100 * 1024),
        metadata: None,
    };
    let b = Dist {
        filename: "demo-1.0.tar.gz".into(),
        bytes: payload(2, 50 * 1024),
        metadata: None,
    };
    let (kn, kb) = wheel("keeper", "1.0", "keeper");
    let kept = Dist {
        filename: kn,
        bytes: kb,
        metadata: None,
    };
    up.add("demo", a.clone());
    up.add("demo", b.clone());
    up.add("keeper", kept.clone());
    Files { a, b, kept }
}

/// Where the server keeps its files: `blobs/` in its data folder, or on
/// PostgreSQL ([`on_postgres`]) a bucket of a real S3 protocol server.
struct Blobs(Option<s3::S3Server>);

const PREFIX: &str = "gc";

impl Blobs {
    fn new() -> Self {
        Self(on_postgres().then(s3::S3Server::start))
    }

    /// Where the blob of `d` is stored (whether or not it is).
    fn path(&self, s: &Server, d: &Dist) -> PathBuf {
        let hex = sha256_hex(&d.bytes);
        match &self.0 {
            Some(s3) => s3.object_file(PREFIX, &hex),
            None => s
                .data
                .join("blobs")
                .join(&hex[0..2])
                .join(&hex[2..4])
                .join(hex),
        }
    }
}

fn airlock(up: &FakeUpstream, blobs: &Blobs, extra: &[&str]) -> Server {
    let url = up.simple_url();
    let mut args = vec!["--upstream", url.as_str(), "--upstream-timeout", "5"];
    args.extend_from_slice(extra);
    match &blobs.0 {
        Some(s3) => {
            let bucket = s3.blobs_url(PREFIX);
            args.extend(["--blobs", bucket.as_str()]);
            Server::start_with_env(&args, &s3.env())
        }
        None => Server::start_with(&args),
    }
}

/// The absolute URL of `filename` on the simple page of `project`.
fn file_url(s: &Server, index: &str, project: &str, filename: &str) -> String {
    let page = s.url(&format!("/{index}/+simple/{project}/"));
    let r = client().get(&page).header("accept", JSON).send().unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().unwrap();
    let f = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == filename)
        .unwrap_or_else(|| panic!("{filename} not on {j}"))
        .clone();
    reqwest::Url::parse(&page)
        .unwrap()
        .join(f["url"].as_str().unwrap())
        .unwrap()
        .to_string()
}

/// Download a file of root/pypi; its bytes must be upstream's.
fn download(s: &Server, project: &str, d: &Dist) {
    let r = client()
        .get(file_url(s, "root/pypi", project, &d.filename))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", d.filename);
    let body = r.bytes().unwrap();
    assert_eq!(sha256_hex(&body), sha256_hex(&d.bytes), "{}", d.filename);
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `airlock gc` on the server's data folder.
fn gc(s: &Server, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("gc")
        .arg("--data")
        .arg(&s.data)
        .args(args)
        .envs(s.command_env())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gc_json(s: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, out, err) = gc(s, &all);
    assert!(ok, "gc failed: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn evicted_files(report: &Value) -> Vec<String> {
    report["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_string())
        .collect()
}

/// `--max-gb` for `kib` KiB.
fn gb(kib: u64) -> String {
    format!("{}", kib as f64 * 1024.0 / GIB)
}

/// Sleep until the clock's second changes at least `n` times (last-use
/// times are whole seconds).
fn seconds_pass(n: u64) {
    std::thread::sleep(Duration::from_millis(n * 1000 + 100));
}

#[test]
fn gc_evicts_unreferenced_least_recently_used_files_which_are_fetched_again() {
    let up = FakeUpstream::start();
    let f = files(&up);
    let blobs = Blobs::new();
    let blob = |s: &Server, d: &Dist| blobs.path(s, d);
    let s = airlock(&up, &blobs, &[]);

    // oldest: `kept`, downloaded and then pushed to root/dev (the stage
    // row shares the mirror's blob)
    download(&s, "keeper", &f.kept);
    let r = client()
        .post(s.url("/root/pypi"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"name": "keeper", "version": "1.0", "targetindex": "root/dev"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    seconds_pass(1);
    download(&s, "demo", &f.a);
    seconds_pass(1);
    download(&s, "demo", &f.b);
    // the last use is written a second after it happens
    std::thread::sleep(Duration::from_millis(1500));
    for d in [&f.a, &f.b, &f.kept] {
        assert!(blob(&s, d).is_file(), "{} cached", d.filename);
    }

    // bad input: a clear error, nothing touched
    let (ok, _, err) = gc(&s, &["--max-age", "30x"]);
    assert!(!ok);
    assert!(
        err.contains("invalid duration") && err.contains("30d"),
        "{err}"
    );
    let (ok, _, err) = gc(&s, &[]);
    assert!(!ok && err.contains("nothing to do"), "{err}");
    let (ok, _, err) = gc(&s, &["--max-gb=-1"]);
    assert!(!ok && err.contains("invalid size"), "{err}");

    // a dry run names a (the least recently used the cap needs gone) and
    // changes nothing; `kept` is not even counted
    let before = s.data_files();
    let cap = gb(60);
    let dry = gc_json(&s, &["--max-gb", &cap, "--min-idle", "0s", "--dry-run"]);
    assert_eq!(evicted_files(&dry), vec![f.a.filename.clone()], "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["cached_files"], 2, "{dry}");
    assert_eq!(dry["cached_bytes"], 150 * 1024);
    assert_eq!(dry["evicted_bytes"], 100 * 1024);
    assert_eq!(s.data_files(), before, "a dry run changes nothing");
    for d in [&f.a, &f.b, &f.kept] {
        assert!(blob(&s, d).is_file(), "a dry run keeps {}", d.filename);
    }
    let (ok, text, _) = gc(&s, &["--max-gb", &cap, "--min-idle", "0s", "--dry-run"]);
    assert!(
        ok && text.contains(&format!("would evict {}", f.a.filename)),
        "{text}"
    );

    // the default --min-idle (10 minutes) protects files just used
    let idle = gc_json(&s, &["--max-gb", "0"]);
    assert!(evicted_files(&idle).is_empty(), "{idle}");

    // for real: a goes, b fits under the cap, kept is a stage file's
    let (ok, text, err) = gc(&s, &["--max-gb", &cap, "--min-idle", "0s"]);
    assert!(ok, "{text}{err}");
    assert!(
        text.contains(&format!("evicted {}", f.a.filename)),
        "{text}"
    );
    assert!(
        text.contains("evicted 1 of 2 cached mirror files"),
        "{text}"
    );
    assert!(!blob(&s, &f.a).exists());
    assert!(blob(&s, &f.b).is_file());
    assert!(blob(&s, &f.kept).is_file());
    // even a cap of zero never takes the pushed file
    let zero = gc_json(&s, &["--max-gb", "0", "--min-idle", "0s", "--dry-run"]);
    assert_eq!(evicted_files(&zero), vec![f.b.filename.clone()], "{zero}");
    let r = client()
        .get(file_url(&s, "root/dev", "keeper", &f.kept.filename))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(&f.kept.bytes));

    // the evicted file is listed still, and fetched and verified again:
    // wrong bytes from upstream are refused (nothing cached) ...
    let path_a = format!("/files/{}", f.a.filename);
    let hits = up.hits(&path_a);
    up.set_mode(Mode::WrongBytes);
    let url_a = file_url(&s, "root/pypi", "demo", &f.a.filename);
    let r = client().get(&url_a).send();
    let complete = r.is_ok_and(|r| {
        r.status() == 200
            && r.bytes()
                .is_ok_and(|b| sha256_hex(&b) == sha256_hex(&f.a.bytes))
    });
    assert!(!complete, "bytes that do not verify are never served");
    assert!(up.hits(&path_a) > hits, "upstream asked again");
    wait_for("the failed download to end", || !blob(&s, &f.a).exists());
    // ... and the right ones served and cached
    up.set_mode(Mode::Normal);
    // b must be well over 3 s unused (times are whole seconds) and a not
    seconds_pass(4);
    let hits = up.hits(&path_a);
    download(&s, "demo", &f.a);
    assert_eq!(
        up.hits(&path_a),
        hits + 1,
        "fetched from upstream once more"
    );
    wait_for("a to be cached again", || blob(&s, &f.a).is_file());

    // the age rule: b was last used 5+ seconds ago, a just now
    let aged = gc_json(&s, &["--max-age", "3s", "--min-idle", "0s"]);
    assert_eq!(evicted_files(&aged), vec![f.b.filename.clone()], "{aged}");
    assert_eq!(aged["evicted"][0]["reason"], "max-age");
    assert!(!blob(&s, &f.b).exists());
    assert!(blob(&s, &f.a).is_file() && blob(&s, &f.kept).is_file());

    // fsck agrees nothing required is missing
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["fsck", "--no-metadata", "--data"])
        .arg(&s.data)
        .envs(s.command_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn scrape(s: &Server) -> String {
    let url = format!("{}/metrics", s.metrics.as_ref().expect("metrics listener"));
    client().get(url).send().unwrap().text().unwrap()
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_server_evicts_when_fetches_take_the_cache_over_its_cap() {
    let up = FakeUpstream::start();
    let f = files(&up);
    let cap = gb(120);
    let blobs = Blobs::new();
    let blob = |s: &Server, d: &Dist| blobs.path(s, d);
    let mut s = airlock(
        &up,
        &blobs,
        &[
            "--mirror-cache-max-gb",
            &cap,
            "--mirror-cache-min-idle",
            "0s",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    download(&s, "demo", &f.a); // 100 KiB: fits
    seconds_pass(1);
    download(&s, "demo", &f.b); // 150 KiB: over, a is the least recently used
    wait_for("a to be evicted", || !blob(&s, &f.a).exists());
    assert!(blob(&s, &f.b).is_file());
    // counted once the eviction's transaction has committed
    wait_for("the eviction to be counted", || {
        metric(&scrape(&s), "airlock_mirror_cache_evictions_total") == Some(1)
    });
    let text = scrape(&s);
    assert_eq!(
        metric(&text, "airlock_mirror_cache_evictions_total"),
        Some(1),
        "{text}"
    );
    assert_eq!(
        metric(&text, "airlock_mirror_cache_evicted_bytes_total"),
        Some(100 * 1024)
    );
    assert_eq!(metric(&text, "airlock_mirror_cache_bytes"), Some(50 * 1024));
    let log = s.log_text();
    assert!(
        log.contains("mirror cache: evicted") && log.contains(&f.a.filename),
        "{log}"
    );
    assert!(log.contains("freed_bytes"), "{log}");

    // served again on demand, from upstream
    let hits = up.hits(&format!("/files/{}", f.a.filename));
    download(&s, "demo", &f.a);
    assert_eq!(up.hits(&format!("/files/{}", f.a.filename)), hits + 1);
    // a bad flag value is refused at start with the parser's message
    s.stop();
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--mirror-cache-max-age", "12 hours", "--data"])
        .arg(&s.data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid duration"), "{err}");
}
