//! A real S3 protocol server for the tests: `s3s-fs` (objects as files
//! below a temp folder) on 127.0.0.1:0, in this test process, on a runtime
//! of its own, with an access key and secret key set, so every request's
//! signature is checked. `stop()` closes the listener and every connection.
#![allow(dead_code)]

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

pub const ACCESS_KEY: &str = "airlock-test-access";
pub const SECRET_KEY: &str = "airlock-test-secret-key-0123456789";
pub const BUCKET: &str = "airlock-files";

pub struct S3Server {
    rt: Option<tokio::runtime::Runtime>,
    pub endpoint: String,
    /// Where s3s-fs keeps the objects: `<root>/<bucket>/<key>`.
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl S3Server {
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("s3");
        std::fs::create_dir_all(root.join(BUCKET)).expect("bucket folder");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs");
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        rt.spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                // as S3 servers do: without it, a response written in two
                // parts waits for the client's delayed ACK (~40 ms each)
                let _ = socket.set_nodelay(true);
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            rt: Some(rt),
            endpoint: format!("http://{addr}"),
            root,
            _tmp: tmp,
        }
    }

    /// The `--blobs` value for this server, objects below `prefix`.
    pub fn blobs_url(&self, prefix: &str) -> String {
        format!(
            "s3://{BUCKET}/{prefix}?endpoint={}&region=us-east-1",
            self.endpoint
        )
    }

    /// The environment airlock reads its credentials from.
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_ALLOW_HTTP", "true"),
        ]
    }

    /// The file holding the object of `sha256_hex` below `prefix`.
    pub fn object_file(&self, prefix: &str, sha256_hex: &str) -> PathBuf {
        self.root
            .join(BUCKET)
            .join(prefix)
            .join(&sha256_hex[..2])
            .join(&sha256_hex[2..4])
            .join(sha256_hex)
    }

    /// Stop answering: the listener and all connections close.
    pub fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
