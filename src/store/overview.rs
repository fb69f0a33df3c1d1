//! Read shapes for pages that list many projects at once (an index's
//! project list): one query per page of projects, not one per project.

use super::sql::Conn;

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
pub fn project_count(conn: &Conn<'_>, index_id: i64) -> Result<i64, StoreError> {
    conn.query_one(
        "SELECT COUNT(*) FROM projects WHERE index_id = ?1",
        &[&index_id],
        |r| r.get(0),
    )
}

/// Every release of the projects `offset..offset+limit` (by name) of an
/// index. Callers pick the versions they show.
pub fn releases_of_projects(
    conn: &Conn<'_>,
    index_id: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<ReleaseLine>, StoreError> {
    let sql = format!(
        "WITH ps AS (SELECT id, name, display_name FROM projects WHERE index_id = ?1
                     ORDER BY name LIMIT ?2 OFFSET ?3)
         SELECT ps.name, ps.display_name, r.id, r.version,
                {summary}, r.created,
                (SELECT COUNT(*) FROM files f WHERE f.release_id = r.id),
                EXISTS (SELECT 1 FROM doczips d WHERE d.release_id = r.id)
         FROM ps JOIN releases r ON r.project_id = ps.id
         ORDER BY ps.name",
        summary = conn.dialect().json_text("r.metadata", "summary")
    );
    let rows = conn.query_map(&sql, &[&index_id, &limit, &offset], |r| {
        Ok(ReleaseLine {
            project: r.get(0)?,
            display_name: r.get(1)?,
            release_id: r.get(2)?,
            version: r.get(3)?,
            summary: r.get::<Option<String>>(4)?,
            created: r.get(5)?,
            files: r.get(6)?,
            has_docs: r.get(7)?,
        })
    })?;
    Ok(rows)
}

/// The file ids of releases, as `(release_id, file_id)`.
pub fn files_of_releases(
    conn: &Conn<'_>,
    release_ids: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut out = Vec::new();
    for id in release_ids {
        let rows = conn.query_map(
            "SELECT release_id, id FROM files WHERE release_id = ?1",
            &[&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        out.extend(rows);
    }
    Ok(out)
}
