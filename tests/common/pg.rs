//! A private PostgreSQL cluster for tests: `initdb` into a temporary
//! folder, started with `pg_ctl` on a loopback port, stopped (by the PID in
//! its `postmaster.pid`) when dropped. PostgreSQL refuses to run as root,
//! so under root (as in CI) the cluster belongs to `nobody`.
//!
//! The server comes from Debian's `postgresql` package (tests/run.sh
//! installs it); a machine without it fails the test with that message
//! rather than skipping it.
//!
//! Shared by the unit tests (`store::sql::pg_cluster` includes this file)
//! and the integration tests (`tests/common`), so it uses nothing of the
//! crate itself.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
    as_user: Option<String>,
    /// Started with `ssl=on` ([`PgCluster::start_with_tls`]).
    tls: bool,
}

const USER: &str = "airlock";

impl PgCluster {
    pub fn start() -> Self {
        let bin = server_bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL's initdb/pg_ctl not found (/usr/lib/postgresql/*/bin or PATH): \
                 install Debian's postgresql package (tests/run.sh does)"
            )
        });
        let as_user = is_root().then(|| "nobody".to_string());
        // Under root the cluster's folder must be reachable by `nobody`:
        // /tmp is, a TMPDIR under root's home may not be.
        let mut builder = tempfile::Builder::new();
        builder.prefix("airlock-pg-");
        let dir = if as_user.is_some() {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .expect("temp dir for the cluster");
        if let Some(user) = &as_user {
            chown_to(dir.path(), user);
        }
        let password = hex::encode(
            ring::rand::generate::<[u8; 16]>(&ring::rand::SystemRandom::new())
                .expect("random")
                .expose(),
        );
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).expect("password file");
        if let Some(user) = &as_user {
            chown_to(&pwfile, user);
        }
        let data = dir.path().join("data");
        run(
            &as_user,
            Command::new(bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", USER, "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"])
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        );
        let mut cluster = Self {
            dir,
            bin,
            port: 0,
            password,
            as_user,
            tls: false,
        };
        for attempt in 0..5 {
            cluster.port = free_port();
            if cluster.try_start() {
                return cluster;
            }
            eprintln!(
                "PostgreSQL did not start on port {} (attempt {attempt})",
                cluster.port
            );
        }
        let log = std::fs::read_to_string(cluster.dir.path().join("log")).unwrap_or_default();
        panic!("PostgreSQL did not start; its log:\n{log}");
    }

    /// A cluster that also accepts TLS, with a server certificate for
    /// 127.0.0.1 and localhost signed by a private CA; returns the CA's PEM
    /// file too (what `AIRLOCK_DATABASE_CA` names).
    pub fn start_with_tls() -> (Self, PathBuf) {
        let mut cluster = Self::start();
        let dir = cluster.dir.path().to_path_buf();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "airlock test database CA");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("CA file");
        let (crt, pem_key) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&crt, cert.pem()).expect("certificate");
        std::fs::write(&pem_key, key.serialize_pem()).expect("key");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pem_key, std::fs::Permissions::from_mode(0o600))
                .expect("key mode");
        }
        if let Some(user) = &cluster.as_user {
            chown_to(&crt, user);
            chown_to(&pem_key, user);
        }
        cluster.kill_and_wait();
        cluster.tls = true;
        assert!(cluster.try_start(), "PostgreSQL with TLS did not start");
        (cluster, ca_file)
    }

    fn try_start(&self) -> bool {
        let tls = if self.tls {
            format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
                dir = self.dir.path().display()
            )
        } else {
            String::new()
        };
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200{tls}",
            self.port,
            self.dir.path().display()
        );
        let mut cmd = Command::new(self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        status(&self.as_user, &mut cmd)
    }

    /// A connection URL without the password (given separately, as
    /// `AIRLOCK_DATABASE_PASSWORD` would be).
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The password of the cluster's user (what `AIRLOCK_DATABASE_PASSWORD`
    /// would hold).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The cluster's data folder (its files, for tests that look for what
    /// must never be stored).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the server's client programs, set to reach it as its user.
    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .env("PGPASSWORD", &self.password)
            .stdin(Stdio::null());
        c
    }

    /// Run `sql` on the database `name` with psql (as the cluster's user);
    /// its output, or a panic with psql's error.
    pub fn psql(&self, name: &str, sql: &str) -> String {
        let out = self
            .client("psql")
            .args([
                "-d",
                name,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-A",
                "-t",
                "-c",
                sql,
            ])
            .output()
            .unwrap_or_else(|e| panic!("psql: {e}"));
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stop the server at once (SIGQUIT: as a crash would, clients see
    /// their connections drop); [`PgCluster::start_again`] brings it back
    /// on the same port with the same data. The test cluster runs with
    /// `synchronous_commit=off`, under which a crash may lose the commits
    /// of the last moments: they are written out first, so what airlock
    /// acknowledged survives, as it would with the durable default.
    pub fn stop_now(&self) {
        self.psql("postgres", "CHECKPOINT");
        self.kill_and_wait();
    }

    /// Start the stopped server again (same port, same data).
    pub fn start_again(&self) {
        assert!(self.try_start(), "PostgreSQL did not start again");
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Create the database `name` and return its URL (no password).
    pub fn create_database(&self, name: &str) -> String {
        let out = self
            .client("createdb")
            .arg(name)
            .output()
            .unwrap_or_else(|e| panic!("createdb: {e}"));
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.kill_and_wait();
    }
}

impl PgCluster {
    fn kill_and_wait(&self) {
        if let Some(pid) = self.pid() {
            // SIGQUIT: immediate shutdown, the postmaster ends its children.
            let _ = Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    // The effective uid of this process, from /proc (no libc call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn chown_to(path: &Path, user: &str) {
    let ok = Command::new("chown")
        .arg(user)
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown {user} {}", path.display());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wrap(as_user: &Option<String>, cmd: &mut Command) -> Command {
    let mut out = match as_user {
        Some(user) => {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                user,
                "--regid",
                "nogroup",
                "--clear-groups",
                "--",
            ]);
            c.arg(cmd.get_program());
            c
        }
        None => Command::new(cmd.get_program()),
    };
    out.args(cmd.get_args());
    out.current_dir("/");
    out
}

fn status(as_user: &Option<String>, cmd: &mut Command) -> bool {
    wrap(as_user, cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(as_user: &Option<String>, cmd: &mut Command, what: &str) {
    let out = wrap(as_user, cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
