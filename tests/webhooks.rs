//! Webhooks against the real server, with a receiver in the test on
//! 127.0.0.1: signatures checked by an independent HMAC; events survive
//! `kill -9`; retries with the same `webhook-id`; private targets refused
//! at configuration time; redirects not followed; a refused change
//! enqueues no event of the change.

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const ALICE: (&str, &str) = ("alice", "alice-secret-pw");

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A tiny HTTP receiver: answers each request with the next scripted
/// response (status, extra header), 200 when the script is empty.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: Vec<(u16, Option<(&'static str, String)>)>) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), script)
    }

    fn start_on(listener: TcpListener, script: Vec<(u16, Option<(&'static str, String)>)>) -> Self {
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                g.lock().unwrap().push(Received {
                    path,
                    headers,
                    body,
                });
                let (status, extra) = script.lock().unwrap().pop_front().unwrap_or((200, None));
                let extra = extra
                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                    .unwrap_or_default();
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { port, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// HMAC-SHA256 written out from its definition (RFC 2104) over ring's
/// plain SHA-256: an implementation independent of the server's.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let sha = |parts: &[&[u8]]| {
        let mut c = ring::digest::Context::new(&ring::digest::SHA256);
        for p in parts {
            c.update(p);
        }
        c.finish().as_ref().to_vec()
    };
    let mut k = if key.len() > 64 {
        sha(&[key])
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha(&[&ipad, msg]);
    sha(&[&opad, &inner])
}

/// What a receiver must check: the signature over id.timestamp.body with
/// the secret's decoded bytes, and a fresh timestamp.
fn verify(secret: &str, r: &Received) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let (Some(id), Some(ts), Some(sig)) = (
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
    ) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (ts.parse::<i64>().unwrap() - now).abs() > 300 {
        return false;
    }
    let mut msg = format!("{id}.{ts}.").into_bytes();
    msg.extend_from_slice(&r.body);
    let expected = format!("v1,{}", b64.encode(hmac_sha256(&key, &msg)));
    sig.split(' ').any(|s| s == expected)
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn setup_alice(s: &Server) {
    create_user(s, ALICE.0, ALICE.1);
    create_index(s, "alice/dev", ALICE, json!({}));
}

fn add_webhook(s: &Server, body: Value) -> reqwest::blocking::Response {
    client()
        .put(s.url("/alice/dev/+webhooks"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .json(&body)
        .send()
        .unwrap()
}

/// Add a webhook; its secret.
fn subscribe(s: &Server, url: &str, events: &[&str]) -> String {
    let r = add_webhook(s, json!({"url": url, "events": events}));
    assert_eq!(r.status(), 201);
    let v: Value = r.json().unwrap();
    v["secret"].as_str().unwrap().to_string()
}

fn log(s: &Server) -> Value {
    let r = client()
        .get(s.url("/alice/dev/+webhooks/log"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["result"].clone()
}

fn upload_wheel(s: &Server, auth: (&str, &str), version: &str) -> reqwest::blocking::Response {
    let (n, b) = wheel("zqxfrobnicator", version, "zqxfrobnicator");
    upload(s, "alice/dev", Some(auth), &n, b, &[])
}

fn airlock_cli(args: &[&str], s: &Server) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .args(["--url", &s.base, "--user", ALICE.0, "--password", ALICE.1])
        .env("AIRLOCK_CLIENT_CONFIG", dir.path().join("client.json"))
        .env_remove("AIRLOCK_URL")
        .output()
        .unwrap()
}

#[test]
fn events_are_signed_and_the_jenkins_preset_fills_its_template() {
    let rx = Receiver::start(vec![]);
    let s = Server::start_with(&["--webhook-allow-host", "127.0.0.1"]);
    setup_alice(&s);
    // through the CLI: the secret is printed once
    let out = airlock_cli(
        &[
            "webhooks",
            "add",
            "alice/dev",
            &rx.url("/hook"),
            "--event",
            "upload,index.changed",
        ],
        &s,
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown only now): "))
        .unwrap_or_else(|| panic!("no secret in {text}"))
        .to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let jenkins = airlock_cli(
        &[
            "webhooks",
            "add",
            "alice/dev",
            &rx.url("/job/x/buildWithParameters?PKG={pkgname}&V={pkgversion}"),
            "--jenkins",
        ],
        &s,
    );
    assert!(jenkins.status.success(), "{jenkins:?}");
    let listed = airlock_cli(&["webhooks", "list", "alice/dev", "--json"], &s);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "list shows no secret"
    );

    assert_eq!(upload_wheel(&s, ALICE, "1.0+local").status(), 200);
    let got = wait_for("two deliveries", || {
        let g = rx.received();
        (g.len() >= 2).then_some(g)
    });
    let hook = got
        .iter()
        .find(|r| r.path == "/hook")
        .expect("standard hook");
    assert!(verify(&secret, hook), "signature of {hook:?}");
    let mut tampered = hook.clone();
    tampered.body.push(b' ');
    assert!(
        !verify(&secret, &tampered),
        "a changed body fails the check"
    );
    let body = hook.json();
    assert_eq!(body["type"], "upload");
    assert_eq!(body["data"]["index"], "alice/dev");
    assert_eq!(body["data"]["project"], "zqxfrobnicator");
    assert_eq!(body["data"]["version"], "1.0+local");
    assert_eq!(body["data"]["actor"], "alice");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
    let trigger = got
        .iter()
        .find(|r| r.path.starts_with("/job/"))
        .expect("jenkins");
    assert_eq!(
        trigger.path,
        "/job/x/buildWithParameters?PKG=zqxfrobnicator&V=1.0%2Blocal"
    );

    // an index change is an event too; the log lists both kinds
    let r = client()
        .patch(s.url("/alice/dev"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .json(&json!(["title=changed"]))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let changed = wait_for("index.changed", || {
        rx.received()
            .into_iter()
            .find(|r| r.path == "/hook" && r.json()["type"] == "index.changed")
    });
    assert!(verify(&secret, &changed));
    let out = airlock_cli(&["webhooks", "log", "alice/dev"], &s);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("index.changed") && text.contains("upload"),
        "{text}"
    );
    assert!(text.contains(": 200 in "), "{text}");
}

#[test]
fn a_receiver_failing_three_times_gets_the_event_on_the_fourth_try() {
    let rx = Receiver::start(vec![(500, None), (503, None), (500, None)]);
    let s = Server::start_with(&[
        "--webhook-allow-host",
        "127.0.0.1",
        "--webhook-retry-base-ms",
        "50",
    ]);
    setup_alice(&s);
    let secret = subscribe(&s, &rx.url("/hook"), &["upload"]);
    assert_eq!(upload_wheel(&s, ALICE, "1.0").status(), 200);
    let event = wait_for("delivery", || {
        let l = log(&s);
        let e = l["events"][0].clone();
        (e["state"] == "delivered").then_some(e)
    });
    assert_eq!(event["attempts"], 4, "{event}");
    let got = rx.received();
    assert_eq!(got.len(), 4, "{got:?}");
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == event["event_id"]), "{ids:?}");
    assert!(got.iter().all(|r| verify(&secret, r)));
    let l = log(&s);
    let mut attempts: Vec<(i64, i64)> = l["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["status"].as_i64().unwrap(),
            )
        })
        .collect();
    attempts.sort();
    assert_eq!(attempts, vec![(1, 500), (2, 503), (3, 500), (4, 200)]);
    assert!(l["attempts"][1]["error"]
        .as_str()
        .unwrap()
        .contains("answered"));
}

#[test]
fn private_and_loopback_targets_are_refused_when_configured() {
    let s = Server::start();
    setup_alice(&s);
    for (url, says) in [
        ("http://10.0.0.1/", "private"),
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://100.64.1.1/", "CGNAT"),
    ] {
        let r = add_webhook(&s, json!({"url": url, "events": ["upload"]}));
        assert_eq!(r.status(), 400, "{url}");
        let text = r.text().unwrap();
        assert!(
            text.contains(says) && text.contains("--webhook-allow-host"),
            "{url}: {text}"
        );
    }
    for (body, says) in [
        (
            json!({"url": "ftp://example.org/", "events": ["upload"]}),
            "http:// or https://",
        ),
        (
            json!({"url": "http://example.org/", "events": ["uplaod"]}),
            "unknown event type",
        ),
        (json!({"url": "http://example.org/"}), "name the events"),
        (
            json!({"url": "http://{pkgname}.example/", "kind": "jenkins"}),
            "not in the host",
        ),
    ] {
        let r = add_webhook(&s, body.clone());
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    // nobody but the owner or root
    create_user(&s, "bob", "bob-secret-pw");
    let r = client()
        .get(s.url("/alice/dev/+webhooks"))
        .basic_auth("bob", Some("bob-secret-pw"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client().get(s.url("/alice/dev/+webhooks")).send().unwrap();
    assert_eq!(r.status(), 401);
    // nothing was stored
    let r = client()
        .get(s.url("/alice/dev/+webhooks"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["result"], json!([]));

    // an exception for one host does not open the others
    let s2 = Server::start_with(&["--webhook-allow-host", "127.0.0.1"]);
    setup_alice(&s2);
    assert_eq!(
        add_webhook(
            &s2,
            json!({"url": "http://10.0.0.1/", "events": ["upload"]})
        )
        .status(),
        400
    );
    assert_eq!(
        add_webhook(
            &s2,
            json!({"url": "http://127.0.0.1:9/", "events": ["upload"]})
        )
        .status(),
        201
    );
}

#[test]
fn redirects_are_not_followed() {
    let elsewhere = Receiver::start(vec![]);
    let rx = Receiver::start(vec![
        (302, Some(("Location", elsewhere.url("/elsewhere")))),
        (307, Some(("Location", elsewhere.url("/elsewhere")))),
    ]);
    let s = Server::start_with(&[
        "--webhook-allow-host",
        "127.0.0.1",
        "--webhook-retry-base-ms",
        "50",
        "--webhook-max-attempts",
        "2",
    ]);
    setup_alice(&s);
    subscribe(&s, &rx.url("/hook"), &["upload"]);
    assert_eq!(upload_wheel(&s, ALICE, "1.0").status(), 200);
    let event = wait_for("the event given up", || {
        let e = log(&s)["events"][0].clone();
        (e["state"] == "failed").then_some(e)
    });
    assert_eq!(event["attempts"], 2);
    assert!(
        event["last_error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{event}"
    );
    assert_eq!(rx.received().len(), 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
}

#[test]
fn events_undelivered_at_a_kill_9_are_delivered_after_restart() {
    // a port with nothing listening: the receiver is down
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = [
        "--webhook-allow-host",
        "127.0.0.1",
        "--webhook-retry-base-ms",
        "100",
    ];
    let s = Server::start_on(&data, &args);
    setup_alice(&s);
    let secret = subscribe(&s, &format!("http://127.0.0.1:{port}/hook"), &["upload"]);
    assert_eq!(upload_wheel(&s, ALICE, "1.0").status(), 200);
    let event = wait_for("a failed attempt", || {
        let e = log(&s)["events"][0].clone();
        (e["attempts"].as_i64().unwrap_or(0) >= 1).then_some(e)
    });
    assert_eq!(event["state"], "pending");
    let id = event["event_id"].as_str().unwrap().to_string();
    let pid = s.pid();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut s = s;
    let database = s.detach_database();
    drop(s);

    let rx = Receiver::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), vec![]);
    let s = Server::start_on_database(&data, &args, database);
    let got = wait_for("delivery after restart", || {
        rx.received().into_iter().next()
    });
    assert_eq!(got.header("webhook-id"), Some(id.as_str()));
    assert!(verify(&secret, &got));
    assert_eq!(got.json()["data"]["version"], "1.0");
    let e = wait_for("delivered state", || {
        let e = log(&s)["events"][0].clone();
        (e["state"] == "delivered").then_some(e)
    });
    assert!(e["attempts"].as_i64().unwrap() >= 2, "{e}");

    // the data folder with webhook tables backs up, restores and checks
    // clean (the embedded database: backups of PostgreSQL are its own tools')
    let mut s = s;
    s.stop();
    if common::on_postgres() {
        return;
    }
    let backup = tmp.path().join("backup");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
    };
    let d = data.display().to_string();
    run(&["backup", &backup.display().to_string(), "--data", &d]);
    let restored = tmp.path().join("restored");
    run(&[
        "restore",
        &backup.display().to_string(),
        "--data",
        &restored.display().to_string(),
    ]);
    run(&["fsck", "--data", &restored.display().to_string()]);
    let conn = rusqlite::Connection::open(restored.join("airlock.sqlite3")).unwrap();
    let (hooks, delivered): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM webhooks),
                    (SELECT count(*) FROM webhook_outbox WHERE state = 'delivered')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((hooks, delivered), (1, 1));
}

#[test]
fn a_refused_upload_enqueues_only_its_refusal() {
    let rx = Receiver::start(vec![]);
    let s = Server::start_with(&["--webhook-allow-host", "127.0.0.1"]);
    create_user(&s, ALICE.0, ALICE.1);
    // not volatile: a file, once uploaded, is never replaced
    create_index(&s, "alice/dev", ALICE, json!({"volatile": false}));
    create_user(&s, "bob", "bob-secret-pw");
    subscribe(&s, &rx.url("/hook"), &["upload", "upload.refused"]);

    // bob may not upload to alice/dev: refused, audited as a refusal
    assert_eq!(
        upload_wheel(&s, ("bob", "bob-secret-pw"), "1.0").status(),
        403
    );
    assert_eq!(upload_wheel(&s, ALICE, "1.0").status(), 200);
    // the same file name with other bytes conflicts: its transaction
    // never commits, so no second upload event
    let (n, other) = wheel("zqxfrobnicator", "1.0", "ZQXfrobnicator");
    let r = upload(&s, "alice/dev", Some(ALICE), &n, other, &[]);
    assert_eq!(r.status(), 409);

    wait_for("two deliveries", || {
        (rx.received().len() >= 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let types: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, vec!["upload.refused", "upload"]);
    let events = log(&s)["events"].clone();
    assert_eq!(events.as_array().unwrap().len(), 2, "{events}");
}

#[test]
fn pushes_are_events_of_their_target_index() {
    let rx = Receiver::start(vec![]);
    let s = Server::start_with(&["--webhook-allow-host", "127.0.0.1"]);
    setup_alice(&s);
    create_index(&s, "alice/prod", ALICE, json!({"volatile": false}));
    create_user(&s, "bob", "bob-secret-pw");
    let r = client()
        .put(s.url("/alice/prod/+webhooks"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .json(&json!({"url": rx.url("/prod"), "events": ["push.landed", "push.refused", "upload"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let secret = r.json::<Value>().unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(upload_wheel(&s, ALICE, "2.0").status(), 200);
    let req = json!({":action": "push", "name": "zqxfrobnicator", "version": "2.0", "targetindex": "alice/prod"});
    let refused = client()
        .post(s.url("/alice/dev"))
        .basic_auth("bob", Some("bob-secret-pw"))
        .json(&req)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
    let landed = client()
        .post(s.url("/alice/dev"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .json(&req)
        .send()
        .unwrap();
    assert_eq!(landed.status(), 200, "{}", landed.text().unwrap());
    let got = wait_for("two push events", || {
        let g = rx.received();
        (g.len() >= 2).then_some(g)
    });
    std::thread::sleep(Duration::from_millis(300));
    let got_now = rx.received();
    assert_eq!(
        got_now.len(),
        2,
        "the upload to alice/dev is not alice/prod's: {got_now:?}"
    );
    let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(types, vec![json!("push.refused"), json!("push.landed")]);
    let landed = got[1].json();
    assert_eq!(landed["data"]["index"], "alice/prod");
    assert_eq!(landed["data"]["details"]["source"], "alice/dev");
    assert!(got.iter().all(|r| verify(&secret, r)));
}
