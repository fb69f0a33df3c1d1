//! The higher-version (dependency-confusion) attack against the real
//! server: a private name shadows the mirror, and upstream publishing it is
//! reported as a security alert.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::Value;

#[test]
fn a_private_name_shadows_upstream_and_raises_an_alert() {
    let up = FakeUpstream::start();
    let (en, eb) = wheel("acme_billing", "99.0", "acme-billing");
    up.add(
        "acme-billing",
        Dist {
            filename: en.clone(),
            bytes: eb,
            metadata: None,
        },
    );
    let s = Server::start_with(&["--upstream", &up.simple_url()]);
    let (pn, pb) = wheel("acme_billing", "1.0", "acme-billing");
    assert_eq!(
        upload(&s, "root/dev", root(), &pn, pb.clone(), &[]).status(),
        200
    );

    // root/dev (bases: root/pypi) serves only the private release; the
    // page does not depend on the mirror, so it is cached after the first.
    for want in ["miss", "hit", "hit"] {
        let r = client()
            .get(s.url("/root/dev/+simple/acme-billing/"))
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .unwrap();
        assert_eq!(r.headers()["x-airlock-cache"], want);
        let j: Value = r.json().unwrap();
        let names: Vec<&str> = j["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["filename"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec![pn.as_str()]);
        assert_eq!(j["versions"], serde_json::json!(["1.0"]));
    }

    // the watch looked upstream (once: rate-limited) and recorded a high alert
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let alerts = loop {
        let r: Value = client()
            .get(s.url("/+alerts"))
            .basic_auth("root", Some(ROOT_PW))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let list = r["result"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() || std::time::Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "dependency_confusion");
    assert_eq!(alerts[0]["severity"], "high");
    assert_eq!(alerts[0]["project"], "acme-billing");
    assert!(alerts[0]["message"].as_str().unwrap().contains("99.0"));
    assert_eq!(
        up.hits("/simple/acme-billing/"),
        1,
        "one probe, nothing else fetched"
    );
    // no file of the attacker's release was ever fetched
    assert_eq!(up.hits(&format!("/files/{en}")), 0);
    // the mirror did not cache the name
    let list = client()
        .get(s.url("/root/pypi/+simple/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!list.contains("acme-billing"));

    // alerts are for root only; the CLI exits 1 when there are alerts
    create_user(&s, "eve", "eve-pw");
    let r = client()
        .get(s.url("/+alerts"))
        .basic_auth("eve", Some("eve-pw"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "alerts",
            "--url",
            &s.base,
            "--user",
            "root",
            "--password",
            ROOT_PW,
        ])
        .env("AIRLOCK_CLIENT_CONFIG", tmp.path().join("c.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[high] dependency_confusion acme-billing"),
        "{text}"
    );
}
