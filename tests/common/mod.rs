//! Test harness: starts the real `airlock` binary on 127.0.0.1:0 with a
//! fresh data folder, and builds distribution files in memory.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "pg.rs"]
pub mod pg;

pub const ROOT_PW: &str = "root-secret";

/// The policy folder shipped in the repository.
pub fn shipped_policies() -> String {
    format!("{}/policies", env!("CARGO_MANIFEST_DIR"))
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// The separate metrics listener's URL, when started with `--metrics-listen`.
    pub metrics: Option<String>,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    args: Vec<String>,
    /// Extra environment of the server process.
    env: Vec<(String, String)>,
    pub log: PathBuf,
    /// The private PostgreSQL cluster holding this server's metadata, when
    /// the tests run on PostgreSQL ([`on_postgres`]).
    pg: Option<(pg::PgCluster, String)>,
}

/// A server's PostgreSQL cluster and database, kept past the server
/// ([`Server::detach_database`]).
pub struct Database((pg::PgCluster, String));

/// Whether the integration tests run with `--database postgres://`
/// (`AIRLOCK_TEST_DATABASE=postgres`): each server then gets a private
/// PostgreSQL cluster of its own, stopped with it.
pub fn on_postgres() -> bool {
    std::env::var("AIRLOCK_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// A server started with these extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut s = Server {
            child: None,
            base: String::new(),
            metrics: None,
            data,
            log: tmp.path().join("server.log"),
            _tmp: Some(tmp),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            pg: None,
        };
        s.spawn();
        s
    }

    /// Keep this server's PostgreSQL database (when the tests run on
    /// PostgreSQL) for a server started later on the same data folder
    /// ([`Server::start_on_database`]); the cluster would stop with it.
    pub fn detach_database(&mut self) -> Option<Database> {
        self.pg.take().map(Database)
    }

    /// [`Server::start_on`] with the database an earlier server on `data`
    /// used (`None`: the embedded one, or a new one on PostgreSQL).
    pub fn start_on_database(data: &Path, args: &[&str], db: Option<Database>) -> Self {
        let mut s = Self::unstarted_on(data, args);
        s.pg = db.map(|d| d.0);
        s.spawn();
        s
    }

    /// A server on an existing data folder `data` (for instance one
    /// `airlock restore` wrote); its log goes beside it.
    pub fn start_on(data: &Path, args: &[&str]) -> Self {
        let mut s = Self::unstarted_on(data, args);
        s.spawn();
        s
    }

    fn unstarted_on(data: &Path, args: &[&str]) -> Self {
        Server {
            child: None,
            base: String::new(),
            metrics: None,
            data: data.to_path_buf(),
            log: data.with_file_name(format!(
                "{}.server.log",
                data.file_name().unwrap().to_string_lossy()
            )),
            _tmp: None,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            pg: None,
        }
    }

    fn spawn(&mut self) {
        if on_postgres() && self.pg.is_none() && !self.args.iter().any(|a| a == "--database") {
            let cluster = pg::PgCluster::start();
            let url = cluster.create_database("airlock");
            self.pg = Some((cluster, url));
        }
        let database: Vec<String> = match &self.pg {
            Some((_, url)) => vec!["--database".into(), url.clone()],
            None => Vec::new(),
        };
        let password: Vec<(String, String)> = match &self.pg {
            Some((cluster, _)) => vec![(
                "AIRLOCK_DATABASE_PASSWORD".into(),
                cluster.password().to_string(),
            )],
            None => Vec::new(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(&self.data)
            .args(["--log-format", "json"])
            .args(&self.args)
            // Tests never reach the internet: without an explicit upstream the
            // root/pypi mirror runs offline.
            .args(
                if self
                    .args
                    .iter()
                    .any(|a| a == "--upstream" || a == "--offline")
                {
                    &[][..]
                } else {
                    &["--offline"][..]
                },
            )
            // Core tests run without policies (an empty folder); policy
            // tests pass --policies themselves.
            .args(if self.args.iter().any(|a| a == "--policies") {
                vec![]
            } else {
                let empty = self.data.with_file_name("no-policies");
                std::fs::create_dir_all(&empty).expect("empty policy dir");
                vec!["--policies".to_string(), empty.display().to_string()]
            })
            .env("AIRLOCK_ROOT_PASSWORD", ROOT_PW)
            .env("AIRLOCK_LOG", "info")
            .args(&database)
            .envs(password)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start airlock");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut base = None;
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("airlock metrics on ") {
                        self.metrics = Some(url.trim().to_string());
                    }
                    if let Some(url) = line.strip_prefix("airlock listening on ") {
                        base = Some(url.trim().to_string());
                        break;
                    }
                }
                _ => break,
            }
        }
        // keep draining stdout so the server never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        self.base = base.unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "airlock did not start; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        });
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGTERM and wait: the graceful shutdown path.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success(),
                        "airlock exited with {status} on SIGTERM; log:\n{}",
                        self.log_text()
                    );
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("airlock did not stop within 15 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGKILL, as a crash: no shutdown path runs. [`Server::restart`]
    /// starts it again on the same data (and database).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop, and start again on the same data (and database) with other
    /// command-line arguments.
    pub fn restart_with(&mut self, args: &[&str]) {
        self.stop();
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.spawn();
    }

    /// The environment an `airlock` command on this server's data folder
    /// needs: what the server was started with (object-store credentials)
    /// and, on PostgreSQL, the database password.
    pub fn command_env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        if let Some((cluster, _)) = &self.pg {
            env.push((
                "AIRLOCK_DATABASE_PASSWORD".into(),
                cluster.password().to_string(),
            ));
        }
        env
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run `sql` (statements separated by `;`) on this server's metadata
    /// database, whichever engine holds it: what someone with access to the
    /// database (not to airlock) can do.
    pub fn exec_sql(&self, sql: &str) {
        match &self.pg {
            Some((cluster, _)) => {
                cluster.psql("airlock", sql);
            }
            None => {
                let conn = rusqlite::Connection::open(self.data.join("airlock.sqlite3"))
                    .expect("open the SQLite database");
                conn.execute_batch(sql).expect("SQL runs");
            }
        }
    }

    /// The bytes of every file the metadata database keeps: the SQLite file
    /// and its WAL, or every file of the PostgreSQL cluster's data folder.
    pub fn database_bytes(&self) -> Vec<Vec<u8>> {
        let mut files = Vec::new();
        match &self.pg {
            Some((cluster, _)) => {
                let mut found = Vec::new();
                walk(&cluster.data_dir(), &cluster.data_dir(), &mut found);
                for (rel, _) in found {
                    files.push(std::fs::read(cluster.data_dir().join(rel)).unwrap_or_default());
                }
            }
            None => {
                for name in ["airlock.sqlite3", "airlock.sqlite3-wal"] {
                    files.push(std::fs::read(self.data.join(name)).unwrap_or_default());
                }
            }
        }
        files
    }

    /// Every file below the data folder except the SQLite files, with sizes:
    /// what a failed request must leave unchanged.
    pub fn data_files(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        walk(&self.data, &self.data, &mut out);
        out.retain(|(p, _)| !p.starts_with("airlock.sqlite3"));
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            out.push((rel, e.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Core metadata text for `name`/`version`.
pub fn metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test package\nRequires-Python: >=3.8\n\nA description.\n"
    )
}

/// A minimal valid wheel: `filename_name` is the distribution part of the
/// filename (`demo_pkg`), `meta_name` the Name in METADATA.
pub fn wheel(filename_name: &str, version: &str, meta_name: &str) -> (String, Vec<u8>) {
    wheel_with_code(filename_name, version, meta_name, b"VALUE = 1\n")
}

/// [`wheel`] whose `__init__.py` holds `code` (two different files under
/// one filename).
pub fn wheel_with_code(
    filename_name: &str,
    version: &str,
    meta_name: &str,
    code: &[u8],
) -> (String, Vec<u8>) {
    let filename = format!("{filename_name}-{version}-py3-none-any.whl");
    let dist_info = format!("{filename_name}-{version}.dist-info");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts: zip::write::SimpleFileOptions = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file(format!("{filename_name}/__init__.py"), opts)
            .unwrap();
        z.write_all(code).unwrap();
        z.start_file(format!("{dist_info}/METADATA"), opts).unwrap();
        z.write_all(metadata(meta_name, version).as_bytes())
            .unwrap();
        z.start_file(format!("{dist_info}/WHEEL"), opts).unwrap();
        z.write_all(
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        .unwrap();
        z.start_file(format!("{dist_info}/RECORD"), opts).unwrap();
        z.finish().unwrap();
    }
    (filename, buf.into_inner())
}

/// A minimal valid sdist (`.tar.gz`).
pub fn sdist(name: &str, version: &str) -> (String, Vec<u8>) {
    let fname = name.replace('-', "_");
    let filename = format!("{fname}-{version}.tar.gz");
    let mut tar_bytes = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tar_bytes, flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        let md = metadata(name, version);
        let mut h = tar::Header::new_gnu();
        h.set_size(md.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, format!("{fname}-{version}/PKG-INFO"), md.as_bytes())
            .unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    (filename, tar_bytes)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    airlock::digest::Sha256::of(bytes).to_hex()
}

/// POST a file the way twine does.
pub fn upload(
    server: &Server,
    index: &str,
    auth: Option<(&str, &str)>,
    filename: &str,
    bytes: Vec<u8>,
    extra: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut form = reqwest::blocking::multipart::Form::new()
        .text(":action", "file_upload")
        .text("sha256_digest", sha256_hex(&bytes));
    for (k, v) in extra {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form.part(
        "content",
        reqwest::blocking::multipart::Part::bytes(bytes).file_name(filename.to_string()),
    );
    let mut req = client()
        .post(server.url(&format!("/{index}/")))
        .multipart(form);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    req.send().unwrap()
}

/// The files the simple page of `project` on `index` lists, as (filename,
/// sha256) in the page's order; none if the page is a 404.
pub fn files_on(s: &Server, index: &str, project: &str) -> Vec<(String, String)> {
    let r = client()
        .get(s.url(&format!("/{index}/+simple/{project}/")))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap();
    if r.status() == 404 {
        return vec![];
    }
    assert_eq!(r.status(), 200, "simple page of {project} on {index}");
    let j: serde_json::Value = r.json().unwrap();
    j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap().to_string(),
                f["hashes"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A JSON array of strings (a report's list).
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Log in as `user` and return the `X-Devpi-Auth` header value for the
/// login token (checked far faster than a password).
pub fn login_token(s: &Server, user: &str, password: &str) -> String {
    let r = client()
        .post(s.url("/+login"))
        .json(&serde_json::json!({"user": user, "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{user}:{}", v["result"]["password"].as_str().unwrap()),
    )
}

pub fn root() -> Option<(&'static str, &'static str)> {
    Some(("root", ROOT_PW))
}

/// Create a user as root.
pub fn create_user(server: &Server, name: &str, password: &str) {
    let r = client()
        .put(server.url(&format!("/{name}")))
        .basic_auth("root", Some(ROOT_PW))
        .json(&serde_json::json!({"password": password, "email": format!("{name}@example.test")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

/// Create an index as `auth`.
pub fn create_index(server: &Server, path: &str, auth: (&str, &str), config: serde_json::Value) {
    let r = client()
        .put(server.url(&format!("/{path}")))
        .basic_auth(auth.0, Some(auth.1))
        .json(&config)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
}

/// `GET /+audit` as root: the whole audit log, as JSON.
pub fn audit_log(server: &Server) -> serde_json::Value {
    client()
        .get(server.url("/+audit"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .expect("GET /+audit")
        .json()
        .expect("audit log JSON")
}
