//! `airlock store migrate`: a single-node data folder copied into a real
//! PostgreSQL (tests/common/pg.rs) and a real S3 protocol server
//! (tests/common/s3.rs), then served from there by a node with a new data
//! folder: the same pages, hashes and bytes, the same users, one audit
//! chain with the migration on it, and new writes that do not collide with
//! the imported ids. A target in use and a source with an altered blob are
//! refused with nothing committed. The other way: a running cluster
//! exported, backed up (and restored on one machine) and its audit chain
//! verified from a node's data folder; an object altered in the bucket
//! fails both, leaving nothing.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::process::Command;

use common::pg::PgCluster;
use common::{client, create_index, create_user, strings, upload, wheel, Server};
use s3::S3Server;
use serde_json::Value;

const ALICE: (&str, &str) = ("alice", "alice-pw");

fn files(s: &Server, project: &str) -> Vec<(String, String)> {
    let mut out = common::files_on(s, "alice/dev", project);
    out.sort();
    out
}

fn migrate(
    data: &std::path::Path,
    pg: &PgCluster,
    url: &str,
    s3: &S3Server,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["store", "migrate", "--from"])
        .arg(data)
        .args(["--to-database", url, "--to-blobs", &s3.blobs_url("moved")])
        .env("AIRLOCK_DATABASE_PASSWORD", pg.password())
        .envs(s3.env())
        .output()
        .unwrap()
}

/// Alice, her index and three releases of moving-parts on `s`: the
/// wheels uploaded.
fn with_three_releases(s: &Server) -> Vec<(String, Vec<u8>)> {
    create_user(s, ALICE.0, ALICE.1);
    create_index(
        s,
        "alice/dev",
        ALICE,
        serde_json::json!({"type": "stage", "bases": [], "volatile": false}),
    );
    let mut uploaded = Vec::new();
    for v in ["1.0", "1.1", "2.0"] {
        let (name, bytes) = wheel("moving_parts", v, "moving_parts");
        let r = upload(s, "alice/dev", Some(ALICE), &name, bytes.clone(), &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        uploaded.push((name, bytes));
    }
    uploaded
}

/// The bytes of `name` as `s` serves it from alice/dev (`bytes`: what was
/// uploaded, for its digest).
fn download(s: &Server, name: &str, bytes: &[u8]) -> Vec<u8> {
    let hex = common::sha256_hex(bytes);
    let got = client()
        .get(s.url(&format!(
            "/alice/dev/+f/{}/{}/{name}",
            &hex[..3],
            &hex[3..16]
        )))
        .send()
        .unwrap();
    assert_eq!(got.status(), 200, "{name}");
    got.bytes().unwrap().to_vec()
}

fn same_bytes(s: &Server, uploaded: &[(String, Vec<u8>)]) {
    for (name, bytes) in uploaded {
        assert_eq!(download(s, name, bytes), *bytes, "{name}");
    }
}

/// A stopped single-node server with alice, her index and three releases.
fn single_node() -> (Server, Vec<(String, Vec<u8>)>) {
    let mut s = Server::start_with(&["--database", "local"]);
    let uploaded = with_three_releases(&s);
    s.stop();
    (s, uploaded)
}

#[test]
fn a_single_node_folder_moves_into_postgresql_and_a_bucket() {
    let (mut old, uploaded) = single_node();
    old.restart();
    let before = files(&old, "moving-parts");
    assert_eq!(before.len(), 3);
    old.stop();

    let pg = PgCluster::start();
    let url = pg.create_database("airlock");
    let s3 = S3Server::start();
    let out = migrate(&old.data, &pg, &url, &s3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("audit chain intact"), "{stdout}");
    // the password is not in what it prints
    assert!(!stdout.contains(pg.password()), "{stdout}");
    // the typosquat index of private names is built: nothing left for the
    // first node to catch up on at start
    let typo = pg.psql(
        "airlock",
        "SELECT (SELECT count(*) FROM typo_queue), (SELECT keys_version FROM typo_index_state),
                (SELECT count(*) FROM typo_names)",
    );
    assert_eq!(
        typo.trim(),
        "0|1|1",
        "queue, key version, names stored: {typo}"
    );

    // a node with a new, empty data folder serves it all from there
    let blobs = s3.blobs_url("moved");
    let mut env = s3.env();
    env.push(("AIRLOCK_DATABASE_PASSWORD", pg.password()));
    let node = Server::start_with_env(&["--database", &url, "--blobs", &blobs], &env);
    assert_eq!(files(&node, "moving-parts"), before);
    same_bytes(&node, &uploaded);
    // alice's password, and new rows after the imported ids
    let (name, bytes) = wheel("moving_parts", "3.0", "moving_parts");
    let r = upload(&node, "alice/dev", Some(ALICE), &name, bytes, &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    create_user(&node, "bob", "bob-pw");
    assert_eq!(files(&node, "moving-parts").len(), 4);
    // one chain: the old entries, the migration, the new ones
    let v: Value = client()
        .get(node.url("/+audit/verify"))
        .basic_auth("root", Some(common::ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let log = common::audit_log(&node);
    let actions: Vec<&str> = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"data_import"), "{actions:?}");
    assert!(
        actions.iter().filter(|a| **a == "upload").count() >= 4,
        "{actions:?}"
    );

    // the same database again: refused, nothing added
    let again = migrate(&old.data, &pg, &url, &s3);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("new, empty database"), "{err}");
    assert_eq!(files(&node, "moving-parts").len(), 4);
}

#[test]
fn an_altered_blob_stops_the_migration_before_anything_is_committed() {
    let (old, uploaded) = single_node();
    let hex = common::sha256_hex(&uploaded[0].1);
    let blob = old
        .data
        .join("blobs")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let pg = PgCluster::start();
    let url = pg.create_database("airlock");
    let s3 = S3Server::start();
    let out = migrate(&old.data, &pg, &url, &s3);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&hex[..12]), "names the blob: {err}");
    // the export re-hashes every blob first: the database was not touched
    let tables = pg.psql(
        "airlock",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(tables.trim(), "0", "tables created: {tables}");
}

/// `airlock` with the credentials of `pg` and `s3` in its environment.
fn airlock_with(pg: &PgCluster, s3: &S3Server, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("AIRLOCK_DATABASE_PASSWORD", pg.password())
        .envs(s3.env())
        .output()
        .unwrap()
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// A node on PostgreSQL + S3 with alice, her index and three releases.
fn cluster_node(pg: &PgCluster, url: &str, s3: &S3Server) -> (Server, Vec<(String, Vec<u8>)>) {
    let blobs = s3.blobs_url("cluster");
    let mut env = s3.env();
    env.push(("AIRLOCK_DATABASE_PASSWORD", pg.password()));
    let s = Server::start_with_env(&["--database", url, "--blobs", &blobs], &env);
    let uploaded = with_three_releases(&s);
    (s, uploaded)
}

#[test]
fn a_running_cluster_is_exported_backed_up_and_audited_from_a_nodes_folder() {
    let pg = PgCluster::start();
    let url = pg.create_database("airlock");
    let s3 = S3Server::start();
    let (node, uploaded) = cluster_node(&pg, &url, &s3);
    let before = files(&node, "moving-parts");
    assert_eq!(before.len(), 3);
    let work = tempfile::tempdir().unwrap();
    let data = node.data.as_os_str();

    // without the credentials: a message that says where they go
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["fsck", "--data"])
        .arg(&node.data)
        .env_remove("AIRLOCK_DATABASE_PASSWORD")
        .env_remove("AIRLOCK_DATABASE_PASSWORD_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AIRLOCK_DATABASE_PASSWORD"), "{err}");

    // the offline audit check reads the cluster's chain
    let audit = airlock_with(&pg, &s3, &[os("audit"), os("verify"), os("--data"), data]);
    assert!(audit.status.success(), "{audit:?}");
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("audit log intact"),
        "{audit:?}"
    );

    // export while the node serves: every blob downloaded and re-hashed
    let dump = work.path().join("dump");
    let out = airlock_with(
        &pg,
        &s3,
        &[os("export"), dump.as_os_str(), os("--data"), data],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // three wheels and their core metadata files
    assert!(stdout.contains("6 blobs"), "{stdout}");
    assert!(!stdout.contains(pg.password()), "{stdout}");
    // ... and imported into one machine's folder, it serves the same
    let single = work.path().join("single");
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["import"])
        .arg(&dump)
        .arg("--data")
        .arg(&single)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut one = Server::start_on(&single, &["--database", "local"]);
    assert_eq!(files(&one, "moving-parts"), before);
    same_bytes(&one, &uploaded);
    one.stop();

    // a backup while the node serves, restored on one machine
    let backup = work.path().join("backup");
    let out = airlock_with(
        &pg,
        &s3,
        &[os("backup"), backup.as_os_str(), os("--data"), data],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verified: 6 blobs"),
        "{out:?}"
    );
    assert!(
        !std::fs::read_dir(work.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".airlock-backup")),
        "the work folder is removed"
    );
    let restored = work.path().join("restored");
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["restore"])
        .arg(&backup)
        .arg("--data")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut back = Server::start_on(&restored, &["--database", "local"]);
    assert_eq!(files(&back, "moving-parts"), before);
    same_bytes(&back, &uploaded);
    let actions: Vec<String> = common::audit_log(&back)["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "upload").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(actions.last().map(String::as_str), Some("data_import"));
    back.stop();

    // the node kept serving throughout, and nothing was written to its folder
    assert_eq!(files(&node, "moving-parts"), before);
    let entries: Vec<String> = std::fs::read_dir(&node.data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !entries.iter().any(|e| e == "airlock.sqlite3"),
        "{entries:?}"
    );
}

#[test]
fn an_object_altered_in_the_bucket_fails_the_export_and_the_backup_leaving_nothing() {
    let pg = PgCluster::start();
    let url = pg.create_database("airlock");
    let s3 = S3Server::start();
    let (node, uploaded) = cluster_node(&pg, &url, &s3);
    let hex = common::sha256_hex(&uploaded[1].1);
    let object = s3.object_file("cluster", &hex);
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();

    let work = tempfile::tempdir().unwrap();
    let data = node.data.as_os_str();
    for command in ["export", "backup"] {
        let dest = work.path().join(command);
        let out = airlock_with(
            &pg,
            &s3,
            &[os(command), dest.as_os_str(), os("--data"), data],
        );
        assert!(!out.status.success(), "{command}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&hex[..12]), "{command} names the blob: {err}");
        assert!(!dest.exists(), "{command} left {}", dest.display());
    }
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

fn cluster_fsck(
    pg: &PgCluster,
    s3: &S3Server,
    data: &std::path::Path,
    extra: &[&str],
) -> (bool, Value) {
    let mut args = vec![os("fsck"), os("--data"), data.as_os_str(), os("--json")];
    args.extend(extra.iter().map(|a| os(a)));
    let out = airlock_with(pg, s3, &args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out.status.success(), v)
}

#[test]
fn fsck_of_a_cluster_finds_every_planted_fault_and_repair_removes_only_the_orphan() {
    let pg = PgCluster::start();
    let url = pg.create_database("airlock");
    let s3 = S3Server::start();
    let (node, uploaded) = cluster_node(&pg, &url, &s3);
    let data = node.data.clone();

    let (clean, report) = cluster_fsck(&pg, &s3, &data, &[]);
    assert!(clean, "a fresh cluster is sound: {report:#}");
    assert_eq!(
        report["blobs"], 6,
        "three wheels, their metadata: {report:#}"
    );
    assert_eq!(report["metadata_checked"], 3, "{report:#}");
    assert!(report["audit_entries"].as_u64().unwrap() >= 5, "{report:#}");

    // deleted object
    let sha_a = common::sha256_hex(&uploaded[0].1);
    std::fs::remove_file(s3.object_file("cluster", &sha_a)).unwrap();
    // altered object
    let sha_b = common::sha256_hex(&uploaded[1].1);
    let pb = s3.object_file("cluster", &sha_b);
    let mut bytes = std::fs::read(&pb).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&pb, &bytes).unwrap();
    // an old orphan and a fresh one
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let old = b"nothing refers to this".to_vec();
    let old_sha = common::sha256_hex(&old);
    let po = s3.object_file("cluster", &old_sha);
    std::fs::create_dir_all(po.parent().unwrap()).unwrap();
    std::fs::write(&po, &old).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&po)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let fresh = b"just written".to_vec();
    let fresh_sha = common::sha256_hex(&fresh);
    let pf = s3.object_file("cluster", &fresh_sha);
    std::fs::create_dir_all(pf.parent().unwrap()).unwrap();
    std::fs::write(&pf, &fresh).unwrap();
    // an object whose key is no blob's (reported, never removed)
    let stray = po.ancestors().nth(3).unwrap().join("notes.txt");
    std::fs::write(&stray, b"left here by hand").unwrap();
    // an edited audit row (the append-only trigger disabled first)
    pg.psql(
        "airlock",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
         UPDATE audit_log SET actor = 'mallory' WHERE seq = (SELECT max(seq) FROM audit_log);
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;",
    );

    let (clean, r) = cluster_fsck(&pg, &s3, &data, &[]);
    assert!(!clean, "{r:#}");
    let missing = strings(&r["missing"]);
    assert_eq!(missing.len(), 1, "{r:#}");
    assert!(
        missing[0].starts_with("files.sha256") && missing[0].contains(&sha_a),
        "{r:#}"
    );
    let corrupt = strings(&r["corrupt"]);
    assert_eq!(corrupt.len(), 1, "{r:#}");
    assert!(corrupt[0].contains(&sha_b), "{r:#}");
    let orphans = strings(&r["orphans"]);
    assert_eq!(orphans.len(), 1, "{r:#}");
    assert!(orphans[0].contains(&old_sha), "{r:#}");
    let recent = strings(&r["recent_unreferenced"]);
    assert_eq!(recent.len(), 1, "{r:#}");
    assert!(recent[0].contains(&fresh_sha), "{r:#}");
    assert!(!strings(&r["audit_problems"]).is_empty(), "{r:#}");
    let strays = strings(&r["stray"]);
    assert_eq!(strays.len(), 1, "{r:#}");
    assert!(strays[0].contains("notes.txt"), "{r:#}");

    // --repair: only the old orphan goes
    let (clean, r) = cluster_fsck(&pg, &s3, &data, &["--repair"]);
    assert!(!clean, "what repair cannot fix is still reported: {r:#}");
    assert_eq!(r["orphans_removed"], 1, "{r:#}");
    assert!(!po.exists(), "the old orphan is removed");
    assert!(pf.exists(), "a fresh unreferenced object is kept");
    assert!(pb.exists(), "an altered but referenced object is kept");
    assert!(stray.exists(), "a stray object is kept");
    for (_, bytes) in &uploaded[1..] {
        let sha = common::sha256_hex(bytes);
        assert!(
            s3.object_file("cluster", &sha).exists(),
            "{sha} was removed"
        );
    }
    assert_eq!(strings(&r["missing"]).len(), 1, "{r:#}");
    assert_eq!(strings(&r["corrupt"]).len(), 1, "{r:#}");
    assert!(strings(&r["orphans"]).is_empty(), "{r:#}");
    // the node still serves the sound file
    same_bytes(&node, &uploaded[2..]);
}
