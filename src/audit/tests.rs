use std::path::Path;

use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::store::sql::Conn;
use crate::store::Db;

// The chain functions on a plain connection: these tests tamper with the
// file directly, as an attacker with file access would.
fn verify(c: &Connection) -> Result<VerifyReport, AuditError> {
    super::verify(&Conn::sqlite(c))
}

fn verify_with_anchor(c: &Connection, anchor: &Head) -> Result<VerifyReport, AuditError> {
    super::verify_with_anchor(&Conn::sqlite(c), anchor)
}

fn head(c: &Connection) -> Result<Head, AuditError> {
    super::head(&Conn::sqlite(c))
}

/// A database with five entries (seq 1..=5); returns the tempdir and the file.
fn log_with_five() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("airlock.sqlite3");
    let db = Db::open(&file).unwrap();
    for i in 1..=5 {
        db.write_blocking(|tx| {
            append(
                tx,
                NewEntry::new(Action::Upload, format!("root/dev/pkg/{i}.0"))
                    .actor(Some("alice"), Some("ab:cd"))
                    .remote("127.0.0.1")
                    .details(json!({"sha256": format!("{i:064}")})),
            )
            .map_err(|e| StoreError::Internal(e.to_string()))
        })
        .unwrap();
    }
    db.close().unwrap();
    drop(db);
    (dir, file)
}

fn raw(file: &Path) -> Connection {
    let conn = Connection::open(file).unwrap();
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    conn
}

fn row(conn: &Connection, seq: i64) -> AuditRow {
    crate::store::audit::get(&Conn::sqlite(conn), seq)
        .unwrap()
        .unwrap()
}

/// Insert a correctly hashed row with the given seq and prev_hash.
fn forge(conn: &Connection, seq: i64, prev_hash: &str) -> AuditRow {
    let mut r = AuditRow {
        seq,
        time: 1,
        actor: Some("mallory".into()),
        cert_fingerprint: None,
        remote: None,
        action: "push".into(),
        target: "root/prod/evil/1.0".into(),
        details: "{}".into(),
        prev_hash: prev_hash.into(),
        hash: String::new(),
    };
    r.hash = entry_hash(&r);
    crate::store::audit::insert(&Conn::sqlite(conn), &r).unwrap();
    r
}

fn rewrite_from(conn: &Connection, seq: i64) {
    // Re-hash every entry from `seq` on, as an attacker with file access would.
    let mut prev = row(conn, seq - 1).hash;
    let last = crate::store::audit::last(&Conn::sqlite(conn))
        .unwrap()
        .unwrap()
        .seq;
    for s in seq..=last {
        let mut r = row(conn, s);
        r.prev_hash = prev.clone();
        r.hash = entry_hash(&r);
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
            rusqlite::params![s, r.prev_hash, r.hash],
        )
        .unwrap();
        prev = r.hash;
    }
}

use Problem::{BrokenLink, Missing, Modified};

#[test]
fn an_untouched_log_verifies() {
    let (_dir, file) = log_with_five();
    let conn = Connection::open(&file).unwrap();
    let report = verify(&conn).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.entries, 5);
    assert_eq!(report.head.seq, 5);
    assert_eq!(report.head, head(&conn).unwrap());
    assert_eq!(row(&conn, 1).prev_hash, GENESIS_HASH);
    assert_eq!(row(&conn, 2).prev_hash, row(&conn, 1).hash);
    assert!(verify_with_anchor(&conn, &report.head).unwrap().is_intact());
}

#[test]
fn every_kind_of_tampering_is_found() {
    type Tamper = fn(&Connection);
    let cases: &[(&str, Tamper, &[Problem])] = &[
        (
            "edit details",
            |c| {
                c.execute("UPDATE audit_log SET details = '{}' WHERE seq = 3", [])
                    .unwrap();
            },
            &[Modified { seq: 3 }],
        ),
        (
            "edit actor",
            |c| {
                c.execute("UPDATE audit_log SET actor = 'bob' WHERE seq = 2", [])
                    .unwrap();
            },
            &[Modified { seq: 2 }],
        ),
        (
            "clear the fingerprint",
            |c| {
                c.execute(
                    "UPDATE audit_log SET cert_fingerprint = NULL WHERE seq = 5",
                    [],
                )
                .unwrap();
            },
            &[Modified { seq: 5 }],
        ),
        (
            "edit time",
            |c| {
                c.execute("UPDATE audit_log SET time = time - 86400 WHERE seq = 1", [])
                    .unwrap();
            },
            &[Modified { seq: 1 }],
        ),
        (
            "edit and re-hash one entry",
            |c| {
                let mut r = row(c, 3);
                r.target = "root/dev/other/1.0".into();
                r.hash = entry_hash(&r);
                c.execute(
                    "UPDATE audit_log SET target = ?2, hash = ?3 WHERE seq = ?1",
                    rusqlite::params![3, r.target, r.hash],
                )
                .unwrap();
            },
            &[BrokenLink { seq: 4 }],
        ),
        (
            "delete from the middle",
            |c| {
                c.execute("DELETE FROM audit_log WHERE seq = 3", [])
                    .unwrap();
            },
            &[Missing { from: 3, to: 3 }, BrokenLink { seq: 4 }],
        ),
        (
            "delete the first two",
            |c| {
                c.execute("DELETE FROM audit_log WHERE seq <= 2", [])
                    .unwrap();
            },
            &[Missing { from: 1, to: 2 }, BrokenLink { seq: 3 }],
        ),
        (
            "swap two entries",
            |c| {
                c.execute_batch(
                    "UPDATE audit_log SET seq = -2 WHERE seq = 2;
                     UPDATE audit_log SET seq = 2 WHERE seq = 3;
                     UPDATE audit_log SET seq = 3 WHERE seq = -2;",
                )
                .unwrap();
            },
            &[
                Modified { seq: 2 },
                BrokenLink { seq: 2 },
                Modified { seq: 3 },
                BrokenLink { seq: 3 },
                BrokenLink { seq: 4 },
            ],
        ),
        (
            "insert in the middle",
            |c| {
                c.execute_batch(
                    "UPDATE audit_log SET seq = 6 WHERE seq = 5;
                     UPDATE audit_log SET seq = 5 WHERE seq = 4;",
                )
                .unwrap();
                let prev = row(c, 3).hash;
                forge(c, 4, &prev);
            },
            &[
                Modified { seq: 5 },
                BrokenLink { seq: 5 },
                Modified { seq: 6 },
            ],
        ),
        (
            "append a forged entry off the chain",
            |c| {
                forge(c, 6, GENESIS_HASH);
            },
            &[BrokenLink { seq: 6 }],
        ),
        (
            "forged entry with a bad hash",
            |c| {
                let prev = row(c, 5).hash;
                let r = forge(c, 6, &prev);
                c.execute(
                    "UPDATE audit_log SET hash = ?1 WHERE seq = 6",
                    [r.hash.replace(|ch: char| ch.is_ascii_digit(), "f")],
                )
                .unwrap();
            },
            &[Modified { seq: 6 }],
        ),
    ];
    for (name, tamper, expected) in cases {
        let (_dir, file) = log_with_five();
        let conn = raw(&file);
        tamper(&conn);
        let report = verify(&conn).unwrap();
        assert_eq!(report.problems, *expected, "{name}");
        assert!(!report.is_intact(), "{name}");
    }
}

#[test]
fn only_an_anchor_exposes_truncation_and_rewrites() {
    type Tamper = fn(&Connection);
    let cases: &[(&str, Tamper)] = &[
        ("truncate the tail", |c| {
            c.execute("DELETE FROM audit_log WHERE seq >= 4", [])
                .unwrap();
        }),
        ("rewrite the chain consistently", |c| {
            c.execute("UPDATE audit_log SET actor = 'bob' WHERE seq = 2", [])
                .unwrap();
            rewrite_from(c, 2);
        }),
    ];
    for (name, tamper) in cases {
        let (_dir, file) = log_with_five();
        let conn = raw(&file);
        let anchor = head(&conn).unwrap();
        tamper(&conn);
        assert!(
            verify(&conn).unwrap().is_intact(),
            "{name}: undetectable without anchor"
        );
        let report = verify_with_anchor(&conn, &anchor).unwrap();
        assert_eq!(
            report.problems,
            vec![Problem::AnchorMismatch { seq: 5 }],
            "{name}"
        );
    }
    // An anchor taken earlier still verifies after honest appends.
    let (_dir, file) = log_with_five();
    let conn = Connection::open(&file).unwrap();
    let early = Head {
        seq: 2,
        hash: row(&conn, 2).hash,
    };
    assert!(verify_with_anchor(&conn, &early).unwrap().is_intact());
    let empty = Head {
        seq: 0,
        hash: GENESIS_HASH.into(),
    };
    assert!(verify_with_anchor(&conn, &empty).unwrap().is_intact());
    let wrong = Head {
        seq: 2,
        hash: row(&conn, 3).hash,
    };
    assert!(!verify_with_anchor(&conn, &wrong).unwrap().is_intact());
}

#[test]
fn triggers_refuse_update_and_delete() {
    let (_dir, file) = log_with_five();
    let conn = Connection::open(&file).unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 5",
        "DELETE FROM audit_log",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert!(verify(&conn).unwrap().is_intact());
    assert_eq!(verify(&conn).unwrap().entries, 5);
}

#[test]
fn an_entry_rolls_back_with_its_action() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("a.sqlite3")).unwrap();
    let failed: Result<(), StoreError> = db.write_blocking(|tx| {
        append(tx, NewEntry::new(Action::IndexCreate, "a/b"))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Err(StoreError::Internal("the action failed".into()))
    });
    assert!(failed.is_err());
    let h = db.read_blocking(|c| super::head(c).map_err(|e| StoreError::Internal(e.to_string())));
    assert_eq!(h.unwrap().seq, 0);
    let entry = db
        .write_blocking(|tx| {
            append(tx, NewEntry::new(Action::IndexCreate, "a/b"))
                .map_err(|e| StoreError::Internal(e.to_string()))
        })
        .unwrap();
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.prev_hash, GENESIS_HASH);
    assert_eq!(entry.action, "index_create");
    assert_eq!(entry.details, json!({}));
}

#[test]
fn oversized_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("a.sqlite3")).unwrap();
    let cases = [
        NewEntry::new(Action::Push, "x".repeat(MAX_TARGET_LEN + 1)),
        NewEntry::new(Action::Push, "t").actor(Some(&"u".repeat(MAX_FIELD_LEN + 1)), None),
        NewEntry::new(Action::Push, "t").actor(None, Some(&"f".repeat(MAX_FIELD_LEN + 1))),
        NewEntry::new(Action::Push, "t").remote("r".repeat(MAX_FIELD_LEN + 1)),
        NewEntry::new(Action::Push, "t").details(json!("d".repeat(MAX_DETAILS_BYTES))),
    ];
    for entry in cases {
        let out = db.write_blocking(|tx| match append(tx, entry.clone()) {
            Err(AuditError::TooLarge { .. }) => Ok(true),
            _ => Ok(false),
        });
        assert!(out.unwrap(), "{entry:?}");
    }
    let ok = db.write_blocking(|tx| {
        Ok(append(tx, NewEntry::new(Action::Push, "x".repeat(MAX_TARGET_LEN))).is_ok())
    });
    assert!(ok.unwrap());
}

#[test]
fn export_writes_json_lines_after_a_sequence_number() {
    let (_dir, file) = log_with_five();
    let conn = Connection::open(&file).unwrap();
    for (since, expected) in [(0, 5usize), (3, 2), (5, 0), (-10, 5)] {
        let mut out = Vec::new();
        let n = export_jsonl(&Conn::sqlite(&conn), &mut out, since).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            (n as usize, lines.len()),
            (expected, expected),
            "since {since}"
        );
        if let Some(first) = lines.first() {
            assert_eq!(first["seq"], json!(since.max(0) + 1));
            assert_eq!(first["action"], json!("upload"));
            assert_eq!(first["actor"], json!("alice"));
            assert!(first["details"]["sha256"].is_string());
            assert_eq!(first["hash"].as_str().map(str::len), Some(64));
        }
    }
}

#[test]
fn the_encoding_is_unambiguous() {
    let base = AuditRow {
        seq: 1,
        time: 2,
        actor: Some("ab".into()),
        cert_fingerprint: None,
        remote: Some("c".into()),
        action: "push".into(),
        target: "t".into(),
        details: "{}".into(),
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
    };
    let variants: Vec<AuditRow> = vec![
        AuditRow {
            actor: Some("a".into()),
            cert_fingerprint: Some("b".into()),
            ..base.clone()
        },
        AuditRow {
            actor: None,
            ..base.clone()
        },
        AuditRow {
            actor: Some(String::new()),
            ..base.clone()
        },
        AuditRow {
            cert_fingerprint: Some(String::new()),
            ..base.clone()
        },
        AuditRow {
            action: "pus".into(),
            target: "ht".into(),
            ..base.clone()
        },
        AuditRow {
            seq: 2,
            ..base.clone()
        },
        AuditRow {
            time: 3,
            ..base.clone()
        },
        AuditRow {
            prev_hash: "1".repeat(64),
            ..base.clone()
        },
    ];
    let h = entry_hash(&base);
    assert_eq!(h.len(), 64);
    assert_eq!(
        h,
        entry_hash(&AuditRow {
            hash: "ignored".into(),
            ..base.clone()
        })
    );
    for v in &variants {
        assert_ne!(entry_hash(v), h, "{v:?}");
    }
}

#[test]
fn action_names_round_trip() {
    for a in Action::ALL {
        assert_eq!(Action::parse(a.as_str()), Some(*a));
    }
    assert_eq!(Action::parse("Upload"), None);
    assert_eq!(Action::parse("drop_table"), None);
    assert_eq!(Action::BlockedInstall.to_string(), "blocked_install");
}
