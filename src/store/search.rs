//! The full-text search index (`search_entries`, `search_fts`; migration
//! 15). Names, summaries, keywords and classifiers arrive through triggers
//! on `releases` and `mirror_pages`; the description and documentation text
//! are set here, by the transaction that stores the upload, the doc zip or
//! the push. What a query means (tokens, ranking, snippets) is decided in
//! `crate::search`; this module only runs it.

use super::sql::{refs, Conn, Dialect, Row, Value};

use super::StoreError;

/// The id of the search row of a release, if the release exists.
fn release_entry(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT e.id FROM search_entries e JOIN releases r ON r.id = e.release_id
             JOIN projects p ON p.id = r.project_id
             WHERE p.index_id = ?1 AND p.name = ?2 AND r.version = ?3",
        &[&index_id, &project, &version],
        |r| r.get(0),
    )
}

/// Set the description text of a release (already bounded by the caller).
/// Returns whether the release has a search row.
pub fn set_description(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
    text: &str,
) -> Result<bool, StoreError> {
    let Some(id) = release_entry(conn, index_id, project, version)? else {
        return Ok(false);
    };
    conn.execute(
        "UPDATE search_entries SET description = ?2 WHERE id = ?1",
        &[&id, &text],
    )?;
    Ok(true)
}

/// Set the documentation text of a release (already bounded by the caller).
pub fn set_docs(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
    text: &str,
) -> Result<bool, StoreError> {
    let Some(id) = release_entry(conn, index_id, project, version)? else {
        return Ok(false);
    };
    conn.execute(
        "UPDATE search_entries SET docs = ?2 WHERE id = ?1",
        &[&id, &text],
    )?;
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
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Option<CarriedText>, StoreError> {
    let Some(id) = release_entry(conn, index_id, project, version)? else {
        return Ok(None);
    };
    Ok(Some(conn.query_one(
        "SELECT description, docs FROM search_entries WHERE id = ?1",
        &[&id],
        |r| {
            Ok(CarriedText {
                description: r.get(0)?,
                docs: r.get(1)?,
            })
        },
    )?))
}

/// One row of the search index that matched (or names the project the
/// query names exactly).
#[derive(Debug, Clone, PartialEq)]
pub struct HitRow {
    /// The search row id.
    pub id: i64,
    pub index_id: i64,
    /// Normalised project name.
    pub project: String,
    pub display_name: String,
    /// `None` for a mirrored project (name only).
    pub version: Option<String>,
    /// bm25 within the FTS index asked (lower is better); 0 for exact names.
    pub bm25: f64,
}

/// Which FTS index and columns a match runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// The name only (`search_head`, `{name}:` filter).
    Name,
    /// Name, summary, keywords (`search_head`).
    Short,
    /// Every field (`search_fts`).
    All,
}

/// Column weights for bm25, in column order (name, summary, keywords,
/// classifiers, description, docs); [`Fields::Name`] and [`Fields::Short`]
/// use the first three.
pub type Weights = [f64; 6];

fn scope_sql(index_ids: Option<&[i64]>, first: usize, column: &str) -> String {
    match index_ids {
        Some(ids) => {
            let list = (0..ids.len())
                .map(|i| format!("?{}", i + first))
                .collect::<Vec<_>>()
                .join(",");
            format!("AND {column} IN ({list})")
        }
        None => String::new(),
    }
}

fn hit_row(r: &Row<'_>) -> Result<HitRow, StoreError> {
    Ok(HitRow {
        id: r.get(0)?,
        index_id: r.get(1)?,
        project: r.get(2)?,
        display_name: r.get(3)?,
        version: r.get(4)?,
        bm25: r.get(5)?,
    })
}

/// Every row of the project named `name_key` (normalised), in `index_ids`
/// (`None`: every index). A row of that project always matches the query
/// the key was made from (its name holds exactly the query's words), so no
/// full-text lookup is needed.
pub fn exact_name_rows(
    conn: &Conn<'_>,
    name_key: &str,
    index_ids: Option<&[i64]>,
) -> Result<Vec<HitRow>, StoreError> {
    if index_ids.is_some_and(|ids| ids.is_empty()) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, index_id, project, name, version, CAST(0.0 AS DOUBLE PRECISION) FROM search_entries
         WHERE project = ?1 {} ORDER BY id",
        scope_sql(index_ids, 2, "index_id")
    );
    let mut values = vec![Value::Text(name_key)];
    values.extend(index_ids.unwrap_or(&[]).iter().map(|id| Value::Int(*id)));
    let rows = conn.query_map(&sql, &refs(&values), hit_row)?;
    Ok(rows)
}

/// The newest `cap` rows (highest row id: the most recently indexed) that
/// match the FTS5 expression `fts_query` (built by `crate::search::Query`,
/// never user text) in `fields`, in `index_ids` (`None`: every index), each
/// with its bm25 under `weights`. Newest first. Walking the match in row
/// order and stopping at `cap` bounds the work (bm25 included) for a word
/// that matches nearly every row; `crate::search::rank` decides the order.
pub fn newest_matches(
    conn: &Conn<'_>,
    fields: Fields,
    fts_query: &str,
    weights: &Weights,
    index_ids: Option<&[i64]>,
    cap: usize,
) -> Result<Vec<HitRow>, StoreError> {
    if index_ids.is_some_and(|ids| ids.is_empty()) || cap == 0 {
        return Ok(Vec::new());
    }
    if conn.dialect() == Dialect::Postgres {
        return newest_matches_postgres(conn, fields, fts_query, weights, index_ids, cap);
    }
    let (table, expression, w) = match fields {
        Fields::Name => (
            "search_head",
            format!("{{name}}: ({fts_query})"),
            &weights[..3],
        ),
        Fields::Short => ("search_head", fts_query.to_string(), &weights[..3]),
        Fields::All => ("search_fts", fts_query.to_string(), &weights[..]),
    };
    // Weights are numbers chosen in code; formatting them keeps the
    // statement cacheable per weight set.
    let w = w
        .iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (join, scope) = match index_ids {
        // CROSS JOIN keeps the FTS table the outer loop (bm25 needs it, and
        // its row order is what the LIMIT walks)
        Some(ids) => (
            format!("CROSS JOIN search_entries s ON s.id = {table}.rowid"),
            scope_sql(Some(ids), 3, "s.index_id"),
        ),
        None => (String::new(), String::new()),
    };
    let sql = format!(
        "SELECT c.id, e.index_id, e.project, e.name, e.version, c.score
         FROM (SELECT {table}.rowid AS id, bm25({table}, {w}) AS score
               FROM {table} {join} WHERE {table} MATCH ?1 {scope}
               ORDER BY {table}.rowid DESC LIMIT ?2) c
         JOIN search_entries e ON e.id = c.id
         ORDER BY c.id DESC"
    );
    let mut values = vec![
        Value::Text(&expression),
        Value::Int(cap.min(i64::MAX as usize) as i64),
    ];
    values.extend(index_ids.unwrap_or(&[]).iter().map(|id| Value::Int(*id)));
    // FTS5 (MATCH, bm25) is SQLite's own.
    let rows = Conn::sqlite(conn.raw_sqlite()?).query_map(&sql, &refs(&values), hit_row)?;
    Ok(rows)
}

/// The indexed text of one row: name, summary, keywords, classifiers,
/// description, docs (for highlighting; `None` if the row is gone).
pub fn entry_text(conn: &Conn<'_>, row_id: i64) -> Result<Option<[String; 6]>, StoreError> {
    conn.query_opt(
        "SELECT name, summary, keywords, classifiers, description, docs
             FROM search_entries WHERE id = ?1",
        &[&row_id],
        |r| {
            Ok([
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ])
        },
    )
}

/// [`newest_matches`] on PostgreSQL: the tsvector columns of migration 2
/// (`head_tsv` for the name and short tiers, `all_tsv` for every field),
/// the expression made a tsquery ([`tsquery`]), `ts_rank` with the column
/// weights folded onto PostgreSQL's four (name A, summary and keywords B,
/// classifiers C, description and docs D) and divided by 1 + the log of the
/// entry's length (a short name that holds the word beats a long one, as
/// bm25's length normalisation has it), negated so lower is better as with
/// bm25.
fn newest_matches_postgres(
    conn: &Conn<'_>,
    fields: Fields,
    fts_query: &str,
    weights: &Weights,
    index_ids: Option<&[i64]>,
    cap: usize,
) -> Result<Vec<HitRow>, StoreError> {
    let (column, only_names) = match fields {
        Fields::Name => ("head_tsv", true),
        Fields::Short => ("head_tsv", false),
        Fields::All => ("all_tsv", false),
    };
    let Some(query) = tsquery(fts_query, only_names) else {
        return Ok(Vec::new());
    };
    // ts_rank's weights are {D, C, B, A}, each in [0, 1]
    let a = weights[0];
    let b = weights[1].max(weights[2]);
    let c = if fields == Fields::All {
        weights[3]
    } else {
        0.0
    };
    let d = if fields == Fields::All {
        weights[4].max(weights[5])
    } else {
        0.0
    };
    let top = [a, b, c, d].into_iter().fold(f64::MIN_POSITIVE, f64::max);
    let w = [d, c, b, a]
        .iter()
        .map(|x| format!("{:.3}", (x / top).clamp(0.0, 1.0)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT id, index_id, project, name, version,
                -CAST(ts_rank('{{{w}}}'::float4[], {column}, q, 1) AS DOUBLE PRECISION)
         FROM search_entries, to_tsquery('simple', ?1) q
         WHERE {column} @@ q {scope}
         ORDER BY id DESC LIMIT ?2",
        scope = scope_sql(index_ids, 3, "index_id"),
    );
    let mut values = vec![
        Value::Text(&query),
        Value::Int(cap.min(i64::MAX as usize) as i64),
    ];
    values.extend(index_ids.unwrap_or(&[]).iter().map(|id| Value::Int(*id)));
    conn.query_map(&sql, &refs(&values), hit_row)
}

/// The FTS5 expression `crate::search::Query` builds (quoted tokens, the
/// last maybe a prefix: `"http" "client"*`) as a PostgreSQL tsquery
/// (`'http' & 'client':*`; with `only_names`, every token restricted to the
/// name's weight A). `None` for anything else: only that shape is ever
/// built, and nothing else is passed on.
pub fn tsquery(fts_expression: &str, only_names: bool) -> Option<String> {
    let mut terms = Vec::new();
    for part in fts_expression.split(' ') {
        let (quoted, prefix) = match part.strip_suffix('*') {
            Some(q) => (q, true),
            None => (part, false),
        };
        let token = quoted.strip_prefix('"')?.strip_suffix('"')?;
        if token.is_empty() || !token.chars().all(char::is_alphanumeric) {
            return None;
        }
        let label = match (prefix, only_names) {
            (true, true) => ":*A",
            (true, false) => ":*",
            (false, true) => ":A",
            (false, false) => "",
        };
        terms.push(format!("'{token}'{label}"));
    }
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// Merge the FTS indexes' segments (after a bulk load; the benchmark).
/// Nothing to do on PostgreSQL (GIN indexes need no merging).
pub fn optimize(conn: &Conn<'_>) -> Result<(), StoreError> {
    if conn.dialect() == Dialect::Postgres {
        return Ok(());
    }
    conn.raw_sqlite()?.execute_batch(
        "INSERT INTO search_fts(search_fts) VALUES('optimize');
         INSERT INTO search_head(search_head) VALUES('optimize');",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

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

    fn release(conn: &Conn<'_>, project: &str, version: &str, meta: &str) {
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

    const W: Weights = [10.0, 5.0, 3.0, 2.0, 1.0, 0.5];

    /// (project, versions) of every match in every field, newest row first.
    fn find(conn: &Conn<'_>, q: &str) -> Vec<(String, Vec<Option<String>>)> {
        let mut out: Vec<(String, Vec<Option<String>>)> = Vec::new();
        for r in newest_matches(conn, Fields::All, q, &W, None, 1000).unwrap() {
            match out.iter_mut().find(|(p, _)| *p == r.project) {
                Some((_, v)) => v.push(r.version),
                None => out.push((r.project, vec![r.version])),
            }
        }
        out
    }

    fn projects(conn: &Conn<'_>, fields: Fields, q: &str, ids: Option<&[i64]>) -> Vec<String> {
        newest_matches(conn, fields, q, &W, ids, 1000)
            .unwrap()
            .into_iter()
            .map(|r| r.project)
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
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
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
        conn.execute("DELETE FROM releases", &[]).unwrap();
        assert!(find(&conn, "\"treatise\"").is_empty());
        assert!(find(&conn, "\"alpha\"").is_empty());
        let left: i64 = conn
            .query_one("SELECT count(*) FROM search_entries", &[], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn bad_metadata_json_does_not_block_a_release() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        release(&conn, "beta", "1.0", "not json");
        assert_eq!(
            find(&conn, "\"beta\""),
            vec![("beta".into(), vec![Some("1.0".into())])]
        );
    }

    #[test]
    fn mirror_pages_index_the_name_once_and_only_when_found() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        let page = |found: i64, display: &str| {
            conn.execute(
                "INSERT INTO mirror_pages (index_id, project, display_name, found, versions, fetched)
                 VALUES (2, 'gamma-ray', ?2, ?1, '[]', 0)
                 ON CONFLICT(index_id, project) DO UPDATE SET found = excluded.found,
                   display_name = excluded.display_name",
                &[&found, &display],
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
        conn.execute("DELETE FROM mirror_pages", &[]).unwrap();
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
        let conn = Conn::sqlite(&conn);
        assert_eq!(find(&conn, "\"venerable\"").len(), 1);
        assert_eq!(find(&conn, "\"upstreamed\"").len(), 1);
        // migration 18 builds the short-field index from the stored rows
        assert_eq!(
            projects(&conn, Fields::Short, "\"venerable\"", None),
            ["old-one"]
        );
        assert_eq!(
            projects(&conn, Fields::Name, "\"upstreamed\"", None),
            ["upstreamed"]
        );
    }

    #[test]
    fn the_short_index_follows_names_summaries_and_keywords_only() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        release(
            &conn,
            "alpha",
            "1.0",
            r#"{"summary":"quantum widgets","keywords":"lasers","classifiers":["Topic :: Physics"]}"#,
        );
        assert_eq!(projects(&conn, Fields::Name, "\"alpha\"", None), ["alpha"]);
        assert!(projects(&conn, Fields::Name, "\"quantum\"", None).is_empty());
        assert_eq!(
            projects(&conn, Fields::Short, "\"quantum\"", None),
            ["alpha"]
        );
        assert_eq!(
            projects(&conn, Fields::Short, "\"lasers\"", None),
            ["alpha"]
        );
        assert!(projects(&conn, Fields::Short, "\"physics\"", None).is_empty());
        assert_eq!(projects(&conn, Fields::All, "\"physics\"", None), ["alpha"]);
        // every word in the name: a column filter over the whole expression
        assert!(projects(&conn, Fields::Name, "\"alpha\" \"quantum\"", None).is_empty());
        assert_eq!(
            projects(&conn, Fields::Short, "\"alpha\" \"quantum\"", None),
            ["alpha"]
        );
        // the description goes to the big index only; a new summary moves
        assert!(set_description(&conn, 1, "alpha", "1.0", "a thorough treatise").unwrap());
        assert!(projects(&conn, Fields::Short, "\"treatise\"", None).is_empty());
        release(&conn, "alpha", "1.0", r#"{"summary":"classical gadgets"}"#);
        assert!(projects(&conn, Fields::Short, "\"quantum\"", None).is_empty());
        assert_eq!(
            projects(&conn, Fields::Short, "\"gadgets\"", None),
            ["alpha"]
        );
        assert_eq!(
            projects(&conn, Fields::All, "\"treatise\"", None),
            ["alpha"]
        );
        // prefixes of 2 and 3 characters (own prefix index) and longer
        for q in ["\"ga\"*", "\"gad\"*", "\"gadg\"*"] {
            assert_eq!(projects(&conn, Fields::Short, q, None), ["alpha"], "{q}");
        }
        conn.execute("DELETE FROM releases", &[]).unwrap();
        assert!(projects(&conn, Fields::Short, "\"gadgets\"", None).is_empty());
        assert!(projects(&conn, Fields::Name, "\"alpha\"", None).is_empty());
        let check: Result<(), StoreError> =
            conn.batch("INSERT INTO search_head(search_head, rank) VALUES('integrity-check', 1)");
        check.expect("search_head in step with search_entries");
    }

    #[test]
    fn newest_matches_stop_at_the_cap_newest_first_and_keep_to_the_scope() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        for i in 0..5 {
            release(
                &conn,
                &format!("p{i}"),
                "1.0",
                r#"{"summary":"shared word"}"#,
            );
        }
        conn.execute(
            "INSERT INTO mirror_pages (index_id, project, display_name, found, versions, fetched)
             VALUES (2, 'mirrored', 'Mirrored', 1, '[]', 0)",
            &[],
        )
        .unwrap();
        let got = newest_matches(&conn, Fields::Short, "\"shared\"", &W, None, 3).unwrap();
        let names: Vec<&str> = got.iter().map(|r| r.project.as_str()).collect();
        assert_eq!(names, ["p4", "p3", "p2"]);
        assert!(got.iter().all(|r| r.bm25 < 0.0 && r.index_id == 1));
        assert_eq!(
            projects(&conn, Fields::Name, "\"mirrored\"", None),
            ["mirrored"]
        );
        assert!(projects(&conn, Fields::Name, "\"mirrored\"", Some(&[1])).is_empty());
        assert_eq!(
            projects(&conn, Fields::Short, "\"shared\"", Some(&[2, 1])).len(),
            5
        );
        assert!(projects(&conn, Fields::All, "\"shared\"", Some(&[])).is_empty());
        let exact = exact_name_rows(&conn, "mirrored", None).unwrap();
        assert_eq!(exact.len(), 1);
        assert_eq!((exact[0].index_id, exact[0].version.clone()), (2, None));
        assert!(exact_name_rows(&conn, "mirrored", Some(&[1]))
            .unwrap()
            .is_empty());
        let text = entry_text(&conn, got[0].id).unwrap().unwrap();
        assert_eq!(text[1], "shared word");
        assert!(entry_text(&conn, -1).unwrap().is_none());
    }
}

#[cfg(test)]
mod tsquery_tests {
    use super::tsquery;

    #[test]
    fn fts5_expressions_become_tsqueries() {
        assert_eq!(
            tsquery("\"requests\"*", false).as_deref(),
            Some("'requests':*")
        );
        assert_eq!(
            tsquery("\"http\" \"client\"*", false).as_deref(),
            Some("'http' & 'client':*")
        );
        assert_eq!(
            tsquery("\"http\" \"client\"", true).as_deref(),
            Some("'http':A & 'client':A")
        );
        assert_eq!(tsquery("\"x\"*", true).as_deref(), Some("'x':*A"));
    }

    #[test]
    fn anything_but_quoted_words_is_refused() {
        for bad in [
            "",
            "requests",
            "\"a b\"",
            "\"a'\"",
            "\"a\" OR \"b\"",
            "\"\"",
        ] {
            assert_eq!(tsquery(bad, false), None, "{bad}");
        }
    }
}
