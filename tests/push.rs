//! Verbatim pushes through the real server: stage → stage, mirror → stage,
//! dry runs, idempotence, conflicts, a tampered blob, dependency confusion,
//! and the `airlock push` CLI.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::{json, Value};

fn push(
    s: &Server,
    from: &str,
    auth: Option<(&str, &str)>,
    body: Value,
) -> reqwest::blocking::Response {
    let mut r = client().post(s.url(&format!("/{from}"))).json(&body);
    if let Some((u, p)) = auth {
        r = r.basic_auth(u, Some(p));
    }
    r.send().unwrap()
}

#[test]
fn stage_to_stage_push_is_verbatim_idempotent_and_all_or_nothing() {
    let s = Server::start();
    let (wn, wb) = wheel("acme_billing", "1.4.0", "acme-billing");
    let (sn, sb) = sdist("acme-billing", "1.4.0");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    assert_eq!(
        upload(&s, "root/dev", root(), &sn, sb.clone(), &[]).status(),
        200
    );
    let req = json!({":action": "push", "name": "acme-billing", "version": "1.4.0", "targetindex": "root/prod"});

    // anonymous and unauthorised pushes are refused
    assert_eq!(push(&s, "root/dev", None, req.clone()).status(), 401);
    create_user(&s, "eve", "eve-pw");
    let r = push(&s, "root/dev", Some(("eve", "eve-pw")), req.clone());
    assert_eq!(r.status(), 403);

    // a dry run reviews and lands nothing
    let mut dry = req.clone();
    dry["dry_run"] = json!(true);
    let r: Value = push(&s, "root/dev", root(), dry).json().unwrap();
    assert_eq!(r["push"]["landed"], false);
    assert_eq!(r["push"]["files"].as_array().unwrap().len(), 2);
    assert!(files_on(&s, "root/prod", "acme-billing").is_empty());

    // the push lands every file, byte for byte
    let r = push(&s, "root/dev", root(), req.clone());
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["type"], "actionlog");
    assert_eq!(body["push"]["landed"], true);
    let mut prod = files_on(&s, "root/prod", "acme-billing");
    prod.sort();
    let mut want = vec![(wn.clone(), sha256_hex(&wb)), (sn.clone(), sha256_hex(&sb))];
    want.sort();
    assert_eq!(prod, want);
    let got = client()
        .get(s.url("/root/prod/+simple/acme-billing/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(got.contains(&sha256_hex(&wb)));
    // provenance: uploaded to root/dev, pushed to root/prod
    let prov = &body["push"]["files"][0]["provenance"];
    assert_eq!(prov[0]["op"], "upload");
    assert_eq!(prov[0]["index"], "root/dev");
    assert_eq!(prov[1]["op"], "push");
    assert_eq!(prov[1]["to"], "root/prod");

    // pushing again is idempotent
    let again: Value = push(&s, "root/dev", root(), req.clone()).json().unwrap();
    assert_eq!(again["push"]["landed"], false);
    assert!(again["push"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["action"] == "unchanged"));

    // different bytes under the same filename in non-volatile prod: 409, nothing changes
    let r = client()
        .delete(s.url("/root/dev/acme-billing/1.4.0"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (n2, b2) = wheel_variant("acme_billing", "1.4.0");
    assert_eq!(n2, wn);
    assert_eq!(upload(&s, "root/dev", root(), &n2, b2, &[]).status(), 200);
    let r = push(&s, "root/dev", root(), req.clone());
    assert_eq!(r.status(), 409, "{}", r.text().unwrap());
    let mut after = files_on(&s, "root/prod", "acme-billing");
    after.sort();
    assert_eq!(after, prod, "a refused push changes nothing");

    // a release that does not exist
    let mut missing = req.clone();
    missing["version"] = json!("9.9");
    assert_eq!(push(&s, "root/dev", root(), missing).status(), 404);
    // malformed requests
    for bad in [
        json!({"name": "x"}),
        json!({"name": "../x", "version": "1", "targetindex": "root/prod"}),
        json!({"name": "x", "version": "1", "targetindex": "root/prod", "posturl": "https://upload.pypi.org/legacy/"}),
    ] {
        let r = push(&s, "root/dev", root(), bad.clone());
        assert_eq!(r.status(), 400, "{bad}");
    }
}

/// Same filename and version, other bytes.
fn wheel_variant(name: &str, version: &str) -> (String, Vec<u8>) {
    let (n, b) = wheel(name, version, &name.replace('_', "-"));
    let mut buf = std::io::Cursor::new(b);
    {
        let mut z = zip::ZipWriter::new_append(&mut buf).unwrap();
        z.start_file(
            format!("{name}/variant.py"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut z, b"V = 2\n").unwrap();
        z.finish().unwrap();
    }
    (n, buf.into_inner())
}

#[test]
fn a_file_altered_on_disk_is_never_pushed() {
    let s = Server::start();
    let (wn, wb) = wheel("tamper_me", "1.0", "tamper-me");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    let sha = sha256_hex(&wb);
    let blob = s
        .data
        .join("blobs")
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let r = push(
        &s,
        "root/dev",
        root(),
        json!({"name": "tamper-me", "version": "1.0", "targetindex": "root/prod"}),
    );
    assert_eq!(r.status(), 409);
    let msg = r.text().unwrap();
    assert!(
        msg.contains("no longer match") && msg.contains(&wn),
        "{msg}"
    );
    assert!(files_on(&s, "root/prod", "tamper-me").is_empty());
    // an anonymous push is refused before anything is read, and audited too
    let r = push(
        &s,
        "root/dev",
        None,
        json!({"name": "tamper-me", "version": "1.0", "targetindex": "root/prod"}),
    );
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("log in to push to root/prod"));
    let audit = audit_log(&s);
    let blocked = audit["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "blocked_push")
        .cloned();
    let blocked = blocked.expect("the refusal is audited");
    assert!(
        blocked["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("no longer match"),
        "{blocked}"
    );
    assert_eq!(blocked["actor"], "root");
    let from_loopback = |e: &Value| {
        e["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:"))
    };
    assert!(from_loopback(&blocked), "with the peer address: {blocked}");
    let anonymous: Vec<&Value> = audit["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "blocked_push" && e["actor"].is_null())
        .collect();
    assert_eq!(anonymous.len(), 1, "{audit:#}");
    assert!(from_loopback(anonymous[0]), "{}", anonymous[0]);
    assert!(anonymous[0]["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("log in"));
}

#[test]
fn mirror_to_stage_push_verifies_and_keeps_upstream_provenance() {
    let up = FakeUpstream::start();
    let (wn, wb) = wheel("six", "1.16.0", "six");
    up.add(
        "six",
        Dist {
            filename: wn.clone(),
            bytes: wb.clone(),
            metadata: None,
        },
    );
    let s = Server::start_with(&["--upstream", &up.simple_url()]);
    create_user(&s, "acme", "acme-pw");
    create_index(
        &s,
        "acme/dev",
        ("acme", "acme-pw"),
        json!({"volatile": true}),
    );

    // the CLI: review printed, then landed
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("client.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "push",
            "six==1.16.0",
            "--from",
            "root/pypi",
            "--to",
            "acme/dev",
            "--url",
            &s.base,
            "--user",
            "acme",
            "--password",
            "acme-pw",
        ])
        .env("AIRLOCK_CLIENT_CONFIG", &cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("copy") && stdout.contains(&wn) && stdout.contains(&sha256_hex(&wb)),
        "{stdout}"
    );
    assert!(
        stdout.contains("from http://127.0.0.1"),
        "upstream provenance shown: {stdout}"
    );
    assert!(stdout.contains("pushed to acme/dev"), "{stdout}");
    assert_eq!(
        files_on(&s, "acme/dev", "six"),
        vec![(wn.clone(), sha256_hex(&wb))]
    );
    // the pushed wheel got real PEP 658 metadata from the file itself
    let j: Value = client()
        .get(s.url("/acme/dev/+simple/six/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(j["files"][0]["core-metadata"]["sha256"].is_string());

    // dependency confusion: a private name never comes from the mirror
    let (pn, pb) = wheel("acme_billing", "1.0", "acme-billing");
    assert_eq!(
        upload(&s, "acme/dev", Some(("acme", "acme-pw")), &pn, pb, &[]).status(),
        200
    );
    let (en, eb) = wheel("acme_billing", "99.0", "acme-billing");
    up.add(
        "acme-billing",
        Dist {
            filename: en,
            bytes: eb,
            metadata: None,
        },
    );
    let r = push(
        &s,
        "root/pypi",
        Some(("acme", "acme-pw")),
        json!({"name": "acme-billing", "version": "99.0", "targetindex": "acme/dev"}),
    );
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("dependency confusion"));
}

/// Test results and documentation travel with the release, and the review
/// shows the test status.
#[test]
fn pushes_carry_test_results_and_docs() {
    let s = Server::start();
    let (wn, wb) = wheel("tested_pkg", "1.0", "tested-pkg");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    // a tox result posted to the file (as devpi test does)
    let sha = sha256_hex(&wb);
    let file_url = s.url(&format!("/root/dev/+f/{}/{}/{wn}", &sha[..3], &sha[3..16]));
    let report = json!({"reportversion": "1", "host": "ci1", "platform": "linux",
        "testenvs": {"py311": {"python": {"version": "3.11.7"}, "test": [{"retcode": 0}]}}});
    let r = client()
        .post(&file_url)
        .basic_auth("root", Some(ROOT_PW))
        .json(&report)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    // a documentation zip for the release
    let mut zbuf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zbuf);
        z.start_file("index.html", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, b"<h1>tested-pkg docs</h1>").unwrap();
        z.finish().unwrap();
    }
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "doc_upload")
        .text("name", "tested-pkg")
        .text("version", "1.0")
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(zbuf.into_inner())
                .file_name("tested-pkg-1.0.doc.zip"),
        );
    let r = client()
        .post(s.url("/root/dev/"))
        .basic_auth("root", Some(ROOT_PW))
        .multipart(form)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());

    let r: Value = push(
        &s,
        "root/dev",
        root(),
        json!({"name": "tested-pkg", "version": "1.0", "targetindex": "root/prod"}),
    )
    .json()
    .unwrap();
    assert_eq!(r["push"]["landed"], true, "{r}");
    assert_eq!(r["push"]["review"]["tests"]["checked"], true);
    assert_eq!(r["push"]["review"]["tests"]["passed"], true);
    assert!(r["push"]["review"]["tests"]["summary"]
        .as_str()
        .unwrap()
        .contains("py311 passed"));

    // prod has the result and the docs
    let p: Value = client()
        .get(s.url("/root/prod/tested-pkg"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let links = p["result"]["1.0"]["+links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["rel"] == "toxresult"), "{links:?}");
    assert!(links.iter().any(|l| l["rel"] == "doczip"), "{links:?}");
    let page = client()
        .get(s.url("/root/prod/tested-pkg/1.0/+doc/index.html"))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("tested-pkg docs"));
}
