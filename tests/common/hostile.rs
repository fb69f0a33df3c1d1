//! Helpers for hostile-input tests: what must not change when a request is
//! refused, and raw HTTP for framings a normal client will not send.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// Everything a refused request must leave as it was: the files of the
/// data folder (not the SQLite files, which a read may touch) and, for
/// every index of every user, its JSON (projects and versions) and the
/// simple page (PEP 691 JSON) of every project in it.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub data_files: Vec<(String, u64)>,
    pub listings: Vec<(String, Value)>,
}

pub fn snapshot(s: &Server) -> Snapshot {
    let users: Value = client()
        .get(s.url("/"))
        .header("Accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut listings = Vec::new();
    let mut indexes = Vec::new();
    for (user, config) in users["result"].as_object().expect("user list") {
        for index in config["indexes"].as_object().into_iter().flatten() {
            indexes.push(format!("{user}/{}", index.0));
        }
    }
    indexes.sort();
    assert!(!indexes.is_empty(), "no indexes found in {users}");
    for index in indexes {
        let get = |path: &str, accept: &str| -> Value {
            let r = client()
                .get(s.url(path))
                .basic_auth("root", Some(ROOT_PW))
                .header("Accept", accept)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().unwrap();
            serde_json::from_str(&body).unwrap_or(Value::String(format!("{status} {body}")))
        };
        let projects = get(
            &format!("/{index}/+simple/"),
            "application/vnd.pypi.simple.v1+json",
        );
        for p in projects["projects"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            let mut page = get(
                &format!("/{index}/+simple/{name}/"),
                "application/vnd.pypi.simple.v1+json",
            );
            // the serial moves with audit entries; the files must not
            page.as_object_mut().map(|o| o.remove("meta"));
            listings.push((format!("{index}/+simple/{name}"), page));
        }
        listings.push((format!("{index}/+simple"), projects));
        listings.push((index.clone(), get(&format!("/{index}"), "application/json")));
    }
    Snapshot {
        data_files: s.data_files(),
        listings,
    }
}

/// The server still answers a normal request.
pub fn assert_alive(s: &Server) {
    let r = client().get(s.url("/+api")).send().expect("server answers");
    assert_eq!(r.status(), 200, "server unhealthy after hostile input");
}

/// Send `request` (head and body, verbatim) on a fresh connection and read
/// until the server closes it or `timeout` passes. Returns the status code
/// (0 if none) and everything read.
pub fn raw_request(s: &Server, request: &[u8], timeout: Duration) -> (u16, String) {
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(timeout)).unwrap();
    let _ = sock.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A multipart body as twine sends it: `fields`, then `content` named
/// `filename` with `bytes`. Returns (content type, body).
pub fn multipart(fields: &[(&str, &str)], filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "airlockTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{user}:{password}")
        )
    )
}
