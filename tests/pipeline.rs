//! The staging pipeline through the real server with real policy files:
//! the shipped default (prod takes only reviewed pushes from dev), the
//! production invariant (at start and on API changes), approvals by a
//! second person, and policy refusals — each refusal with a clear message
//! and nothing changed.

mod common;

use common::*;
use serde_json::{json, Value};

fn push(
    s: &Server,
    from: &str,
    who: (&str, &str),
    name: &str,
    version: &str,
    to: &str,
) -> reqwest::blocking::Response {
    client()
        .post(s.url(&format!("/{from}")))
        .basic_auth(who.0, Some(who.1))
        .json(&json!({":action": "push", "name": name, "version": version, "targetindex": to}))
        .send()
        .unwrap()
}

fn policy_dir(text: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pipeline.toml"), text).unwrap();
    d
}

#[test]
fn shipped_policy_prod_takes_only_reviewed_pushes_from_dev() {
    let s = Server::start_with(&["--policies", &shipped_policies()]);
    let (n, b) = wheel("acme_billing", "1.4.0", "acme-billing");
    // prod refuses direct uploads, before reading the body
    let r = upload(&s, "root/prod", root(), &n, b.clone(), &[]);
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("takes no direct uploads"));
    assert_eq!(
        upload(&s, "root/dev", root(), &n, b.clone(), &[]).status(),
        200
    );

    // the push lands, with a review
    let r = push(
        &s,
        "root/dev",
        ("root", ROOT_PW),
        "acme-billing",
        "1.4.0",
        "root/prod",
    );
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["push"]["landed"], true);
    assert_eq!(v["push"]["decision"]["decision"], "land");
    assert_eq!(v["push"]["review"]["typosquat"]["checked"], true);
    assert_eq!(v["push"]["review"]["shadowing"]["checked"], true);
    assert!(v["push"]["review_text"]
        .as_str()
        .unwrap()
        .contains("acme-billing"));

    // the wrong direction is refused
    let r = push(
        &s,
        "root/prod",
        ("root", ROOT_PW),
        "acme-billing",
        "1.4.0",
        "root/dev",
    );
    assert_eq!(r.status(), 403, "prod does not push back into dev");
    let r = push(
        &s,
        "root/pypi",
        ("root", ROOT_PW),
        "six",
        "1.0",
        "root/prod",
    );
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .unwrap()
        .contains("accepts pushes only from [root/dev]"));

    // keys managed by the policy cannot be changed through the API
    let r = client()
        .patch(s.url("/root/prod"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!(["bases=root/pypi"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("set by the policy"));
    let cfg: Value = client()
        .get(s.url("/root/prod"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["result"]["bases"], json!([]));
}

const TEAM: &str = r#"
[index."acme/dev"]
type = "stage"
bases = []
upload_users = ["alice"]

[index."acme/prod"]
type = "stage"
production = true
bases = ["acme/stage"]
accepts_push_from = ["acme/dev"]
push_users = ["alice"]
approve_users = ["alice", "bob"]

[index."acme/prod".require]
approvals = 1
wheels_only = true
"#;

#[test]
fn production_invariant_holds_through_api_changes() {
    // acme/stage is not in the policy, but it is a base of the production
    // acme/prod: it must never come to inherit a mirror either.
    // a policy whose production index reaches a mirror refuses to start
    let bad = policy_dir(
        &(TEAM.to_string()
            + "\n[index.\"acme/stage\"]\ntype = \"stage\"\nbases = [\"root/pypi\"]\n"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--offline", "--data"])
        .arg(tmp.path().join("d"))
        .args(["--policies", bad.path().to_str().unwrap()])
        .env("AIRLOCK_ROOT_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("acme/prod")
            && err.contains("root/pypi")
            && err.contains("never inherit a mirror"),
        "{err}"
    );

    // at run time: acme/stage (no policy) gets root/dev as base -> refused,
    // because root/dev inherits root/pypi and acme/stage is a base of acme/prod
    let dir = policy_dir(TEAM);
    let s = Server::start_with(&["--policies", dir.path().to_str().unwrap()]);
    // creating acme/stage (not in the policy) right away with that base is refused too
    let r = client()
        .put(s.url("/acme/stage"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"bases": "root/dev"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    create_index(&s, "acme/stage", ("root", ROOT_PW), json!({}));
    let r = client()
        .patch(s.url("/acme/stage"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!(["bases=root/dev"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    let msg: Value = client()
        .patch(s.url("/acme/stage"))
        .basic_auth("root", Some(ROOT_PW))
        .header("Accept", "application/json")
        .json(&json!(["bases=root/dev"]))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let m = msg["message"].as_str().unwrap();
    assert!(
        m.contains("acme/prod") && m.contains("root/pypi") && m.contains("acme/stage"),
        "{m}"
    );
    let cfg: Value = client()
        .get(s.url("/acme/stage"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["result"]["bases"], json!([]), "nothing changed");
    // the refusals are in the audit log
    let audit = audit_log(&s);
    let refused = audit["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "security_event" && e["details"]["event"] == "index_change_refused"
        })
        .count();
    assert_eq!(refused, 3, "one create and two modifications were refused");
}

#[test]
fn pushes_wait_for_a_second_persons_approval() {
    let dir = policy_dir(TEAM);
    let s = Server::start_with(&["--policies", dir.path().to_str().unwrap()]);
    for (u, p) in [("alice", "apw"), ("bob", "bpw"), ("eve", "epw")] {
        let r = client()
            .patch(s.url(&format!("/{u}")))
            .basic_auth("root", Some(ROOT_PW))
            .json(&json!({"password": p}))
            .send()
            .unwrap();
        if r.status() == 404 {
            create_user(&s, u, p);
        }
    }
    // acme was created by the policy without a password
    let alice = ("alice", "apw");
    let (n, b) = wheel("acme_billing", "1.4.0", "acme-billing");
    assert_eq!(
        upload(&s, "acme/dev", Some(alice), &n, b.clone(), &[]).status(),
        200
    );
    let (sn, sb) = sdist("acme-tools", "1.0");
    assert_eq!(
        upload(&s, "acme/dev", Some(alice), &sn, sb, &[]).status(),
        200
    );

    // policy refusal: wheels only
    let r = push(&s, "acme/dev", alice, "acme-tools", "1.0", "acme/prod");
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("wheel"));

    // bob may not push (not in push_users)
    let r = push(
        &s,
        "acme/dev",
        ("bob", "bpw"),
        "acme-billing",
        "1.4.0",
        "acme/prod",
    );
    assert_eq!(r.status(), 403);

    // alice pushes: pending
    let r = push(&s, "acme/dev", alice, "acme-billing", "1.4.0", "acme/prod");
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    let id = v["push"]["pending_id"].as_i64().unwrap();
    assert!(v["message"].as_str().unwrap().contains("pending"));
    let prod = |s: &Server| {
        client()
            .get(s.url("/acme/prod/+simple/acme-billing/"))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(prod(&s), 404, "nothing lands while pending");
    let list: Value = client()
        .get(s.url("/+pushes?status=pending"))
        .basic_auth("bob", Some("bpw"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["result"][0]["id"], id);

    // self-approval and outsiders are refused
    let approve = |who: (&str, &str)| {
        client()
            .post(s.url(&format!("/+pushes/{id}/approve")))
            .basic_auth(who.0, Some(who.1))
            .send()
            .unwrap()
    };
    let r = approve(alice);
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("cannot approve"));
    assert_eq!(approve(("eve", "epw")).status(), 403);
    assert_eq!(prod(&s), 404);

    // bob approves with the CLI: lands
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "approve",
            &id.to_string(),
            "--url",
            &s.base,
            "--user",
            "bob",
            "--password",
            "bpw",
        ])
        .env("AIRLOCK_CLIENT_CONFIG", tmp.path().join("c.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("landed"), "{stdout}");
    assert_eq!(prod(&s), 200);
    let j: Value = client()
        .get(s.url("/acme/prod/+simple/acme-billing/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(j["files"][0]["hashes"]["sha256"], sha256_hex(&b));
    assert_eq!(approve(("bob", "bpw")).status(), 409, "no longer pending");

    // a second pending push gets rejected
    let (n2, b2) = wheel("acme_billing", "1.5.0", "acme-billing");
    assert_eq!(
        upload(&s, "acme/dev", Some(alice), &n2, b2, &[]).status(),
        200
    );
    let v: Value = push(&s, "acme/dev", alice, "acme-billing", "1.5.0", "acme/prod")
        .json()
        .unwrap();
    let id2 = v["push"]["pending_id"].as_i64().unwrap();
    // nobody logged in: refused, and recorded like any other refusal
    let r = client()
        .post(s.url(&format!("/+pushes/{id2}/approve")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("log in to approve push"));
    let r = client()
        .post(s.url(&format!("/+pushes/{id2}/reject")))
        .basic_auth("bob", Some("bpw"))
        .json(&json!({"reason": "changelog missing"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let all: Value = client()
        .get(s.url("/+pushes"))
        .basic_auth("bob", Some("bpw"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rejected = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id2)
        .unwrap()
        .clone();
    assert_eq!(rejected["status"], "rejected");
    assert!(rejected["reason"]
        .as_str()
        .unwrap()
        .contains("changelog missing"));

    // every step is in the audit log, attributed, and the chain verifies
    let audit = audit_log(&s);
    let entries = audit["result"].as_array().unwrap();
    let find = |action: &str| -> Vec<&Value> {
        entries.iter().filter(|e| e["action"] == action).collect()
    };
    let blocked = find("blocked_push");
    assert_eq!(
        blocked.len(),
        2,
        "the wheels_only refusal and bob's push: {blocked:?}"
    );
    assert!(blocked
        .iter()
        .any(|e| e["details"]["decision"]["decision"] == "refuse"));
    assert!(blocked.iter().any(|e| e["actor"] == "bob"
        && e["details"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("may not push")));
    assert_eq!(find("push_pending").len(), 2);
    let approve = find("approve");
    assert_eq!(approve.len(), 1);
    assert_eq!(approve[0]["actor"], "bob");
    let landed = find("push");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0]["actor"], "alice", "the pusher is recorded");
    assert_eq!(landed[0]["details"]["approvals"], json!(["bob"]));
    assert_eq!(landed[0]["details"]["files"][0]["sha256"], sha256_hex(&b));
    assert_eq!(find("reject").len(), 1);
    let refused: Vec<&Value> = find("security_event")
        .into_iter()
        .filter(|e| e["details"]["event"] == "approve_refused")
        .collect();
    assert_eq!(
        refused.len(),
        3,
        "alice's self-approval, eve's and an anonymous one: {refused:?}"
    );
    assert!(refused.iter().any(|e| e["actor"] == "alice"));
    assert!(refused.iter().any(|e| e["actor"].is_null()));
    // refusals and decisions carry the peer address
    for e in refused.iter().chain(&approve).chain(&find("reject")) {
        assert!(
            e["remote"]
                .as_str()
                .is_some_and(|r| r.starts_with("127.0.0.1:")),
            "{e}"
        );
    }
    let verify: Value = client()
        .get(s.url("/+audit/verify"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
}
