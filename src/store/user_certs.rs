//! The `user_certs` table: client certificates pinned to users by their
//! SHA-256 fingerprint.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct UserCertRow {
    pub fingerprint: String,
    pub user: String,
    pub subject: String,
    pub not_after: i64,
    pub added: i64,
}

const SELECT: &str = "SELECT c.fingerprint, u.name, c.subject, c.not_after, c.added \
    FROM user_certs c JOIN users u ON u.id = c.user_id";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserCertRow> {
    Ok(UserCertRow {
        fingerprint: r.get(0)?,
        user: r.get(1)?,
        subject: r.get(2)?,
        not_after: r.get(3)?,
        added: r.get(4)?,
    })
}

/// The user a fingerprint is pinned to, if any.
pub fn user_of(conn: &Connection, fingerprint: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE c.fingerprint = ?1"))?
        .query_row([fingerprint], from_row)
        .optional()?
        .map(|r| r.user))
}

pub fn list_of_user(conn: &Connection, user: &str) -> Result<Vec<UserCertRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE u.name = ?1 ORDER BY c.added"))?;
    let rows = stmt.query_map([user], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Pin a certificate; `Ok(Some(other))` if it is already pinned to `other`.
pub fn add(
    conn: &Connection,
    user_id: i64,
    fingerprint: &str,
    subject: &str,
    not_after: i64,
) -> Result<Option<String>, StoreError> {
    if let Some(owner) = user_of(conn, fingerprint)? {
        return Ok(Some(owner));
    }
    conn.execute(
        "INSERT INTO user_certs (fingerprint, user_id, subject, not_after, added) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![fingerprint, user_id, subject, not_after, super::now()],
    )?;
    Ok(None)
}

/// Unpin; `false` if the user had no such certificate.
pub fn remove(conn: &Connection, user_id: i64, fingerprint: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM user_certs WHERE user_id = ?1 AND fingerprint = ?2",
        params![user_id, fingerprint],
    )? == 1)
}

pub fn remove_all_of_user(conn: &Connection, user_id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM user_certs WHERE user_id = ?1", [user_id])?;
    Ok(())
}
