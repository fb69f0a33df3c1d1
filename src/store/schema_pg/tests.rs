//! The PostgreSQL schema against a real server: it has every table and
//! column of the SQLite schema (so a SQLite migration without its
//! PostgreSQL twin fails here), and the store's own operations, written
//! once, run on it and read back what they wrote.

use std::collections::{BTreeMap, BTreeSet};

use super::{MIGRATIONS, PG_ONLY_COLUMNS, PG_ONLY_TABLES};
use crate::audit::{self, Action, NewEntry};
use crate::digest::Sha256;
use crate::index::{IndexConfig, IndexKind};
use crate::names::IndexPath;
use crate::store::sql::pg_cluster::PgCluster;
use crate::store::sql::Conn;
use crate::store::{
    alerts, doczips, indexes, mirror_cache, pending, releases, sessions, toxresults, typo_index,
    users, StoreError,
};
use crate::typo::probe::{Probe, StoredName};

/// Run `f` on `cluster` with the schema applied, in one transaction that
/// is rolled back afterwards.
fn on_postgres(cluster: &PgCluster, f: impl FnOnce(&Conn<'_>) + Send + 'static) {
    cluster.in_transaction(|conn| {
        for m in MIGRATIONS {
            conn.batch(m).expect("the PostgreSQL schema applies");
        }
        f(conn);
    });
}

fn sqlite_columns() -> BTreeMap<String, BTreeSet<String>> {
    let c = rusqlite::Connection::open_in_memory().expect("sqlite");
    for m in crate::store::schema::MIGRATIONS {
        c.execute_batch(m).expect("migration");
    }
    let tables: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'
             AND name NOT LIKE 'search_fts%' AND name NOT LIKE 'search_head%'",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    tables
        .into_iter()
        .map(|t| {
            let cols: BTreeSet<String> = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .expect("columns");
            (t, cols)
        })
        .collect()
}

#[test]
fn the_postgresql_schema_has_every_table_and_column_of_the_sqlite_one() {
    let cluster = PgCluster::start();
    let want = sqlite_columns();
    assert!(want.len() > 25, "{} tables", want.len());
    on_postgres(&cluster, move |conn| {
        let rows = conn
            .query_map(
                "SELECT table_name, column_name FROM information_schema.columns
                 WHERE table_schema = 'public'",
                &[],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )
            .expect("columns");
        let mut have: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (t, c) in rows {
            if PG_ONLY_TABLES.contains(&t.as_str())
                || PG_ONLY_COLUMNS.contains(&(t.as_str(), c.as_str()))
            {
                continue;
            }
            have.entry(t).or_default().insert(c);
        }
        assert_eq!(have, want, "tables and columns of the two schemas");
    });
}

#[test]
fn the_store_operations_run_on_postgresql() {
    let cluster = PgCluster::start();
    on_postgres(&cluster, |c| {
        run_store_operations(c).expect("store operations on PostgreSQL")
    });
}

fn run_store_operations(c: &Conn<'_>) -> Result<(), StoreError> {
    // users and indexes
    assert!(users::create(
        c,
        "alice",
        Some("hash"),
        Some("a@example.org")
    )?);
    assert!(!users::create(c, "alice", None, None)?, "a taken name");
    let alice = users::get(c, "alice")?.expect("alice");
    assert_eq!(alice.email.as_deref(), Some("a@example.org"));
    users::set_password(c, "alice", "hash2")?;
    assert_eq!(
        users::get(c, "alice")?.expect("alice").pwhash.as_deref(),
        Some("hash2")
    );
    let path = IndexPath::parse("alice/dev").expect("path");
    let config = IndexConfig::new(IndexKind::Stage, "alice");
    let index_id = indexes::create(c, alice.id, &path, &config)?.expect("new index");
    assert_eq!(
        indexes::create(c, alice.id, &path, &config)?,
        None,
        "exists"
    );
    assert_eq!(indexes::get(c, &path)?.expect("index").id, index_id);
    assert_eq!(indexes::list_of_user(c, "alice")?.len(), 1);

    // a release with a file, its test result and doc zip
    let sha = Sha256::of(b"wheel bytes");
    let meta = Sha256::of(b"metadata");
    let file = releases::NewFile {
        index_id,
        project: "acme-ledger",
        display_name: "Acme_Ledger",
        version: "1.0",
        release_metadata: r#"{"summary": "books"}"#,
        description_key: None,
        filename: "acme_ledger-1.0-py3-none-any.whl",
        kind: "bdist_wheel",
        sha256: &sha,
        size: 11,
        requires_python: Some(">=3.9"),
        metadata_sha256: Some(&meta),
        uploader: "alice",
        provenance: "[]",
    };
    assert!(releases::insert_file(c, &file)?.is_empty());
    let found = releases::find_file(c, index_id, file.filename)?.expect("file row");
    assert_eq!(
        (found.sha256, found.size, found.metadata_sha256),
        (sha, 11, Some(meta))
    );
    assert_eq!(
        releases::files_of_project(c, index_id, "acme-ledger")?.len(),
        1
    );
    assert_eq!(
        releases::projects(c, index_id)?[0].display_name,
        "Acme_Ledger"
    );
    assert!(releases::blob_referenced(c, &sha)? && releases::stage_referenced(c, &meta)?);
    let tox = Sha256::of(b"tox");
    toxresults::insert(c, found.id, &tox, "{}", Some("alice"), None)?;
    assert_eq!(toxresults::for_files(c, &[found.id])?.len(), 1);
    let doc = Sha256::of(b"docs");
    let replaced = doczips::set(
        c,
        &doczips::NewDocZip {
            index_id,
            project: "acme-ledger",
            display_name: "Acme_Ledger",
            version: "1.0",
            sha256: &doc,
            size: 4,
            uploader: "alice",
        },
    )?;
    assert_eq!(replaced, None);
    assert_eq!(
        doczips::shas_of_release(c, index_id, "acme-ledger", "1.0")?,
        vec![doc]
    );

    // the audit chain, appended and verified on PostgreSQL
    for i in 0..3 {
        audit::append(
            c,
            NewEntry::new(Action::Upload, format!("alice/dev/acme-ledger/1.{i}"))
                .actor(Some("alice"), None)
                .details(serde_json::json!({"n": i})),
        )
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    }
    let report = audit::verify(c).map_err(|e| StoreError::Internal(e.to_string()))?;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!((report.entries, report.head.seq), (3, 3));

    // pending pushes, alerts, sessions
    let id = pending::create(
        c,
        "alice/dev",
        "alice/prod",
        "acme-ledger",
        "1.0",
        "alice",
        None,
        &[],
        "{}",
    )?;
    assert_eq!(pending::count_pending(c)?, 1);
    pending::decide(c, id, "rejected", Some("no"))?;
    assert_eq!(pending::get(c, id)?.expect("push").status, "rejected");
    assert!(alerts::record(
        c,
        "confusion",
        "high",
        "alice/dev",
        "acme-ledger",
        "m",
        "{}",
        "k1"
    )?);
    assert!(!alerts::record(
        c,
        "confusion",
        "high",
        "alice/dev",
        "acme-ledger",
        "m",
        "{}",
        "k1"
    )?);
    assert_eq!(alerts::list(c, 0, false)?.len(), 1);
    sessions::insert(c, "h1", "alice", "fp", 100, Some("127.0.0.1:1"))?;
    assert_eq!(sessions::get(c, "h1")?.expect("session").user, "alice");
    assert_eq!(sessions::expire(c, 200, 0)?, 1);

    // the typosquat index: the project insert queued its name (trigger)
    let (stored, _, taken) = typo_index::work_queue(c, 10)?;
    assert_eq!((stored, taken), (1, 1), "acme-ledger queued and stored");
    let name = StoredName::new("acme-ledger");
    let hood = typo_index::neighbourhood(
        c,
        &Probe {
            keys: name.keys.clone(),
            names: vec!["acme-ledger".into()],
            words: vec!["ledger".into()],
        },
    )?;
    assert!(
        hood.names.contains(&"acme-ledger".to_string()),
        "{:?}",
        hood.names
    );

    // mirror cache use: the later use wins, an earlier one does not go back
    mirror_cache::record_use(c, &[(sha, 50)])?;
    mirror_cache::record_use(c, &[(sha, 40)])?;
    assert_eq!(mirror_cache::last_used(c, &sha)?, Some(50));
    assert!(mirror_cache::named_blobs(c)?.is_empty(), "no mirror rows");

    // deleting the index's releases takes their blobs' names with them
    let gone = releases::delete_all_of_index(c, index_id)?;
    assert!(gone.contains(&sha) && gone.contains(&doc) && gone.contains(&tox));
    // the audit log refuses to be rewritten
    assert!(c.execute("DELETE FROM audit_log", &[]).is_err());
    Ok(())
}
