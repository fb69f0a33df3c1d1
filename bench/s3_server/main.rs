//! A real S3 protocol server for tests and benchmarks that run outside the
//! Rust test harness (the end-to-end suite, bench/): `s3s-fs` (objects as
//! files below a folder) on 127.0.0.1, signatures checked with the access
//! and secret key given in the environment. Built with the tests (an
//! example, so it may use the dev-dependencies), never shipped.
//!
//!     S3_ACCESS_KEY=… S3_SECRET_KEY=… s3_server ROOT BUCKET [PORT]
//!
//! Creates `ROOT/BUCKET`, prints `s3 listening on http://127.0.0.1:PORT`
//! once it accepts connections, and runs until it is killed or its stdin
//! closes (so a test that dies does not leave it behind).

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: S3_ACCESS_KEY=… S3_SECRET_KEY=… s3_server ROOT BUCKET [PORT]");
        std::process::exit(2);
    }
    let root = PathBuf::from(&args[1]);
    let bucket = &args[2];
    let port: u16 = args
        .get(3)
        .map_or(0, |p| p.parse().expect("PORT is a number"));
    let key = std::env::var("S3_ACCESS_KEY").expect("S3_ACCESS_KEY");
    let secret = std::env::var("S3_SECRET_KEY").expect("S3_SECRET_KEY");
    std::fs::create_dir_all(root.join(bucket)).expect("bucket folder");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs");
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(s3s::auth::SimpleAuth::from_single(key, secret));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        println!("s3 listening on http://{addr}");
        // stdin closing (the parent gone) ends the server
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            std::process::exit(0);
        });
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            // as S3 servers do: without it, a response written in two parts
            // waits for the client's delayed ACK (~40 ms each)
            let _ = socket.set_nodelay(true);
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}
