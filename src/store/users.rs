//! The `users` table.

use super::sql::{Conn, Row};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub pwhash: Option<String>,
    pub email: Option<String>,
    pub created: i64,
}

fn from_row(r: &Row<'_>) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        pwhash: r.get(2)?,
        email: r.get(3)?,
        created: r.get(4)?,
    })
}

const COLUMNS: &str = "id, name, pwhash, email, created";

pub fn get(conn: &Conn<'_>, name: &str) -> Result<Option<UserRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM users WHERE name = ?1"),
        &[&name],
        from_row,
    )
}

pub fn list(conn: &Conn<'_>) -> Result<Vec<UserRow>, StoreError> {
    let rows = conn.query_map(
        &format!("SELECT {COLUMNS} FROM users ORDER BY name"),
        &[],
        from_row,
    )?;
    Ok(rows)
}

/// Insert a user; `Ok(false)` if the name is taken.
pub fn create(
    conn: &Conn<'_>,
    name: &str,
    pwhash: Option<&str>,
    email: Option<&str>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO users (name, pwhash, email, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO NOTHING",
        &[&name, &pwhash, &email, &super::now()],
    )?;
    Ok(n == 1)
}

pub fn set_password(conn: &Conn<'_>, name: &str, pwhash: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET pwhash = ?2 WHERE name = ?1",
        &[&name, &pwhash],
    )?;
    Ok(())
}

/// Replace `name`'s hash `old` by `new` (an imported hash re-hashed at
/// login); nothing happens if the hash changed meanwhile.
pub fn replace_password(
    conn: &Conn<'_>,
    name: &str,
    old: &str,
    new: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET pwhash = ?3 WHERE name = ?1 AND pwhash = ?2",
        &[&name, &old, &new],
    )?;
    Ok(())
}

pub fn set_email(conn: &Conn<'_>, name: &str, email: Option<&str>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET email = ?2 WHERE name = ?1",
        &[&name, &email],
    )?;
    Ok(())
}

pub fn delete(conn: &Conn<'_>, id: i64) -> Result<(), StoreError> {
    super::user_certs::remove_all_of_user(conn, id)?;
    conn.execute("DELETE FROM users WHERE id = ?1", &[&id])?;
    Ok(())
}
