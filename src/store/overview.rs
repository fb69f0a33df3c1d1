//! Read shapes for pages that list many projects at once (an index's
//! project list): one query per page of projects, not one per project.

use rusqlite::{params, Connection};

use super::StoreError;

/// One release of a project on an index, with what a listing shows.
#[derive(Debug, Clone)]
pub struct ReleaseLine {
    pub project: String,
    pub display_name: String,
    pub release_id: i64,
    pub version: String,
    pub summary: Option<String>,
    pub created: i64,
    pub files: i64,
    pub has_docs: bool,
}

/// How many projects index `index_id` holds itself.
pub fn project_count(conn: &Connection, index_id: i64) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM projects WHERE index_id = ?1")?
        .query_row([index_id], |r| r.get(0))?)
}

/// Every release of the projects `offset..offset+limit` (by name) of an
/// index. Callers pick the versions they show.
pub fn releases_of_projects(
    conn: &Connection,
    index_id: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<ReleaseLine>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH ps AS (SELECT id, name, display_name FROM projects WHERE index_id = ?1
                     ORDER BY name LIMIT ?2 OFFSET ?3)
         SELECT ps.name, ps.display_name, r.id, r.version,
                json_extract(r.metadata, '$.summary'), r.created,
                (SELECT COUNT(*) FROM files f WHERE f.release_id = r.id),
                EXISTS (SELECT 1 FROM doczips d WHERE d.release_id = r.id)
         FROM ps JOIN releases r ON r.project_id = ps.id
         ORDER BY ps.name",
    )?;
    let rows = stmt.query_map(params![index_id, limit, offset], |r| {
        Ok(ReleaseLine {
            project: r.get(0)?,
            display_name: r.get(1)?,
            release_id: r.get(2)?,
            version: r.get(3)?,
            summary: r.get::<_, Option<String>>(4)?,
            created: r.get(5)?,
            files: r.get(6)?,
            has_docs: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The file ids of releases, as `(release_id, file_id)`.
pub fn files_of_releases(
    conn: &Connection,
    release_ids: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT release_id, id FROM files WHERE release_id = ?1")?;
    for id in release_ids {
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}
