//! The full-text search index (`search_entries`, `search_fts`; migration
//! 15). Names, summaries, keywords and classifiers arrive through triggers
//! on `releases` and `mirror_pages`; the description and documentation text
//! are set here, by the transaction that stores the upload, the doc zip or
//! the push. What a query means (tokens, ranking, snippets) is decided in
//! `crate::search`; this module only runs it.

use rusqlite::{params, params_from_iter, Connection};

use super::StoreError;

/// The id of the search row of a release, if the release exists.
fn release_entry(
    conn: &Connection,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Option<i64>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT e.id FROM search_entries e JOIN releases r ON r.id = e.release_id
             JOIN projects p ON p.id = r.project_id
             WHERE p.index_id = ?1 AND p.name = ?2 AND r.version = ?3",
        )?
        .query_row(params![index_id, project, version], |r| r.get(0))
        .optional()?)
}

/// Set the description text of a release (already bounded by the caller).
/// Returns whether the release has a search row.
pub fn set_description(
    conn: &Connection,
    index_id: i64,
    project: &str,
    version: &str,
    text: &str,
) -> Result<bool, StoreError> {
    let Some(id) = release_entry(conn, index_id, project, version)? else {
        return Ok(false);
    };
    conn.prepare_cached("UPDATE search_entries SET description = ?2 WHERE id = ?1")?
        .execute(params![id, text])?;
    Ok(true)
}

/// Set the documentation text of a release (already bounded by the caller).
pub fn set_docs(
    conn: &Connection,
    index_id: i64,
    project: &str,
    version: &str,
    text: &str,
) -> Result<bool, StoreError> {
    let Some(id) = release_entry(conn, index_id, project, version)? else {
        return Ok(false);
    };
    conn.prepare_cached("UPDATE search_entries SET docs = ?2 WHERE id = ?1")?
        .execute(params![id, text])?;
    Ok(true)
}

/// The text of one release that exists only in the search index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedText {
    pub description: String,
    pub docs: String,
}

/// The description and documentation text of a release, if it has a row.
pub fn carried_text(
    conn: &Connection,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Option<CarriedText>, StoreError> {
    let Some(id) = release_entry(conn, index_id, project, version)? else {
        return Ok(None);
    };
    Ok(Some(
        conn.prepare_cached("SELECT description, docs FROM search_entries WHERE id = ?1")?
            .query_row([id], |r| {
                Ok(CarriedText {
                    description: r.get(0)?,
                    docs: r.get(1)?,
                })
            })?,
    ))
}

/// One (index, project) that matched, best row first within the ranking.
#[derive(Debug, Clone)]
pub struct MatchedProject {
    pub index_id: i64,
    pub project: String,
    pub display_name: String,
    /// The normalised name equals the query's name form.
    pub exact_name: bool,
    /// The best (lowest) bm25 of the project's matching rows.
    pub bm25: f64,
    /// Every matching row: (search row id, version; `None` for a mirror).
    pub rows: Vec<(i64, Option<String>)>,
}

/// Column weights for bm25, in column order (name, summary, keywords,
/// classifiers, description, docs).
pub type Weights = [f64; 6];

/// The projects whose rows match the FTS5 expression `fts_query` (built by
/// `crate::search::Query`, never user text), ranked: an exact name
/// (`name_key`) first, then by bm25 with `weights`. Only the best
/// `candidates` rows by bm25 (plus the exact-name rows) are grouped into
/// projects, which bounds the work for words that match nearly everything.
/// `index_ids` restricts the indexes (`None`: every index). Answers `limit`
/// projects from `offset`.
#[allow(clippy::too_many_arguments)]
pub fn matching_projects(
    conn: &Connection,
    fts_query: &str,
    name_key: &str,
    weights: &Weights,
    index_ids: Option<&[i64]>,
    candidates: usize,
    limit: usize,
    offset: usize,
) -> Result<Vec<MatchedProject>, StoreError> {
    let (join, scope, exact_scope) = match index_ids {
        Some([]) => return Ok(Vec::new()),
        Some(ids) => {
            let list = (0..ids.len())
                .map(|i| format!("?{}", i + 6))
                .collect::<Vec<_>>()
                .join(",");
            (
                // CROSS JOIN keeps the FTS table the outer loop (bm25 needs it)
                "CROSS JOIN search_entries s ON s.id = search_fts.rowid",
                format!("AND s.index_id IN ({list})"),
                format!("AND x.index_id IN ({list})"),
            )
        }
        None => ("", String::new(), String::new()),
    };
    // Weights are numbers chosen in code; formatting them keeps the
    // statement cacheable per weight set.
    let w = weights.map(|x| format!("{x:.3}")).join(", ");
    let sql = format!(
        "WITH m AS MATERIALIZED (
             SELECT search_fts.rowid AS id, bm25(search_fts, {w}) AS score
             FROM search_fts {join} WHERE search_fts MATCH ?2 {scope}
             ORDER BY score LIMIT ?5),
         c AS (
             SELECT id, score FROM m
             UNION ALL
             SELECT x.id, 0.0 FROM search_entries x
             WHERE x.project = ?1 {exact_scope} AND x.id NOT IN (SELECT id FROM m)
               AND x.id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ?2))
         SELECT e.index_id, e.project, max(e.name), max(e.project = ?1) AS ex,
                min(c.score) AS best,
                group_concat(e.id || char(31) || coalesce(e.version, ''), char(30))
         FROM c JOIN search_entries e ON e.id = c.id
         GROUP BY e.index_id, e.project
         ORDER BY ex DESC, best, e.project, e.index_id
         LIMIT ?3 OFFSET ?4"
    );
    let mut values: Vec<rusqlite::types::Value> = vec![
        name_key.to_string().into(),
        fts_query.to_string().into(),
        (limit as i64).into(),
        (offset as i64).into(),
        (candidates as i64).into(),
    ];
    for id in index_ids.unwrap_or(&[]) {
        values.push((*id).into());
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), |r| {
        let packed: String = r.get(5)?;
        Ok(MatchedProject {
            index_id: r.get(0)?,
            project: r.get(1)?,
            display_name: r.get(2)?,
            exact_name: r.get(3)?,
            bm25: r.get(4)?,
            rows: unpack_rows(&packed),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn unpack_rows(packed: &str) -> Vec<(i64, Option<String>)> {
    packed
        .split('\u{1e}')
        .filter_map(|item| {
            let (id, version) = item.split_once('\u{1f}')?;
            let id = id.parse().ok()?;
            Some((id, Some(version.to_string()).filter(|v| !v.is_empty())))
        })
        .collect()
}

/// The fields of one matching row, with every match wrapped in `open` /
/// `close` (short fields whole, long ones as a snippet of about `tokens`
/// tokens). `None` if the row does not match (any more).
#[derive(Debug, Clone)]
pub struct MarkedRow {
    /// The plain summary, for display.
    pub summary: String,
    /// name, summary, keywords, classifiers, description, docs: marked.
    pub marked: [String; 6],
}

pub fn marked_row(
    conn: &Connection,
    fts_query: &str,
    row_id: i64,
    open: &str,
    close: &str,
    tokens: usize,
) -> Result<Option<MarkedRow>, StoreError> {
    use rusqlite::OptionalExtension;
    let tokens = tokens.clamp(1, 64) as i64;
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT summary FROM search_entries WHERE id = search_fts.rowid),
                    highlight(search_fts, 0, ?3, ?4), highlight(search_fts, 1, ?3, ?4),
                    highlight(search_fts, 2, ?3, ?4), highlight(search_fts, 3, ?3, ?4),
                    snippet(search_fts, 4, ?3, ?4, '…', ?5),
                    snippet(search_fts, 5, ?3, ?4, '…', ?5)
             FROM search_fts WHERE search_fts MATCH ?1 AND search_fts.rowid = ?2",
        )?
        .query_row(params![fts_query, row_id, open, close, tokens], |r| {
            Ok(MarkedRow {
                summary: r.get(0)?,
                marked: [
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ],
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for sql in super::super::schema::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, name, created) VALUES (1, 'u', 0);
             INSERT INTO indexes (id, user_id, name, config, created) VALUES (1, 1, 'dev', '{}', 0);
             INSERT INTO indexes (id, user_id, name, config, created) VALUES (2, 1, 'pypi', '{}', 0);",
        )
        .unwrap();
        conn
    }

    fn release(conn: &Connection, project: &str, version: &str, meta: &str) {
        crate::store::releases::ensure_release(
            conn,
            &crate::store::releases::NewRelease {
                index_id: 1,
                project,
                display_name: project,
                version,
                metadata: meta,
                description_key: None,
            },
            crate::store::releases::MetadataOnConflict::Replace,
        )
        .unwrap();
    }

    fn find(conn: &Connection, q: &str) -> Vec<(String, Vec<Option<String>>)> {
        matching_projects(
            conn,
            q,
            "",
            &[10.0, 5.0, 3.0, 2.0, 1.0, 0.5],
            None,
            1000,
            50,
            0,
        )
        .unwrap()
        .into_iter()
        .map(|m| (m.project, m.rows.into_iter().map(|r| r.1).collect()))
        .collect()
    }

    #[test]
    fn fts5_is_compiled_into_the_bundled_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x)")
            .expect("FTS5 available");
        let on: bool = conn
            .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(on);
    }

    #[test]
    fn release_triggers_feed_and_empty_the_index() {
        let conn = db();
        release(
            &conn,
            "alpha",
            "1.0",
            r#"{"summary":"quantum widgets","keywords":"lasers","classifiers":["Topic :: Physics"]}"#,
        );
        assert_eq!(find(&conn, "\"quantum\"").len(), 1);
        assert_eq!(find(&conn, "\"lasers\"").len(), 1);
        assert_eq!(find(&conn, "\"physics\"").len(), 1);
        // metadata replaced: the old summary is gone
        release(&conn, "alpha", "1.0", r#"{"summary":"classical gadgets"}"#);
        assert!(find(&conn, "\"quantum\"").is_empty());
        assert_eq!(find(&conn, "\"gadgets\"").len(), 1);
        assert!(set_description(&conn, 1, "alpha", "1.0", "a thorough treatise").unwrap());
        assert_eq!(find(&conn, "\"treatise\"").len(), 1);
        assert!(!set_description(&conn, 1, "alpha", "9.9", "nothing").unwrap());
        conn.execute("DELETE FROM releases", []).unwrap();
        assert!(find(&conn, "\"treatise\"").is_empty());
        assert!(find(&conn, "\"alpha\"").is_empty());
        let left: i64 = conn
            .query_row("SELECT count(*) FROM search_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn bad_metadata_json_does_not_block_a_release() {
        let conn = db();
        release(&conn, "beta", "1.0", "not json");
        assert_eq!(
            find(&conn, "\"beta\""),
            vec![("beta".into(), vec![Some("1.0".into())])]
        );
    }

    #[test]
    fn mirror_pages_index_the_name_once_and_only_when_found() {
        let conn = db();
        let page = |found: i64, display: &str| {
            conn.execute(
                "INSERT INTO mirror_pages (index_id, project, display_name, found, versions, fetched)
                 VALUES (2, 'gamma-ray', ?2, ?1, '[]', 0)
                 ON CONFLICT(index_id, project) DO UPDATE SET found = excluded.found,
                   display_name = excluded.display_name",
                params![found, display],
            )
            .unwrap();
        };
        page(0, "gamma-ray");
        assert!(find(&conn, "\"gamma\"").is_empty());
        page(1, "Gamma-Ray");
        page(1, "Gamma-Ray");
        assert_eq!(
            find(&conn, "\"gamma\""),
            vec![("gamma-ray".into(), vec![None])]
        );
        page(0, "Gamma-Ray");
        assert!(find(&conn, "\"gamma\"").is_empty());
        page(1, "Gamma-Ray");
        conn.execute("DELETE FROM mirror_pages", []).unwrap();
        assert!(find(&conn, "\"gamma\"").is_empty());
    }

    #[test]
    fn backfill_indexes_rows_stored_before_the_migration() {
        let conn = Connection::open_in_memory().unwrap();
        let (before, after) = super::super::schema::MIGRATIONS.split_at(13);
        for sql in before {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            r#"INSERT INTO users (id, name, created) VALUES (1, 'u', 0);
             INSERT INTO indexes (id, user_id, name, config, created) VALUES (1, 1, 'dev', '{}', 0);
             INSERT INTO projects (id, index_id, name, display_name, created) VALUES (1, 1, 'old-one', 'Old_One', 0);
             INSERT INTO releases (project_id, version, metadata, created) VALUES (1, '1.0', '{"summary":"venerable"}', 0);
             INSERT INTO mirror_pages (index_id, project, display_name, found, versions, fetched)
               VALUES (1, 'upstreamed', 'upstreamed', 1, '[]', 0);"#,
        )
        .unwrap();
        for sql in after {
            conn.execute_batch(sql).unwrap();
        }
        assert_eq!(find(&conn, "\"venerable\"").len(), 1);
        assert_eq!(find(&conn, "\"upstreamed\"").len(), 1);
    }
}
