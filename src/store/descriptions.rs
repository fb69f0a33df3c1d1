//! Release descriptions and their rendering (`descriptions`, named by
//! `releases.description_key`). Rows are content-addressed and shared; a
//! trigger removes a row when no release names it any more (migration 14).

use super::sql::{Conn, Row};

use super::StoreError;
use crate::digest::Sha256;

/// A stored description: its source and the HTML rendered from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptionRow {
    /// [`key_of`] the source and content type.
    pub key: String,
    pub source: String,
    pub content_type: Option<String>,
    /// `source` is the start of a longer description.
    pub truncated: bool,
    pub html: String,
    /// `markdown`, `rst` or `plain` (`render::Kind`).
    pub kind: String,
    /// The renderer version that produced `html`.
    pub renderer: String,
    pub rendered_at: i64,
}

/// The content address of a description: sha256 of the content type, a NUL
/// and the (stored, possibly cut) source, hex.
pub fn key_of(source: &str, content_type: Option<&str>) -> String {
    let mut bytes = Vec::with_capacity(source.len() + 32);
    bytes.extend_from_slice(content_type.unwrap_or("").as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(source.as_bytes());
    Sha256::of(&bytes).to_hex()
}

/// Store a description (before the release that names it). An existing
/// row keeps its source; its rendering is replaced when `row` comes from
/// another renderer version.
pub fn put(conn: &Conn<'_>, row: &DescriptionRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO descriptions (key, source, content_type, html, kind, renderer, rendered_at,
                                   truncated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(key) DO UPDATE SET html = excluded.html, kind = excluded.kind,
           renderer = excluded.renderer, rendered_at = excluded.rendered_at
         WHERE descriptions.renderer <> excluded.renderer",
        &[
            &row.key,
            &row.source,
            &row.content_type,
            &row.html,
            &row.kind,
            &row.renderer,
            &row.rendered_at,
            &row.truncated,
        ],
    )?;
    Ok(())
}

const SELECT: &str =
    "SELECT d.key, d.source, d.content_type, d.html, d.kind, d.renderer, d.rendered_at, \
    d.truncated
    FROM descriptions d";

fn from_row(r: &Row<'_>) -> Result<DescriptionRow, StoreError> {
    Ok(DescriptionRow {
        key: r.get(0)?,
        source: r.get(1)?,
        content_type: r.get(2)?,
        html: r.get(3)?,
        kind: r.get(4)?,
        renderer: r.get(5)?,
        rendered_at: r.get(6)?,
        truncated: r.get(7)?,
    })
}

/// The description of release `version` of `project` on an index.
pub fn of_release(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    version: &str,
) -> Result<Option<DescriptionRow>, StoreError> {
    conn.query_opt(
        &format!(
            "{SELECT} JOIN releases r ON r.description_key = d.key \
             JOIN projects p ON p.id = r.project_id \
             WHERE p.index_id = ?1 AND p.name = ?2 AND r.version = ?3"
        ),
        &[&index_id, &project, &version],
        from_row,
    )
}

pub fn get(conn: &Conn<'_>, key: &str) -> Result<Option<DescriptionRow>, StoreError> {
    conn.query_opt(&format!("{SELECT} WHERE d.key = ?1"), &[&key], from_row)
}

/// Replace the rendering of `key` if it is still the one by `stale`
/// (another reader may have re-rendered it meanwhile). Returns whether it
/// did.
pub fn replace_rendering(
    conn: &Conn<'_>,
    key: &str,
    stale: &str,
    html: &str,
    kind: &str,
    renderer: &str,
    rendered_at: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE descriptions SET html = ?3, kind = ?4, renderer = ?5, rendered_at = ?6
             WHERE key = ?1 AND renderer = ?2",
        &[&key, &stale, &html, &kind, &renderer, &rendered_at],
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::releases::{self, MetadataOnConflict, NewRelease};
    use rusqlite::Connection;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        for sql in crate::store::schema::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, name, created) VALUES (1, 'u', 0);
             INSERT INTO indexes (id, user_id, name, config, created) VALUES (1, 1, 'a', '{}', 0), (2, 1, 'b', '{}', 0);",
        )
        .unwrap();
        conn
    }

    fn row(source: &str, renderer: &str, html: &str) -> DescriptionRow {
        DescriptionRow {
            key: key_of(source, Some("text/plain")),
            source: source.into(),
            content_type: Some("text/plain".into()),
            truncated: false,
            html: html.into(),
            kind: "plain".into(),
            renderer: renderer.into(),
            rendered_at: 1,
        }
    }

    fn release(conn: &Conn<'_>, index: i64, version: &str, key: Option<&str>) {
        releases::ensure_release(
            conn,
            &NewRelease {
                index_id: index,
                project: "p",
                display_name: "p",
                version,
                metadata: "{}",
                description_key: key,
            },
            MetadataOnConflict::Replace,
        )
        .unwrap();
    }

    fn count(conn: &Conn<'_>) -> i64 {
        conn.query_one("SELECT COUNT(*) FROM descriptions", &[], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn key_depends_on_source_and_content_type() {
        assert_eq!(key_of("a", None), key_of("a", Some("")));
        assert_ne!(key_of("a", None), key_of("a", Some("text/plain")));
        assert_ne!(key_of("a", None), key_of("b", None));
        assert_ne!(
            key_of("text/plain", Some("a")),
            key_of("a", Some("text/plain"))
        );
    }

    #[test]
    fn shared_rows_go_with_the_last_release_naming_them() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        let d = row("readme", "r/1", "<pre>readme</pre>");
        put(&conn, &d).unwrap();
        release(&conn, 1, "1.0", Some(&d.key));
        release(&conn, 2, "1.0", Some(&d.key));
        assert_eq!(of_release(&conn, 2, "p", "1.0").unwrap(), Some(d.clone()));
        assert_eq!(of_release(&conn, 2, "p", "2.0").unwrap(), None);
        releases::delete_release(&conn, 1, "p", "1.0").unwrap();
        assert_eq!(count(&conn), 1, "still named by index 2");
        // a new description replaces the old one, which goes
        let e = row("other", "r/1", "<pre>other</pre>");
        put(&conn, &e).unwrap();
        release(&conn, 2, "1.0", Some(&e.key));
        assert_eq!(count(&conn), 1);
        assert_eq!(get(&conn, &d.key).unwrap(), None);
        releases::delete_all_of_index(&conn, 2).unwrap();
        assert_eq!(count(&conn), 0);
    }

    #[test]
    fn put_replaces_only_another_renderers_output() {
        let conn_ = db();
        let conn = Conn::sqlite(&conn_);
        let d = row("readme", "r/1", "first");
        put(&conn, &d).unwrap();
        put(&conn, &row("readme", "r/1", "second")).unwrap();
        assert_eq!(get(&conn, &d.key).unwrap().unwrap().html, "first");
        put(&conn, &row("readme", "r/2", "third")).unwrap();
        let now = get(&conn, &d.key).unwrap().unwrap();
        assert_eq!((now.html.as_str(), now.renderer.as_str()), ("third", "r/2"));
        // a re-render replaces only the rendering it read
        assert!(!replace_rendering(&conn, &d.key, "r/1", "x", "plain", "r/3", 2).unwrap());
        assert!(replace_rendering(&conn, &d.key, "r/2", "y", "plain", "r/3", 2).unwrap());
        assert_eq!(get(&conn, &d.key).unwrap().unwrap().html, "y");
    }
}
