//! One release per version on non-volatile indexes: a second, different
//! file for a stored release is refused however its filename is spelled
//! (case, separators, PEP 440-equal versions, tag order); files are stored
//! and served under their canonical name.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::io::Write;

use common::*;
use hostile::*;
use serde_json::Value;

/// A wheel whose filename is `filename` and whose METADATA says
/// `meta_name` `meta_version`; `salt` changes the bytes.
fn wheel_named(filename: &str, meta_name: &str, meta_version: &str, salt: &str) -> Vec<u8> {
    let stem = filename.trim_end_matches(".whl");
    let parts: Vec<&str> = stem.split('-').collect();
    let dist_info = format!("{}-{}.dist-info", parts[0], parts[1]);
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o: zip::write::SimpleFileOptions = Default::default();
        z.start_file("hostbase/__init__.py", o).unwrap();
        z.write_all(format!("SALT = {salt:?}\n").as_bytes())
            .unwrap();
        z.start_file(format!("{dist_info}/METADATA"), o).unwrap();
        z.write_all(metadata(meta_name, meta_version).as_bytes())
            .unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn sdist_named(filename: &str, top: &str, meta_name: &str, version: &str, salt: &str) -> Vec<u8> {
    let _ = filename;
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        for (path, data) in [
            (format!("{top}/PKG-INFO"), metadata(meta_name, version)),
            (format!("{top}/salt.txt"), salt.to_string()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, path, data.as_bytes()).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap();
    }
    out
}

fn files_on(s: &Server, index: &str, project: &str) -> Vec<String> {
    let j: Value = client()
        .get(s.url(&format!("/{index}/+simple/{project}/")))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_stored_release_refuses_other_bytes_under_any_spelling() {
    let s = Server::start();
    // root/prod without policies is a plain non-volatile stage index
    let first = wheel_named("hostbase-1.0-py3-none-any.whl", "hostbase", "1.0", "a");
    let r = upload(
        &s,
        "root/prod",
        root(),
        "hostbase-1.0-py3-none-any.whl",
        first.clone(),
        &[],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let sd = sdist_named("", "hostbase-1.0", "hostbase", "1.0", "a");
    assert_eq!(
        upload(&s, "root/prod", root(), "hostbase-1.0.tar.gz", sd, &[]).status(),
        200
    );
    let before = snapshot(&s);
    let wheels = [
        ("HostBase-1.0-py3-none-any.whl", "HostBase", "1.0"),
        ("hostbase-1.0.0-py3-none-any.whl", "hostbase", "1.0.0"),
        ("HOSTBASE-1.0-py3-none-any.whl", "HOSTBASE", "1.0"),
        ("hostbase-1.0-PY3-None-Any.whl", "hostbase", "1.0"),
        ("hostbase-1.0.0.0-py3-none-any.whl", "hostbase", "1.0.0.0"),
        ("hostbase-v1.0-py3-none-any.whl", "hostbase", "v1.0"),
    ];
    for (filename, meta_name, meta_version) in wheels {
        let bytes = wheel_named(filename, meta_name, meta_version, filename);
        let r = upload(&s, "root/prod", root(), filename, bytes, &[]);
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert_eq!(status, 409, "{filename}: {text}");
        assert!(
            text.contains("already exists on the non-volatile index root/prod")
                && text.contains("(stored as hostbase-1.0-py3-none-any.whl"),
            "{filename}: {text}"
        );
        assert_eq!(snapshot(&s), before, "{filename}: something changed");
    }
    // a second sdist of the release, in another spelling or format
    for (filename, top) in [
        ("HostBase-1.0.tar.gz", "HostBase-1.0"),
        ("hostbase-1.0.0.tar.gz", "hostbase-1.0.0"),
    ] {
        let v = if filename.contains("1.0.0") {
            "1.0.0"
        } else {
            "1.0"
        };
        let bytes = sdist_named(filename, top, "hostbase", v, filename);
        let r = upload(&s, "root/prod", root(), filename, bytes, &[]);
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert_eq!(status, 409, "{filename}: {text}");
        assert!(
            text.contains("as hostbase-1.0.tar.gz"),
            "{filename}: {text}"
        );
        assert_eq!(snapshot(&s), before, "{filename}: something changed");
    }
    // the identical bytes under another spelling are "already there"
    let r = upload(
        &s,
        "root/prod",
        root(),
        "HostBase-1.0-py3-none-any.whl",
        first,
        &[],
    );
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("identical content"));
    assert_eq!(snapshot(&s), before);
    // a genuinely different file of the release (other tags) is fine, and
    // lands in the same release under its canonical name
    let other = "HostBase-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl";
    let r = upload(
        &s,
        "root/prod",
        root(),
        other,
        wheel_named(other, "HostBase", "1.0.0", "x"),
        &[],
    );
    let text = r.text().unwrap();
    assert!(
        text.contains("hostbase-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl stored"),
        "{text}"
    );
    assert!(text.contains("uploaded as HostBase-1.0.0-cp312"), "{text}");
    let files = files_on(&s, "root/prod", "hostbase");
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.contains(&"hostbase-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl".to_string()));
    let v: Value = client()
        .get(s.url("/root/prod/hostbase"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let versions: Vec<&String> = v["result"].as_object().unwrap().keys().collect();
    assert_eq!(versions, vec!["1.0"], "one release for 1.0 and 1.0.0");
    assert_alive(&s);
}

#[test]
fn files_are_stored_under_their_canonical_name_and_volatile_replaces_by_slot() {
    let s = Server::start();
    let name = "Host.Base-01.0-PY3-none-any.whl";
    let r = upload(
        &s,
        "root/dev",
        root(),
        name,
        wheel_named(name, "Host.Base", "01.0", "a"),
        &[],
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        files_on(&s, "root/dev", "host-base"),
        vec!["host_base-1.0-py3-none-any.whl"]
    );
    // the canonical URL serves it; pip reads the filename back fine
    let page: Value = client()
        .get(s.url("/root/dev/+simple/host-base/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let url = page["files"][0]["url"].as_str().unwrap();
    assert!(url.ends_with("/host_base-1.0-py3-none-any.whl"), "{url}");
    let got = client()
        .get(s.url(&format!("/root/dev/+simple/host-base/{url}")))
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
    // on a volatile index, another spelling of the same slot replaces it
    let again = "host_base-1.0.0-py3-none-any.whl";
    let replacement = wheel_named(again, "host_base", "1.0.0", "b");
    let r = upload(&s, "root/dev", root(), again, replacement.clone(), &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let files = files_on(&s, "root/dev", "host-base");
    assert_eq!(
        files,
        vec!["host_base-1.0.0-py3-none-any.whl"],
        "replaced, not added"
    );
    let page: Value = client()
        .get(s.url("/root/dev/+simple/host-base/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        page["files"][0]["hashes"]["sha256"],
        sha256_hex(&replacement)
    );
}

fn doc_zip(html: &str) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("index.html", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(html.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn upload_docs(s: &Server, index: &str, version: &str, zip: Vec<u8>) -> (u16, String) {
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "doc_upload")
        .text("name", "documented")
        .text("version", version.to_string())
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(zip).file_name("documented-1.0.doc.zip"),
        );
    let r = client()
        .post(s.url(&format!("/{index}/")))
        .basic_auth("root", Some(ROOT_PW))
        .multipart(form)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn documentation_on_a_non_volatile_index_never_changes() {
    let s = Server::start();
    let (n, b) = wheel("documented", "1.0", "documented");
    assert_eq!(
        upload(&s, "root/prod", root(), &n, b.clone(), &[]).status(),
        200
    );
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    let first = doc_zip("<h1>first</h1>");
    assert_eq!(upload_docs(&s, "root/prod", "1.0", first.clone()).0, 200);
    let before = snapshot(&s);
    for (what, version, zip) in [
        ("other docs", "1.0", doc_zip("<h1>replaced</h1>")),
        (
            "other docs, equal version spelled 1.0.0",
            "1.0.0",
            doc_zip("<h1>x</h1>"),
        ),
        ("other docs, no version", "", doc_zip("<h1>y</h1>")),
    ] {
        let (status, text) = upload_docs(&s, "root/prod", version, zip);
        assert_eq!(status, 409, "{what}: {text}");
        assert!(text.contains("already has documentation"), "{what}: {text}");
        assert!(
            text.contains(&sha256_hex(&first)),
            "{what}: names the stored zip: {text}"
        );
        assert_eq!(snapshot(&s), before, "{what}: something changed");
    }
    // the same bytes again are fine; the page still serves the first
    assert_eq!(upload_docs(&s, "root/prod", "1.0", first).0, 200);
    let page = client()
        .get(s.url("/root/prod/documented/1.0/+doc/index.html"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("first"), "{page}");
    // a volatile index still replaces
    assert_eq!(upload_docs(&s, "root/dev", "1.0", doc_zip("a")).0, 200);
    assert_eq!(upload_docs(&s, "root/dev", "1.0", doc_zip("b")).0, 200);
    assert_alive(&s);
}
