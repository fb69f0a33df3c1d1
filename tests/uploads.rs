//! Uploads and the simple API against the real server: the happy path,
//! content negotiation, file serving, and every kind of bad upload, which
//! must get a clear 4xx and leave the data folder exactly as it was.

mod common;

use common::*;
use serde_json::{json, Value};

fn simple(s: &Server, path: &str, accept: Option<&str>) -> reqwest::blocking::Response {
    let mut r = client().get(s.url(path));
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    r.send().unwrap()
}

#[test]
fn upload_then_serve_simple_pages_and_files() {
    let s = Server::start();
    let (wname, wbytes) = wheel("demo_pkg", "1.0.0", "Demo.Pkg");
    let wsha = sha256_hex(&wbytes);
    let r = upload(
        &s,
        "root/dev",
        root(),
        &wname,
        wbytes.clone(),
        &[("name", "demo-pkg"), ("version", "1.0.0")],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let (sname, sbytes) = sdist("demo-pkg", "1.0.0");
    let r = upload(&s, "root/dev", root(), &sname, sbytes, &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());

    // project list, both formats
    let html = simple(&s, "/root/dev/+simple/", None).text().unwrap();
    assert!(
        html.contains("<a href=\"demo-pkg/\">demo-pkg</a>"),
        "{html}"
    );
    let r = simple(
        &s,
        "/root/dev/+simple/",
        Some("application/vnd.pypi.simple.v1+json"),
    );
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.pypi.simple.v1+json"
    );
    let j: Value = r.json().unwrap();
    assert_eq!(j["projects"], json!([{"name": "demo-pkg"}]));

    // project page: JSON with PEP 691/700/658 fields
    let r = simple(
        &s,
        "/root/dev/+simple/demo-pkg/",
        Some("application/vnd.pypi.simple.v1+json"),
    );
    assert_eq!(r.status(), 200);
    assert!(r.headers()["vary"].to_str().unwrap().contains("Accept"));
    let j: Value = r.json().unwrap();
    assert_eq!(j["name"], "demo-pkg");
    assert_eq!(j["versions"], json!(["1.0.0"]));
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let whl = files
        .iter()
        .find(|f| f["filename"] == wname.as_str())
        .unwrap();
    assert_eq!(whl["hashes"]["sha256"], wsha.as_str());
    assert_eq!(whl["requires-python"], ">=3.8");
    assert_eq!(whl["size"], wbytes.len());
    assert!(whl["core-metadata"]["sha256"].is_string());
    let sd = files
        .iter()
        .find(|f| f["filename"] == sname.as_str())
        .unwrap();
    assert_eq!(sd["core-metadata"], false, "sdists get no PEP 658 promise");

    // HTML page has the same file with its hash fragment and metadata attribute
    let html = simple(&s, "/root/dev/+simple/demo-pkg/", Some("text/html"))
        .text()
        .unwrap();
    assert!(html.contains(&format!("#sha256={wsha}")));
    assert!(html.contains("data-core-metadata=\"sha256="));
    assert!(html.contains("data-requires-python=\"&gt;=3.8\""));

    // unacceptable Accept
    assert_eq!(
        simple(&s, "/root/dev/+simple/demo-pkg/", Some("application/xml")).status(),
        406
    );

    // non-normalised names redirect to the normalised URL
    let r = simple(&s, "/root/dev/+simple/Demo_Pkg/", None);
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/root/dev/+simple/demo-pkg/");
    let r = simple(&s, "/root/dev/+simple/demo-pkg", None);
    assert_eq!(r.headers()["location"], "/root/dev/+simple/demo-pkg/");
    assert_eq!(
        simple(&s, "/root/dev/+simple/nothing-here/", None).status(),
        404
    );

    // the file: bytes, ETag, conditional GET, Range, HEAD, %2B-quoted path
    let url = whl["url"].as_str().unwrap();
    let abs = s.url(&format!("/root/dev/+simple/demo-pkg/{url}"));
    let r = client().get(&abs).send().unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{wsha}\""));
    assert_eq!(r.bytes().unwrap().to_vec(), wbytes);
    let r = client()
        .get(&abs)
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = client()
        .get(&abs)
        .header("Range", "bytes=0-3")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-3/{}", wbytes.len())
    );
    assert_eq!(r.bytes().unwrap().to_vec(), wbytes[..4].to_vec());
    let r = client()
        .get(&abs)
        .header("Range", "bytes=999999-")
        .send()
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = client().head(&abs).send().unwrap();
    assert_eq!(
        r.headers()["content-length"],
        wbytes.len().to_string().as_str()
    );
    let quoted = abs.replace("/+f/", "/%2Bf/");
    assert_eq!(client().get(&quoted).send().unwrap().status(), 200);
    // PEP 658 metadata
    let meta = client()
        .get(format!("{abs}.metadata"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(meta.contains("Name: Demo.Pkg"));
    // a wrong hash prefix in the URL is a 404, not another file
    let wrong = abs.replace(&format!("/{}/", &wsha[..3]), "/000/");
    assert_eq!(client().get(&wrong).send().unwrap().status(), 404);

    // devpi JSON of the project and version
    let p: Value = client()
        .get(s.url("/root/dev/demo-pkg"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(p["type"], "projectconfig");
    let links = p["result"]["1.0.0"]["+links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert!(links.iter().all(|l| l["rel"] == "releasefile"
        && l["href"].as_str().unwrap().starts_with("http://127.0.0.1:")));
    let v: Value = client()
        .get(s.url("/root/dev/demo-pkg/1.0.0"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["result"]["summary"], "test package");
}

#[test]
fn reuploads_and_deletes_follow_volatility() {
    let s = Server::start();
    let (n, b) = wheel("pkg", "1.0", "pkg");
    // identical re-upload is idempotent
    assert_eq!(
        upload(&s, "root/prod", root(), &n, b.clone(), &[]).status(),
        200
    );
    let r = upload(&s, "root/prod", root(), &n, b.clone(), &[]);
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("identical content"));
    // different bytes under the same name: 409 on non-volatile prod
    let (_, b2) = wheel_with_extra("pkg", "1.0");
    let before = s.data_files();
    let r = upload(&s, "root/prod", root(), &n, b2.clone(), &[]);
    assert_eq!(r.status(), 409);
    assert!(r.text().unwrap().contains("non-volatile"));
    assert_eq!(s.data_files(), before);
    // ...but replaces on volatile dev
    assert_eq!(
        upload(&s, "root/dev", root(), &n, b.clone(), &[]).status(),
        200
    );
    assert_eq!(
        upload(&s, "root/dev", root(), &n, b2.clone(), &[]).status(),
        200
    );
    let j: Value = simple(
        &s,
        "/root/dev/+simple/pkg/",
        Some("application/vnd.pypi.simple.v1+json"),
    )
    .json()
    .unwrap();
    assert_eq!(j["files"][0]["hashes"]["sha256"], sha256_hex(&b2));

    // deleting from non-volatile prod needs force
    let r = client()
        .delete(s.url("/root/prod/pkg/1.0"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("not volatile"));
    // deleting from dev works, and the replaced blob is gone from disk
    let r = client()
        .delete(s.url("/root/dev/pkg/1.0"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(simple(&s, "/root/dev/+simple/pkg/", None).status(), 404);
    let blobs: Vec<String> = s
        .data_files()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("blobs/"))
        .collect();
    let b2sha = sha256_hex(&b2);
    assert!(
        !blobs.iter().any(|p| p.ends_with(&b2sha)),
        "unreferenced blob left behind"
    );
    assert!(
        blobs.iter().any(|p| p.ends_with(&sha256_hex(&b))),
        "blob still used by prod was removed"
    );
}

/// A wheel with the same name and version but different bytes.
fn wheel_with_extra(name: &str, version: &str) -> (String, Vec<u8>) {
    let (n, mut b) = wheel(name, version, name);
    // rebuild with different content: append a comment to the zip (still valid)
    let _ = &mut b;
    let mut buf = std::io::Cursor::new(b);
    {
        let mut z = zip::ZipWriter::new_append(&mut buf).unwrap();
        let o: zip::write::SimpleFileOptions = Default::default();
        z.start_file(format!("{name}/extra.py"), o).unwrap();
        std::io::Write::write_all(&mut z, b"X = 2\n").unwrap();
        z.finish().unwrap();
    }
    (n, buf.into_inner())
}

#[test]
fn bad_uploads_are_refused_and_leave_nothing() {
    let s = Server::start_with(&["--max-upload-mb", "1"]);
    create_user(&s, "bob", "bob-pw");
    let (good_name, good) = wheel("demo", "1.0", "demo");
    assert_eq!(
        upload(&s, "root/prod", root(), &good_name, good.clone(), &[]).status(),
        200
    );
    let before = s.data_files();
    let index_before: Value = client()
        .get(s.url("/root/dev"))
        .send()
        .unwrap()
        .json()
        .unwrap();

    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt.truncate(mid);
    let (_, evil) = wheel("mypkg", "1.0", "evil");
    let (_, big) = {
        let mut v = vec![0u8; 2 * 1024 * 1024];
        v[0] = b'P';
        ("x".to_string(), v)
    };
    let (_, badver) = wheel("demo", "1.0", "demo");

    type Case<'a> = (
        &'a str,
        &'a str,
        Option<(&'a str, &'a str)>,
        String,
        Vec<u8>,
        Vec<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "corrupted wheel",
            "root/dev",
            root(),
            "demo-2.0-py3-none-any.whl".into(),
            corrupt,
            vec![],
            400,
            "zip",
        ),
        (
            "metadata names another project",
            "root/dev",
            root(),
            "mypkg-1.0-py3-none-any.whl".into(),
            evil,
            vec![],
            400,
            "'evil'",
        ),
        (
            "path in filename",
            "root/dev",
            root(),
            "../demo-1.0-py3-none-any.whl".into(),
            good.clone(),
            vec![],
            400,
            "demo",
        ),
        (
            "not PEP 440",
            "root/dev",
            root(),
            "demo-1.0.x.y-py3-none-any.whl".into(),
            badver,
            vec![],
            400,
            "version",
        ),
        (
            "wrong digest",
            "root/dev",
            root(),
            good_name.clone(),
            good.clone(),
            vec![(
                "sha256_digest",
                "0000000000000000000000000000000000000000000000000000000000000000",
            )],
            400,
            "digest mismatch",
        ),
        (
            "oversized",
            "root/dev",
            root(),
            "demo-3.0-py3-none-any.whl".into(),
            big,
            vec![],
            413,
            "upload limit",
        ),
        (
            "no credentials",
            "root/dev",
            None,
            good_name.clone(),
            good.clone(),
            vec![],
            401,
            "log in",
        ),
        (
            "wrong password",
            "root/dev",
            Some(("root", "nope")),
            good_name.clone(),
            good.clone(),
            vec![],
            401,
            "invalid user name or password",
        ),
        (
            "not in acl_upload",
            "root/dev",
            Some(("bob", "bob-pw")),
            good_name.clone(),
            good.clone(),
            vec![],
            403,
            "acl_upload",
        ),
        (
            "unknown index",
            "root/nope",
            root(),
            good_name.clone(),
            good.clone(),
            vec![],
            404,
            "root/nope",
        ),
        (
            "form name disagrees",
            "root/dev",
            root(),
            good_name.clone(),
            good.clone(),
            vec![("name", "other")],
            400,
            "name field",
        ),
        (
            "legacy format",
            "root/dev",
            root(),
            "demo-1.0.tar.bz2".into(),
            good.clone(),
            vec![],
            400,
            "tar.bz2",
        ),
    ];
    for (what, index, auth, filename, bytes, extra, status, needle) in cases {
        // the digest field is computed by the helper; a wrong one overrides it
        let mut extras = extra.clone();
        let r = if let Some(pos) = extras.iter().position(|(k, _)| *k == "sha256_digest") {
            let (_, d) = extras.remove(pos);
            raw_upload(&s, index, auth, &filename, bytes, d)
        } else {
            upload(&s, index, auth, &filename, bytes, &extras)
        };
        let got = r.status().as_u16();
        let reason = r.status().canonical_reason().unwrap_or("").to_string();
        let body = r.text().unwrap_or_default();
        assert_eq!(got, status, "{what}: {body}");
        assert!(
            body.contains(needle),
            "{what}: message {body:?} lacks {needle:?} ({reason})"
        );
        assert_eq!(s.data_files(), before, "{what}: the data folder changed");
    }
    let index_after: Value = client()
        .get(s.url("/root/dev"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(index_before, index_after);
    // the server is healthy afterwards
    assert_eq!(
        upload(&s, "root/dev", root(), &good_name, good, &[]).status(),
        200
    );
}

/// An upload whose declared sha256 is `digest`.
fn raw_upload(
    s: &Server,
    index: &str,
    auth: Option<(&str, &str)>,
    filename: &str,
    bytes: Vec<u8>,
    digest: &str,
) -> reqwest::blocking::Response {
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "file_upload")
        .text("sha256_digest", digest.to_string())
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(bytes).file_name(filename.to_string()),
        );
    let mut req = client().post(s.url(&format!("/{index}/"))).multipart(form);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    req.send().unwrap()
}

#[test]
fn uploads_check_the_reason_phrase_carries_the_message() {
    // twine and pip print the HTTP reason phrase: it must say what is wrong.
    let s = Server::start();
    let (_, evil) = wheel("mypkg", "1.0", "evil");
    let raw = {
        let boundary = "XyZ";
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n").as_bytes());
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"mypkg-1.0-py3-none-any.whl\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(&evil);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    use std::io::{Read, Write};
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("root:{ROOT_PW}"),
    );
    write!(
        sock,
        "POST /root/dev/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        raw.len()
    )
    .unwrap();
    sock.write_all(&raw).unwrap();
    let mut resp = String::new();
    let _ = sock.read_to_string(&mut resp);
    let status_line = resp.lines().next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 400 "), "{status_line}");
    assert!(
        status_line.contains("'evil'") && status_line.contains("'mypkg'"),
        "{status_line}"
    );
}

#[test]
fn inheritance_merges_bases_own_files_first() {
    let s = Server::start();
    create_user(&s, "alice", "apw");
    create_index(
        &s,
        "alice/dev",
        ("alice", "apw"),
        json!({"bases": ["root/prod"]}),
    );
    let (n, b) = wheel("shared", "1.0", "shared");
    assert_eq!(upload(&s, "root/prod", root(), &n, b, &[]).status(), 200);
    let (n2, b2) = wheel("shared", "2.0", "shared");
    assert_eq!(
        upload(&s, "alice/dev", Some(("alice", "apw")), &n2, b2, &[]).status(),
        200
    );
    let (n3, b3) = wheel("only_prod", "1.0", "only-prod");
    assert_eq!(upload(&s, "root/prod", root(), &n3, b3, &[]).status(), 200);

    let j: Value = simple(
        &s,
        "/alice/dev/+simple/shared/",
        Some("application/vnd.pypi.simple.v1+json"),
    )
    .json()
    .unwrap();
    let names: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![n2.as_str(), n.as_str()], "own files first");
    assert_eq!(j["versions"], json!(["1.0", "2.0"]));
    // every link resolves (inherited files point at their own index)
    for f in j["files"].as_array().unwrap() {
        let u = s.url(&format!(
            "/alice/dev/+simple/shared/{}",
            f["url"].as_str().unwrap()
        ));
        assert_eq!(client().get(&u).send().unwrap().status(), 200, "{u}");
    }
    let list = simple(&s, "/alice/dev/+simple/", None).text().unwrap();
    assert!(list.contains("only-prod") && list.contains("shared"));
    // prod does not see dev
    assert_eq!(
        simple(
            &s,
            "/root/prod/+simple/shared/",
            Some("application/vnd.pypi.simple.v1+json")
        )
        .json::<Value>()
        .unwrap()["files"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn data_survives_a_graceful_restart() {
    let mut s = Server::start();
    let (n, b) = wheel("keep_me", "1.0", "keep-me");
    assert_eq!(
        upload(&s, "root/prod", root(), &n, b.clone(), &[]).status(),
        200
    );
    s.restart();
    let j: Value = simple(
        &s,
        "/root/prod/+simple/keep-me/",
        Some("application/vnd.pypi.simple.v1+json"),
    )
    .json()
    .unwrap();
    assert_eq!(j["files"][0]["hashes"]["sha256"], sha256_hex(&b));
    // the root password was not regenerated and still works
    assert_eq!(upload(&s, "root/prod", root(), &n, b, &[]).status(), 200);
    assert!(s.log_text().contains("shutting down"));
}

/// A client sends the whole body before it reads the answer (twine does):
/// refusals that come before the body is read, or part way through it,
/// must still reach it as the status and message, not as a reset
/// connection, and the connection must stay usable.
#[test]
fn refusals_reach_clients_still_sending_large_bodies() {
    let s = Server::start_with(&["--max-upload-mb", "64"]);
    let small_limit = Server::start_with(&["--max-upload-mb", "1"]);
    let (name, _) = wheel("demo", "1.0", "demo");
    let large: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    type Case<'a> = (
        &'a str,
        &'a Server,
        &'a str,
        Option<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let cases: [Case; 4] = [
        (
            "wrong password",
            &s,
            "root/dev",
            Some(("root", "nope")),
            401,
            "invalid user name or password",
        ),
        ("no credentials", &s, "root/dev", None, 401, "log in"),
        ("unknown index", &s, "root/nope", root(), 404, "root/nope"),
        (
            "over the limit",
            &small_limit,
            "root/dev",
            root(),
            413,
            "upload limit of 1 MiB",
        ),
    ];
    for (what, server, index, auth, status, needle) in cases {
        let before = server.data_files();
        for attempt in 0..3 {
            let r = upload(server, index, auth, &name, large.clone(), &[]);
            assert_eq!(r.status().as_u16(), status, "{what} #{attempt}");
            let body = r.text().unwrap();
            assert!(body.contains(needle), "{what} #{attempt}: {body}");
        }
        assert_eq!(
            server.data_files(),
            before,
            "{what}: the data folder changed"
        );
    }
    // the server still answers (nothing is stuck reading)
    let r = client().get(s.url("/root/dev")).send().unwrap();
    assert_eq!(r.status(), 200);
}
