//! Prometheus metrics: exact counter values after known traffic, the
//! bearer token on the main listener, the separate listener, and
//! `promtool check metrics` on the real output.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::json;

/// A server with a metrics listener and a token; the token file lives
/// beside the data folder, written before the start.
fn start_with_metrics() -> Server {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp =
        std::env::temp_dir().join(format!("airlock-metrics-token-{}-{n}", std::process::id()));
    std::fs::write(&tmp, "right-token\n").unwrap();
    let s = Server::start_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-token-file",
        tmp.to_str().unwrap(),
    ]);
    s
}

fn scrape(s: &Server) -> String {
    let url = format!("{}/metrics", s.metrics.as_ref().expect("metrics listener"));
    let r = client().get(url).send().unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().unwrap()
}

/// The value of the sample `name{labels}` (exact text match of the series).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn counters_match_known_traffic() {
    let s = start_with_metrics();

    // an upload, a refused (anonymous) upload, a typosquat block
    let (f, b) = wheel("acme_billing", "1.0", "acme-billing");
    let r = upload(&s, "root/dev", root(), &f, b.clone(), &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(upload(&s, "root/dev", None, &f, b, &[]).status(), 401);
    let (f, b) = wheel("acme_biling", "1.0", "acme-biling");
    assert_eq!(upload(&s, "root/dev", root(), &f, b, &[]).status(), 403);

    // a push root/dev -> root/prod
    let r = client()
        .post(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({":action": "push", "name": "acme-billing", "version": "1.0", "targetindex": "root/prod"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());

    // N simple pages; the X-Airlock-Cache header says what the cache did
    const N: usize = 7;
    let (mut hits, mut misses) = (0, 0);
    for _ in 0..N {
        let r = client()
            .get(s.url("/root/prod/+simple/acme-billing/"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        match r.headers()["x-airlock-cache"].to_str().unwrap() {
            "hit" => hits += 1,
            "miss" => misses += 1,
            other => panic!("root/prod has no mirror base, yet cache said {other}"),
        }
    }
    assert_eq!((hits, misses), (N - 1, 1), "one render, then the cache");
    // one simple page that does not exist
    let r = client()
        .get(s.url("/root/prod/+simple/no-such-project/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    // the same web page twice: rendered once, then from the body cache
    for _ in 0..2 {
        let r = client()
            .get(s.url("/root/prod"))
            .header("accept", "text/html")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    let m = scrape(&s);
    let v = |series: &str| value(&m, series);
    assert_eq!(
        v(r#"airlock_page_cache_requests_total{cache="web",result="miss"}"#),
        1.0
    );
    assert_eq!(
        v(r#"airlock_page_cache_requests_total{cache="web",result="hit"}"#),
        1.0
    );
    assert_eq!(
        v(r#"airlock_http_requests_total{group="web",status="2xx"}"#),
        2.0
    );
    assert_eq!(
        v(r#"airlock_http_requests_total{group="simple",status="2xx"}"#),
        N as f64
    );
    assert_eq!(
        v(r#"airlock_http_requests_total{group="simple",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        v(r#"airlock_http_request_duration_seconds_count{group="simple"}"#),
        N as f64 + 1.0
    );
    assert_eq!(
        v(r#"airlock_http_requests_total{group="upload",status="2xx"}"#),
        1.0
    );
    assert_eq!(
        v(r#"airlock_http_requests_total{group="upload",status="4xx"}"#),
        2.0
    );
    assert_eq!(
        v(r#"airlock_http_requests_total{group="push",status="2xx"}"#),
        1.0
    );
    assert_eq!(v(r#"airlock_uploads_total{outcome="accepted"}"#), 1.0);
    assert_eq!(v(r#"airlock_uploads_total{outcome="refused"}"#), 2.0);
    assert_eq!(v(r#"airlock_pushes_total{outcome="accepted"}"#), 1.0);
    assert_eq!(v(r#"airlock_pushes_total{outcome="pending"}"#), 0.0);
    assert_eq!(v("airlock_typosquat_blocks_total"), 1.0);
    assert_eq!(v(r#"airlock_refusals_total{reason="typosquat"}"#), 1.0);
    assert_eq!(
        v(r#"airlock_refusals_total{reason="unauthenticated"}"#),
        1.0
    );
    assert_eq!(v(r#"airlock_refusals_total{reason="policy"}"#), 0.0);
    assert_eq!(
        v(r#"airlock_page_cache_requests_total{cache="simple",result="hit"}"#),
        (N - 1) as f64
    );
    assert_eq!(
        v(r#"airlock_page_cache_requests_total{cache="simple",result="miss"}"#),
        1.0
    );
    assert_eq!(v("airlock_pending_reviews"), 0.0);
    assert!(v(r#"airlock_db_connection_wait_seconds_count{conn="reader"}"#) > 0.0);
    assert!(v(r#"airlock_db_connection_wait_seconds_count{conn="writer"}"#) > 0.0);
    assert_eq!(v("airlock_upstream_requests_total"), 0.0, "offline mirror");

    // the audit head is the last entry of /+audit
    let audit = audit_log(&s);
    let last_seq = audit["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["seq"].as_f64())
        .fold(0.0, f64::max);
    let head = v("airlock_audit_head_sequence");
    assert!(
        head >= last_seq && last_seq > 0.0,
        "head {head}, /+audit {last_seq}"
    );
    assert!(m.contains(&format!(
        "airlock_build_info{{version=\"{}\",",
        env!("CARGO_PKG_VERSION")
    )));
    // never a raw path in a label
    assert!(!m.contains("acme"), "{m}");
}

#[test]
fn main_listener_metrics_need_the_token() {
    let s = start_with_metrics();
    let url = s.url("/+metrics");
    let r = client().get(&url).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = client()
        .get(&url)
        .bearer_auth("wrong-token")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(&url)
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "root's password is not the metrics token");
    let r = client()
        .get(&url)
        .bearer_auth("right-token")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .unwrap()
        .contains("# TYPE airlock_http_requests_total counter"));

    // without a token file, /+metrics on the main listener does not exist
    let plain = Server::start();
    assert!(plain.metrics.is_none());
    let r = client()
        .get(plain.url("/+metrics"))
        .bearer_auth("right-token")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn an_empty_token_file_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--offline", "--data"])
        .arg(tmp.path().join("data"))
        .arg("--metrics-token-file")
        .arg(&token)
        .env("AIRLOCK_ROOT_PASSWORD", ROOT_PW)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics token file is empty"), "{err}");
}

#[test]
fn promtool_accepts_the_output() {
    let s = start_with_metrics();
    // some traffic so histograms and counters are not all zero
    for _ in 0..3 {
        client().get(s.url("/root/dev/+simple/")).send().unwrap();
    }
    let text = scrape(&s);
    let run = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match run {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is required in CI (Debian package prometheus): {e}"
            );
            eprintln!("SKIP: promtool not installed (apt-get install prometheus): {e}");
            return;
        }
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mirror_upstream_traffic_and_single_flight_waits_are_counted() {
    let up = FakeUpstream::start();
    let (filename, bytes) = wheel("demo", "1.0", "demo");
    up.add(
        "demo",
        Dist {
            filename: filename.clone(),
            bytes: bytes.clone(),
            metadata: None,
        },
    );
    // a slow upstream: the second of two concurrent page requests waits
    // for the first one's fetch instead of asking upstream again
    up.set_delay(std::time::Duration::from_millis(400));
    let url = up.simple_url();
    let s = Server::start_with(&[
        "--upstream",
        url.as_str(),
        "--upstream-retries",
        "0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let page = s.url("/root/pypi/+simple/demo/");
    let page_url = reqwest::Url::parse(&page).unwrap();
    let fetch = |page: String| {
        std::thread::spawn(move || {
            client()
                .get(page)
                .header("accept", "application/vnd.pypi.simple.v1+json")
                .send()
                .unwrap()
                .json::<serde_json::Value>()
                .unwrap()
        })
    };
    let first = fetch(page.clone());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let second = fetch(page);
    let json = first.join().unwrap();
    second.join().unwrap();
    let href = page_url
        .join(json["files"][0]["url"].as_str().unwrap())
        .unwrap();
    let r = client().get(href).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), &bytes[..]);

    let m = scrape(&s);
    let v = |series: &str| value(&m, series);
    assert_eq!(
        v("airlock_upstream_requests_total"),
        up.total_hits() as f64,
        "every request upstream saw, and only those"
    );
    assert_eq!(up.total_hits(), 2, "one page fetch, one file");
    assert_eq!(v("airlock_upstream_errors_total"), 0.0);
    let received = v("airlock_upstream_received_bytes_total");
    assert!(
        received > bytes.len() as f64,
        "file and page bytes: {received}"
    );
    assert_eq!(v("airlock_single_flight_wait_seconds_count"), 1.0);
    assert!(v("airlock_single_flight_wait_seconds_sum") > 0.1);
    assert_eq!(
        v(r#"airlock_http_requests_total{group="files",status="2xx"}"#),
        1.0
    );
}

const TEAM: &str = r#"
[index."acme/dev"]
type = "stage"
bases = []
upload_users = ["alice"]

[index."acme/prod"]
type = "stage"
production = true
bases = []
accepts_push_from = ["acme/dev"]
push_users = ["alice"]
approve_users = ["alice", "bob"]

[index."acme/prod".require]
approvals = 1
wheels_only = true
"#;

#[test]
fn pending_pushes_approvals_and_policy_refusals_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("team.toml"), TEAM).unwrap();
    let s = Server::start_with(&[
        "--policies",
        dir.path().to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    for (u, p) in [("alice", "apw"), ("bob", "bpw")] {
        create_user(&s, u, p);
    }
    let push = |version: &str, name: &str| {
        client()
            .post(s.url("/acme/dev"))
            .basic_auth("alice", Some("apw"))
            .json(&json!({":action": "push", "name": name, "version": version, "targetindex": "acme/prod"}))
            .send()
            .unwrap()
    };
    let mut ids = vec![];
    for version in ["1.0", "2.0"] {
        let (f, b) = wheel("acme_billing", version, "acme-billing");
        let r = upload(&s, "acme/dev", Some(("alice", "apw")), &f, b, &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        let r = push(version, "acme-billing");
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().unwrap();
        ids.push(v["push"]["pending_id"].as_i64().unwrap());
    }
    let (f, b) = sdist("acme-tools", "1.0");
    assert_eq!(
        upload(&s, "acme/dev", Some(("alice", "apw")), &f, b, &[]).status(),
        200
    );
    assert_eq!(push("1.0", "acme-tools").status(), 403, "wheels only");
    assert_eq!(value(&scrape(&s), "airlock_pending_reviews"), 2.0);

    let r = client()
        .post(s.url(&format!("/+pushes/{}/approve", ids[0])))
        .basic_auth("bob", Some("bpw"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = client()
        .post(s.url(&format!("/+pushes/{}/reject", ids[1])))
        .basic_auth("bob", Some("bpw"))
        .json(&json!({"reason": "changelog missing"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());

    let m = scrape(&s);
    let v = |series: &str| value(&m, series);
    assert_eq!(v("airlock_pending_reviews"), 0.0);
    assert_eq!(v(r#"airlock_pushes_total{outcome="pending"}"#), 2.0);
    assert_eq!(v(r#"airlock_pushes_total{outcome="refused"}"#), 1.0);
    assert_eq!(v(r#"airlock_pushes_total{outcome="accepted"}"#), 0.0);
    assert_eq!(v(r#"airlock_approvals_total{outcome="accepted"}"#), 1.0);
    assert_eq!(v(r#"airlock_approvals_total{outcome="rejected"}"#), 1.0);
    assert_eq!(v(r#"airlock_approvals_total{outcome="refused"}"#), 0.0);
    assert_eq!(v(r#"airlock_refusals_total{reason="policy"}"#), 1.0);
    assert_eq!(v(r#"airlock_uploads_total{outcome="accepted"}"#), 3.0);
}
