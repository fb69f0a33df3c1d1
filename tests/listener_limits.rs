//! The listener's limits against the real binary on loopback: request heads
//! that never finish, idle keep-alive connections, stalled uploads, too
//! many connections from one address, and requests framed with both
//! Content-Length and Transfer-Encoding. Every test is bounded in time and
//! stops by itself.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use hostile::*;

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Wait until the server closes `sock` (EOF or reset); how long it took,
/// or `None` if it was still open after `limit`. Bytes the server sends
/// before closing (an error response) are returned too.
fn wait_closed(sock: &mut TcpStream, limit: Duration) -> (Option<Duration>, Vec<u8>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return (None, got);
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.read(&mut buf) {
            Ok(0) => return (Some(start.elapsed()), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (None, got)
            }
            Err(_) => return (Some(start.elapsed()), got),
        }
    }
}

#[test]
fn two_hundred_unfinished_heads_are_closed_in_time_while_others_are_served() {
    let s = Server::start_with(&[
        "--header-read-timeout",
        "2",
        "--idle-timeout",
        "3",
        "--max-connections-per-peer",
        "400",
        "--max-connections",
        "500",
    ]);
    let a = addr(&s);
    let opened = Instant::now();
    let mut handles = Vec::new();
    for i in 0..200 {
        let a = a.clone();
        handles.push(std::thread::spawn(move || {
            let mut sock = TcpStream::connect(&a).unwrap();
            let connected = Instant::now();
            // three kinds of slowloris: a partial head, nothing at all,
            // and a head trickled byte by byte that never ends
            match i % 3 {
                0 => sock
                    .write_all(b"GET /+api HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .unwrap(),
                1 => {}
                _ => {
                    let started = Instant::now();
                    for b in b"GET /+api HTTP/1.1\r\nHost: x\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaa" {
                        if sock.write_all(&[*b]).is_err()
                            || started.elapsed() > Duration::from_secs(8)
                        {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(150));
                    }
                }
            }
            wait_closed(&mut sock, Duration::from_secs(15))
                .0
                .map(|_| connected.elapsed())
        }));
    }
    // normal requests keep answering meanwhile
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..10 {
        let t = Instant::now();
        let r = client().get(s.url("/+api")).send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "slow answer: {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut closed_after = Vec::new();
    for h in handles {
        closed_after.push(h.join().unwrap());
    }
    let total = opened.elapsed();
    assert!(
        closed_after.iter().all(|c| c.is_some()),
        "some slow connections were never closed"
    );
    let latest = closed_after.iter().flatten().max().unwrap();
    // 2 s head timeout, checked every 0.5 s, plus thread start-up slack
    assert!(
        *latest < Duration::from_secs(6),
        "closed only after {latest:?}"
    );
    let earliest = closed_after.iter().flatten().min().unwrap();
    assert!(
        *earliest >= Duration::from_millis(1000),
        "closed too early: {earliest:?}"
    );
    assert!(total < Duration::from_secs(12));
    assert_alive(&s);
}

#[test]
fn idle_keepalive_and_stalled_uploads_are_cut_off() {
    let s = Server::start_with(&[
        "--header-read-timeout",
        "2",
        "--idle-timeout",
        "2",
        "--body-timeout",
        "2",
    ]);
    let a = addr(&s);
    // a complete request, then silence: closed after the idle timeout
    let mut sock = TcpStream::connect(&a).unwrap();
    sock.write_all(b"GET /+api HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (closed, got) = wait_closed(&mut sock, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let closed = closed.expect("idle connection closed");
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(5),
        "{closed:?}"
    );

    // an upload that stops half way: 408 after the body timeout, nothing stored
    let (name, bytes) = wheel("stall", "1.0", "stall");
    let before = snapshot(&s);
    for cut in [10usize, 300, 0] {
        let (ctype, body) = multipart(&[(":action", "file_upload")], &name, &bytes);
        let mut sock = TcpStream::connect(&a).unwrap();
        write!(
            sock,
            "POST /root/dev/ HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            basic("root", ROOT_PW),
            body.len()
        )
        .unwrap();
        sock.write_all(&body[..cut]).unwrap();
        let started = Instant::now();
        let (closed, got) = wait_closed(&mut sock, Duration::from_secs(10));
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "cut at {cut}: {text}");
        assert!(text.contains("the request body stalled"), "{text}");
        assert!(closed.is_some(), "cut at {cut}: connection left open");
        assert!(started.elapsed() < Duration::from_secs(6));
    }
    // a chunked upload that stalls between chunks
    let (ctype, body) = multipart(&[(":action", "file_upload")], &name, &bytes);
    let mut sock = TcpStream::connect(&a).unwrap();
    write!(
        sock,
        "POST /root/dev/ HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        basic("root", ROOT_PW),
        100
    )
    .unwrap();
    sock.write_all(&body[..100]).unwrap();
    sock.write_all(b"\r\n").unwrap();
    let (_, got) = wait_closed(&mut sock, Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"));
    assert_eq!(
        snapshot(&s),
        before,
        "a stalled upload left something behind"
    );
    // a JSON API body that stalls
    let mut sock = TcpStream::connect(&a).unwrap();
    write!(
        sock,
        "PUT /carol HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"pass",
        basic("root", ROOT_PW)
    )
    .unwrap();
    let (closed, got) = wait_closed(&mut sock, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    assert!(closed.is_some());
    assert_eq!(snapshot(&s), before);
    // the upload works when sent in one go
    assert_eq!(
        upload(&s, "root/dev", root(), &name, bytes, &[]).status(),
        200
    );
}

#[test]
fn connections_are_capped_per_peer_and_in_total() {
    let s = Server::start_with(&["--max-connections-per-peer", "5", "--max-connections", "8"]);
    let a = addr(&s);
    let held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(&a).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // the sixth from the same address gets a 503 that says why, then EOF
    let mut sixth = TcpStream::connect(&a).unwrap();
    let (closed, got) = wait_closed(&mut sixth, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("your address already has 5 connections open"),
        "{text}"
    );
    assert!(closed.is_some());
    let r = client().get(s.url("/+api")).send();
    assert!(
        r.map(|r| r.status().as_u16()).unwrap_or(503) == 503,
        "over the per-peer cap a request must not be served"
    );
    drop(sixth);
    // freed slots are given out again
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_alive(&s);

    // the total cap, whoever connects
    let s = Server::start_with(&[
        "--max-connections-per-peer",
        "100",
        "--max-connections",
        "4",
    ]);
    let a = addr(&s);
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&a).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(&a).unwrap();
    let (closed, got) = wait_closed(&mut fifth, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("this server already has 4 connections open"),
        "{text}"
    );
    assert!(closed.is_some());
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_alive(&s);
}

#[test]
fn content_length_with_transfer_encoding_is_a_400_and_closed() {
    let s = Server::start();
    let (name, bytes) = wheel("smuggle", "1.0", "smuggle");
    assert_eq!(
        upload(&s, "root/dev", root(), &name, bytes.clone(), &[]).status(),
        200
    );
    let before = snapshot(&s);
    let auth = basic("root", ROOT_PW);
    let smuggled = "GET /root/dev/+simple/ HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked = format!("0\r\n\r\n{smuggled}");
    let variants: Vec<(&str, String)> = vec![
        (
            "CL then TE",
            format!("POST /root/dev/ HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}", chunked.len()),
        ),
        (
            "TE then CL",
            format!("POST /root/dev/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{chunked}"),
        ),
        (
            "lower case, CL 0",
            format!("PUT /mallory HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\ntransfer-encoding: chunked\r\n\r\n{chunked}"),
        ),
        (
            "GET with both",
            format!("GET /+api HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"),
        ),
        (
            "second request on a kept-alive connection",
            format!("GET /+api HTTP/1.1\r\nHost: x\r\n\r\nPOST /root/dev/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"),
        ),
    ];
    for (what, req) in &variants {
        let started = Instant::now();
        let (_, text) = raw_request(&s, req.as_bytes(), Duration::from_secs(10));
        let last = text.rfind("HTTP/1.1 ").map(|i| &text[i..]).unwrap_or("");
        assert!(last.starts_with("HTTP/1.1 400"), "{what}: {text}");
        assert!(
            last.contains("both Content-Length and Transfer-Encoding"),
            "{what}: {text}"
        );
        assert!(
            !text.contains("<a href"),
            "{what}: the smuggled request was served: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: connection not closed"
        );
    }
    // hyper's own framing checks, for the record: each a 400 and closed
    for (what, req) in [
        (
            "two lengths",
            "POST /+login HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
        (
            "TE not chunked",
            "POST /+login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        ),
        (
            "TE on HTTP/1.0",
            "POST /+login HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "bad length",
            "POST /+login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        ),
    ] {
        let (status, text) = raw_request(&s, req.as_bytes(), Duration::from_secs(10));
        assert_eq!(status, 400, "{what}: {text}");
    }
    assert_eq!(snapshot(&s), before);
    assert_alive(&s);
}
