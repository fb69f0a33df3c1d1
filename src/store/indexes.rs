//! The `indexes` table. Configurations are stored as JSON of
//! [`IndexConfig`](crate::index::IndexConfig).

use super::sql::{Conn, Row};

use super::StoreError;
use crate::index::IndexConfig;
use crate::names::{IndexName, IndexPath, UserName};

#[derive(Debug, Clone)]
pub struct IndexRow {
    pub id: i64,
    pub path: IndexPath,
    pub config: IndexConfig,
}

fn from_row(r: &Row<'_>) -> Result<(i64, String, String, String), StoreError> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn decode(raw: (i64, String, String, String)) -> Result<IndexRow, StoreError> {
    let (id, user, name, config) = raw;
    let path = IndexPath::new(
        UserName::new(&user).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        IndexName::new(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    );
    let config = serde_json::from_str(&config)
        .map_err(|e| StoreError::Corrupt(format!("configuration of index {path}: {e}")))?;
    Ok(IndexRow { id, path, config })
}

const SELECT: &str =
    "SELECT i.id, u.name, i.name, i.config FROM indexes i JOIN users u ON u.id = i.user_id";

pub fn get(conn: &Conn<'_>, path: &IndexPath) -> Result<Option<IndexRow>, StoreError> {
    let raw = conn.query_opt(
        &format!("{SELECT} WHERE u.name = ?1 AND i.name = ?2"),
        &[&path.user.as_str(), &path.index.as_str()],
        from_row,
    )?;
    raw.map(decode).transpose()
}

pub fn get_by_id(conn: &Conn<'_>, id: i64) -> Result<Option<IndexRow>, StoreError> {
    let raw = conn.query_opt(&format!("{SELECT} WHERE i.id = ?1"), &[&id], from_row)?;
    raw.map(decode).transpose()
}

pub fn list_of_user(conn: &Conn<'_>, user: &str) -> Result<Vec<IndexRow>, StoreError> {
    let raws = conn.query_map(
        &format!("{SELECT} WHERE u.name = ?1 ORDER BY i.name"),
        &[&user],
        from_row,
    )?;
    raws.into_iter().map(decode).collect()
}

pub fn list_all(conn: &Conn<'_>) -> Result<Vec<IndexRow>, StoreError> {
    let raws = conn.query_map(&format!("{SELECT} ORDER BY u.name, i.name"), &[], from_row)?;
    raws.into_iter().map(decode).collect()
}

fn encode(config: &IndexConfig) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Insert an index; `Ok(None)` if it already exists.
pub fn create(
    conn: &Conn<'_>,
    user_id: i64,
    path: &IndexPath,
    config: &IndexConfig,
) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "INSERT INTO indexes (user_id, name, config, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(user_id, name) DO NOTHING RETURNING id",
        &[
            &user_id,
            &path.index.as_str(),
            &encode(config)?,
            &super::now(),
        ],
        |r| r.get(0),
    )
}

pub fn update_config(conn: &Conn<'_>, id: i64, config: &IndexConfig) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE indexes SET config = ?2 WHERE id = ?1",
        &[&id, &encode(config)?],
    )?;
    Ok(())
}

/// Delete an index whose projects were already removed.
pub fn delete(conn: &Conn<'_>, id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM indexes WHERE id = ?1", &[&id])?;
    Ok(())
}

/// Indexes that name `path` among their bases.
pub fn dependents(conn: &Conn<'_>, path: &IndexPath) -> Result<Vec<IndexPath>, StoreError> {
    Ok(list_all(conn)?
        .into_iter()
        .filter(|row| row.config.bases.contains(path))
        .map(|row| row.path)
        .collect())
}
