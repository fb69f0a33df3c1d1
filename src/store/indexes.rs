//! The `indexes` table. Configurations are stored as JSON of
//! [`IndexConfig`](crate::index::IndexConfig).

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::index::IndexConfig;
use crate::names::{IndexName, IndexPath, UserName};

#[derive(Debug, Clone)]
pub struct IndexRow {
    pub id: i64,
    pub path: IndexPath,
    pub config: IndexConfig,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, String)> {
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

pub fn get(conn: &Connection, path: &IndexPath) -> Result<Option<IndexRow>, StoreError> {
    let raw = conn
        .prepare_cached(&format!("{SELECT} WHERE u.name = ?1 AND i.name = ?2"))?
        .query_row(params![path.user.as_str(), path.index.as_str()], from_row)
        .optional()?;
    raw.map(decode).transpose()
}

pub fn get_by_id(conn: &Connection, id: i64) -> Result<Option<IndexRow>, StoreError> {
    let raw = conn
        .prepare_cached(&format!("{SELECT} WHERE i.id = ?1"))?
        .query_row([id], from_row)
        .optional()?;
    raw.map(decode).transpose()
}

pub fn list_of_user(conn: &Connection, user: &str) -> Result<Vec<IndexRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE u.name = ?1 ORDER BY i.name"))?;
    let raws = stmt
        .query_map([user], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(decode).collect()
}

pub fn list_all(conn: &Connection) -> Result<Vec<IndexRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY u.name, i.name"))?;
    let raws = stmt
        .query_map([], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(decode).collect()
}

fn encode(config: &IndexConfig) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Insert an index; `Ok(None)` if it already exists.
pub fn create(
    conn: &Connection,
    user_id: i64,
    path: &IndexPath,
    config: &IndexConfig,
) -> Result<Option<i64>, StoreError> {
    let n = conn.execute(
        "INSERT INTO indexes (user_id, name, config, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(user_id, name) DO NOTHING",
        params![user_id, path.index.as_str(), encode(config)?, super::now()],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

pub fn update_config(conn: &Connection, id: i64, config: &IndexConfig) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE indexes SET config = ?2 WHERE id = ?1",
        params![id, encode(config)?],
    )?;
    Ok(())
}

/// Delete an index whose projects were already removed.
pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM indexes WHERE id = ?1", [id])?;
    Ok(())
}

/// Indexes that name `path` among their bases.
pub fn dependents(conn: &Connection, path: &IndexPath) -> Result<Vec<IndexPath>, StoreError> {
    Ok(list_all(conn)?
        .into_iter()
        .filter(|row| row.config.bases.contains(path))
        .map(|row| row.path)
        .collect())
}
