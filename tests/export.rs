//! `airlock export` and `airlock import` against real data folders: a
//! populated server (users with passwords and a pinned certificate,
//! indexes with bases/ACLs/whitelist, uploads, docs, test results, a push
//! waiting for approval and one approved, an alert) is exported while it
//! runs, imported into a new folder, and the server started there serves
//! the same; export → import → export gives the same records plus the one
//! import entry; hostile exports are refused with nothing left behind.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::{json, Value};

const JSON: &str = "application/vnd.pypi.simple.v1+json";

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
"#;

fn airlock(args: &[&str]) -> Output {
    airlock_env(args, &[])
}

/// `airlock` with `env` (a server's [`Server::command_env`]: on PostgreSQL
/// the database password its data folder needs).
fn airlock_env(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env_remove("AIRLOCK_DATA")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run airlock")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn export(data: &Path, dir: &Path) {
    export_env(data, dir, &[]);
}

fn export_env(data: &Path, dir: &Path, env: &[(String, String)]) {
    let o = airlock_env(&["export", p(dir), "--data", p(data)], env);
    assert!(o.status.success(), "{}", text(&o));
}

fn import(dir: &Path, data: &Path) -> Output {
    airlock(&["import", p(dir), "--data", p(data)])
}

fn set_password(s: &Server, user: &str, pw: &str) {
    let r = client()
        .patch(s.url(&format!("/{user}")))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"password": pw}))
        .send()
        .unwrap();
    if r.status() == 404 {
        create_user(s, user, pw);
    } else {
        assert!(r.status().is_success(), "{}", r.text().unwrap());
    }
}

fn push(s: &Server, auth: (&str, &str), name: &str, version: &str) -> reqwest::blocking::Response {
    client()
        .post(s.url("/acme/dev"))
        .basic_auth(auth.0, Some(auth.1))
        .json(&json!({"name": name, "version": version, "targetindex": "acme/prod"}))
        .send()
        .unwrap()
}

fn doc_zip(title: &str) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("index.html", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, format!("<h1>{title}</h1>").as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn get_json(s: &Server, path: &str, auth: Option<(&str, &str)>) -> Value {
    let mut r = client()
        .get(s.url(path))
        .header("Accept", "application/json");
    if let Some((u, pw)) = auth {
        r = r.basic_auth(u, Some(pw));
    }
    let r = r.send().unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().unwrap()
}

/// Everything that must survive: simple pages (files + hashes, each file
/// downloaded and re-hashed), docs, test results, index configurations,
/// users, certificates, pushes, alerts, and logins.
fn observe(s: &Server) -> Value {
    let mut out = serde_json::Map::new();
    for (index, project) in [
        ("root/dev", "acme-billing"),
        ("root/dev", "tested-pkg"),
        ("root/extra", "tested-pkg"),
        ("acme/dev", "acme-billing"),
        ("acme/prod", "acme-billing"),
    ] {
        let url = s.url(&format!("/{index}/+simple/{project}/"));
        let page: Value = client()
            .get(&url)
            .header("Accept", JSON)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let base = reqwest::Url::parse(&url).unwrap();
        let mut files = Vec::new();
        for f in page["files"].as_array().unwrap() {
            let r = client()
                .get(base.join(f["url"].as_str().unwrap()).unwrap())
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let got = sha256_hex(&r.bytes().unwrap());
            assert_eq!(f["hashes"]["sha256"].as_str().unwrap(), got);
            files.push(json!([f["filename"], got]));
        }
        assert!(!files.is_empty(), "{index}/{project} lists no file");
        out.insert(format!("simple {index}/{project}"), json!(files));
    }
    let doc = client()
        .get(s.url("/root/dev/tested-pkg/1.0/+doc/index.html"))
        .send()
        .unwrap();
    assert_eq!(doc.status(), 200);
    out.insert("doc".into(), json!(doc.text().unwrap()));
    let mut project = get_json(s, "/root/dev/tested-pkg", None);
    // links carry the server's own URL
    let links = project["result"]["1.0"]["+links"].take();
    let rels: Vec<Value> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].clone())
        .collect();
    assert!(rels.contains(&json!("toxresult")), "{rels:?}");
    assert!(rels.contains(&json!("doczip")), "{rels:?}");
    out.insert("tested-pkg links".into(), json!(rels));
    for index in ["root/dev", "root/extra", "acme/dev", "acme/prod"] {
        out.insert(
            format!("config {index}"),
            get_json(s, &format!("/{index}"), None)["result"].clone(),
        );
    }
    out.insert("users".into(), get_json(s, "/", None)["result"].clone());
    let certs = get_json(s, "/carol/+certs", root())["result"].clone();
    assert_eq!(certs.as_array().map(Vec::len), Some(1), "{certs}");
    out.insert("carol certs".into(), certs);
    let mut pushes = get_json(s, "/+pushes?status=all", root())["result"].clone();
    for p in pushes.as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("links");
    }
    assert_eq!(pushes.as_array().map(Vec::len), Some(2), "{pushes}");
    out.insert("pushes".into(), pushes);
    let alerts = get_json(s, "/+alerts", root())["result"].clone();
    assert_eq!(alerts.as_array().map(Vec::len), Some(1), "{alerts}");
    out.insert("alerts".into(), alerts);
    for (u, pw) in [
        ("root", ROOT_PW),
        ("alice", "apw"),
        ("bob", "bpw"),
        ("carol", "cpw"),
    ] {
        let r = client()
            .post(s.url("/+login"))
            .json(&json!({"user": u, "password": pw}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{u} cannot log in");
        let wrong = client()
            .post(s.url("/+login"))
            .json(&json!({"user": u, "password": "wrong"}))
            .send()
            .unwrap();
        assert_eq!(wrong.status(), 401, "{u} logs in with a wrong password");
    }
    Value::Object(out)
}

/// A server with one of everything the export carries.
fn populated(up: &FakeUpstream, policies: &Path) -> Server {
    let s = Server::start_with(&["--upstream", &up.simple_url(), "--policies", p(policies)]);
    for (u, pw) in [("alice", "apw"), ("bob", "bpw"), ("carol", "cpw")] {
        set_password(&s, u, pw);
    }
    // carol's pinned certificate
    let pki = s.data.with_file_name("pki");
    let o = airlock(&[
        "certs",
        "init",
        p(&pki),
        "--server-name",
        "localhost",
        "--client",
        "carol",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = client()
        .post(s.url("/carol/+certs"))
        .basic_auth("root", Some(ROOT_PW))
        .body(std::fs::read(pki.join("carol.pem")).unwrap())
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    // an index with bases, ACLs, whitelist, volatility
    create_index(
        &s,
        "root/extra",
        ("root", ROOT_PW),
        json!({"type": "stage", "bases": ["root/dev"], "acl_upload": ["alice", "root"],
               "mirror_whitelist": ["tested-pkg"], "volatile": false}),
    );
    // a private name upstream also has (the alert), a tested and documented release
    let (n, b) = wheel("acme_billing", "1.0", "acme-billing");
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    let (wn, wb) = wheel("tested_pkg", "1.0", "tested-pkg");
    let sha = sha256_hex(&wb);
    assert_eq!(upload(&s, "root/dev", root(), &wn, wb, &[]).status(), 200);
    let (sn, sb) = sdist("tested-pkg", "1.0");
    assert_eq!(upload(&s, "root/dev", root(), &sn, sb, &[]).status(), 200);
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
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "doc_upload")
        .text("name", "tested-pkg")
        .text("version", "1.0")
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(doc_zip("tested-pkg docs"))
                .file_name("tested-pkg-1.0.doc.zip"),
        );
    let r = client()
        .post(s.url("/root/dev/"))
        .basic_auth("root", Some(ROOT_PW))
        .multipart(form)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    // one push approved and landed, one still pending
    let alice = ("alice", "apw");
    for v in ["1.4.0", "1.5.0"] {
        let (n, b) = wheel("acme_billing", v, "acme-billing");
        assert_eq!(
            upload(&s, "acme/dev", Some(alice), &n, b, &[]).status(),
            200
        );
    }
    let r = push(&s, alice, "acme-billing", "1.4.0");
    assert_eq!(r.status(), 202, "{}", r.text().unwrap());
    let id = r.json::<Value>().unwrap()["push"]["pending_id"]
        .as_i64()
        .unwrap();
    let r = client()
        .post(s.url(&format!("/+pushes/{id}/approve")))
        .basic_auth("bob", Some("bpw"))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    assert_eq!(push(&s, alice, "acme-billing", "1.5.0").status(), 202);
    // the dependency-confusion alert
    let deadline = Instant::now() + Duration::from_secs(15);
    while get_json(&s, "/+alerts", root())["result"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no alert raised");
        let _ = client()
            .get(s.url("/root/dev/+simple/acme-billing/"))
            .send()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    s
}

fn upstream() -> FakeUpstream {
    let up = FakeUpstream::start();
    let (en, eb) = wheel("acme_billing", "99.0", "acme-billing");
    up.add(
        "acme-billing",
        Dist {
            filename: en,
            bytes: eb,
            metadata: None,
        },
    );
    up
}

fn policy_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pipeline.toml"), TEAM).unwrap();
    d
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn tables(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn export_import_round_trip_serves_the_same() {
    let up = upstream();
    let policies = policy_dir();
    let s = populated(&up, policies.path());
    let before = observe(&s);
    let tmp = tempfile::tempdir().unwrap();
    let (ex1, data2, ex2) = (
        tmp.path().join("export1"),
        tmp.path().join("data2"),
        tmp.path().join("export2"),
    );
    // exported while the server runs (on PostgreSQL: from its database,
    // into the folders of one machine below)
    export_env(&s.data, &ex1, &s.command_env());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(ex1.join("airlock-export.json")).unwrap()).unwrap();
    assert_eq!(manifest["format_version"], 1);
    let count = |name: &str| {
        manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no table {name}"))["records"]
            .as_u64()
            .unwrap()
    };
    for t in [
        "users",
        "user_certs",
        "indexes",
        "files",
        "toxresults",
        "doczips",
        "pending_pushes",
        "security_alerts",
        "audit_log",
    ] {
        assert!(count(t) > 0, "{t} is empty in the export");
    }
    assert_eq!(count("pending_pushes"), 2);
    assert!(manifest["blobs"]["count"].as_u64().unwrap() >= 6);

    // into a new folder
    let o = import(&ex1, &data2);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!data2.join("airlock.sqlite3.importing").exists());
    assert!(!data2.join("airlock.sqlite3-wal").exists());
    let v = airlock(&["audit", "verify", "--data", p(&data2), "--json"]);
    assert!(v.status.success(), "{}", text(&v));

    // export → import → export: the same records, plus the import entry
    export(&data2, &ex2);
    let (t1, t2) = (tables(&ex1), tables(&ex2));
    assert_eq!(
        t1.iter().map(|p| p.file_name()).collect::<Vec<_>>(),
        t2.iter().map(|p| p.file_name()).collect::<Vec<_>>()
    );
    for (a, b) in t1.iter().zip(&t2) {
        let (la, lb) = (lines(a), lines(b));
        if a.ends_with("audit_log.ndjson") {
            assert_eq!(lb.len(), la.len() + 1);
            assert_eq!(la[..], lb[..la.len()], "audit entries changed");
            let last: Value = serde_json::from_str(lb.last().unwrap()).unwrap();
            assert_eq!(last["action"], "data_import");
            let first: Value = serde_json::from_str(la.last().unwrap()).unwrap();
            assert_eq!(last["prev_hash"], first["hash"], "import entry not chained");
        } else {
            assert_eq!(la, lb, "{} differs after the round trip", a.display());
        }
    }
    let m2: Value =
        serde_json::from_slice(&std::fs::read(ex2.join("airlock-export.json")).unwrap()).unwrap();
    assert_eq!(m2["blobs"], manifest["blobs"]);

    // the server on the imported folder serves the same
    let mut s2 = Server::start_on(
        &data2,
        &[
            "--database",
            "local",
            "--upstream",
            &up.simple_url(),
            "--policies",
            p(policies.path()),
        ],
    );
    let after = observe(&s2);
    assert_eq!(before, after);
    // the audit log verifies through the server, the import entry in it
    let log = audit_log(&s2);
    let entries = log["result"].as_array().unwrap();
    let imported = entries
        .iter()
        .position(|e| e["action"] == "data_import")
        .expect("the import is in the audit log");
    assert_eq!(
        entries[imported]["details"]["export_audit_head"],
        manifest["audit_head"]
    );
    let verify = get_json(&s2, "/+audit/verify", root());
    assert_eq!(verify["ok"], true, "{verify}");
    s2.stop();

    // with the mirror caches too: root/pypi's page and file cached first
    let mirrored = s.url("/root/pypi/+simple/acme-billing/");
    let page: Value = client()
        .get(&mirrored)
        .header("Accept", JSON)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let file = reqwest::Url::parse(&mirrored)
        .unwrap()
        .join(page["files"][0]["url"].as_str().unwrap())
        .unwrap();
    let mirror_sha = sha256_hex(&client().get(file).send().unwrap().bytes().unwrap());
    let (ex3, data3) = (tmp.path().join("export3"), tmp.path().join("data3"));
    let o = airlock_env(
        &[
            "export",
            p(&ex3),
            "--data",
            p(&s.data),
            "--with-mirror-files",
        ],
        &s.command_env(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let pages = lines(&ex3.join("tables/mirror_pages.ndjson"));
    assert!(
        pages.iter().any(|l| l.contains("acme-billing")),
        "{pages:?}"
    );
    let m3: Value =
        serde_json::from_slice(&std::fs::read(ex3.join("airlock-export.json")).unwrap()).unwrap();
    assert_eq!(m3["with_mirror_files"], true);
    assert!(ex3
        .join("files")
        .join(&mirror_sha[..2])
        .join(&mirror_sha[2..4])
        .join(&mirror_sha)
        .is_file());
    let o = import(&ex3, &data3);
    assert!(o.status.success(), "{}", text(&o));
    assert!(data3
        .join("blobs")
        .join(&mirror_sha[..2])
        .join(&mirror_sha[2..4])
        .join(&mirror_sha)
        .is_file());
    let mut s3 = Server::start_on(
        &data3,
        &["--database", "local", "--upstream", &up.simple_url()],
    );
    assert_eq!(before["simple root/dev/acme-billing"], observe_simple(&s3));
    s3.stop();
}

fn observe_simple(s: &Server) -> Value {
    let page: Value = client()
        .get(s.url("/root/dev/+simple/acme-billing/"))
        .header("Accept", JSON)
        .send()
        .unwrap()
        .json()
        .unwrap();
    json!(page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["filename"], f["hashes"]["sha256"]]))
        .collect::<Vec<_>>())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Rewrite one table's file with `edit` and fix up the manifest's digest
/// (so that the check under test, not the table digest, must catch it).
fn edit_table(dir: &Path, table: &str, edit: impl FnOnce(Vec<String>) -> Vec<String>) {
    let path = dir.join("tables").join(format!("{table}.ndjson"));
    let mut text = edit(lines(&path)).join("\n");
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    edit_manifest(dir, |m| {
        for t in m["tables"].as_array_mut().unwrap() {
            if t["name"] == table {
                t["sha256"] = json!(sha256_hex(text.as_bytes()));
            }
        }
    });
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("airlock-export.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Import `dir` into a new folder and into an existing empty one: refused
/// with a message containing `expect`, nothing left behind.
fn refused(dir: &Path, expect: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("new");
    let o = import(dir, &absent);
    assert!(!o.status.success(), "imported: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(expect), "expected {expect:?}: {}", text(&o));
    assert!(!absent.exists(), "a partial data folder was left behind");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = import(dir, &empty);
    assert!(!o.status.success(), "imported: {}", text(&o));
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "files left behind"
    );
}

#[test]
fn hostile_exports_are_refused_and_leave_nothing() {
    let s = Server::start();
    let (n, b) = wheel("victim", "1.0", "victim");
    let sha = sha256_hex(&b);
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    export_env(&s.data, &good, &s.command_env());
    let case = |name: &str| {
        let d = tmp.path().join(name);
        copy_dir(&good, &d);
        d
    };

    // the untouched export imports
    let ok = tmp.path().join("ok-data");
    let o = import(&case("control"), &ok);
    assert!(o.status.success(), "{}", text(&o));

    // a tampered blob
    let d = case("blob");
    let blob = d.join("files").join(&sha[..2]).join(&sha[2..4]).join(&sha);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    refused(&d, "hashes to");

    // a tampered audit entry (table digest fixed up: the chain must catch it)
    let d = case("audit");
    edit_table(&d, "audit_log", |mut l| {
        let mut e: Value = serde_json::from_str(&l[0]).unwrap();
        e["target"] = json!("somewhere/else");
        l[0] = e.to_string();
        l
    });
    refused(&d, "audit chain is broken");

    // an audit entry removed
    let d = case("audit-cut");
    edit_table(&d, "audit_log", |mut l| {
        l.remove(0);
        l
    });
    refused(&d, "audit chain is broken");

    // a table changed without fixing the manifest
    let d = case("digest");
    let users = d.join("tables/users.ndjson");
    let mut t = std::fs::read_to_string(&users).unwrap();
    t = t.replacen("{", "{ ", 1);
    std::fs::write(&users, t).unwrap();
    refused(&d, "the manifest says");

    // path traversal in a file name, absolute path, NUL
    for (i, bad) in ["../../evil.whl", "/etc/passwd", "a\u{0}b.whl"]
        .iter()
        .enumerate()
    {
        let d = case(&format!("traversal{i}"));
        edit_table(&d, "files", |mut l| {
            let mut e: Value = serde_json::from_str(&l[0]).unwrap();
            e["filename"] = json!(bad);
            l[0] = e.to_string();
            l
        });
        refused(&d, "is not a safe name");
    }

    // a stray file (a symlink out of the export) in files/
    let d = case("symlink");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", d.join("files").join("passwd")).unwrap();
    #[cfg(unix)]
    refused(&d, "does not belong");

    // an unknown format version
    let d = case("version");
    edit_manifest(&d, |m| m["format_version"] = json!(2));
    refused(&d, "format_version is 2");

    // duplicate keys: a user twice, a field twice
    let d = case("dup");
    edit_table(&d, "users", |mut l| {
        l.push(l[0].clone());
        l
    });
    refused(&d, "duplicate key");
    let d = case("dupfield");
    edit_table(&d, "users", |mut l| {
        l[0] = l[0].replacen("{", "{\"email\":null,", 1);
        l
    });
    refused(&d, "appears twice");

    // malformed: a string where an integer belongs, an unknown field
    let d = case("type");
    edit_table(&d, "users", |mut l| {
        let mut e: Value = serde_json::from_str(&l[0]).unwrap();
        e["created"] = json!("yesterday");
        l[0] = e.to_string();
        l
    });
    refused(&d, "not an integer");
    let d = case("field");
    edit_table(&d, "users", |mut l| {
        let mut e: Value = serde_json::from_str(&l[0]).unwrap();
        e["is_admin"] = json!(true);
        l[0] = e.to_string();
        l
    });
    refused(&d, "unknown field");

    // never into a live data folder: refused, nothing written
    let files_before = s.data_files();
    let o = import(&good, &s.data);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing was written"),
        "{}",
        text(&o)
    );
    assert_eq!(files_before, s.data_files());
    // nor over the folder just imported
    let o = import(&good, &ok);
    assert!(!o.status.success(), "{}", text(&o));
    // and export only into an empty folder
    let o = airlock_env(
        &["export", p(&good), "--data", p(&s.data)],
        &s.command_env(),
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not empty"));
}
