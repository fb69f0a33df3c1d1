//! Mutual TLS through the real binary: `airlock certs init`, an HTTPS
//! listener with optional client certificates, certificate identities,
//! pinned fingerprints via the CLI, and revocation.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

fn airlock(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn pki(dir: &Path, clients: &[&str]) {
    let mut args = vec![
        "certs",
        "init",
        dir.to_str().unwrap(),
        "--server-name",
        "localhost",
    ];
    for c in clients {
        args.push("--client");
        args.push(c);
    }
    let out = airlock(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tls_client(pki: &Path, cert: Option<&str>) -> reqwest::blocking::Client {
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
}

#[test]
fn client_certificates_identify_users() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    pki(&dir, &["alice", "mallory"]);
    // a second, unrelated CA
    let other = tmp.path().join("other");
    pki(&other, &["alice"]);
    // private keys are 0600
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("alice.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let d = dir.to_str().unwrap().to_string();
    let s = Server::start_with(&[
        "--tls-cert",
        &format!("{d}/server.pem"),
        "--tls-key",
        &format!("{d}/server.key"),
        "--client-ca",
        &format!("{d}/ca.pem"),
        "--client-auth",
        "optional",
        "--cert-identity",
        "san-uri",
    ]);
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let base = s.base.replace("127.0.0.1", "localhost");
    let url = |p: &str| format!("{base}{p}");

    // create alice with a password, via HTTPS without a client cert (optional mode)
    let anon = tls_client(&dir, None);
    let r = anon
        .put(url("/alice"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&serde_json::json!({"password": "apw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = anon.get(url("/+api")).send().unwrap().json().unwrap();
    assert_eq!(v["result"]["authstatus"][0], "noauth");

    // alice's certificate alone identifies alice
    let alice = tls_client(&dir, Some("alice"));
    let v: Value = alice.get(url("/+api")).send().unwrap().json().unwrap();
    assert_eq!(v["result"]["authstatus"][1], "alice", "{v}");
    // ...and she can create her index with the certificate only
    let r = alice
        .put(url("/alice/dev"))
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());

    // a certificate for a user that does not exist proves nothing
    let mallory = tls_client(&dir, Some("mallory"));
    let v: Value = mallory.get(url("/+api")).send().unwrap().json().unwrap();
    assert_eq!(v["result"]["authstatus"][0], "noauth");
    // and mallory's cert with alice's password is a mismatch only if mallory maps to a user;
    // with root's password and alice's cert, the server refuses the contradiction
    let r = alice
        .put(url("/root/x"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("identifies user alice"));

    // a certificate from another CA fails the handshake
    let foreign = tls_client(&other, Some("alice"));
    assert!(
        foreign.get(url("/+api")).send().is_err(),
        "foreign CA must be refused"
    );

    // pin mallory's certificate to alice with the CLI, over HTTPS with a password
    let cfg = tmp.path().join("client.json");
    let env = [("AIRLOCK_CLIENT_CONFIG", cfg.to_str().unwrap())];
    let ca = format!("{d}/ca.pem");
    let mallory_pem = format!("{d}/mallory.pem");
    let out = airlock(
        &[
            "user",
            "cert",
            "add",
            "alice",
            &mallory_pem,
            "--url",
            &base,
            "--ca",
            &ca,
            "--user",
            "alice",
            "--password",
            "apw",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = mallory.get(url("/+api")).send().unwrap().json().unwrap();
    assert_eq!(
        v["result"]["authstatus"][1], "alice",
        "pinned fingerprint wins: {v}"
    );
    let out = airlock(
        &[
            "user",
            "cert",
            "list",
            "alice",
            "--url",
            &base,
            "--ca",
            &ca,
            "--user",
            "alice",
            "--password",
            "apw",
        ],
        &env,
    );
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && listing.contains("mallory"),
        "{listing}"
    );
    // another user may not pin certificates for alice
    let out = airlock(
        &[
            "user",
            "cert",
            "add",
            "alice",
            &mallory_pem,
            "--url",
            &base,
            "--ca",
            &ca,
            "--user",
            "root",
            "--password",
            "wrong",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    // garbage PEM gets a clear 400
    let r = alice
        .post(url("/alice/+certs"))
        .body("not a certificate")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("BEGIN CERTIFICATE"));
}

#[test]
fn required_client_auth_and_revocation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    pki(&dir, &["alice", "bob"]);
    let d = dir.to_str().unwrap().to_string();
    // an initial CRL revoking nobody... revoke bob right away
    let out = airlock(&["certs", "revoke", &d, &format!("{d}/bob.pem")], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start_with(&[
        "--tls-cert",
        &format!("{d}/server.pem"),
        "--tls-key",
        &format!("{d}/server.key"),
        "--client-ca",
        &format!("{d}/ca.pem"),
        "--client-auth",
        "required",
        "--crl",
        &format!("{d}/crl.pem"),
    ]);
    let base = s.base.replace("127.0.0.1", "localhost");
    // no certificate: handshake refused
    assert!(tls_client(&dir, None)
        .get(format!("{base}/+api"))
        .send()
        .is_err());
    // revoked certificate: refused
    assert!(tls_client(&dir, Some("bob"))
        .get(format!("{base}/+api"))
        .send()
        .is_err());
    // valid certificate: served
    let r = tls_client(&dir, Some("alice"))
        .get(format!("{base}/+api"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // plain HTTP to the TLS port fails cleanly and the server keeps serving
    let plain = client()
        .get(s.base.replace("https://", "http://") + "/+api")
        .send();
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // revoke alice too, reload with SIGHUP: refused from then on
    let out = airlock(&["certs", "revoke", &d, &format!("{d}/alice.pem")], &[]);
    assert!(out.status.success());
    let pid = s.pid();
    Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if tls_client(&dir, Some("alice"))
            .get(format!("{base}/+api"))
            .send()
            .is_err()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revocation not picked up"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(s.log_text().contains("reloaded") || s.log_text().contains("CRL"));
}

/// Per-index credential policy: uploads to acme/dev need a client
/// certificate (a password alone is refused with a message saying so),
/// installs from acme/prod need one too, while root/dev stays anonymous.
#[test]
fn policies_require_client_certificates_per_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    // carol's certificate is valid but stands for no user here
    pki(&dir, &["alice", "bob", "carol"]);
    let pol = tmp.path().join("policies");
    std::fs::create_dir_all(&pol).unwrap();
    std::fs::write(
        pol.join("acme.toml"),
        r#"
[index."acme/dev"]
type = "stage"
upload_users = ["alice"]
auth = { upload = ["client_cert"] }

[index."acme/prod"]
type = "stage"
production = true
accepts_push_from = ["acme/dev"]
push_users = ["alice"]
auth = { push = ["client_cert"], install = ["client_cert"] }
"#,
    )
    .unwrap();
    let d = dir.to_str().unwrap().to_string();
    let s = Server::start_with(&[
        "--tls-cert",
        &format!("{d}/server.pem"),
        "--tls-key",
        &format!("{d}/server.key"),
        "--client-ca",
        &format!("{d}/ca.pem"),
        "--client-auth",
        "optional",
        "--cert-identity",
        "san-uri",
        "--policies",
        pol.to_str().unwrap(),
    ]);
    let base = s.base.replace("127.0.0.1", "localhost");
    let anon = tls_client(&dir, None);
    let alice = tls_client(&dir, Some("alice"));
    let r = anon
        .put(format!("{base}/alice"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&serde_json::json!({"password": "apw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = anon
        .put(format!("{base}/bob"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&serde_json::json!({"password": "bpw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let bob = tls_client(&dir, Some("bob"));

    let (n, b) = wheel("acme_billing", "1.0", "acme-billing");
    let up = |c: &reqwest::blocking::Client, auth: Option<(&str, &str)>| {
        let form = reqwest::blocking::multipart::Form::new()
            .text(":action", "file_upload")
            .part(
                "content",
                reqwest::blocking::multipart::Part::bytes(b.clone()).file_name(n.clone()),
            );
        let mut r = c.post(format!("{base}/acme/dev/")).multipart(form);
        if let Some((u, p)) = auth {
            r = r.basic_auth(u, Some(p));
        }
        r.send().unwrap()
    };
    // password only: refused, and the message names the missing credential
    let before = s.data_files();
    let r = up(&anon, Some(("alice", "apw")));
    assert_eq!(r.status(), 403);
    let msg = r.text().unwrap();
    assert!(msg.contains("client_cert"), "{msg}");
    assert_eq!(s.data_files(), before, "nothing stored");
    // a valid certificate of a user without upload rights on acme/dev
    let r = up(&bob, None);
    assert_eq!(r.status(), 403);
    let msg = r.text().unwrap();
    assert!(
        msg.contains("user bob") && msg.contains("acme/dev"),
        "{msg}"
    );
    assert_eq!(s.data_files(), before, "nothing stored");
    // a valid certificate that stands for no user: anonymous, refused
    let carol = tls_client(&dir, Some("carol"));
    let r = up(&carol, None);
    assert_eq!(r.status(), 401, "{}", r.text().unwrap());
    assert_eq!(s.data_files(), before, "nothing stored");
    // the refusals are in the audit log: who, with which credential and
    // certificate, from where, and why
    let log: Value = anon
        .get(format!("{base}/+audit"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let refused: Vec<&Value> = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "blocked_upload" && e["target"] == "acme/dev")
        .collect();
    assert_eq!(refused.len(), 3, "{log:#}");
    // carol's: no user, but the certificate she presented is on record
    let by_carol = refused.iter().find(|e| e["actor"].is_null()).unwrap();
    assert_eq!(
        by_carol["cert_fingerprint"].as_str().map(str::len),
        Some(64),
        "{by_carol}"
    );
    let by_alice = refused.iter().find(|e| e["actor"] == "alice").unwrap();
    assert_eq!(by_alice["cert_fingerprint"], Value::Null);
    assert_eq!(
        by_alice["details"]["credentials"],
        serde_json::json!(["password"])
    );
    assert!(by_alice["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("missing: client_cert"));
    let by_bob = refused.iter().find(|e| e["actor"] == "bob").unwrap();
    assert_eq!(
        by_bob["cert_fingerprint"].as_str().map(str::len),
        Some(64),
        "{by_bob}"
    );
    assert_eq!(
        by_bob["details"]["credentials"],
        serde_json::json!(["client_cert"])
    );
    assert!(by_bob["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("not allowed to upload"));
    for e in &refused {
        assert!(
            e["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{e}"
        );
    }
    // the same refusal repeated within a minute is not recorded again
    let r = up(&bob, None);
    assert_eq!(r.status(), 403);
    let log: Value = anon
        .get(format!("{base}/+audit"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let again = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "blocked_upload")
        .count();
    assert_eq!(again, 3, "a retry loop does not flood the log");
    // with alice's certificate: accepted
    let r = up(&alice, None);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // push with the certificate
    let r = alice
        .post(format!("{base}/acme/dev"))
        .json(&serde_json::json!({"name": "acme-billing", "version": "1.0", "targetindex": "acme/prod"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // installs from acme/prod need a certificate; root/dev stays anonymous
    let r = anon
        .get(format!("{base}/acme/prod/+simple/acme-billing/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("client_cert"));
    let r = alice
        .get(format!("{base}/acme/prod/+simple/acme-billing/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        anon.get(format!("{base}/root/dev/+simple/"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

/// The web UI over HTTPS: a client certificate makes its user the reader
/// of pages without a password (with a CSRF token for its forms), and a
/// session opened by the login form uses a `__Host-` cookie marked Secure.
#[test]
fn web_pages_know_certificate_users_and_use_secure_cookies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    pki(&dir, &["alice"]);
    let d = dir.to_str().unwrap().to_string();
    let s = Server::start_with(&[
        "--tls-cert",
        &format!("{d}/server.pem"),
        "--tls-key",
        &format!("{d}/server.key"),
        "--client-ca",
        &format!("{d}/ca.pem"),
        "--client-auth",
        "optional",
        "--cert-identity",
        "san-uri",
    ]);
    let base = s.base.replace("127.0.0.1", "localhost");
    let url = |p: &str| format!("{base}{p}");
    let browser = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
    let anon = tls_client(&dir, None);
    let r = anon
        .put(url("/alice"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&serde_json::json!({"password": "apw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    let alice = tls_client(&dir, Some("alice"));
    let page = alice
        .get(url("/"))
        .header("Accept", browser)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("known by a client certificate"), "{page}");
    assert!(page.contains(">alice<"));
    let page = anon
        .get(url("/"))
        .header("Accept", browser)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("href=\"/+login\""),
        "no certificate, nobody: {page}"
    );

    // the login form over HTTPS: __Host- cookies, Secure
    let r = anon
        .get(url("/+login"))
        .header("Accept", browser)
        .send()
        .unwrap();
    let pre = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(pre.starts_with("__Host-airlock_login="), "{pre}");
    assert!(pre.contains("Secure"), "{pre}");
    let page = r.text().unwrap();
    let marker = "name=\"csrf\" value=\"";
    let i = page.find(marker).unwrap() + marker.len();
    let csrf = &page[i..i + page[i..].find('"').unwrap()];
    let no_redirect = reqwest::blocking::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let r = no_redirect
        .post(url("/+web/login"))
        .header("Origin", base.trim_end_matches('/'))
        .header("Cookie", pre.split(';').next().unwrap())
        .form(&[("user", "alice"), ("password", "apw"), ("csrf", csrf)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap_or_default());
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-airlock_session="))
        .expect("a __Host- session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
}
