//! The `user_certs` table: client certificates pinned to users by their
//! SHA-256 fingerprint.

use super::sql::{Conn, Row};

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

fn from_row(r: &Row<'_>) -> Result<UserCertRow, StoreError> {
    Ok(UserCertRow {
        fingerprint: r.get(0)?,
        user: r.get(1)?,
        subject: r.get(2)?,
        not_after: r.get(3)?,
        added: r.get(4)?,
    })
}

/// The user a fingerprint is pinned to, if any.
pub fn user_of(conn: &Conn<'_>, fingerprint: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_opt(
            &format!("{SELECT} WHERE c.fingerprint = ?1"),
            &[&fingerprint],
            from_row,
        )?
        .map(|r| r.user))
}

pub fn list_of_user(conn: &Conn<'_>, user: &str) -> Result<Vec<UserCertRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{SELECT} WHERE u.name = ?1 ORDER BY c.added"),
        &[&user],
        from_row,
    )?;
    Ok(rows)
}

/// Pin a certificate; `Ok(Some(other))` if it is already pinned to `other`.
pub fn add(
    conn: &Conn<'_>,
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
        &[&fingerprint, &user_id, &subject, &not_after, &super::now()],
    )?;
    Ok(None)
}

/// Unpin; `false` if the user had no such certificate.
pub fn remove(conn: &Conn<'_>, user_id: i64, fingerprint: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM user_certs WHERE user_id = ?1 AND fingerprint = ?2",
        &[&user_id, &fingerprint],
    )? == 1)
}

pub fn remove_all_of_user(conn: &Conn<'_>, user_id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM user_certs WHERE user_id = ?1", &[&user_id])?;
    Ok(())
}
