//! Several airlock nodes on one PostgreSQL database and one S3 bucket
//! (issue 20): the real binary three times, a private PostgreSQL cluster
//! (tests/common/pg.rs) and a real S3 protocol server (tests/common/s3.rs),
//! all on loopback. What one node acknowledged, every node shows at once;
//! conflicts are decided by the database; one upstream fetch for a file
//! however many nodes are asked for it; one audit chain; a login token from
//! one node is good on every node; a node killed by SIGKILL mid-upload or
//! mid-push leaves nothing half done.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;
#[path = "common/s3.rs"]
mod s3;

use std::process::Command;
use std::time::Duration;

use common::pg::PgCluster;
use common::{client, create_index, create_user, upload, wheel, Server};
use fake_upstream::{payload, Dist, FakeUpstream};
use s3::S3Server;
use serde_json::{json, Value};

const JSON: &str = "application/vnd.pypi.simple.v1+json";
const ALICE: (&str, &str) = ("alice", "alice-pw");

struct Cluster {
    nodes: Vec<Server>,
    // dropped after the nodes: they stop first
    _s3: S3Server,
    _pg: PgCluster,
}

impl Cluster {
    fn start(n: usize, extra: &[&str]) -> Self {
        let pg = PgCluster::start();
        let url = pg.create_database("airlock");
        let s3 = S3Server::start();
        let blobs = s3.blobs_url("cluster");
        let mut env = s3.env();
        env.push(("AIRLOCK_DATABASE_PASSWORD", pg.password()));
        let mut args = vec!["--database", url.as_str(), "--blobs", blobs.as_str()];
        args.extend_from_slice(extra);
        let nodes: Vec<Server> = (0..n)
            .map(|_| Server::start_with_env(&args, &env))
            .collect();
        Self {
            nodes,
            _s3: s3,
            _pg: pg,
        }
    }

    fn node(&self, i: usize) -> &Server {
        &self.nodes[i % self.nodes.len()]
    }
}

fn page(s: &Server, index: &str, project: &str) -> reqwest::blocking::Response {
    client()
        .get(s.url(&format!("/{index}/+simple/{project}/")))
        .header("accept", JSON)
        .send()
        .unwrap()
}

fn filenames(s: &Server, index: &str, project: &str) -> Vec<String> {
    common::files_on(s, index, project)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn with_alice(c: &Cluster) {
    create_user(c.node(0), ALICE.0, ALICE.1);
    create_index(
        c.node(0),
        "alice/dev",
        ALICE,
        json!({"type": "stage", "bases": [], "volatile": false}),
    );
}

#[test]
fn what_one_node_acknowledged_every_node_shows_at_once() {
    let c = Cluster::start(3, &[]);
    // a user and an index made on node 0 are there on node 1 and 2 at once
    create_user(c.node(0), ALICE.0, ALICE.1);
    create_index(
        c.node(1),
        "alice/dev",
        ALICE,
        json!({"type": "stage", "bases": [], "volatile": false}),
    );
    for round in 0..12 {
        let writer = c.node(round);
        let version = format!("1.{round}");
        let (name, bytes) = wheel("demo", &version, "demo");
        // read first everywhere, so every node has the page cached
        for i in 0..3 {
            let _ = filenames(c.node(i), "alice/dev", "demo");
        }
        let r = upload(writer, "alice/dev", Some(ALICE), &name, bytes.clone(), &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        for i in 1..3 {
            let reader = c.node(round + i);
            let names = filenames(reader, "alice/dev", "demo");
            assert!(
                names.contains(&name),
                "round {round}: node {} does not show {name} right after node {} acknowledged \
                 it: {names:?}",
                (round + i) % 3,
                round % 3
            );
            // and the bytes, out of the shared bucket, are the upload's
            let v: Value = page(reader, "alice/dev", "demo").json().unwrap();
            let href = v["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["filename"] == name.as_str())
                .unwrap()["url"]
                .as_str()
                .unwrap()
                .to_string();
            let base = reqwest::Url::parse(&reader.url("/alice/dev/+simple/demo/")).unwrap();
            let got = client()
                .get(base.join(&href).unwrap())
                .send()
                .unwrap()
                .bytes()
                .unwrap();
            assert_eq!(
                &got[..],
                &bytes[..],
                "the bytes node {} serves",
                (round + i) % 3
            );
        }
    }
    // an index configuration changed on one node is in force on another at once
    let r = client()
        .patch(c.node(2).url("/alice/dev"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .json(&json!(["volatile=True"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let cfg: Value = client()
        .get(c.node(0).url("/alice/dev"))
        .header("accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["result"]["volatile"], json!(true), "{cfg}");
}

#[test]
fn with_notify_sync_another_nodes_write_arrives_with_its_notification() {
    // --cluster-sync notify: no serial read per request; a node catches up
    // when PostgreSQL's notification arrives (sent at the writer's commit)
    let c = Cluster::start(2, &["--cluster-sync", "notify"]);
    with_alice(&c);
    let mut lags = Vec::new();
    for round in 0..10 {
        let (writer, reader) = (c.node(round), c.node(round + 1));
        let _ = filenames(reader, "alice/dev", "notified");
        let version = format!("2.{round}");
        let (name, bytes) = wheel("notified", &version, "notified");
        let r = upload(writer, "alice/dev", Some(ALICE), &name, bytes, &[]);
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        let acked = std::time::Instant::now();
        loop {
            if filenames(reader, "alice/dev", "notified").contains(&name) {
                lags.push(acked.elapsed());
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(3),
                "round {round}: the other node does not show {name} 3 s after the upload"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    lags.sort();
    eprintln!(
        "notify lag after the acknowledgement: median {:?}, max {:?}",
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    // well inside the 1 s poll that backs the notifications up
    assert!(
        lags[lags.len() / 2] < Duration::from_millis(500),
        "{lags:?}"
    );
}

#[test]
fn the_same_filename_on_two_nodes_at_once_one_wins() {
    let c = Cluster::start(3, &[]);
    with_alice(&c);
    for round in 0..8 {
        let version = format!("2.{round}");
        // two different wheels under one filename
        let (name, first) = wheel("race", &version, "race");
        let (_, second) = common::wheel_with_code("race", &version, "race", b"VALUE = 2\n");
        assert_ne!(first, second);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                upload(
                    c.node(round),
                    "alice/dev",
                    Some(ALICE),
                    &name,
                    first.clone(),
                    &[],
                )
                .status()
                .as_u16()
            });
            let b = scope.spawn(|| {
                upload(
                    c.node(round + 1),
                    "alice/dev",
                    Some(ALICE),
                    &name,
                    second.clone(),
                    &[],
                )
                .status()
                .as_u16()
            });
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(sorted, vec![200, 409], "round {round}: {statuses:?}");
        for i in 0..3 {
            let names = filenames(c.node(i), "alice/dev", "race");
            assert_eq!(
                names.iter().filter(|n| **n == name).count(),
                1,
                "node {i}: {names:?}"
            );
        }
    }
}

#[test]
fn a_login_token_from_one_node_is_good_on_every_node() {
    let c = Cluster::start(3, &[]);
    with_alice(&c);
    let auth = common::login_token(c.node(0), ALICE.0, ALICE.1);
    for i in 0..3 {
        let (name, bytes) = wheel("tok", &format!("3.{i}"), "tok");
        let r = client()
            .post(c.node(i).url("/alice/dev/"))
            .header("X-Devpi-Auth", &auth)
            .multipart(
                reqwest::blocking::multipart::Form::new()
                    .text(":action", "file_upload")
                    .text("name", "tok")
                    .text("version", format!("3.{i}"))
                    .part(
                        "content",
                        reqwest::blocking::multipart::Part::bytes(bytes).file_name(name),
                    ),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "node {i}: {}", r.text().unwrap());
    }
}

#[test]
fn sixty_first_requests_over_three_nodes_fetch_the_file_once() {
    let up = FakeUpstream::start();
    let dist = Dist {
        filename: "demo-1.0-py3-none-any.whl".into(),
        bytes: payload(7, 400 * 1024),
        metadata: Some(common::metadata("demo", "1.0").into_bytes()),
    };
    up.add("demo", dist.clone());
    let url = up.simple_url();
    let c = Cluster::start(
        3,
        &[
            "--upstream",
            url.as_str(),
            "--upstream-timeout",
            "10",
            "--upstream-retries",
            "1",
        ],
    );
    // every node has the page (and so the file's URL) first
    let urls: Vec<String> = (0..3)
        .map(|i| {
            let s = c.node(i);
            let v: Value = page(s, "root/pypi", "demo").json().unwrap();
            let f = v["files"][0]["url"].as_str().unwrap().to_string();
            let base = reqwest::Url::parse(&s.url("/root/pypi/+simple/demo/")).unwrap();
            base.join(&f).unwrap().to_string()
        })
        .collect();
    up.set_chunk_delay(Duration::from_millis(10));
    let bodies: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..60)
            .map(|i| {
                let url = urls[i % 3].clone();
                scope.spawn(move || {
                    let r = client().get(&url).send().unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().unwrap().to_vec()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        bodies.iter().all(|b| *b == dist.bytes),
        "every body is the file"
    );
    assert_eq!(
        up.hits(&format!("/files/{}", dist.filename)),
        1,
        "one upstream download for 60 requests over three nodes"
    );
}

#[test]
fn one_audit_chain_for_concurrent_writes_on_every_node() {
    let c = Cluster::start(3, &[]);
    with_alice(&c);
    std::thread::scope(|scope| {
        for n in 0..3 {
            let c = &c;
            scope.spawn(move || {
                // names nothing else looks like (the typosquat check sees
                // every node's projects)
                let project = ["aurora_ledger", "basalt_queue", "cobalt_sieve"][n];
                for k in 0..5 {
                    let (name, bytes) = wheel(project, &format!("1.{k}"), project);
                    let r = upload(c.node(n), "alice/dev", Some(ALICE), &name, bytes, &[]);
                    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
                }
            });
        }
    });
    for i in 0..3 {
        let v = common::audit_log(c.node(i));
        let entries = v["result"].as_array().cloned().unwrap_or_default();
        let uploads = entries.iter().filter(|e| e["action"] == "upload").count();
        assert_eq!(uploads, 15, "node {i} sees every node's uploads: {v}");
        let r = client()
            .get(c.node(i).url("/+audit/verify"))
            .basic_auth("root", Some(common::ROOT_PW))
            .header("accept", "application/json")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        let verdict: Value = r.json().unwrap();
        assert_eq!(verdict["ok"], json!(true), "node {i}: {verdict}");
    }
}

#[test]
fn postgresql_restarted_under_load_is_a_503_then_recovers_without_restarting_airlock() {
    let c = Cluster::start(2, &[]);
    with_alice(&c);
    let (name, bytes) = wheel("steady", "1.0", "steady");
    assert_eq!(
        upload(c.node(0), "alice/dev", Some(ALICE), &name, bytes, &[]).status(),
        200
    );
    assert!(filenames(c.node(1), "alice/dev", "steady").contains(&name));

    c._pg.stop_now();
    // writes: a clear 503 in bounded time, on every node
    for i in 0..2 {
        let started = std::time::Instant::now();
        let (n, b) = wheel("steady", &format!("2.{i}"), "steady");
        let r = upload(c.node(i), "alice/dev", Some(ALICE), &n, b, &[]);
        let waited = started.elapsed();
        assert_eq!(r.status(), 503, "node {i}");
        let text = r.text().unwrap();
        assert!(text.contains("database"), "node {i}: {text}");
        assert!(waited < Duration::from_secs(30), "node {i}: {waited:?}");
    }
    // reads: what a node has cached is still served
    let r = page(c.node(1), "alice/dev", "steady");
    assert!(
        r.status() == 200 || r.status() == 503,
        "a read answers 200 from the cache or a clear 503, not {}",
        r.status()
    );

    c._pg.start_again();
    // the same processes write again, on every node, once the database is back
    for i in 0..2 {
        let (n, b) = wheel("steady", &format!("3.{i}"), "steady");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = upload(c.node(i), "alice/dev", Some(ALICE), &n, b.clone(), &[]);
            if r.status() == 200 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node {i} still {} after the database came back: {}",
                r.status(),
                r.text().unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    for i in 0..2 {
        let names = filenames(c.node(i), "alice/dev", "steady");
        assert_eq!(names.len(), 3, "node {i}: {names:?}");
    }
}

#[test]
fn a_node_killed_during_a_mirror_fetch_releases_its_lock() {
    let up = FakeUpstream::start();
    let dist = Dist {
        filename: "slowpoke-1.0-py3-none-any.whl".into(),
        bytes: payload(9, 512 * 1024),
        metadata: Some(common::metadata("slowpoke", "1.0").into_bytes()),
    };
    up.add("slowpoke", dist.clone());
    let url = up.simple_url();
    let c = Cluster::start(
        2,
        &[
            "--upstream",
            url.as_str(),
            "--upstream-timeout",
            "30",
            "--upstream-retries",
            "1",
        ],
    );
    let file_url = |s: &Server| {
        let v: Value = page(s, "root/pypi", "slowpoke").json().unwrap();
        let f = v["files"][0]["url"].as_str().unwrap().to_string();
        let base = reqwest::Url::parse(&s.url("/root/pypi/+simple/slowpoke/")).unwrap();
        base.join(&f).unwrap().to_string()
    };
    let (first, second) = (file_url(c.node(0)), file_url(c.node(1)));
    // a slow download on node 0 (it holds the file's cluster lock)...
    up.set_chunk_delay(Duration::from_millis(200));
    let victim = c.node(0).pid();
    let started = std::thread::spawn(move || {
        let _ = client().get(&first).send().and_then(|r| r.bytes());
    });
    let path = format!("/files/{}", dist.filename);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while up.hits(&path) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // ...killed mid-fetch: PostgreSQL ends its session and its lock
    let status = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = started.join();
    up.set_chunk_delay(Duration::from_millis(0));
    let t0 = std::time::Instant::now();
    let r = client().get(&second).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().unwrap()[..], &dist.bytes[..]);
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "node 1 waited {:?} for a dead node's lock",
        t0.elapsed()
    );
    assert_eq!(up.hits(&path), 2, "node 1 fetched it again, once");
}

#[test]
fn tls_to_postgresql_verifies_the_server() {
    let (pg, ca) = PgCluster::start_with_tls();
    let url = format!("{}?sslmode=require", pg.create_database("airlock"));
    let ca = ca.display().to_string();
    let node = Server::start_with_env(
        &["--database", &url],
        &[
            ("AIRLOCK_DATABASE_PASSWORD", pg.password()),
            ("AIRLOCK_DATABASE_CA", ca.as_str()),
        ],
    );
    create_user(&node, ALICE.0, ALICE.1);
    create_index(
        &node,
        "alice/dev",
        ALICE,
        json!({"type": "stage", "bases": [], "volatile": false}),
    );
    let (name, bytes) = wheel("sealed", "1.0", "sealed");
    assert_eq!(
        upload(&node, "alice/dev", Some(ALICE), &name, bytes, &[]).status(),
        200
    );
    // every connection airlock holds is encrypted
    let counts = pg.psql(
        "airlock",
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'airlock'",
    );
    let (tls, all) = counts.trim().split_once('|').expect("two counts");
    assert!(all.parse::<u32>().unwrap() > 0, "{counts}");
    assert_eq!(tls, all, "TLS connections of all: {counts}");

    // a server certificate nothing trusted signed: refused, said so
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--offline", "--data"])
        .arg(data.path().join("d"))
        .args(["--database", &url])
        .env("AIRLOCK_DATABASE_PASSWORD", pg.password())
        .env("AIRLOCK_ROOT_PASSWORD", "x")
        .env_remove("AIRLOCK_DATABASE_CA")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
}

const REVIEWED: &str = r#"
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
approve_users = ["bob", "carol"]

[index."acme/prod".require]
approvals = 1
"#;

#[test]
fn a_push_approved_on_two_nodes_at_once_lands_once() {
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("pipeline.toml"), REVIEWED).unwrap();
    let dir = policies.path().to_str().unwrap().to_string();
    // both nodes apply the same policies at start, on one database
    let c = Cluster::start(2, &["--policies", &dir]);
    for (u, p) in [("alice", "apw"), ("bob", "bpw"), ("carol", "cpw")] {
        let r = client()
            .patch(c.node(0).url(&format!("/{u}")))
            .basic_auth("root", Some(common::ROOT_PW))
            .json(&json!({"password": p}))
            .send()
            .unwrap();
        if r.status() == 404 {
            create_user(c.node(0), u, p);
        }
    }
    let (n, b) = wheel("acme_ledger", "2.0.0", "acme-ledger");
    assert_eq!(
        upload(c.node(0), "acme/dev", Some(("alice", "apw")), &n, b, &[]).status(),
        200
    );
    for round in 0..3 {
        let version = format!("2.0.{}", round + 1);
        let (n, b) = wheel("acme_ledger", &version, "acme-ledger");
        assert_eq!(
            upload(
                c.node(round),
                "acme/dev",
                Some(("alice", "apw")),
                &n,
                b,
                &[]
            )
            .status(),
            200
        );
        // pushed on one node: pending, and listed on the other at once
        let r = client()
            .post(c.node(round).url("/acme/dev"))
            .basic_auth("alice", Some("apw"))
            .json(
                &json!({":action": "push", "name": "acme-ledger", "version": version,
                          "targetindex": "acme/prod"}),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().unwrap());
        let id = r.json::<Value>().unwrap()["push"]["pending_id"]
            .as_i64()
            .unwrap();
        let pending: Value = client()
            .get(c.node(round + 1).url("/+pushes?status=pending"))
            .basic_auth("bob", Some("bpw"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(
            pending["result"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == id),
            "{pending}"
        );
        // bob on one node, carol on the other, at the same moment
        let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = [("bob", "bpw"), ("carol", "cpw")]
                .into_iter()
                .enumerate()
                .map(|(i, who)| {
                    let node = c.node(round + i);
                    scope.spawn(move || {
                        let r = client()
                            .post(node.url(&format!("/+pushes/{id}/approve")))
                            .basic_auth(who.0, Some(who.1))
                            .send()
                            .unwrap();
                        (r.status().as_u16(), r.text().unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let landed = statuses.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(
            landed, 1,
            "round {round}: exactly one approval lands it: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|(s, _)| *s == 200 || *s == 409),
            "the other is a conflict: {statuses:?}"
        );
        for i in 0..2 {
            let r = client()
                .get(c.node(i).url("/acme/prod/+simple/acme-ledger/"))
                .header("accept", JSON)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().unwrap();
            let name = format!("acme_ledger-{version}-py3-none-any.whl");
            let n = v["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["filename"] == name.as_str())
                .count();
            assert_eq!(n, 1, "node {i}: {v}");
        }
    }
    let r = client()
        .get(c.node(1).url("/+audit/verify"))
        .basic_auth("root", Some(common::ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["ok"], true);
}

#[test]
fn the_same_push_on_two_nodes_at_once_lands_once() {
    let c = Cluster::start(2, &[]);
    with_alice(&c);
    create_index(
        c.node(1),
        "alice/prod",
        ALICE,
        json!({"type": "stage", "bases": [], "volatile": false}),
    );
    for round in 0..6 {
        let version = format!("4.{round}");
        let (n, b) = wheel("twice_pushed", &version, "twice_pushed");
        assert_eq!(
            upload(c.node(round), "alice/dev", Some(ALICE), &n, b, &[]).status(),
            200
        );
        let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let (node, version) = (c.node(round + i), version.clone());
                    scope.spawn(move || {
                        let r = client()
                            .post(node.url("/alice/dev"))
                            .basic_auth(ALICE.0, Some(ALICE.1))
                            .json(&json!({":action": "push", "name": "twice_pushed",
                                          "version": version, "targetindex": "alice/prod"}))
                            .send()
                            .unwrap();
                        (r.status().as_u16(), r.text().unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            statuses.iter().all(|(s, _)| *s == 200 || *s == 409),
            "round {round}: each push lands, finds it landed, or is a conflict: {statuses:?}"
        );
        assert!(
            statuses.iter().any(|(s, _)| *s == 200),
            "round {round}: {statuses:?}"
        );
        for i in 0..2 {
            let names = filenames(c.node(i), "alice/prod", "twice-pushed");
            let want = format!("twice_pushed-{version}-py3-none-any.whl");
            assert_eq!(
                names.iter().filter(|n| **n == want).count(),
                1,
                "node {i}: {names:?}"
            );
        }
    }
}

/// A multipart body whose first `fast` bytes go at once and whose rest
/// trickles (a client on a slow link), so a node can be killed mid-upload.
struct Trickle {
    bytes: std::io::Cursor<Vec<u8>>,
    fast: u64,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes.position() >= self.fast {
            std::thread::sleep(Duration::from_millis(100));
            let n = buf.len().min(16);
            return self.bytes.read(&mut buf[..n]);
        }
        let n = buf.len().min((self.fast - self.bytes.position()) as usize);
        self.bytes.read(&mut buf[..n])
    }
}

/// Every file `s` lists for `project` on `index` downloads with its hash.
fn all_download(s: &Server, index: &str, project: &str) {
    for (name, sha) in common::files_on(s, index, project) {
        let url = s.url(&format!("/{index}/+f/{}/{}/{name}", &sha[..3], &sha[3..16]));
        let r = client().get(&url).send().unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(common::sha256_hex(&r.bytes().unwrap()), sha, "{name}");
    }
}

#[test]
fn a_node_killed_during_uploads_and_pushes_leaves_nothing_half_done() {
    let mut c = Cluster::start(2, &[]);
    with_alice(&c);
    create_index(
        c.node(1),
        "alice/prod",
        ALICE,
        json!({"type": "stage", "bases": [], "volatile": false}),
    );

    // killed while the body arrives: nothing of it anywhere, and the same
    // filename uploads cleanly on the other node
    let (name, bytes) = wheel("crashed_upload", "1.0", "crashed_upload");
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "file_upload")
        .text("sha256_digest", common::sha256_hex(&bytes))
        .part(
            "content",
            reqwest::blocking::multipart::Part::reader(Trickle {
                fast: (bytes.len() / 2) as u64,
                bytes: std::io::Cursor::new(bytes.clone()),
            })
            .file_name(name.clone()),
        );
    let url = c.node(0).url("/alice/dev/");
    let sending = std::thread::spawn(move || {
        client()
            .post(url)
            .basic_auth(ALICE.0, Some(ALICE.1))
            .multipart(form)
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(400));
    c.nodes[0].kill9();
    let status = sending.join().unwrap();
    assert!(status.is_err(), "the upload was cut off: {status:?}");
    assert!(common::files_on(c.node(1), "alice/dev", "crashed-upload").is_empty());
    c.nodes[0].restart();
    let r = upload(c.node(1), "alice/dev", Some(ALICE), &name, bytes, &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    all_download(c.node(0), "alice/dev", "crashed-upload");

    // (a login token: a password check takes longer than a push)
    let token = common::login_token(c.node(1), ALICE.0, ALICE.1);

    // killed at different moments of a push (two files) or of an upload
    // (its blob is put before its row commits): each lands whole or not at
    // all, and what did not land can be done again on the other node
    for (round, delay) in [0u64, 10, 25, 40, 60, 80, 100, 125, 400]
        .into_iter()
        .enumerate()
    {
        let version = format!("1.{round}");
        let (wn, wb) = wheel("crash_pushed", &version, "crash_pushed");
        let (sn, sb) = common::sdist("crash_pushed", &version);
        for (n, b) in [(&wn, &wb), (&sn, &sb)] {
            let r = upload(c.node(1), "alice/dev", Some(ALICE), n, b.clone(), &[]);
            assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        }
        let (un, ub) = wheel("crash_uploaded", &version, "crash_uploaded");
        let node0 = (c.node(0).url("/alice/dev"), c.node(0).url("/alice/dev/"));
        let push_body = json!({":action": "push", "name": "crash_pushed",
                               "version": version, "targetindex": "alice/prod"});
        let (ub2, un2) = (ub.clone(), un.clone());
        // the clients are built first (loading the CA roots takes longer
        // than a push): the delay counts from the requests being sent
        let ready = std::sync::Arc::new(std::sync::Barrier::new(3));
        let go = std::sync::Arc::clone(&ready);
        let auth = token.clone();
        let pushing = std::thread::spawn(move || {
            let cl = client();
            go.wait();
            let _ = cl
                .post(&node0.0)
                .header("X-Devpi-Auth", auth)
                .json(&push_body)
                .send();
        });
        let base = c.node(0).url("");
        let go = std::sync::Arc::clone(&ready);
        let auth = token.clone();
        let uploading = std::thread::spawn(move || {
            let cl = client();
            go.wait();
            let form = reqwest::blocking::multipart::Form::new()
                .text(":action", "file_upload")
                .text("sha256_digest", common::sha256_hex(&ub2))
                .part(
                    "content",
                    reqwest::blocking::multipart::Part::bytes(ub2).file_name(un2),
                );
            let _ = cl
                .post(format!("{base}/alice/dev/"))
                .header("X-Devpi-Auth", auth)
                .multipart(form)
                .send();
        });
        ready.wait();
        std::thread::sleep(Duration::from_millis(delay));
        c.nodes[0].kill9();
        pushing.join().unwrap();
        uploading.join().unwrap();

        let pushed = common::files_on(c.node(1), "alice/prod", "crash-pushed");
        let this_round: Vec<_> = pushed
            .iter()
            .filter(|(n, _)| n.contains(&format!("-{version}")))
            .collect();
        assert!(
            this_round.is_empty() || this_round.len() == 2,
            "round {round} ({delay} ms): a push lands whole or not at all: {pushed:?}"
        );
        all_download(c.node(1), "alice/prod", "crash-pushed");
        all_download(c.node(1), "alice/dev", "crash-uploaded");
        let upload_landed = common::files_on(c.node(1), "alice/dev", "crash-uploaded")
            .iter()
            .any(|(n, _)| *n == un);
        eprintln!(
            "round {round}, killed after {delay} ms: push landed {}, upload landed {upload_landed}",
            !this_round.is_empty()
        );
        if this_round.is_empty() {
            let r = client()
                .post(c.node(1).url("/alice/dev"))
                .basic_auth(ALICE.0, Some(ALICE.1))
                .json(&json!({":action": "push", "name": "crash_pushed",
                              "version": version, "targetindex": "alice/prod"}))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "round {round}: {}", r.text().unwrap());
        }
        if !upload_landed {
            let r = upload(c.node(1), "alice/dev", Some(ALICE), &un, ub, &[]);
            assert_eq!(r.status(), 200, "round {round}: {}", r.text().unwrap());
        }
        c.nodes[0].restart();
    }
    assert_eq!(
        common::files_on(c.node(0), "alice/prod", "crash-pushed").len(),
        18
    );
    assert_eq!(
        common::files_on(c.node(0), "alice/dev", "crash-uploaded").len(),
        9
    );

    // one intact chain, and no row without its object
    let v: Value = client()
        .get(c.node(1).url("/+audit/verify"))
        .basic_auth("root", Some(common::ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let mut env = c.nodes[1].command_env();
    env.push(("AIRLOCK_DATABASE_PASSWORD".into(), c._pg.password().into()));
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["fsck", "--json", "--data"])
        .arg(&c.node(1).data)
        .envs(env)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        report["missing"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    assert!(
        report["corrupt"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    assert!(
        report["audit_problems"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}
