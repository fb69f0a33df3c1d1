//! The devpi-compatible JSON API against the real server: discovery,
//! login tokens, users, indexes, permissions.

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

fn login(s: &Server, user: &str, pw: &str) -> reqwest::blocking::Response {
    client()
        .post(s.url("/+login"))
        .json(&json!({"user": user, "password": pw}))
        .send()
        .unwrap()
}

fn devpi_auth(user: &str, token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
}

#[test]
fn discovery_and_login_tokens() {
    let s = Server::start();
    let api: Value = client().get(s.url("/+api")).send().unwrap().json().unwrap();
    assert_eq!(api["type"], "apiconfig");
    assert_eq!(api["result"]["authstatus"][0], "noauth");
    assert!(api["result"]["login"]
        .as_str()
        .unwrap()
        .ends_with("/+login"));

    let r = login(&s, "root", "wrong");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.text().unwrap().contains("invalid user name or password"));

    let r = login(&s, "root", ROOT_PW);
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    let token = body["result"]["password"].as_str().unwrap().to_string();
    let expiration = body["result"]["expiration"].as_i64().unwrap();
    assert!(
        (35_990..=36_000).contains(&expiration),
        "default expiry is 10 h, got {expiration}"
    );

    // the token authenticates like devpi-client sends it
    let api: Value = client()
        .get(s.url("/root/dev/+api"))
        .header("X-Devpi-Auth", devpi_auth("root", &token))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(api["result"]["authstatus"], json!(["ok", "root", []]));
    assert!(api["result"]["simpleindex"]
        .as_str()
        .unwrap()
        .ends_with("/root/dev/+simple/"));

    // a forged token (signature of another payload) is refused
    let mut forged = token.clone();
    forged.replace_range(10..12, if &token[10..12] == "AA" { "BB" } else { "AA" });
    let r = client()
        .put(s.url("/root/forged"))
        .header("X-Devpi-Auth", devpi_auth("root", &forged))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // a token for one user does not work for another
    create_user(&s, "eve", "eve-pw");
    let r = client()
        .put(s.url("/root/stolen"))
        .header("X-Devpi-Auth", devpi_auth("eve", &token))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // changing the password revokes tokens issued before
    let r = client()
        .patch(s.url("/root"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"password": "new-root-pw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = client()
        .put(s.url("/root/after"))
        .header("X-Devpi-Auth", devpi_auth("root", &token))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .unwrap()
        .contains("password that has since changed"));
}

#[test]
fn expired_tokens_are_refused() {
    let s = Server::start_with(&["--token-hours", "0"]);
    let body: Value = login(&s, "root", ROOT_PW).json().unwrap();
    let token = body["result"]["password"].as_str().unwrap().to_string();
    let r = client()
        .put(s.url("/root/x"))
        .header("X-Devpi-Auth", devpi_auth("root", &token))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("expired"));
}

#[test]
fn users_need_root_and_passwords_are_never_stored_plain() {
    let s = Server::start();
    // anonymous registration is closed by default
    let r = client()
        .put(s.url("/mallory"))
        .json(&json!({"password": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    create_user(&s, "alice", "alice-pw-123");
    // alice cannot create users either
    let r = client()
        .put(s.url("/bob"))
        .basic_auth("alice", Some("alice-pw-123"))
        .json(&json!({"password": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // duplicate
    let r = client()
        .put(s.url("/alice"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"password": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 409);
    // invalid names
    for bad in ["..", "a%2Fb", "+x", "%C3%A9"] {
        let r = client()
            .put(s.url(&format!("/{bad}")))
            .basic_auth("root", Some(ROOT_PW))
            .json(&json!({"password": "x"}))
            .send()
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
    }
    let u: Value = client()
        .get(s.url("/alice"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(u["result"]["username"], "alice");
    assert_eq!(u["result"]["email"], "alice@example.test");
    assert!(u["result"].get("pwhash").is_none());

    s.data_files(); // data folder readable
    let files = s.database_bytes();
    assert!(
        files.iter().any(|f| !f.is_empty()),
        "the database has files"
    );
    for hay in &files {
        assert!(
            !hay.windows(12).any(|w| w == b"alice-pw-123"),
            "plain password found in the database"
        );
    }
}

#[test]
fn index_crud_config_and_permissions() {
    let s = Server::start();
    create_user(&s, "alice", "apw");
    create_user(&s, "bob", "bpw");
    create_index(
        &s,
        "alice/dev",
        ("alice", "apw"),
        json!({"bases": "root/prod", "volatile": "True"}),
    );
    let cfg: Value = client()
        .get(s.url("/alice/dev"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["type"], "indexconfig");
    assert_eq!(cfg["result"]["type"], "stage");
    assert_eq!(cfg["result"]["bases"], json!(["root/prod"]));
    assert_eq!(cfg["result"]["volatile"], true);
    assert_eq!(cfg["result"]["acl_upload"], json!(["alice"]));
    assert_eq!(cfg["result"]["projects"], json!([]));

    // bob may not touch alice's index
    let r = client()
        .patch(s.url("/alice/dev"))
        .basic_auth("bob", Some("bpw"))
        .json(&json!(["acl_upload+=bob"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("only its owner alice or root"));

    // devpi PATCH operations
    let r: Value = client()
        .patch(s.url("/alice/dev"))
        .basic_auth("alice", Some("apw"))
        .json(&json!(["acl_upload+=bob", "volatile=False"]))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["result"]["acl_upload"], json!(["alice", "bob"]));
    assert_eq!(r["result"]["volatile"], false);

    // bad configuration is refused with a message naming the problem
    for (body, needle) in [
        (json!({"frobnicate": 1}), "unknown index configuration key"),
        (
            json!({"bases": "nobody/nothing"}),
            "base index nobody/nothing does not exist",
        ),
        (json!({"bases": "alice/dev"}), "itself as a base"),
        (json!({"volatile": "perhaps"}), "volatile"),
        (json!({"type": "mirror"}), "cannot be changed"),
    ] {
        let r = client()
            .patch(s.url("/alice/dev"))
            .basic_auth("alice", Some("apw"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let msg: Value = r.json().unwrap();
        assert!(
            msg["message"].as_str().unwrap().contains(needle),
            "{body}: {msg}"
        );
    }

    // unknown index: 404 naming it, as JSON for JSON clients, text otherwise
    let r = client()
        .get(s.url("/alice/nope"))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let msg: Value = r.json().unwrap();
    assert_eq!(msg["message"], "index alice/nope does not exist");
    let r = client().get(s.url("/alice/nope/+simple/")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text().unwrap().trim(), "index alice/nope does not exist");

    // a non-volatile index is never deleted (devpi's rule), even by root
    let r = client()
        .delete(s.url("/root/prod"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("not volatile"));
    // a base in use cannot be deleted
    for (name, body) in [
        ("alice/base", json!({})),
        ("alice/top", json!({"bases": "alice/base"})),
    ] {
        let r = client()
            .put(s.url(&format!("/{name}")))
            .basic_auth("alice", Some("apw"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
    let r = client()
        .delete(s.url("/alice/base"))
        .basic_auth("alice", Some("apw"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().unwrap().contains("alice/top"));
    for name in ["alice/top", "alice/base"] {
        let r = client()
            .delete(s.url(&format!("/{name}")))
            .basic_auth("alice", Some("apw"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{name}: {}", r.text().unwrap());
    }
    // alice/dev is not volatile: refused, then deleted once made volatile
    let del = || {
        client()
            .delete(s.url("/alice/dev"))
            .basic_auth("alice", Some("apw"))
            .send()
            .unwrap()
    };
    assert_eq!(del().status(), 403);
    let r = client()
        .patch(s.url("/alice/dev"))
        .basic_auth("alice", Some("apw"))
        .json(&json!(["volatile=True"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = del();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(
        client().get(s.url("/alice/dev")).send().unwrap().status(),
        404
    );
}

#[test]
fn malformed_requests_get_clear_errors() {
    let s = Server::start();
    // not JSON
    let r = client()
        .put(s.url("/root/x"))
        .basic_auth("root", Some(ROOT_PW))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    // oversized JSON body
    let r = client()
        .patch(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    // garbage auth header
    let r = client()
        .get(s.url("/+api"))
        .header("Authorization", "Basic !!!")
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "discovery reports the problem in authstatus"
    );
    let r = client()
        .put(s.url("/root/y"))
        .header("Authorization", "Basic !!!")
        .json(&json!({}))
        .send()
        .unwrap();
    // unreadable credentials are refused like wrong ones (issue 14)
    assert_eq!(r.status(), 401);
    // unknown route
    let r = client().get(s.url("/a/b/c/d/e/f/g")).send().unwrap();
    assert_eq!(r.status(), 404);
    // the server is still fine
    assert_eq!(client().get(s.url("/+api")).send().unwrap().status(), 200);
}

/// `/+health` says the process serves; `/+ready` asks the engines and says
/// which one does not answer (503), so a load balancer can take a node out.
#[test]
fn health_and_readiness() {
    let s = Server::start();
    let r = client().get(s.url("/+health")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "ok\n");
    let r = client().get(s.url("/+ready")).send().unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(
        v,
        serde_json::json!({"ready": true, "database": "ok", "blobs": "ok"})
    );
    // the blob store's temp folder replaced by a file: files cannot be taken
    let tmp = s.data.join("tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a folder").unwrap();
    let r = client().get(s.url("/+ready")).send().unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["database"], "ok");
    assert_ne!(v["blobs"], "ok");
    assert_eq!(
        client().get(s.url("/+health")).send().unwrap().status(),
        200
    );
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    assert_eq!(client().get(s.url("/+ready")).send().unwrap().status(), 200);
}
