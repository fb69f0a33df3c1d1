//! Hostile distributions against the real binary: every member of every
//! archive is checked, so escaping paths, links, devices, bombs and members
//! outside the sdist's folder are refused with a 400 naming the member,
//! and nothing changes. Python's own `tarfile`/`zipfile` show that the
//! refused archives would have escaped on an installing machine, and that
//! nothing a client fetches back from the server does.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::*;
use hostile::*;
use serde_json::Value;

type TarFill = Box<dyn Fn(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)>;

fn tar_gz(fill: TarFill) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    fill(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

fn file(b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn special(
    b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_size(0);
    h.set_mode(0o777);
    h.set_entry_type(kind);
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
}

fn pkg_info(b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>) {
    file(
        b,
        "evilpkg-1.0/PKG-INFO",
        metadata("evilpkg", "1.0").as_bytes(),
    );
}

fn zip_of(members: &[(&str, &[u8])], symlink: Option<(&str, &str)>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (n, d) in members {
        w.start_file(*n, o).unwrap();
        w.write_all(d).unwrap();
    }
    if let Some((name, target)) = symlink {
        w.add_symlink(name, target, o).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Extract `archive` with Python's tarfile or zipfile the way an installer
/// on Python 3.11 would (no extraction filter), into `into`; the files that
/// landed outside `into` (below `root`) are returned.
fn python_extract(archive: &Path, into: &Path, root: &Path) -> Vec<String> {
    let script = r#"
import os, sys, tarfile, zipfile
archive, into, root = sys.argv[1:4]
os.makedirs(into, exist_ok=True)
try:
    if archive.endswith(".tar.gz"):
        with tarfile.open(archive) as t:
            t.extractall(into)
    else:
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
except Exception as e:
    print("extract-error", type(e).__name__, file=sys.stderr)
into = os.path.realpath(into)
for d, dirs, files in os.walk(root):
    for f in files:
        p = os.path.realpath(os.path.join(d, f))
        if not p.startswith(into + os.sep) and not p.startswith(os.path.realpath(archive)):
            print(p)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(archive)
        .arg(into)
        .arg(root)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn hostile_archives_are_refused_naming_the_member() {
    let s = Server::start();
    let before = snapshot(&s);
    let meta = metadata("evilwheel", "1.0");
    let zeros = vec![0u8; 64 * 1024 * 1024];
    type Case = (&'static str, &'static str, Vec<u8>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "symlink out, then a file through it",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                special(
                    b,
                    "evilpkg-1.0/escape",
                    tar::EntryType::Symlink,
                    "../../../outside",
                );
                file(b, "evilpkg-1.0/escape/pwned.txt", b"pwned");
            })),
            "evilpkg-1.0/escape in the archive is not a regular file: it is a symbolic link",
        ),
        (
            "hard link to an absolute path",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                special(b, "evilpkg-1.0/passwd", tar::EntryType::Link, "/etc/passwd");
            })),
            "evilpkg-1.0/passwd in the archive is not a regular file: it is a hard link",
        ),
        (
            "FIFO",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                special(b, "evilpkg-1.0/pipe", tar::EntryType::Fifo, "");
            })),
            "it is a FIFO",
        ),
        (
            "character device",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                special(b, "evilpkg-1.0/zero", tar::EntryType::Char, "");
            })),
            "it is a character device",
        ),
        (
            "../ after PKG-INFO",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                file(b, "evilpkg-1.0/../../pwned.txt", b"pwned");
            })),
            "unsafe path \"evilpkg-1.0/../../pwned.txt\"",
        ),
        (
            "absolute path after PKG-INFO",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                file(b, "/tmp/airlock-pwned.txt", b"pwned");
            })),
            "unsafe path \"/tmp/airlock-pwned.txt\"",
        ),
        (
            "member outside the top-level folder",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                file(b, "sitecustomize.py", b"import os");
            })),
            "\"sitecustomize.py\" in the sdist is outside its top-level folder \"evilpkg-1.0\"",
        ),
        (
            "second PKG-INFO overriding the first on extraction",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(|b| {
                pkg_info(b);
                file(
                    b,
                    "evilpkg-1.0/PKG-INFO",
                    metadata("otherpkg", "9.0").as_bytes(),
                );
            })),
            "contains \"evilpkg-1.0/PKG-INFO\" more than once",
        ),
        (
            "sdist bomb",
            "evilpkg-1.0.tar.gz",
            tar_gz(Box::new(move |b| {
                pkg_info(b);
                file(b, "evilpkg-1.0/zeros.bin", &vec![0u8; 64 * 1024 * 1024]);
            })),
            "compression bomb",
        ),
        (
            "wheel symlink member",
            "evilwheel-1.0-py3-none-any.whl",
            zip_of(
                &[("evilwheel-1.0.dist-info/METADATA", meta.as_bytes())],
                Some(("evilwheel/link", "../../../../etc/passwd")),
            ),
            "evilwheel/link in the archive is not a regular file: it is a symbolic link",
        ),
        (
            "wheel ../ member",
            "evilwheel-1.0-py3-none-any.whl",
            zip_of(
                &[
                    ("evilwheel-1.0.dist-info/METADATA", meta.as_bytes()),
                    ("../../pwned.pth", b"import os"),
                ],
                None,
            ),
            "unsafe path \"../../pwned.pth\"",
        ),
        (
            "wheel backslash member",
            "evilwheel-1.0-py3-none-any.whl",
            zip_of(
                &[
                    ("evilwheel-1.0.dist-info/METADATA", meta.as_bytes()),
                    ("..\\..\\pwned.pth", b"import os"),
                ],
                None,
            ),
            "unsafe path",
        ),
        (
            "wheel bomb member",
            "evilwheel-1.0-py3-none-any.whl",
            zip_of(
                &[
                    ("evilwheel-1.0.dist-info/METADATA", meta.as_bytes()),
                    ("evilwheel/data.bin", &zeros),
                ],
                None,
            ),
            "evilwheel/data.bin in the archive is compressed",
        ),
        (
            "zip sdist member outside its folder",
            "evilpkg-1.0.zip",
            zip_of(
                &[
                    (
                        "evilpkg-1.0/PKG-INFO",
                        metadata("evilpkg", "1.0").as_bytes(),
                    ),
                    ("other/setup.py", b"x"),
                ],
                None,
            ),
            "outside its top-level folder",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut escaped_somewhere = 0;
    for (i, (what, filename, bytes, needle)) in cases.into_iter().enumerate() {
        let r = upload(&s, "root/dev", root(), filename, bytes.clone(), &[]);
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert_eq!(status, 400, "{what}: {text}");
        // uploads get devpi's JSON error; the message is what a user reads
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
        assert_eq!(snapshot(&s), before, "{what}: something was stored");
        // what the upload would have done to a Python 3.11 installer;
        // only for attacks that stay below the case's folder: an absolute
        // path or link and a device node would act on this machine itself
        // (the absolute-path case once left /tmp/airlock-pwned.txt behind)
        if what.contains("bomb") || what.contains("absolute") || what.contains("device") {
            continue;
        }
        let case = tmp.path().join(format!("case{i}"));
        std::fs::create_dir_all(&case).unwrap();
        let archive = case.join(filename);
        std::fs::write(&archive, &bytes).unwrap();
        let outside = python_extract(&archive, &case.join("a/b/c/target"), &case);
        if !outside.is_empty() {
            escaped_somewhere += 1;
        }
    }
    assert!(
        escaped_somewhere >= 2,
        "the hostile archives should escape when extracted without checks \
         (this proves the test archives are real attacks), {escaped_somewhere} did"
    );
    assert_alive(&s);
}

#[test]
fn what_clients_fetch_back_never_escapes() {
    let s = Server::start();
    // accepted archives with every harmless oddity: ./ prefixes, nested
    // folders, a directory entry, a vendored PKG-INFO
    let sdist = tar_gz(Box::new(|b| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path("./okpkg-1.0/").unwrap();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        file(
            b,
            "./okpkg-1.0/PKG-INFO",
            metadata("okpkg", "1.0").as_bytes(),
        );
        file(b, "okpkg-1.0/src/okpkg/__init__.py", b"X = 1\n");
        file(
            b,
            "okpkg-1.0/vendor/x-2.0/PKG-INFO",
            metadata("x", "2.0").as_bytes(),
        );
    }));
    assert_eq!(
        upload(&s, "root/dev", root(), "okpkg-1.0.tar.gz", sdist, &[]).status(),
        200
    );
    let wheel_bytes = zip_of(
        &[
            ("okpkg/__init__.py", b"X = 1\n"),
            ("okpkg/sub/deep/data.txt", b"data"),
            (
                "okpkg-1.0.dist-info/METADATA",
                metadata("okpkg", "1.0").as_bytes(),
            ),
        ],
        None,
    );
    let r = upload(
        &s,
        "root/dev",
        root(),
        "okpkg-1.0-py3-none-any.whl",
        wheel_bytes,
        &[],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let page: Value = client()
        .get(s.url("/root/dev/+simple/okpkg/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let tmp = tempfile::tempdir().unwrap();
    for f in files {
        let name = f["filename"].as_str().unwrap();
        let url = s.url(&format!(
            "/root/dev/+simple/okpkg/{}",
            f["url"].as_str().unwrap()
        ));
        let bytes = client().get(url).send().unwrap().bytes().unwrap();
        let case = tmp.path().join(name.replace('.', "_"));
        std::fs::create_dir_all(&case).unwrap();
        let archive = case.join(name);
        std::fs::write(&archive, &bytes).unwrap();
        let target = case.join("x/target");
        let outside = python_extract(&archive, &target, &case);
        assert!(
            outside.is_empty(),
            "{name}: extraction escaped: {outside:?}"
        );
        assert!(
            walk_count(&target) >= 2,
            "{name}: nothing was extracted, the check proves nothing"
        );
    }
}

fn walk_count(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        n += if p.is_dir() { walk_count(&p) } else { 1 };
    }
    n
}

#[test]
fn files_stored_under_looser_rules_are_checked_again_before_a_push() {
    // stored while the server allowed any compression ratio...
    let mut s = Server::start_with(&["--max-compression-ratio", "100000"]);
    let meta = metadata("squeezed", "1.0");
    let zeros = vec![0u8; 16 * 1024 * 1024];
    let bytes = zip_of(
        &[
            ("squeezed-1.0.dist-info/METADATA", meta.as_bytes()),
            ("squeezed/zeros.bin", &zeros),
        ],
        None,
    );
    let r = upload(
        &s,
        "root/dev",
        root(),
        "squeezed-1.0-py3-none-any.whl",
        bytes,
        &[],
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // ...then the limit is back to 50:1: the file does not travel on
    s.restart_with(&[]);
    let s2 = &s;
    let before = snapshot(s2);
    let r = client()
        .post(s2.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(
            &serde_json::json!({":action": "push", "name": "squeezed", "version": "1.0",
            "targetindex": "root/prod"}),
        )
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("squeezed-1.0-py3-none-any.whl fails the archive checks and is not pushed"),
        "{text}"
    );
    assert!(
        text.contains("squeezed/zeros.bin in the archive is compressed"),
        "{text}"
    );
    assert_eq!(snapshot(s2), before);
}
