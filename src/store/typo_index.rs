//! The `typo_*` tables: this server's project names with the lookup keys of
//! the typosquat detector ([`crate::typo::StoredName`]), and the answer to a
//! [`Probe`]. Derived data: triggers on `projects` queue every name added
//! or removed (`typo_queue`), and [`work_queue`] brings the index in line
//! with the projects of stage indexes, so a restart costs nothing.

use super::sql::Conn;

use super::StoreError;
use crate::typo::{Neighbourhood, Probe, StoredName};

/// The key version the stored keys were made with, if any.
pub fn keys_version(conn: &Conn<'_>) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT keys_version FROM typo_index_state WHERE id = 1",
        &[],
        |r| r.get(0),
    )
}

/// Forget every stored name and queue every project name again, to be
/// stored with keys of `version`.
pub fn reset(conn: &Conn<'_>, version: i64) -> Result<(), StoreError> {
    conn.batch(
        "DELETE FROM typo_keys; DELETE FROM typo_words; DELETE FROM typo_names;
         INSERT INTO typo_queue (name) SELECT name FROM projects WHERE true ON CONFLICT DO NOTHING;",
    )?;
    conn.execute(
        "INSERT INTO typo_index_state (id, keys_version) VALUES (1, ?1)
         ON CONFLICT(id) DO UPDATE SET keys_version = excluded.keys_version",
        &[&version],
    )?;
    Ok(())
}

/// Take up to `limit` names off the queue and store or forget each, as a
/// stage index now holds it or not. Returns (stored, forgotten, taken).
pub fn work_queue(conn: &Conn<'_>, limit: usize) -> Result<(usize, usize, usize), StoreError> {
    let queued: Vec<(String, bool)> = {
        let sql = format!(
            "SELECT q.name, EXISTS (SELECT 1 FROM projects p JOIN indexes i ON i.id = p.index_id
                 WHERE p.name = q.name AND {} = 'stage')
             FROM typo_queue q LIMIT ?1",
            conn.dialect().json_text("i.config", "type")
        );
        conn.query_map(&sql, &[&limit], |r| Ok((r.get(0)?, r.get(1)?)))?
    };
    let (mut stored, mut forgotten) = (0, 0);
    for (name, private) in &queued {
        let entry = StoredName::new(name);
        if *private {
            stored += usize::from(add(conn, &entry)?);
        } else {
            forgotten += usize::from(remove(conn, &entry)?);
        }
        conn.execute("DELETE FROM typo_queue WHERE name = ?1", &[&name])?;
    }
    Ok((stored, forgotten, queued.len()))
}

/// Store `name` with its keys and words; false when it was stored already.
pub fn add(conn: &Conn<'_>, name: &StoredName) -> Result<bool, StoreError> {
    let id: Option<i64> = conn.query_opt(
        "INSERT INTO typo_names (name) VALUES (?1) ON CONFLICT(name) DO NOTHING RETURNING id",
        &[&name.name],
        |r| r.get(0),
    )?;
    let Some(id) = id else {
        return Ok(false);
    };
    // all keys in one statement (each is a round trip on PostgreSQL)
    let keys = keys_json(name)?;
    conn.execute(
        &format!(
            "INSERT INTO typo_keys (key, name_id) SELECT value, ?2 FROM ({}) AS k WHERE true
             ON CONFLICT DO NOTHING",
            conn.dialect().json_int_array("?1")
        ),
        &[&keys, &id],
    )?;
    count_words(conn, name, 1)?;
    Ok(true)
}

/// Forget `name`; false when it was not stored.
pub fn remove(conn: &Conn<'_>, name: &StoredName) -> Result<bool, StoreError> {
    let id: Option<i64> = conn.query_opt(
        "SELECT id FROM typo_names WHERE name = ?1",
        &[&name.name],
        |r| r.get(0),
    )?;
    let Some(id) = id else {
        return Ok(false);
    };
    let keys = keys_json(name)?;
    conn.execute(
        &format!(
            "DELETE FROM typo_keys WHERE name_id = ?2 AND key IN ({})",
            conn.dialect().json_int_array("?1")
        ),
        &[&keys, &id],
    )?;
    count_words(conn, name, -1)?;
    conn.execute("DELETE FROM typo_names WHERE id = ?1", &[&id])?;
    Ok(true)
}

fn keys_json(name: &StoredName) -> Result<String, StoreError> {
    serde_json::to_string(&name.keys).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Add `delta` (1 or -1) to the use counts of `name`'s words and to its
/// family's size; a word no stored name uses any more is dropped.
fn count_words(conn: &Conn<'_>, name: &StoredName, delta: i64) -> Result<(), StoreError> {
    let uses = name.words.iter().map(|w| (w, delta, 0));
    let family = name.family.iter().map(|f| (f, 0, delta));
    for (word, uses, families) in uses.chain(family) {
        // Counts never go below zero (CASE: SQLite's two-argument max is
        // PostgreSQL's GREATEST).
        conn.execute(
            "INSERT INTO typo_words (word, uses, families) VALUES (?1, ?4, ?5)
             ON CONFLICT(word) DO UPDATE SET
               uses = CASE WHEN typo_words.uses + ?2 > 0 THEN typo_words.uses + ?2 ELSE 0 END,
               families = CASE WHEN typo_words.families + ?3 > 0
                               THEN typo_words.families + ?3 ELSE 0 END",
            &[&word, &uses, &families, &uses.max(0), &families.max(0)],
        )?;
        if delta < 0 {
            conn.execute(
                "DELETE FROM typo_words WHERE word = ?1 AND uses = 0 AND families = 0",
                &[&word],
            )?;
        }
    }
    Ok(())
}

/// The stored names under any of the probe's keys or among its exact
/// names, and the use counts of its words.
pub fn neighbourhood(conn: &Conn<'_>, probe: &Probe) -> Result<Neighbourhood, StoreError> {
    let keys =
        serde_json::to_string(&probe.keys).map_err(|e| StoreError::Internal(e.to_string()))?;
    let names =
        serde_json::to_string(&probe.names).map_err(|e| StoreError::Internal(e.to_string()))?;
    let words =
        serde_json::to_string(&probe.words).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut hood = Neighbourhood::default();
    let d = conn.dialect();
    let sql = format!(
        "SELECT n.name FROM typo_keys k JOIN typo_names n ON n.id = k.name_id
         WHERE k.key IN ({})
         UNION SELECT name FROM typo_names WHERE name IN ({})",
        d.json_int_array("?1"),
        d.json_array("?2")
    );
    hood.names = conn
        .query_map(&sql, &[&keys, &names], |r| r.get::<String>(0))?
        .into_iter()
        .collect();
    let sql = format!(
        "SELECT word, uses, families FROM typo_words WHERE word IN ({})",
        d.json_array("?1")
    );
    conn.for_each(&sql, &[&words], |r| {
        let word: String = r.get(0)?;
        let uses: u32 = r.get(1)?;
        let families: u32 = r.get(2)?;
        if uses > 0 {
            hood.word_uses.insert(word.clone(), uses);
        }
        if families > 0 {
            hood.families.insert(word, families);
        }
        Ok(())
    })?;
    Ok(hood)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    const KEYS: i64 = crate::typo::probe::KEYS_VERSION;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for sql in super::super::schema::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn
    }

    fn probe_for(d: &crate::typo::Detector, name: &str) -> Probe {
        d.probe(name).expect("a name to look up")
    }

    #[test]
    fn stored_names_are_found_by_their_neighbours_and_forgotten() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        let d = crate::typo::Detector::builder().build();
        assert_eq!(keys_version(&conn).unwrap(), None);
        reset(&conn, 1).unwrap();
        assert_eq!(keys_version(&conn).unwrap(), Some(1));
        for n in ["acme-billing", "acme-ledger", "acme-invoices"] {
            assert!(add(&conn, &StoredName::new(n)).unwrap());
        }
        assert!(
            !add(&conn, &StoredName::new("acme-billing")).unwrap(),
            "once"
        );

        let hood = neighbourhood(&conn, &probe_for(&d, "acme-biling")).unwrap();
        assert_eq!(hood.names, ["acme-billing"]);
        assert_eq!(
            hood.word_uses.get("acme"),
            Some(&3),
            "counted once per name"
        );
        assert_eq!(hood.word_uses.get("biling"), None, "no stored name uses it");
        assert_eq!(hood.families.get("acme"), Some(&3));
        let words = neighbourhood(&conn, &probe_for(&d, "billing-acmee")).unwrap();
        assert_eq!(words.word_uses.get("billing"), Some(&1));
        let swapped = neighbourhood(&conn, &probe_for(&d, "ledger-acme")).unwrap();
        assert_eq!(swapped.names, ["acme-ledger"]);
        let far = neighbourhood(&conn, &probe_for(&d, "numpy")).unwrap();
        assert!(far.names.is_empty() && far.word_uses.is_empty());

        assert!(remove(&conn, &StoredName::new("acme-billing")).unwrap());
        assert!(!remove(&conn, &StoredName::new("acme-billing")).unwrap());
        let hood = neighbourhood(&conn, &probe_for(&d, "acme-biling")).unwrap();
        assert!(hood.names.is_empty());
        assert_eq!(hood.word_uses.get("acme"), Some(&2));
        let words = neighbourhood(&conn, &probe_for(&d, "billing-acmee")).unwrap();
        assert_eq!(
            words.word_uses.get("billing"),
            None,
            "unused words are dropped"
        );
        let rows: i64 = conn
            .query_one(
                "SELECT count(*) FROM typo_words WHERE word = 'billing'",
                &[],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
        let keys: i64 = conn
            .query_one("SELECT count(*) FROM typo_keys", &[], |r| r.get(0))
            .unwrap();
        let expected: usize = ["acme-ledger", "acme-invoices"]
            .iter()
            .map(|n| StoredName::new(n).keys.len())
            .sum();
        assert_eq!(
            keys as usize, expected,
            "no keys of a removed name are left"
        );

        reset(&conn, 2).unwrap();
        assert_eq!(keys_version(&conn).unwrap(), Some(2));
        let hood = neighbourhood(&conn, &probe_for(&d, "acme-ledgr")).unwrap();
        assert!(hood.names.is_empty() && hood.families.is_empty());
    }

    fn names_in(conn: &Conn<'_>, table: &str) -> Vec<String> {
        conn.query_map(
            &format!("SELECT name FROM {table} ORDER BY name"),
            &[],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn queued(conn: &Conn<'_>) -> Vec<String> {
        names_in(conn, "typo_queue")
    }

    fn stored(conn: &Conn<'_>) -> Vec<String> {
        names_in(conn, "typo_names")
    }

    #[test]
    fn project_changes_are_queued_and_worked_off() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        conn_
            .execute_batch(
                r#"INSERT INTO users (id, name, created) VALUES (1, 'acme', 0);
               INSERT INTO indexes (id, user_id, name, config, created)
                 VALUES (1, 1, 'dev', '{"type":"stage"}', 0),
                        (2, 1, 'pypi', '{"type":"mirror"}', 0);
               INSERT INTO projects (index_id, name, display_name, created)
                 VALUES (1, 'acme-billing', 'acme-billing', 0),
                        (1, 'acme-ledger', 'acme-ledger', 0),
                        (2, 'requests', 'requests', 0);"#,
            )
            .unwrap();
        assert_eq!(queued(&conn), ["acme-billing", "acme-ledger", "requests"]);
        // Taken in batches; a mirror's project is not private.
        assert_eq!(work_queue(&conn, 2).unwrap().2, 2);
        assert_eq!(work_queue(&conn, 2).unwrap().2, 1);
        assert!(queued(&conn).is_empty());
        assert_eq!(stored(&conn), ["acme-billing", "acme-ledger"]);

        conn.execute("DELETE FROM projects WHERE name = 'acme-billing'", &[])
            .unwrap();
        assert_eq!(queued(&conn), ["acme-billing"]);
        assert_eq!(work_queue(&conn, 10).unwrap(), (0, 1, 1));
        assert_eq!(stored(&conn), ["acme-ledger"]);

        // A reset queues every project again and stores them anew.
        reset(&conn, KEYS).unwrap();
        assert!(stored(&conn).is_empty());
        assert_eq!(queued(&conn), ["acme-ledger", "requests"]);
        assert_eq!(work_queue(&conn, 10).unwrap(), (1, 0, 2));
        assert_eq!(stored(&conn), ["acme-ledger"]);
    }

    #[test]
    fn exact_names_of_the_probe_are_found_without_a_shared_key() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        add(&conn, &StoredName::new("acme-billing-sdk")).unwrap();
        let d = crate::typo::Detector::builder().build();
        // `acme-billing` → `acme-billing-sdk` is an affix away: no shared
        // deletion key, found by exact name.
        let hood = neighbourhood(&conn, &probe_for(&d, "acme-billing")).unwrap();
        assert_eq!(hood.names, ["acme-billing-sdk"]);
    }

    #[test]
    fn lookups_use_the_indexes() {
        let conn_ = db();
        let plan: Vec<String> = conn_
            .prepare(
                "EXPLAIN QUERY PLAN SELECT n.name FROM typo_keys k JOIN typo_names n ON n.id = k.name_id
                 WHERE k.key IN (SELECT value FROM json_each(?1))",
            )
            .unwrap()
            .query_map(["[1]"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            !plan.contains("SCAN k") && !plan.contains("SCAN n"),
            "no table scan: {plan}"
        );
    }
}
