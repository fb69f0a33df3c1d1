//! The server protects its own project names from look-alikes, and keeps
//! that index in the store: it survives restarts, is rebuilt when lost or
//! made by another key version, and forgets deleted projects.

mod common;

use common::*;
use serde_json::Value;

fn verdict(s: &Server, name: &str) -> Value {
    let r = client()
        .get(s.url(&format!("/+typo/check?name={name}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    v["result"][0].clone()
}

fn looks_like_private(s: &Server, candidate: &str, target: &str) -> bool {
    let v = verdict(s, candidate);
    v["suspicious"] == true
        && v["target"] == target
        && v["reason"].as_str().unwrap().contains("hosted here")
}

fn put_wheel(s: &Server, name: &str) -> reqwest::blocking::Response {
    let (f, b) = wheel(&name.replace('-', "_"), "1.0", name);
    upload(s, "root/dev", root(), &f, b, &[])
}

#[test]
fn private_names_are_protected_across_restarts_rebuilds_and_deletes() {
    let mut s = Server::start();
    assert!(!looks_like_private(&s, "acme-biling", "acme-billing"));
    let r = put_wheel(&s, "acme-billing");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = put_wheel(&s, "acme-ledger");
    assert_eq!(r.status(), 200);

    // Protected at once: a check, and an upload of a look-alike.
    assert!(looks_like_private(&s, "acme-biling", "acme-billing"));
    assert!(looks_like_private(&s, "ledger-acme", "acme-ledger"));
    assert_eq!(
        verdict(&s, "acme-billing")["suspicious"],
        false,
        "the name itself"
    );
    let r = put_wheel(&s, "acme-biling");
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("acme-billing"));

    // Kept in the store: still protected after a restart.
    s.restart();
    assert!(looks_like_private(&s, "acme-biling", "acme-billing"));

    // Lost (or made by another version of airlock): rebuilt at start.
    s.stop();
    s.exec_sql(
        "DELETE FROM typo_keys; DELETE FROM typo_names; DELETE FROM typo_words;
         UPDATE typo_index_state SET keys_version = 0;",
    );
    s.restart();
    assert!(looks_like_private(&s, "acme-biling", "acme-billing"));
    assert!(looks_like_private(&s, "ledger-acme", "acme-ledger"));

    // A deleted project is forgotten at once, and stays forgotten.
    let r = client()
        .delete(s.url("/root/dev/acme-billing"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(!looks_like_private(&s, "acme-biling", "acme-billing"));
    s.restart();
    assert!(!looks_like_private(&s, "acme-biling", "acme-billing"));
    assert!(looks_like_private(&s, "ledger-acme", "acme-ledger"));
}

fn blocked_installs(s: &Server, target: &str) -> usize {
    audit_log(s)["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "blocked_install" && e["target"] == target)
        .count()
}

/// Issue 15: pip (which shows nothing of a 4xx index page) gets a page
/// whose only release is a decoy naming the look-alike, never cached and
/// never downloadable; uv and everyone else keep the 400.
#[test]
fn a_refused_name_gives_pip_a_decoy_page_whose_files_are_refused() {
    let s = Server::start();
    let page = s.url("/root/dev/+simple/reqeusts/");
    let pip = |url: &str, accept: &str| {
        client()
            .get(url)
            .header("User-Agent", "pip/26.3 {\"ci\":null}")
            .header("Accept", accept)
            .send()
            .unwrap()
    };
    let json = "application/vnd.pypi.simple.v1+json, text/html; q=0.01";
    let mut urls = Vec::new();
    for _ in 0..2 {
        let r = pip(&page, json);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.pypi.simple.v1+json"
        );
        assert!(r.headers().get("x-airlock-cache").is_none(), "never cached");
        let v: Value = r.json().unwrap();
        let files = v["files"].as_array().unwrap();
        assert_eq!(files.len(), 2, "{v}");
        for f in files {
            let name = f["filename"].as_str().unwrap();
            assert!(
                name.starts_with("reqeusts-0+airlock.refused.looks.like.requests"),
                "{name}"
            );
            assert_eq!(f["hashes"], serde_json::json!({}));
            urls.push(f["url"].as_str().unwrap().to_string());
        }
    }
    let html = pip(&page, "text/html").text().unwrap();
    assert!(
        html.contains("href=\"reqeusts-0+airlock.refused.looks.like.requests.tar.gz\""),
        "{html}"
    );

    // every other client: the 400 with the sentence
    let r = client()
        .get(&page)
        .header("User-Agent", "uv/0.13.9")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .unwrap()
        .contains("airlock typo allow reqeusts --index root/dev"));

    // the decoy files: the refusal, to anyone, and never a byte of a file
    for url in &urls[..2] {
        let file = format!("{page}{}", url.replace('+', "%2B"));
        for ua in ["pip/26.3", "curl/8.5.0"] {
            let r = client().get(&file).header("User-Agent", ua).send().unwrap();
            assert_eq!(r.status(), 403, "{file}");
            assert_eq!(r.headers()["cache-control"], "no-store");
            let body = r.text().unwrap();
            assert!(body.contains("looks like a typo of \"requests\""), "{body}");
        }
    }
    assert_eq!(
        blocked_installs(&s, "root/dev/reqeusts"),
        1,
        "audited once per window"
    );

    // anything else under a page is no file at all
    for path in [
        "/root/dev/+simple/reqeusts/reqeusts-1.0.tar.gz",
        "/root/dev/+simple/reqeusts/reqeusts-0+airlock.refused.looks.like.urllib3.tar.gz",
        "/root/dev/+simple/Reqeusts/reqeusts-0+airlock.refused.looks.like.requests.tar.gz",
    ] {
        let r = client().get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // a decoy-shaped name under a project that is not refused: 404
    let r = put_wheel(&s, "acme-billing");
    assert_eq!(r.status(), 200);
    let r = client()
        .get(s.url(
            "/root/dev/+simple/acme-billing/acme_billing-0+airlock.refused.denied.by.rule.tar.gz",
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}
