//! `airlock backup`, `airlock restore` and `airlock fsck` against real data
//! folders: a backup taken while the server serves and receives uploads
//! restores into a server that serves the same files; fsck finds every
//! planted fault and its --repair removes only what nothing references.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;

const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env_remove("AIRLOCK_DATA")
        .output()
        .expect("run airlock")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn upload_ok(s: &Server, name: &str, version: &str) -> (String, String) {
    upload_to(&s.base, name, version)
}

/// Upload a wheel to root/dev of the server at `base` (from any thread).
fn upload_to(base: &str, name: &str, version: &str) -> (String, String) {
    let (fname, bytes) = wheel(name, version, name);
    let sha = sha256_hex(&bytes);
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "file_upload")
        .text("sha256_digest", sha.clone())
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(bytes).file_name(fname.clone()),
        );
    let r = client()
        .post(format!("{base}/root/dev/"))
        .basic_auth("root", Some(ROOT_PW))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    (fname, sha)
}

fn blob(data: &Path, sha: &str) -> PathBuf {
    data.join("blobs")
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(sha)
}

/// filename -> sha256 of every file the server lists for `project` on
/// root/dev, each downloaded and re-hashed.
fn served(s: &Server, project: &str) -> Vec<(String, String)> {
    let url = s.url(&format!("/root/dev/+simple/{project}/"));
    let page: Value = client()
        .get(&url)
        .header("Accept", JSON)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let base = reqwest::Url::parse(&url).unwrap();
    let mut out = Vec::new();
    for f in page["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files in the page of {project}: {page}"))
    {
        let file_url = base.join(f["url"].as_str().unwrap()).unwrap();
        let r = client().get(file_url).send().unwrap();
        assert_eq!(r.status(), 200);
        let got = sha256_hex(&r.bytes().unwrap());
        assert_eq!(f["hashes"]["sha256"].as_str().unwrap(), got);
        out.push((f["filename"].as_str().unwrap().to_string(), got));
    }
    out.sort();
    out
}

fn files_in(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open_with_flags(
        db.join("airlock.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = conn
        .prepare("SELECT filename, sha256 FROM files ORDER BY filename")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<(String, String)>, _>>()
        .unwrap();
    rows
}

fn fsck_json(data: &Path, extra: &[&str]) -> (bool, Value) {
    let mut args = vec!["fsck", "--data", p(data), "--json"];
    args.extend_from_slice(extra);
    let o = airlock(&args);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.success(), v)
}

#[test]
fn backup_while_serving_and_uploading_restores_the_same_files() {
    let s = Server::start();
    let mut before = Vec::new();
    for v in ["1.0", "1.1", "1.2"] {
        before.push(upload_ok(&s, "steady", v));
    }
    let tmp = tempfile::tempdir().unwrap();
    let backup_dir = tmp.path().join("backup");

    // Uploads keep arriving while the backup runs.
    let base = s.base.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uploader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 200 {
                upload_to(&base, "busy", &format!("0.{n}"));
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // fsck on the live folder while uploads arrive: no false alarms
    let (clean, report) = fsck_json(&s.data, &[]);
    assert!(clean, "{report:#}");
    let o = airlock(&["backup", p(&backup_dir), "--data", p(&s.data)]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let uploaded = uploader.join().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(uploaded > 0);
    eprintln!("uploads during the backup run: {uploaded}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("verified"),
        "{}",
        text(&o)
    );

    // The backup holds everything uploaded before it started, as one file.
    let in_backup = files_in(&backup_dir);
    eprintln!("files in the backup: {}", in_backup.len());
    for (f, sha) in &before {
        assert!(
            in_backup.contains(&(f.clone(), sha.clone())),
            "{f} not in backup"
        );
    }
    assert!(!backup_dir.join("airlock.sqlite3-wal").exists());
    #[cfg(unix)]
    {
        // same filesystem: blobs are hard links to the live ones
        use std::os::unix::fs::MetadataExt;
        let linked = std::fs::metadata(blob(&backup_dir, &before[0].1)).unwrap();
        assert!(linked.nlink() >= 2, "not hard-linked");
    }
    assert!(!backup_dir.join("tmp").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(backup_dir.join("secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        std::fs::read(backup_dir.join("secret")).unwrap(),
        std::fs::read(s.data.join("secret")).unwrap()
    );

    // Restore into a new folder and serve it.
    let restored = tmp.path().join("restored");
    let o = airlock(&["restore", p(&backup_dir), "--data", p(&restored)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = airlock(&["audit", "verify", "--data", p(&restored)]);
    assert!(o.status.success(), "{}", text(&o));
    let (clean, report) = fsck_json(&restored, &[]);
    assert!(clean, "{report:#}");

    let r = Server::start_on(&restored, &[]);
    let steady = served(&r, "steady");
    let mut want: Vec<_> = before.clone();
    want.sort();
    assert_eq!(steady, want);
    // every file of the snapshot is served with its sha256
    let mut all = served(&r, "steady");
    all.extend(served(&r, "busy"));
    all.sort();
    assert_eq!(all, in_backup);
    // and the original server still serves what it had
    assert_eq!(served(&s, "steady"), want);
}

#[test]
fn fsck_finds_every_planted_fault_and_repair_removes_only_the_orphan() {
    let mut s = Server::start();
    let (_, sha_a) = upload_ok(&s, "alpha", "1.0");
    let (_, sha_b) = upload_ok(&s, "bravo", "1.0");
    let (file_c, _) = upload_ok(&s, "charlie", "1.0");
    let (sname, sbytes) = sdist("delta", "1.0");
    let r = upload(&s, "root/dev", root(), &sname, sbytes, &[]);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    s.stop();
    let data = s.data.clone();

    let (clean, report) = fsck_json(&data, &[]);
    assert!(clean, "a fresh data folder is sound: {report:#}");
    assert_eq!(report["problems"], 0);
    assert_eq!(
        report["metadata_checked"], 4,
        "wheels and the sdist: {report:#}"
    );
    assert!(
        strings(&report["metadata_unreadable"]).is_empty(),
        "{report:#}"
    );

    // deleted blob
    std::fs::remove_file(blob(&data, &sha_a)).unwrap();
    // altered blob: one byte flipped
    let pb = blob(&data, &sha_b);
    let mut bytes = std::fs::read(&pb).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&pb, &bytes).unwrap();
    // an old orphan, and a fresh one (an upload might be about to commit it)
    let old = b"nothing refers to this".to_vec();
    let old_sha = sha256_hex(&old);
    let po = blob(&data, &old_sha);
    std::fs::create_dir_all(po.parent().unwrap()).unwrap();
    std::fs::write(&po, &old).unwrap();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&po)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let fresh = b"just written".to_vec();
    let fresh_sha = sha256_hex(&fresh);
    let pf = blob(&data, &fresh_sha);
    std::fs::create_dir_all(pf.parent().unwrap()).unwrap();
    std::fs::write(&pf, &fresh).unwrap();
    // metadata that is not the archive's: a real blob, wrong content
    let other_meta = metadata("charlie", "9.9").into_bytes();
    let meta_sha = sha256_hex(&other_meta);
    let pm = blob(&data, &meta_sha);
    std::fs::create_dir_all(pm.parent().unwrap()).unwrap();
    std::fs::write(&pm, &other_meta).unwrap();
    // an edited audit row (the append-only triggers dropped first)
    {
        let conn = rusqlite::Connection::open(data.join("airlock.sqlite3")).unwrap();
        conn.execute(
            "UPDATE files SET metadata_sha256 = ?1 WHERE filename = ?2",
            [&meta_sha, &file_c],
        )
        .unwrap();
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_update;
             UPDATE audit_log SET actor = 'mallory' WHERE seq = (SELECT max(seq) FROM audit_log);",
        )
        .unwrap();
    }
    // a temp file a crashed upload left, long ago
    let stale = data.join("tmp").join("123-0-crashed.part");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"half an upload").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let referenced_before: Vec<PathBuf> = files_in(&data)
        .iter()
        .map(|(_, sha)| blob(&data, sha))
        .filter(|p| p.exists())
        .collect();

    let o = airlock(&["fsck", "--data", p(&data)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("problem(s)"), "{out}");

    let (clean, r) = fsck_json(&data, &[]);
    assert!(!clean);
    // Paced (one thread at half a core, quick_check after the rest), fsck
    // finds exactly the same.
    let (paced_clean, paced) = fsck_json(&data, &["--max-cpu", "50"]);
    assert!(!paced_clean);
    assert_eq!(paced, r, "paced and unpaced fsck disagree");
    let missing = strings(&r["missing"]);
    assert!(
        missing
            .iter()
            .any(|m| m.contains(&sha_a) && m.starts_with("files.sha256")),
        "{r:#}"
    );
    assert_eq!(missing.len(), 1, "{r:#}");
    let corrupt = strings(&r["corrupt"]);
    assert_eq!(corrupt.len(), 1, "{r:#}");
    assert!(corrupt[0].contains(&sha_b), "{r:#}");
    // the old orphan counts; the fresh one and charlie's own metadata blob
    // (which the edited row no longer refers to) are too recent to judge
    let orphans = strings(&r["orphans"]);
    assert_eq!(orphans.len(), 1, "{r:#}");
    assert!(orphans[0].contains(&old_sha));
    let recent = strings(&r["recent_unreferenced"]);
    assert_eq!(recent.len(), 2, "{r:#}");
    assert!(recent.iter().any(|o| o.contains(&fresh_sha)));
    let (_, all_ages) = fsck_json(&data, &["--min-age", "0"]);
    assert_eq!(strings(&all_ages["orphans"]).len(), 3, "{all_ages:#}");
    let mismatch = strings(&r["metadata_mismatch"]);
    assert_eq!(mismatch.len(), 1, "{r:#}");
    assert!(mismatch[0].contains(&file_c), "{r:#}");
    assert!(!r["audit_problems"].as_array().unwrap().is_empty(), "{r:#}");
    assert_eq!(strings(&r["stale_tmp"]).len(), 1, "{r:#}");

    // --repair: only the old orphan goes
    let (clean, r) = fsck_json(&data, &["--repair"]);
    assert!(!clean, "what repair cannot fix is still reported: {r:#}");
    assert_eq!(r["orphans_removed"], 1, "{r:#}");
    assert_eq!(r["tmp_removed"], 1, "{r:#}");
    assert!(!stale.exists());
    assert!(!po.exists(), "the old orphan is removed");
    assert!(pf.exists(), "a fresh unreferenced blob is kept");
    assert!(pb.exists(), "an altered but referenced blob is kept");
    assert!(pm.exists(), "referenced metadata is kept");
    for p in &referenced_before {
        assert!(p.exists(), "{} was removed", p.display());
    }
    assert_eq!(strings(&r["missing"]).len(), 1, "{r:#}");
    assert_eq!(strings(&r["corrupt"]).len(), 1, "{r:#}");
    assert_eq!(strings(&r["metadata_mismatch"]).len(), 1, "{r:#}");
    assert!(!r["audit_problems"].as_array().unwrap().is_empty());
    assert!(strings(&r["orphans"]).is_empty(), "{r:#}");
    assert_eq!(strings(&r["recent_unreferenced"]).len(), 2, "{r:#}");
    let (_, again) = fsck_json(&data, &[]);
    assert_eq!(strings(&again["recent_unreferenced"]).len(), 2, "{again:#}");

    // a damaged data folder does not back up as if it were sound
    let tmp = tempfile::tempdir().unwrap();
    let o = airlock(&["backup", p(&tmp.path().join("b")), "--data", p(&data)]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("failed verification"),
        "{}",
        text(&o)
    );
}

#[test]
fn backup_and_restore_refuse_folders_that_are_not_empty() {
    let mut s = Server::start();
    upload_ok(&s, "alpha", "1.0");
    s.stop();
    let tmp = tempfile::tempdir().unwrap();

    // backup into a non-empty folder: refused, nothing written
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), b"mine").unwrap();
    let o = airlock(&["backup", p(&busy), "--data", p(&s.data)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not empty"),
        "{}",
        text(&o)
    );
    let names: Vec<_> = std::fs::read_dir(&busy)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keep.txt")]);

    // a good backup (copied: the blob altered below must not be the live one)
    let b = tmp.path().join("b");
    let o = airlock(&["backup", p(&b), "--data", p(&s.data), "--copy"]);
    assert!(o.status.success(), "{}", text(&o));

    // restore into a non-empty data folder: refused, nothing changed
    let o = airlock(&["restore", p(&b), "--data", p(&busy)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not empty"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    // restore over the live data folder: refused too
    let o = airlock(&["restore", p(&b), "--data", p(&s.data)]);
    assert!(!o.status.success(), "{}", text(&o));

    // a backup that was altered afterwards is refused and leaves nothing
    let conn = rusqlite::Connection::open(b.join("airlock.sqlite3")).unwrap();
    let sha: String = conn
        .query_row("SELECT sha256 FROM files LIMIT 1", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let pb = blob(&b, &sha);
    let mut bytes = std::fs::read(&pb).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&pb, &bytes).unwrap();
    let target = tmp.path().join("new");
    let o = airlock(&["restore", p(&b), "--data", p(&target)]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("failed verification"),
        "{}",
        text(&o)
    );
    assert!(!target.exists(), "a refused restore writes nothing");
}

/// A backup on another filesystem (where hard links fail) copies blobs.
#[cfg(unix)]
#[test]
fn backup_to_another_filesystem_copies_the_blobs() {
    use std::os::unix::fs::MetadataExt;
    let shm = Path::new("/dev/shm");
    let mut s = Server::start();
    let (_, sha) = upload_ok(&s, "alpha", "1.0");
    s.stop();
    let other = match std::fs::metadata(shm) {
        Ok(m) if m.dev() != std::fs::metadata(&s.data).unwrap().dev() => {
            tempfile::tempdir_in(shm).unwrap()
        }
        _ => {
            eprintln!("no second filesystem at /dev/shm: skipped");
            return;
        }
    };
    let b = other.path().join("b");
    let o = airlock(&["backup", p(&b), "--data", p(&s.data)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("blobs copied"),
        "{}",
        text(&o)
    );
    let copied = std::fs::metadata(blob(&b, &sha)).unwrap();
    assert_eq!(copied.nlink(), 1);
    let (clean, report) = fsck_json(&b, &[]);
    assert!(clean, "{report:#}");
}
