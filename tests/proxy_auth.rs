//! Front-proxy authentication (`--trusted-proxy`) through the real binary:
//! the claim headers are refused on the plain listener and on TLS without
//! the proxy's certificate, and believed on the proxy's unix socket and on
//! TLS with the listed certificate; groups in ACLs and policies; users
//! created on first sight; the audit entries say "via proxy".

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One HTTP/1.0 request on the unix socket at `sock` (the response is then
/// close-delimited, never chunked). Returns (status, body).
fn unix_request(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = UnixStream::connect(sock).expect("connect to the proxy socket");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: pkg.example.test\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // a refusal may come (and the connection close) before the body is read
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(sock: &Path, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    unix_request(sock, "GET", path, headers, b"")
}

/// devpi's `authstatus` of `/+api`: ["ok", user, …] or ["noauth", "", …].
fn whoami(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["result"]["authstatus"].clone()
}

fn upload_via_socket(
    sock: &Path,
    index: &str,
    headers: &[(&str, &str)],
    name: &str,
    version: &str,
) -> (u16, String) {
    let (filename, bytes) = wheel(name, version, name);
    let sha = sha256_hex(&bytes);
    let (ctype, body) = hostile::multipart(
        &[(":action", "file_upload"), ("sha256_digest", &sha)],
        &filename,
        &bytes,
    );
    let mut h = headers.to_vec();
    h.push(("Content-Type", &ctype));
    unix_request(sock, "POST", &format!("/{index}/"), &h, &body)
}

fn socket_server(extra: &[&str]) -> (Server, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("airlock.sock");
    let mut args = vec!["--trusted-proxy", "--proxy-socket", sock.to_str().unwrap()];
    args.extend_from_slice(extra);
    let s = Server::start_with(&args);
    (s, sock, dir)
}

fn audit_entries(s: &Server) -> Vec<Value> {
    audit_log(s)["result"].as_array().unwrap().clone()
}

#[test]
fn claim_headers_are_refused_everywhere_but_the_proxy_socket() {
    let (s, sock, _dir) = socket_server(&[]);
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    // straight to the TCP listener: refused, whatever the header says
    for (k, v) in [
        ("X-Remote-User", "root"),
        ("x-remote-user", ""),
        ("X-Remote-Groups", "admins"),
    ] {
        let r = client().get(s.url("/+api")).header(k, v).send().unwrap();
        assert_eq!(r.status(), 403, "{k}: {v}");
        let t = r.text().unwrap();
        assert!(t.contains("only from the trusted front proxy"), "{t}");
        // pages too (the web UI's router is behind the same gate)
        let r = client()
            .get(s.url("/"))
            .header("Accept", "text/html")
            .header(k, v)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "page, {k}: {v}");
    }
    // a root write with valid credentials is refused too when a claim rides along
    let r = client()
        .put(s.url("/eve"))
        .basic_auth("root", Some(ROOT_PW))
        .header("X-Remote-User", "root")
        .json(&json!({"password": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(client().get(s.url("/eve")).send().unwrap().status(), 404);

    // on the socket: no claim = anonymous, a claim for a missing user = 403
    let (st, body) = get(&sock, "/+api", &[]);
    assert_eq!(st, 200, "{body}");
    assert_eq!(whoami(&body)[0], "noauth");
    let (_, body) = get(&sock, "/+api", &[("X-Remote-User", "alice")]);
    assert_eq!(whoami(&body)[0], "invalid", "{body}");
    let (st, body) = get(&sock, "/+audit", &[("X-Remote-User", "alice")]);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("no account"), "{body}");

    create_user(&s, "alice", "alice-pw");
    create_user(&s, "bob", "bob-pw");
    let (st, body) = get(&sock, "/+api", &[("X-Remote-User", "alice")]);
    assert_eq!(
        (st, whoami(&body)[1].clone()),
        (200, json!("alice")),
        "{body}"
    );
    // the web pages see the proxy's user too
    let (st, page) = get(
        &sock,
        "/",
        &[("X-Remote-User", "alice"), ("Accept", "text/html")],
    );
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains("title=\"signed in through the front proxy\">alice<"),
        "{page}"
    );
    // nginx's empty $remote_user: anonymous
    let (_, body) = get(&sock, "/+api", &[("X-Remote-User", "")]);
    assert_eq!(whoami(&body)[0], "noauth");
    // the client's Authorization belongs to the proxy here: not checked
    let (st, body) = get(
        &sock,
        "/+api",
        &[
            ("X-Remote-User", "alice"),
            (
                "Authorization",
                &hostile::basic("alice", "the-proxys-password"),
            ),
        ],
    );
    assert_eq!(
        (st, whoami(&body)[1].clone()),
        (200, json!("alice")),
        "{body}"
    );
    // nor is a Kerberos ticket an SSO proxy passes on (without a claim it
    // would be a 401: not Basic)
    let (st, body) = get(
        &sock,
        "/+audit",
        &[
            ("X-Remote-User", "root"),
            ("Authorization", "Negotiate YIIabc"),
        ],
    );
    assert_eq!(st, 200, "{body}");
    let (st, _) = get(&sock, "/+audit", &[("Authorization", "Negotiate YIIabc")]);
    assert_eq!(st, 401);

    // malformed claims from the proxy: 400
    for bad in [
        vec![("X-Remote-User", "alice"), ("X-Remote-User", "bob")],
        vec![("X-Remote-Groups", "uploaders")],
        vec![
            ("X-Remote-User", "alice"),
            ("X-Remote-Groups", "up loaders"),
        ],
        vec![("X-Remote-User", "+alice")],
    ] {
        let (st, body) = get(&sock, "/+api", &bad);
        assert_eq!(st, 400, "{bad:?}: {body}");
    }

    // a group ACL: members of "uploaders" may upload, nobody else
    create_index(
        &s,
        "root/team",
        ("root", ROOT_PW),
        json!({"bases": "", "acl_upload": [":group:uploaders"]}),
    );
    let member = [
        ("X-Remote-User", "alice"),
        ("X-Remote-Groups", "staff, uploaders"),
        ("X-Real-IP", "198.51.100.7"),
    ];
    let (st, body) = upload_via_socket(&sock, "root/team", &member, "teamlib", "1.0");
    assert_eq!(st, 200, "{body}");
    for outsider in [
        vec![("X-Remote-User", "bob"), ("X-Remote-Groups", "staff")],
        vec![("X-Remote-User", "alice")],
    ] {
        let (st, body) = upload_via_socket(&sock, "root/team", &outsider, "teamlib", "1.1");
        assert_eq!(st, 403, "{outsider:?}: {body}");
        assert!(body.contains("acl_upload"), "{body}");
    }
    // the group means nothing on a password login: alice by password is no member
    let (n, b) = wheel("teamlib", "1.2", "teamlib");
    assert_eq!(
        upload(&s, "root/team", Some(("alice", "alice-pw")), &n, b, &[]).status(),
        403
    );
    // anonymous on the socket: 401
    let (st, _) = upload_via_socket(&sock, "root/team", &[], "teamlib", "1.3");
    assert_eq!(st, 401);

    // the audit entry says where the identity came from
    let entries = audit_entries(&s);
    let up = entries
        .iter()
        .find(|e| e["action"] == "upload" && e["actor"] == "alice")
        .unwrap_or_else(|| panic!("no upload by alice: {entries:#?}"));
    assert_eq!(up["remote"], "198.51.100.7 via proxy", "{up}");
    assert!(
        !entries.iter().any(|e| e["action"] == "user_create"
            && e["remote"].as_str().unwrap_or("").contains("via proxy")),
        "no user was created through the proxy"
    );
}

#[test]
fn without_trusted_proxy_the_headers_are_refused_too() {
    let s = Server::start();
    let r = client()
        .get(s.url("/+api"))
        .header("X-Remote-User", "root")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // renamed headers: the configured name and the defaults are claims
    let (s, sock, _dir) = socket_server(&[
        "--proxy-user-header",
        "X-Forwarded-User",
        "--proxy-groups-header",
        "X-Forwarded-Groups",
    ]);
    create_user(&s, "carol", "c");
    for h in ["X-Forwarded-User", "X-Remote-User", "X-Forwarded-Groups"] {
        let r = client()
            .get(s.url("/+api"))
            .header(h, "carol")
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{h}");
    }
    let (st, body) = get(&sock, "/+api", &[("X-Forwarded-User", "carol")]);
    assert_eq!(
        (st, whoami(&body)[1].clone()),
        (200, json!("carol")),
        "{body}"
    );
    // the default name on the socket is not the proxy's way of saying it: refused
    let (st, body) = get(&sock, "/+api", &[("X-Remote-User", "carol")]);
    assert_eq!(st, 400, "{body}");

    // --trusted-proxy needs a way to recognise the proxy
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--offline",
            "--trusted-proxy",
            "--data",
        ])
        .arg(tmp.path().join("d"))
        .env("AIRLOCK_ROOT_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--proxy-socket"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn users_are_created_on_first_sight_when_configured() {
    let (s, sock, _dir) = socket_server(&["--proxy-create-users"]);
    let (st, body) = get(
        &sock,
        "/+api",
        &[("X-Remote-User", "newbie"), ("X-Real-IP", "203.0.113.5")],
    );
    assert_eq!(
        (st, whoami(&body)[1].clone()),
        (200, json!("newbie")),
        "{body}"
    );
    let r = client().get(s.url("/newbie")).send().unwrap();
    assert_eq!(r.status(), 200);
    // again: no second account, no second entry
    let (st, _) = get(&sock, "/+api", &[("X-Remote-User", "newbie")]);
    assert_eq!(st, 200);
    let created: Vec<Value> = audit_entries(&s)
        .into_iter()
        .filter(|e| e["action"] == "user_create" && e["target"] == "newbie")
        .collect();
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(created[0]["remote"], "203.0.113.5 via proxy");
    assert_eq!(created[0]["details"]["via"], "proxy");
    // the account has no password: it cannot log in around the proxy
    let r = client()
        .get(s.url("/+api"))
        .basic_auth("newbie", Some(""))
        .send()
        .unwrap();
    assert_ne!(whoami(&r.text().unwrap())[0], "ok");
}

const GROUP_POLICY: &str = r#"
[index."team/dev"]
type = "stage"
bases = []
upload_users = [":group:developers"]

[index."team/prod"]
type = "stage"
production = true
bases = []
accepts_push_from = ["team/dev"]
push_users = [":group:release-managers"]
approve_users = [":group:approvers"]

[index."team/prod".require]
approvals = 1
"#;

#[test]
fn policy_groups_push_and_approve() {
    let pol = tempfile::tempdir().unwrap();
    std::fs::write(pol.path().join("team.toml"), GROUP_POLICY).unwrap();
    let (s, sock, _dir) = socket_server(&[
        "--proxy-create-users",
        "--policies",
        pol.path().to_str().unwrap(),
    ]);
    let alice = [
        ("X-Remote-User", "alice"),
        ("X-Remote-Groups", "developers,release-managers"),
    ];
    let (st, body) = upload_via_socket(&sock, "team/dev", &alice, "teamapp", "2.0");
    assert_eq!(st, 200, "{body}");
    let push = |who: &[(&str, &str)]| {
        let body = json!({":action": "push", "name": "teamapp", "version": "2.0",
                          "targetindex": "team/prod"})
        .to_string();
        let mut h = who.to_vec();
        h.push(("Content-Type", "application/json"));
        unix_request(&sock, "POST", "/team/dev", &h, body.as_bytes())
    };
    // a developer who is no release manager may not push
    let (st, body) = push(&[("X-Remote-User", "dan"), ("X-Remote-Groups", "developers")]);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("push_users"), "{body}");
    // a release manager's push waits for an approver
    let (st, body) = push(&alice);
    assert_eq!(st, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["push"]["pending_id"]
        .as_i64()
        .unwrap();
    let approve = |who: &[(&str, &str)]| {
        unix_request(&sock, "POST", &format!("/+pushes/{id}/approve"), who, b"")
    };
    let (st, body) = approve(&[("X-Remote-User", "erin"), ("X-Remote-Groups", "developers")]);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("approve_users"), "{body}");
    let prod = || {
        client()
            .get(s.url("/team/prod/+simple/teamapp/"))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(prod(), 404);
    // an approver lands it from the web page (CSRF token and origin still
    // checked); the landing re-checks push_users with the groups alice had
    // when she pushed (she sends none now)
    let carol = [("X-Remote-User", "carol"), ("X-Remote-Groups", "approvers")];
    let mut h = carol.to_vec();
    h.push(("Accept", "text/html"));
    let (st, page) = get(&sock, &format!("/+pushes/{id}"), &h);
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Approve"), "carol may approve: {page}");
    let marker = "name=\"csrf\" value=\"";
    let i = page.find(marker).expect("a csrf field") + marker.len();
    let csrf = page[i..i + page[i..].find('"').unwrap()].to_string();
    let post = |token: &str, origin: Option<&str>| {
        let mut h = carol.to_vec();
        h.push(("Content-Type", "application/x-www-form-urlencoded"));
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        let body = format!("csrf={token}");
        unix_request(
            &sock,
            "POST",
            &format!("/+web/pushes/{id}/approve"),
            &h,
            body.as_bytes(),
        )
    };
    let ours = Some("http://pkg.example.test");
    assert_eq!(post(&csrf, None).0, 403, "no origin");
    assert_eq!(post(&csrf, Some("http://evil.example")).0, 403);
    assert_eq!(post(&"0".repeat(32), ours).0, 403, "not carol's token");
    assert_eq!(prod(), 404);
    let (st, body) = post(&csrf, ours);
    assert!(st == 200 || st == 303, "{st}: {body}");
    assert_eq!(prod(), 200);
    let entries = audit_entries(&s);
    let approved = entries
        .iter()
        .find(|e| e["action"] == "approve")
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert_eq!(approved["actor"], "carol", "{approved}");
    assert_eq!(approved["remote"], "unknown via proxy", "{approved}");
    assert_eq!(approved["details"]["landed"], true, "{approved}");
    let pending = entries
        .iter()
        .find(|e| e["action"] == "push_pending")
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert_eq!(pending["actor"], "alice", "{pending}");
}

#[test]
fn tls_proxy_is_recognised_by_its_certificate_only() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "certs",
            "init",
            pki.to_str().unwrap(),
            "--server-name",
            "localhost",
        ])
        .args(["--client", "nginx-proxy", "--client", "alice"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fp = fingerprint(&pki.join("nginx-proxy.pem"));
    let d = pki.to_str().unwrap();
    let s = Server::start_with(&[
        "--tls-cert",
        &format!("{d}/server.pem"),
        "--tls-key",
        &format!("{d}/server.key"),
        "--client-ca",
        &format!("{d}/ca.pem"),
        "--client-auth",
        "optional",
        "--trusted-proxy",
        "--trusted-proxy-cert-sha256",
        &fp.to_uppercase(),
    ]);
    let tls = |cert: Option<&str>| {
        let ca = std::fs::read(pki.join("ca.pem")).unwrap();
        let mut b = reqwest::blocking::Client::builder()
            .no_proxy()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
        if let Some(name) = cert {
            let mut pem = std::fs::read(pki.join(format!("{name}.pem"))).unwrap();
            pem.extend(std::fs::read(pki.join(format!("{name}.key"))).unwrap());
            b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    };
    let url = s.url("/+api").replace("127.0.0.1", "localhost");
    // users named like the certificates exist: the proxy's certificate must
    // still not log anyone in
    for u in ["alice", "nginx-proxy", "bob"] {
        let r = tls(None)
            .put(s.url(&format!("/{u}")).replace("127.0.0.1", "localhost"))
            .basic_auth("root", Some(ROOT_PW))
            .json(&json!({"password": "pw"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let auth = |c: &reqwest::blocking::Client, h: Option<&str>| {
        let mut r = c.get(&url);
        if let Some(u) = h {
            r = r.header("X-Remote-User", u);
        }
        let r = r.send().unwrap();
        let st = r.status().as_u16();
        (st, r.text().unwrap())
    };
    // without a certificate, or with a user's: refused
    for c in [None, Some("alice")] {
        let (st, body) = auth(&tls(c), Some("bob"));
        assert_eq!(st, 403, "{c:?}: {body}");
    }
    // alice's certificate alone still logs her in
    assert_eq!(whoami(&auth(&tls(Some("alice")), None).1)[1], "alice");
    // the proxy's certificate: the claim is believed, and without one the
    // certificate stands for nobody
    let proxy = tls(Some("nginx-proxy"));
    let (st, body) = auth(&proxy, Some("bob"));
    assert_eq!(
        (st, whoami(&body)[1].clone()),
        (200, json!("bob")),
        "{body}"
    );
    let (st, body) = auth(&proxy, None);
    assert_eq!(
        (st, whoami(&body)[0].clone()),
        (200, json!("noauth")),
        "{body}"
    );
}

/// SHA-256 of the DER in a PEM certificate file, lowercase hex.
fn fingerprint(pem: &Path) -> String {
    let text = std::fs::read_to_string(pem).unwrap();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    sha256_hex(&der)
}
