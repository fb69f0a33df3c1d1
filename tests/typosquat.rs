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
    {
        let conn = rusqlite::Connection::open(s.data.join("airlock.sqlite3")).unwrap();
        conn.execute_batch(
            "DELETE FROM typo_keys; DELETE FROM typo_names; DELETE FROM typo_words;
             UPDATE typo_index_state SET keys_version = 0;",
        )
        .unwrap();
    }
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
