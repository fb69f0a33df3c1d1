//! The audit log against the real server: changes and refusals are
//! recorded with who, from where and what; the chain verifies through the
//! API and straight from the data folder, and every kind of tampering with
//! the SQLite file is detected and named.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use serde_json::{json, Value};

fn airlock(args: &[&str], config_dir: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("AIRLOCK_CLIENT_CONFIG", config_dir.join("client.json"))
        .env_remove("AIRLOCK_URL")
        .output()
        .expect("run airlock")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// `audit verify --data` found the chain broken (exit 1) and printed
/// `sentence` for the tampering `what`.
fn broken(out: &Output, what: &str, sentence: &str) {
    assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
    let text = stdout(out);
    assert!(text.contains("BROKEN"), "{what}: {text}");
    assert!(
        text.contains(sentence),
        "{what}: expected {sentence:?} in {text}"
    );
}

/// The one entry with `action` and `target`.
fn entry<'a>(log: &'a Value, action: &str, target: &str) -> &'a Value {
    let found: Vec<&Value> = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action && e["target"] == target)
        .collect();
    assert_eq!(found.len(), 1, "{action} {target} in {log:#}");
    found[0]
}

fn assert_from_loopback(e: &Value) {
    let remote = e["remote"].as_str().unwrap_or_default();
    assert!(remote.starts_with("127.0.0.1:"), "remote {remote:?} in {e}");
}

/// A copy of the (stopped) server's data folder.
fn copy_data(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
    to.to_path_buf()
}

/// Open a copy's database the way an attacker with file access would:
/// drop the append-only triggers first.
fn tamper(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("airlock.sqlite3")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn actions_are_recorded_and_tampering_is_detected() {
    let work = tempfile::tempdir().unwrap();
    let jsonl = work.path().join("audit.jsonl");
    let mut s = Server::start_with(&["--audit-jsonl", jsonl.to_str().unwrap()]);

    // an upload
    let (wn, wb) = wheel("demo_pkg", "1.0", "demo-pkg");
    assert_eq!(
        upload(&s, "root/dev", root(), &wn, wb.clone(), &[]).status(),
        200
    );
    // an index change
    create_index(
        &s,
        "root/staging",
        ("root", ROOT_PW),
        json!({"volatile": true}),
    );
    let r = client()
        .patch(s.url("/root/staging"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!(["volatile=False"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // a user and a typosquat rule
    create_user(&s, "alice", "alice-pw");
    let r = client()
        .put(s.url("/root/dev/+typo/flaskk"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({"verdict": "deny"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // a typosquat upload and install, both refused
    let (tn, tb) = wheel("reqeusts", "1.0", "reqeusts");
    let r = upload(&s, "root/dev", root(), &tn, tb, &[]);
    assert_eq!(r.status(), 403, "{}", r.text().unwrap());
    let r = client()
        .get(s.url("/root/dev/+simple/reqeusts/"))
        .send()
        .unwrap();
    // (a 400 with the reason for clients other than pip: see server/simple.rs)
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("looks like a typo"));
    // a deletion
    let r = client()
        .delete(s.url("/root/dev/demo-pkg/1.0"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());

    let log = audit_log(&s);
    assert_eq!(log["type"], "list:auditentry");

    let up = entry(&log, "upload", &format!("root/dev/demo-pkg/1.0/{wn}"));
    assert_eq!(up["actor"], "root");
    assert_from_loopback(up);
    assert_eq!(up["details"]["sha256"], sha256_hex(&wb));
    assert_eq!(up["details"]["size"], wb.len());
    assert!(up["time"].as_i64().unwrap() > 1_600_000_000);

    let created = entry(&log, "index_create", "root/staging");
    assert_eq!(created["actor"], "root");
    assert_eq!(created["details"]["config"]["volatile"], true);
    let modified = entry(&log, "index_modify", "root/staging");
    assert_eq!(modified["actor"], "root");
    assert_from_loopback(modified);
    assert_eq!(modified["details"]["before"]["volatile"], true);
    assert_eq!(modified["details"]["after"]["volatile"], false);

    let user = entry(&log, "user_create", "alice");
    assert_eq!(user["actor"], "root");
    let rule = entry(&log, "typo_deny", "root/dev/flaskk");
    assert_eq!(rule["details"]["verdict"], "deny");

    let blocked_up = entry(&log, "blocked_upload", "root/dev/reqeusts");
    assert_eq!(blocked_up["actor"], "root");
    assert_from_loopback(blocked_up);
    assert_eq!(blocked_up["details"]["looks_like"], "requests");
    let blocked_in = entry(&log, "blocked_install", "root/dev/reqeusts");
    assert_eq!(blocked_in["actor"], Value::Null, "installs are anonymous");
    assert_from_loopback(blocked_in);
    assert!(blocked_in["details"]["reason"].as_str().unwrap().len() > 5);

    let del = entry(&log, "delete", "root/dev/demo-pkg/1.0");
    assert_eq!(del["actor"], "root");
    assert_eq!(
        del["details"]["deleted"]["files"][0]["filename"],
        wn.as_str()
    );
    assert_eq!(
        del["details"]["deleted"]["files"][0]["sha256"],
        sha256_hex(&wb)
    );

    // the chain links, the head is the last entry
    let entries = log["result"].as_array().unwrap();
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64(),
            pair[0]["seq"].as_i64().map(|s| s + 1)
        );
    }
    let head = &log["head"];
    assert_eq!(head["seq"], entries.last().unwrap()["seq"]);
    assert_eq!(head["hash"], entries.last().unwrap()["hash"]);
    let since: Value = client()
        .get(s.url(&format!(
            "/+audit?since={}",
            head["seq"].as_i64().unwrap() - 2
        )))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(since["result"].as_array().unwrap().len(), 2);

    // root only
    for (who, status) in [(None, 401), (Some(("alice", "alice-pw")), 403)] {
        for path in ["/+audit", "/+audit/verify"] {
            let mut req = client().get(s.url(path));
            if let Some((u, p)) = who {
                req = req.basic_auth(u, Some(p));
            }
            assert_eq!(req.send().unwrap().status(), status, "{path} as {who:?}");
        }
    }

    // intact, through the API and the CLI
    let report: Value = client()
        .get(s.url("/+audit/verify"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries"], entries.len());
    assert_eq!(report["problems"], json!([]));
    let cli = ["--url", &s.base, "--user", "root", "--password", ROOT_PW];
    let out = airlock(&[&["audit", "verify"][..], &cli].concat(), work.path());
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("intact"), "{out:?}");
    let out = airlock(&[&["audit", "head"][..], &cli].concat(), work.path());
    assert!(out.status.success(), "{out:?}");
    let anchor = stdout(&out).trim().to_string();
    assert_eq!(
        anchor,
        format!("{}:{}", head["seq"], head["hash"].as_str().unwrap())
    );
    let out = airlock(
        &[&["audit", "export", "--since", "1"][..], &cli].concat(),
        work.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out).lines().count(), entries.len() - 1);

    s.stop();

    // the JSON-lines export holds every entry once, in order
    let exported: Vec<i64> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(exported, (1..=entries.len() as i64).collect::<Vec<_>>());

    // (on PostgreSQL the data folder names the database; the command gets
    // its password as a node does)
    let db_env = s.command_env();
    let verify_data = |dir: &Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["audit", "verify", "--data", dir.to_str().unwrap()])
            .args(extra)
            .env("AIRLOCK_CLIENT_CONFIG", work.path().join("client.json"))
            .env_remove("AIRLOCK_URL")
            .envs(db_env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run airlock")
    };
    let out = verify_data(&s.data, &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("intact"), "{out:?}");
    let out = verify_data(&s.data, &["--anchor", &anchor]);
    assert!(out.status.success(), "{out:?}");

    // Each tampering on its own copy: (what, SQL, sentence that must be printed).
    let up_seq = up["seq"].as_i64().unwrap();
    let del_seq = del["seq"].as_i64().unwrap();
    let rule_seq = rule["seq"].as_i64().unwrap();
    let last = head["seq"].as_i64().unwrap();
    let cases = [
        (
            "edit a detail",
            format!(
                "UPDATE audit_log SET details = replace(details, '{}', '{}') WHERE seq = {up_seq}",
                sha256_hex(&wb),
                "0".repeat(64)
            ),
            format!("entry {up_seq} was modified"),
        ),
        (
            "delete a row",
            format!("DELETE FROM audit_log WHERE seq = {rule_seq}"),
            format!("entry {rule_seq} is missing"),
        ),
        (
            "swap two rows' content",
            format!(
                "CREATE TEMP TABLE a AS SELECT * FROM audit_log WHERE seq = {up_seq};
                 CREATE TEMP TABLE b AS SELECT * FROM audit_log WHERE seq = {del_seq};
                 UPDATE audit_log SET (time, actor, cert_fingerprint, remote, action, target, details, prev_hash, hash) =
                   (SELECT time, actor, cert_fingerprint, remote, action, target, details, prev_hash, hash FROM b)
                   WHERE seq = {up_seq};
                 UPDATE audit_log SET (time, actor, cert_fingerprint, remote, action, target, details, prev_hash, hash) =
                   (SELECT time, actor, cert_fingerprint, remote, action, target, details, prev_hash, hash FROM a)
                   WHERE seq = {del_seq};"
            ),
            format!("entry {up_seq} was modified"),
        ),
    ];
    if common::on_postgres() {
        // The metadata is in PostgreSQL: whoever can write to the database
        // (dropping the append-only trigger first) is caught by the server's
        // own check and by the offline check of a node's data folder.
        let (what, sql, sentence) = &cases[0];
        s.exec_sql(&format!(
            "DROP TRIGGER audit_log_append_only ON audit_log; {sql}"
        ));
        s.restart();
        let report: Value = client()
            .get(s.url("/+audit/verify"))
            .basic_auth("root", Some(ROOT_PW))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(report["ok"], false, "{what}: {report}");
        assert!(
            report["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p.as_str().unwrap().contains(sentence.as_str())),
            "{what}: expected {sentence:?} in {report}"
        );
        broken(&verify_data(&s.data, &[]), what, sentence);
        return;
    }
    for (i, (what, sql, sentence)) in cases.iter().enumerate() {
        let dir = copy_data(&s.data, &work.path().join(format!("tampered-{i}")));
        tamper(&dir, sql);
        broken(&verify_data(&dir, &[]), what, sentence);
    }

    // Cutting the newest entry leaves a consistent chain: only the anchor shows it.
    let dir = copy_data(&s.data, &work.path().join("truncated"));
    tamper(&dir, &format!("DELETE FROM audit_log WHERE seq = {last}"));
    assert!(
        verify_data(&dir, &[]).status.success(),
        "no anchor, no proof"
    );
    let out = verify_data(&dir, &["--anchor", &anchor]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("entry {last} does not match the anchored hash")),
        "{out:?}"
    );

    // the untouched data folder still verifies, and its server starts again
    assert!(verify_data(&s.data, &[]).status.success());
    s.restart();
    let report: Value = client()
        .get(s.url("/+audit/verify"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
}

#[test]
fn a_bad_anchor_or_data_folder_is_explained() {
    let work = tempfile::tempdir().unwrap();
    let out = airlock(
        &[
            "audit",
            "verify",
            "--data",
            "/nonexistent",
            "--anchor",
            "12:zz",
        ],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SEQ:HASH"),
        "{out:?}"
    );
    let out = airlock(
        &["audit", "verify", "--data", work.path().to_str().unwrap()],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is this an airlock data folder"),
        "{out:?}"
    );
}
