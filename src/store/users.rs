//! The `users` table.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub pwhash: Option<String>,
    pub email: Option<String>,
    pub created: i64,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        pwhash: r.get(2)?,
        email: r.get(3)?,
        created: r.get(4)?,
    })
}

const COLUMNS: &str = "id, name, pwhash, email, created";

pub fn get(conn: &Connection, name: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE name = ?1"))?
        .query_row([name], from_row)
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Insert a user; `Ok(false)` if the name is taken.
pub fn create(
    conn: &Connection,
    name: &str,
    pwhash: Option<&str>,
    email: Option<&str>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO users (name, pwhash, email, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO NOTHING",
        params![name, pwhash, email, super::now()],
    )?;
    Ok(n == 1)
}

pub fn set_password(conn: &Connection, name: &str, pwhash: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET pwhash = ?2 WHERE name = ?1",
        params![name, pwhash],
    )?;
    Ok(())
}

/// Replace `name`'s hash `old` by `new` (an imported hash re-hashed at
/// login); nothing happens if the hash changed meanwhile.
pub fn replace_password(
    conn: &Connection,
    name: &str,
    old: &str,
    new: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET pwhash = ?3 WHERE name = ?1 AND pwhash = ?2",
        params![name, old, new],
    )?;
    Ok(())
}

pub fn set_email(conn: &Connection, name: &str, email: Option<&str>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET email = ?2 WHERE name = ?1",
        params![name, email],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    super::user_certs::remove_all_of_user(conn, id)?;
    conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(())
}
