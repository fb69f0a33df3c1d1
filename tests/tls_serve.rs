//! End-to-end tests of the HTTPS listener: a real `serve_tls` on 127.0.0.1 with a
//! generated PKI, real TLS clients (reqwest/rustls, raw sockets, curl when installed).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::connection::ConnectionInfo;
use airlock::tls::pki::{client_name, write_atomically, Ca, IssuedCert, Validity};
use airlock::tls::{
    serve_tls_with, server_config, spawn_crl_watcher, ClientAuth, CrlReloader, ServeOptions,
    TlsSettings,
};
use axum::routing::get;
use axum::{Extension, Router};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A private CA with a server certificate and a few client certificates, on disk.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    clients: Vec<(String, IssuedCert)>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let valid = Validity::days_from_now(30);
        let ca = Ca::generate("tls test CA", &valid).expect("ca");
        let server = ca
            .issue_server(&["localhost".into(), "127.0.0.1".into()], &valid)
            .expect("server cert");
        write(dir.path(), "ca.pem", ca.cert_pem());
        write(
            dir.path(),
            "server.pem",
            &format!("{}{}", server.cert_pem, ca.cert_pem()),
        );
        write(dir.path(), "server.key", &server.key_pem);

        let mut clients = Vec::new();
        for name in ["alice", "bob"] {
            let issued = ca
                .issue_client(&client_name(name).expect("name"), &valid)
                .expect("client cert");
            clients.push((name.to_owned(), issued));
        }
        let now = OffsetDateTime::now_utc();
        let expired = Validity {
            not_before: now - time::Duration::days(10),
            not_after: now - time::Duration::days(1),
        };
        let old = ca
            .issue_client(&client_name("old").expect("name"), &expired)
            .expect("expired cert");
        clients.push(("expired".to_owned(), old));
        let other_ca = Ca::generate("tls test CA", &valid).expect("other ca");
        let mallory = other_ca
            .issue_client(&client_name("alice").expect("name"), &valid)
            .expect("foreign cert");
        clients.push(("foreign".to_owned(), mallory));

        let pki = Pki { dir, ca, clients };
        pki.write_crl(&[]);
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn client(&self, name: &str) -> &IssuedCert {
        self.clients
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .expect("known client")
    }

    /// Atomically replaces crl.pem with a CRL revoking the named clients.
    fn write_crl(&self, revoked: &[&str]) {
        let now = OffsetDateTime::now_utc();
        let entries: Vec<_> = revoked
            .iter()
            .map(|n| (self.client(n).serial.clone(), now))
            .collect();
        let pem = self.ca.revocation_list(&entries, 7).expect("crl");
        write_atomically(&self.path("crl.pem"), pem.as_bytes(), 0o644).expect("write crl");
    }

    fn settings(&self, mode: ClientAuth, with_crl: bool) -> TlsSettings {
        TlsSettings {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: vec![self.path("ca.pem")],
            client_auth: mode,
            crl: if with_crl {
                vec![self.path("crl.pem")]
            } else {
                vec![]
            },
        }
    }
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).expect("write");
}

async fn whoami(
    Extension(info): Extension<ConnectionInfo>,
    request: axum::extract::Request,
) -> String {
    let version = format!("{:?}", request.version());
    match info.peer_cert {
        Some(cert) => format!(
            "cn={} uri={} fp={} peer_ip={} version={version}",
            cert.subject_cn.as_deref().unwrap_or("-"),
            cert.san_uris.join(","),
            cert.fingerprint_sha256,
            info.peer_addr.ip(),
        ),
        None => format!(
            "anonymous peer_ip={} version={version}",
            info.peer_addr.ip()
        ),
    }
}

fn app() -> Router {
    Router::new().route("/whoami", get(whoami)).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            "finished"
        }),
    )
}

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    reloader: Option<Arc<CrlReloader>>,
}

impl Server {
    async fn start(settings: &TlsSettings, options: ServeOptions) -> Server {
        let built = server_config(settings).expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_tls_with(
            listener,
            built.rustls,
            app(),
            async move {
                let _ = stopped.await;
            },
            options,
        ));
        Server {
            addr,
            stop: Some(stop),
            task,
            reloader: built.crl_reloader,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server stops within 10 s")
            .expect("server task did not panic");
        result.expect("serve_tls returned an error");
    }
}

fn options() -> ServeOptions {
    ServeOptions {
        handshake_timeout: Duration::from_secs(5),
        limits: airlock::listener::ConnLimits {
            header_read_timeout: Duration::from_secs(5),
            ..Default::default()
        },
        drain_timeout: Duration::from_secs(5),
    }
}

/// A fresh client (no pooled connections, no TLS session cache shared between calls).
fn client(pki: &Pki, identity: Option<&str>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(pki.ca.cert_pem().as_bytes()).expect("ca pem");
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        // HTTP/1.1, as before object_store's dependency on reqwest turned on
        // its http2 feature for every reqwest client in the build
        .http1_only()
        .timeout(Duration::from_secs(10));
    if let Some(name) = identity {
        let cert = pki.client(name);
        let pem = format!("{}{}", cert.cert_pem, cert.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("client")
}

async fn get_whoami(pki: &Pki, server: &Server, identity: Option<&str>) -> Result<String, String> {
    let response = client(pki, identity)
        .get(server.url("/whoami"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("{e:?}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}

fn fingerprint(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).expect("pem");
    airlock::digest::Sha256::of(&pem.contents).to_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_client_certificate_identity_reaches_the_handler() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;

    let body = get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("alice gets in");
    let expected_fp = fingerprint(&pki.client("alice").cert_pem);
    assert!(
        body.starts_with("cn=alice uri=airlock:user:alice "),
        "{body}"
    );
    assert!(body.contains(&format!("fp={expected_fp}")), "{body}");
    assert!(body.contains("peer_ip=127.0.0.1"), "{body}");

    let body = get_whoami(&pki, &server, Some("bob"))
        .await
        .expect("bob gets in");
    assert!(body.starts_with("cn=bob uri=airlock:user:bob "), "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_auth_admits_anonymous_clients_but_not_bad_certificates() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Optional, true), options()).await;

    let body = get_whoami(&pki, &server, None)
        .await
        .expect("anonymous gets in");
    assert!(body.starts_with("anonymous "), "{body}");
    let body = get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("alice gets in");
    assert!(body.starts_with("cn=alice "), "{body}");
    // Presenting a certificate that does not verify is not the same as presenting none.
    for bad in ["foreign", "expired"] {
        let outcome = get_whoami(&pki, &server, Some(bad)).await;
        assert!(outcome.is_err(), "{bad} certificate accepted: {outcome:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_auth_rejects_missing_foreign_and_expired_certificates() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;

    let cases: &[(&str, Option<&str>)] = &[
        ("no certificate", None),
        (
            "certificate from another CA with the same CA name",
            Some("foreign"),
        ),
        ("expired certificate", Some("expired")),
    ];
    for (what, identity) in cases {
        let outcome = get_whoami(&pki, &server, *identity).await;
        assert!(outcome.is_err(), "{what} accepted: {outcome:?}");
    }
    // The server is still fine after all those failed handshakes.
    get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("alice still gets in");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificate_is_rejected() {
    let pki = Pki::new();
    pki.write_crl(&["alice"]);
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;

    let outcome = get_whoami(&pki, &server, Some("alice")).await;
    assert!(outcome.is_err(), "revoked alice accepted: {outcome:?}");
    get_whoami(&pki, &server, Some("bob"))
        .await
        .expect("bob is not revoked");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_reload_puts_a_replaced_crl_in_force() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;
    get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("alice gets in before revocation");

    pki.write_crl(&["alice"]);
    let reloader = server.reloader.clone().expect("reloader");
    reloader.reload().expect("reload");

    let outcome = get_whoami(&pki, &server, Some("alice")).await;
    assert!(
        outcome.is_err(),
        "alice accepted after revocation: {outcome:?}"
    );
    get_whoami(&pki, &server, Some("bob"))
        .await
        .expect("bob still gets in");

    // And un-revoking works the same way.
    pki.write_crl(&[]);
    reloader.reload().expect("reload");
    get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("alice gets in again");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_picks_up_a_replaced_crl_file() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;
    let watcher = spawn_crl_watcher(
        server.reloader.clone().expect("reloader"),
        Duration::from_millis(100),
    );
    get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("alice gets in before revocation");

    pki.write_crl(&["alice"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get_whoami(&pki, &server, Some("alice")).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revocation not picked up within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    get_whoami(&pki, &server, Some("bob"))
        .await
        .expect("bob still gets in");

    // A broken replacement is ignored: the previous CRL (revoking alice) stays in force.
    write_atomically(&pki.path("crl.pem"), b"garbage", 0o644).expect("write");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(get_whoami(&pki, &server, Some("alice")).await.is_err());
    get_whoami(&pki, &server, Some("bob"))
        .await
        .expect("bob still gets in");

    watcher.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_client_cannot_sneak_back_in_by_resuming_a_tls_session() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;
    // One client = one TLS session cache; no connection pooling, so every request is a new
    // handshake that would try to resume the previous session.
    let ca = reqwest::Certificate::from_pem(pki.ca.cert_pem().as_bytes()).expect("ca pem");
    let alice = pki.client("alice");
    let identity =
        reqwest::Identity::from_pem(format!("{}{}", alice.cert_pem, alice.key_pem).as_bytes())
            .expect("identity");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(identity)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for _ in 0..2 {
        let response = client
            .get(server.url("/whoami"))
            .send()
            .await
            .expect("alice gets in");
        assert!(response.status().is_success());
    }

    pki.write_crl(&["alice"]);
    server
        .reloader
        .clone()
        .expect("reloader")
        .reload()
        .expect("reload");
    let outcome = client.get(server.url("/whoami")).send().await;
    assert!(
        outcome.is_err(),
        "revoked alice resumed her session: {outcome:?}"
    );
    server.stop().await;
}

/// A TLS 1.1 ClientHello (no supported_versions extension) offering only CBC suites.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(0); // session id length
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&u16::try_from(body.len()).expect("small").to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).expect("small").to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Sends `bytes` and returns whatever the server answers before closing (or 2 s pass).
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_tls_and_plain_http_are_refused_and_the_server_keeps_serving() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Optional, false), options()).await;

    let answer = raw_exchange(server.addr, &tls11_client_hello()).await;
    // Either a TLS alert record or a plain close, never a ServerHello (0x16).
    assert!(
        answer.is_empty() || answer.first() == Some(&0x15),
        "TLS 1.1 hello answered with {answer:02x?}"
    );

    let answer = raw_exchange(server.addr, b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {}",
        String::from_utf8_lossy(&answer)
    );

    let body = get_whoami(&pki, &server, Some("alice"))
        .await
        .expect("server still serves TLS clients");
    assert!(body.contains("version=HTTP/1.1"), "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_are_dropped_after_the_timeout() {
    let pki = Pki::new();
    let server = Server::start(
        &pki.settings(ClientAuth::Optional, false),
        ServeOptions {
            handshake_timeout: Duration::from_millis(300),
            ..options()
        },
    )
    .await;

    let started = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("server closes a silent connection well before 5 s");
    assert!(matches!(read, Ok(0) | Err(_)), "got data: {read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));

    get_whoami(&pki, &server, None)
        .await
        .expect("server still serves");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(ClientAuth::Required, false), options()).await;

    let request = client(&pki, Some("alice")).get(server.url("/slow")).send();
    let in_flight = tokio::spawn(async move {
        let response = request.await.map_err(|e| format!("{e:?}"))?;
        response.text().await.map_err(|e| format!("{e:?}"))
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = server.addr;
    server.stop().await;

    let body = in_flight
        .await
        .expect("join")
        .expect("in-flight request completes");
    assert_eq!(body, "finished");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener still accepts after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_client_certificate_speaks_http2() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("curl not installed; skipping");
        return;
    }
    let pki = Pki::new();
    let alice = pki.client("alice");
    write(pki.dir.path(), "alice.pem", &alice.cert_pem);
    write(pki.dir.path(), "alice.key", &alice.key_pem);
    let server = Server::start(&pki.settings(ClientAuth::Required, true), options()).await;

    let output = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--http2", "--max-time", "10"])
        .arg("--cacert")
        .arg(pki.path("ca.pem"))
        .arg("--cert")
        .arg(pki.path("alice.pem"))
        .arg("--key")
        .arg(pki.path("alice.key"))
        .arg(server.url("/whoami"))
        .output()
        .await
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("cn=alice "), "{stdout}");
    assert!(stdout.contains("version=HTTP/2.0"), "{stdout}");

    // TLS 1.2 with a client certificate works too.
    let output = tokio::process::Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--tls-max",
            "1.2",
            "--max-time",
            "10",
        ])
        .arg("--cacert")
        .arg(pki.path("ca.pem"))
        .arg("--cert")
        .arg(pki.path("alice.pem"))
        .arg("--key")
        .arg(pki.path("alice.key"))
        .arg(server.url("/whoami"))
        .output()
        .await
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl over TLS 1.2 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("cn=alice "), "{stdout}");

    let output = tokio::process::Command::new("curl")
        .args(["--silent", "--max-time", "10"])
        .arg("--cacert")
        .arg(pki.path("ca.pem"))
        .arg(server.url("/whoami"))
        .output()
        .await
        .expect("run curl");
    assert!(
        !output.status.success(),
        "curl without a certificate got in"
    );
    server.stop().await;
}

/// A raw TLS client trusting the test CA, for requests a normal client
/// would not send.
async fn raw_tls(pki: &Pki, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = pki.ca.cert_pem();
    let der = pem_to_der(pem);
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .expect("ca");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.expect("handshake")
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).expect("pem")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_https_listener_has_the_same_connection_limits() {
    let pki = Pki::new();
    let server = Server::start(
        &pki.settings(ClientAuth::Optional, false),
        ServeOptions {
            limits: airlock::listener::ConnLimits {
                header_read_timeout: Duration::from_millis(600),
                idle_timeout: Duration::from_millis(600),
                max_connections_per_peer: 3,
                ..Default::default()
            },
            ..options()
        },
    )
    .await;
    // after the handshake, a head that never finishes is cut off
    let mut tls = raw_tls(&pki, server.addr).await;
    tls.write_all(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .expect("closed well before 5 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    drop(tls);
    // both framing headers: 400 and closed
    let mut tls = raw_tls(&pki, server.addr).await;
    tls.write_all(
        b"POST /whoami HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    drop(tls);
    // the per-peer cap counts connections still in their handshake
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held: Vec<TcpStream> =
        futures_util::future::join_all((0..3).map(|_| TcpStream::connect(server.addr)))
            .await
            .into_iter()
            .map(|c| c.unwrap())
            .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(3), fourth.read(&mut buf))
        .await
        .expect("refused at once, not after the handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    get_whoami(&pki, &server, None)
        .await
        .expect("server still serves");
    server.stop().await;
}
