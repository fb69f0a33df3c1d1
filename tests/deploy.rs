//! Deployment behind nginx and under systemd, against the real binary:
//! `--accel-redirect` answers (only after every check), SIGHUP reloading
//! the policies of a running server, and `gen-config systemd` passing
//! `systemd-analyze verify`. (Real nginx in front: tests/e2e/test_nginx.py.)

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{client, create_user, sha256_hex, upload, wheel, Server};

const PREFIX: &str = "/+airlock-internal";

fn policy(dir: &Path, install: &str) {
    std::fs::write(
        dir.join("acme.toml"),
        format!(
            r#"
[index."acme/dev"]
type = "stage"
volatile = true
upload_users = ["alice"]
auth = {{ install = [{install}] }}
"#
        ),
    )
    .expect("write policy");
}

/// Upload a wheel to acme/dev as alice; its download path and bytes.
fn upload_wheel(s: &Server) -> (String, Vec<u8>) {
    create_user(s, "alice", "alice-pw");
    let (filename, bytes) = wheel("deploydemo", "1.0", "deploydemo");
    let r = upload(
        s,
        "acme/dev",
        Some(("alice", "alice-pw")),
        &filename,
        bytes.clone(),
        &[],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let hex = sha256_hex(&bytes);
    (
        format!("/acme/dev/+f/{}/{}/{filename}", &hex[..3], &hex[3..16]),
        bytes,
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn accel_redirect_hands_only_authorised_downloads_to_the_proxy() {
    let pol = tempfile::tempdir().expect("tmp");
    policy(pol.path(), "\"password\"");
    let s = Server::start_with(&[
        "--policies",
        pol.path().to_str().unwrap(),
        "--accel-redirect",
        PREFIX,
    ]);
    let (path, bytes) = upload_wheel(&s);
    let hex = sha256_hex(&bytes);

    // refused by the index's read policy: the refusal, never the header
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = client()
            .request(method.clone(), s.url(&path))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{method}");
        assert!(r.headers().get("x-accel-redirect").is_none(), "{method}");
    }
    let r = client().get(s.url(&path)).send().unwrap();
    assert!(r.text().unwrap().contains("need credentials"));

    // authorised: empty body, the blob's place below the prefix, and the
    // headers nginx keeps for the client
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = client()
            .request(method.clone(), s.url(&path))
            .basic_auth("alice", Some("alice-pw"))
            .header("range", "bytes=0-9")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{method}: Range is nginx's to answer");
        let h = r.headers().clone();
        let target = h["x-accel-redirect"].to_str().unwrap().to_string();
        assert_eq!(
            target,
            format!("{PREFIX}/{}/{}/{hex}", &hex[..2], &hex[2..4]),
            "{method}"
        );
        assert_eq!(h["content-type"], "application/zip");
        assert_eq!(h["etag"].to_str().unwrap(), format!("\"{hex}\""));
        assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
        assert!(h.get("content-range").is_none());
        assert!(
            r.bytes().unwrap().is_empty(),
            "{method}: airlock sent no bytes"
        );
        // nginx's alias of the prefix is <data>/blobs/: the very bytes
        let blob = s
            .data
            .join("blobs")
            .join(target.strip_prefix(&format!("{PREFIX}/")).unwrap());
        assert_eq!(std::fs::read(&blob).unwrap(), bytes);
    }
    // core metadata (PEP 658) goes the same way
    let r = client()
        .get(s.url(&format!("{path}.metadata")))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let meta_target = r.headers()["x-accel-redirect"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(meta_target.starts_with(&format!("{PREFIX}/")));
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");

    // a file that is not there: 404, no header
    let r = client()
        .get(s.url(&path.replace("deploydemo-1.0", "deploydemo-2.0")))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-accel-redirect").is_none());

    // the log shows the authorisation
    let log = s.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("download authorised") && l.contains(&hex)),
        "{log}"
    );
    // nginx's workers (airlock's group) may read the blobs, nothing else
    let blob = s
        .data
        .join("blobs")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&hex);
    assert_eq!(mode(&blob), 0o640);
    assert_eq!(mode(blob.parent().unwrap()), 0o710);
    assert_eq!(mode(&s.data), 0o710);
    // (on PostgreSQL, the database and the token secret are not in it)
    if !common::on_postgres() {
        assert_eq!(mode(&s.data.join("airlock.sqlite3")) & 0o077, 0);
        assert_eq!(mode(&s.data.join("secret")) & 0o077, 0);
    }
}

#[test]
fn accel_redirect_prefixes_are_checked() {
    for bad in ["airlock", "/", "/a/../b", "/a b", "/x/"] {
        let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["serve", "--listen", "127.0.0.1:0", "--accel-redirect", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--accel-redirect"),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn hup(s: &Server) {
    let st = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn sighup_reloads_the_policies_and_refuses_broken_ones() {
    let pol = tempfile::tempdir().expect("tmp");
    policy(pol.path(), "");
    let s = Server::start_with(&["--policies", pol.path().to_str().unwrap()]);
    let (path, bytes) = upload_wheel(&s);
    let anonymous = || client().get(s.url(&path)).send().unwrap().status().as_u16();
    assert_eq!(anonymous(), 200);

    // installs now need a password: in force after SIGHUP, without a restart
    policy(pol.path(), "\"password\"");
    hup(&s);
    wait_for("the new policy", Duration::from_secs(10), || {
        anonymous() == 401
    });
    let r = client()
        .get(s.url(&path))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap(), bytes);
    assert!(s.log_text().contains("SIGHUP: policies reloaded"));

    // a policy that does not parse: refused, the previous one stays
    std::fs::write(pol.path().join("acme.toml"), "[index.\"acme/dev\"\ntype = ").unwrap();
    hup(&s);
    wait_for("the refusal in the log", Duration::from_secs(10), || {
        s.log_text().contains("policy reload refused")
    });
    assert_eq!(anonymous(), 401, "the previous policy is still in force");

    // policies that would break the production invariant: refused whole
    std::fs::write(
        pol.path().join("acme.toml"),
        r#"
[index."acme/dev"]
type = "stage"
volatile = true
upload_users = ["alice"]
auth = { install = [] }

[index."acme/prod"]
type = "stage"
production = true
bases = ["root/pypi"]
"#,
    )
    .unwrap();
    hup(&s);
    wait_for("a second refusal", Duration::from_secs(10), || {
        s.log_text().matches("policy reload refused").count() >= 2
    });
    assert_eq!(anonymous(), 401, "nothing of the refused policies applied");
    let r = client().get(s.url("/acme/prod")).send().unwrap();
    assert_eq!(r.status(), 404, "the refused policies created no index");
}

/// `systemd-analyze`, or None when it is missing outside CI.
fn systemd_analyze() -> Option<&'static str> {
    let path = "/usr/bin/systemd-analyze";
    if Path::new(path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "systemd-analyze is missing (tests/run.sh installs Debian's systemd)"
    );
    eprintln!("skipping: systemd-analyze is missing");
    None
}

#[test]
fn the_generated_systemd_unit_verifies() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let audit = tmp.path().join("log").join("audit.jsonl");
    std::fs::create_dir_all(audit.parent().unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["gen-config", "systemd", "--data", "/var/lib/airlock"])
        .args(["--outside-url", "https://pkg.acme.internal"])
        .args(["--accel-redirect", PREFIX, "--typo-evidence"])
        .args([
            "--trusted-proxy",
            "--proxy-socket",
            "/run/airlock/proxy.sock",
        ])
        .arg("--audit-jsonl")
        .arg(&audit)
        .args(["--binary", env!("CARGO_BIN_EXE_airlock")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = String::from_utf8(out.stdout).unwrap();
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    for want in [
        "--data /var/lib/airlock",
        "--outside-url https://pkg.acme.internal",
        "--accel-redirect /+airlock-internal",
        "--typo-evidence",
        &format!("--audit-jsonl {}", audit.display()),
        "--trusted-proxy --proxy-socket /run/airlock/proxy.sock",
    ] {
        assert!(exec.contains(want), "{want:?} not in {exec}");
    }
    // the folders of the audit export and of the proxy socket are writable
    let rw = unit
        .lines()
        .find(|l| l.starts_with("ReadWritePaths="))
        .expect("ReadWritePaths");
    assert!(
        unit.lines().any(|l| l == "RuntimeDirectory=airlock"),
        "{unit}"
    );
    for want in [
        "/var/lib/airlock",
        "/run/airlock",
        audit.parent().unwrap().to_str().unwrap(),
    ] {
        assert!(
            rw.split_whitespace()
                .any(|p| p.trim_start_matches("ReadWritePaths=") == want),
            "{want} not in {rw}"
        );
    }
    let file = tmp.path().join("airlock.service");
    std::fs::write(&file, &unit).unwrap();
    let check = |file: &Path| {
        let out = Command::new(analyze)
            .arg("verify")
            .arg(file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        // verify exits 0 on a key it ignores: it only warns; any word about
        // our file is a defect
        let about_it: Vec<String> = stderr
            .lines()
            .filter(|l| l.contains(file.file_name().unwrap().to_str().unwrap()))
            .map(str::to_string)
            .collect();
        (out.status.success(), about_it)
    };
    let (ok, complaints) = check(&file);
    assert!(ok && complaints.is_empty(), "{complaints:?}\n{unit}");

    // and the check can fail: a misspelt value is reported
    let broken = tmp.path().join("broken.service");
    std::fs::write(
        &broken,
        unit.replace("ProtectHome=yes", "ProtectHome=perhaps"),
    )
    .unwrap();
    let (_, complaints) = check(&broken);
    assert!(!complaints.is_empty(), "systemd-analyze saw nothing wrong");
}

#[test]
fn gen_config_nginx_refuses_settings_that_cannot_work() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("gen-config")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, _, err) = run(&["nginx"]);
    assert!(!ok && err.contains("--outside-url"), "{err}");
    let (ok, _, err) = run(&["nginx", "--outside-url", "https://pkg.acme.internal"]);
    assert!(!ok && err.contains("--nginx-tls-cert"), "{err}");
    let (ok, _, err) = run(&[
        "nginx",
        "--outside-url",
        "https://pkg.acme.internal",
        "--tls-cert",
        "s.pem",
        "--tls-key",
        "s.key",
        "--accel-redirect",
        PREFIX,
    ]);
    assert!(
        !ok && err.contains("passes the connection through"),
        "{err}"
    );
    // airlock verifying client certificates itself: a TLS pass-through
    let (ok, out, err) = run(&[
        "nginx",
        "--outside-url",
        "https://pkg.acme.internal",
        "--tls-cert",
        "s.pem",
        "--tls-key",
        "s.key",
        "--client-ca",
        "ca.pem",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("stream {") && out.contains("ssl_preread on;"),
        "{out}"
    );
}
