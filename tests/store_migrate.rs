//! `airlock store migrate`: a single-node data folder copied into a real
//! PostgreSQL (tests/common/pg.rs) and a real S3 protocol server
//! (tests/common/s3.rs), then served from there by a node with a new data
//! folder: the same pages, hashes and bytes, the same users, one audit
//! chain with the migration on it, and new writes that do not collide with
//! the imported ids. A target in use and a source with an altered blob are
//! refused with nothing committed.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::process::Command;

use common::pg::PgCluster;
use common::{client, create_index, create_user, upload, wheel, Server};
use s3::S3Server;
use serde_json::Value;

const ALICE: (&str, &str) = ("alice", "alice-pw");
const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn files(s: &Server, project: &str) -> Vec<(String, String)> {
    let v: Value = client()
        .get(s.url(&format!("/alice/dev/+simple/{project}/")))
        .header("accept", JSON)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut out: Vec<(String, String)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap().to_string(),
                f["hashes"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
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

/// A stopped single-node server with alice, her index and three releases.
fn single_node() -> (Server, Vec<(String, Vec<u8>)>) {
    let mut s = Server::start_with(&["--database", "local"]);
    create_user(&s, ALICE.0, ALICE.1);
    create_index(
        &s,
        "alice/dev",
        ALICE,
        serde_json::json!({"type": "stage", "bases": [], "volatile": false}),
    );
    let mut uploaded = Vec::new();
    for v in ["1.0", "1.1", "2.0"] {
        let (name, bytes) = wheel("moving_parts", v, "moving_parts");
        let r = upload(&s, "alice/dev", Some(ALICE), &name, bytes.clone(), &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        uploaded.push((name, bytes));
    }
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

    // a node with a new, empty data folder serves it all from there
    let blobs = s3.blobs_url("moved");
    let mut env = s3.env();
    env.push(("AIRLOCK_DATABASE_PASSWORD", pg.password()));
    let node = Server::start_with_env(&["--database", &url, "--blobs", &blobs], &env);
    assert_eq!(files(&node, "moving-parts"), before);
    for (name, bytes) in &uploaded {
        let hex = common::sha256_hex(bytes);
        let got = client()
            .get(node.url(&format!(
                "/alice/dev/+f/{}/{}/{name}",
                &hex[..3],
                &hex[3..16]
            )))
            .send()
            .unwrap();
        assert_eq!(got.status(), 200, "{name}");
        assert_eq!(&got.bytes().unwrap()[..], &bytes[..], "{name}");
    }
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
