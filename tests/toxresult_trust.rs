//! tests_passed cannot be forged: only results posted by identities the
//! target's policy trusts count; anonymous results never do; the review
//! and the audit log show who posted each run; nobody can fill a file's
//! result cap for everyone else.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use common::*;
use hostile::*;
use serde_json::{json, Value};

const POLICY: &str = r#"
[index."root/dev"]
type = "stage"
upload_users = ["root"]
push_users = ["root"]
# anonymous posting explicitly allowed here (devpi's habit) - it never counts
toxresult_users = ["root", "ci", ":ANONYMOUS:"]

[index."root/prod"]
type = "stage"
production = true
accepts_push_from = ["root/dev"]
push_users = ["root"]

[index."root/prod".require]
tests_passed = true
tests_passed_by = ["ci"]
"#;

fn report(passed: bool) -> Value {
    json!({"reportversion": "1", "host": "ci1", "platform": "linux",
        "testenvs": {"py311": {"python": {"version": "3.11.7"},
            "test": [{"retcode": if passed { 0 } else { 1 }}]}}})
}

fn push(s: &Server, dry_run: bool) -> reqwest::blocking::Response {
    client()
        .post(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(
            &json!({":action": "push", "name": "gated", "version": "1.0",
            "targetindex": "root/prod", "dry_run": dry_run}),
        )
        .send()
        .unwrap()
}

fn post(_server: &Server, url: &str, who: Option<(&str, &str)>, passed: bool) -> (u16, String) {
    let mut req = client().post(url).json(&report(passed));
    if let Some((u, p)) = who {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn forged_results_never_satisfy_tests_passed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), POLICY).unwrap();
    let s = Server::start_with(&["--policies", dir.path().to_str().unwrap()]);
    create_user(&s, "ci", "ci-pw");
    create_user(&s, "mallory", "m-pw");
    let (wn, wb) = wheel("gated", "1.0", "gated");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    let sha = sha256_hex(&wb);
    let url = s.url(&format!("/root/dev/+f/{}/{}/{wn}", &sha[..3], &sha[3..16]));

    // who may post at all
    assert_eq!(
        post(&s, &url, None, true).0,
        200,
        "anonymous allowed on dev, explicitly"
    );
    // with :ANONYMOUS: anyone may post, logged in or not
    assert_eq!(post(&s, &url, Some(("mallory", "m-pw")), true).0, 200);
    assert_eq!(post(&s, &url, Some(("root", ROOT_PW)), true).0, 200);

    // passing results from anonymous, mallory and root: prod trusts only ci
    let prod_before = snapshot(&s);
    let r = push(&s, false);
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("none of the 3 recorded test run(s) of gated 1.0 was posted by an identity this index trusts (posted by: anonymous, mallory, root)"),
        "{text}"
    );
    assert_eq!(
        snapshot(&s),
        prod_before,
        "a refused push changed something"
    );
    // the refusal is audited with who posted each run
    let log = audit_log(&s);
    let entries = log["result"]["entries"]
        .as_array()
        .or(log["result"].as_array())
        .cloned()
        .unwrap_or_default();
    let blocked = entries
        .iter()
        .rev()
        .find(|e| e["action"] == "blocked_push")
        .unwrap_or_else(|| panic!("no blocked_push entry in {log}"));
    let runs = blocked["details"]["tests"]["runs"]
        .as_array()
        .expect("runs in the audit entry");
    let posters: Vec<&Value> = runs.iter().map(|r| &r["posted_by"]).collect();
    assert_eq!(
        posters,
        vec![&Value::Null, &json!("mallory"), &json!("root")],
        "{blocked}"
    );
    assert!(runs.iter().all(|r| r["trusted"] == false));

    // the review says who posted what and that it does not count
    let r: Value = push(&s, true).json().unwrap();
    let text = r["push"]["review_text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains(
            "passed by anonymous for gated-1.0-py3-none-any.whl (not trusted: does not count)"
        ),
        "{text}"
    );
    assert!(text.contains("passed by root for"), "{text}");

    // a failing run by the trusted identity: refused as failed
    assert_eq!(post(&s, &url, Some(("ci", "ci-pw")), false).0, 200);
    let r = push(&s, false);
    let text = r.text().unwrap();
    assert!(text.contains("the tests of gated 1.0 failed"), "{text}");
    // a passing run by the trusted identity: the push lands
    assert_eq!(post(&s, &url, Some(("ci", "ci-pw")), true).0, 200);
    let r = push(&s, false);
    let status = r.status().as_u16();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["push"]["landed"], true, "{body}");
    assert_eq!(body["push"]["review"]["tests"]["trusted_runs"], 2);
    assert_alive(&s);
}

#[test]
fn nobody_fills_the_result_cap_for_others_and_anonymous_is_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), POLICY).unwrap();
    let s = Server::start_with(&["--policies", dir.path().to_str().unwrap()]);
    create_user(&s, "ci", "ci-pw");
    let (wn, wb) = wheel("gated", "1.0", "gated");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    let sha = sha256_hex(&wb);
    let url = s.url(&format!("/root/dev/+f/{}/{}/{wn}", &sha[..3], &sha[3..16]));
    for i in 0..10 {
        assert_eq!(post(&s, &url, None, true).0, 200, "anonymous post {i}");
    }
    let before = snapshot(&s);
    let (status, text) = post(&s, &url, None, true);
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains("10 test results from anonymous posters"),
        "{text}"
    );
    assert_eq!(snapshot(&s), before);
    // the trusted identity is not crowded out
    assert_eq!(post(&s, &url, Some(("ci", "ci-pw")), true).0, 200);

    // without an explicit toxresult_users, a policy index takes results
    // only from its uploaders: anonymous is refused, root counts by default
    let s = Server::start_with(&["--policies", &shipped_policies()]);
    let (wn, wb) = wheel("gated", "1.0", "gated");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    let sha = sha256_hex(&wb);
    let url = s.url(&format!("/root/dev/+f/{}/{}/{wn}", &sha[..3], &sha[3..16]));
    // anonymous: devpi's 403 "no permission", as its client expects
    let (status, text) = post(&s, &url, None, true);
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("no permission to upload tox results"),
        "{text}"
    );
    create_user(&s, "mallory", "m-pw");
    let (status, text) = post(&s, &url, Some(("mallory", "m-pw")), true);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not in its acl_toxresult_upload"), "{text}");
    // and it cannot be opened up through the API: the policy owns the key
    let r = client()
        .patch(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!(["acl_toxresult_upload=:ANONYMOUS:"]))
        .send()
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.text().unwrap());
    assert_eq!(post(&s, &url, None, true).0, 403);
    assert_eq!(post(&s, &url, Some(("root", ROOT_PW)), true).0, 200);
}
