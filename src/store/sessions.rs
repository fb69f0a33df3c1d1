//! Browser sessions of the web UI (`web_sessions`): the digest of the
//! session cookie, whose session it is, and when it was last used.

use super::sql::Conn;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    pub pw_fingerprint: String,
    pub created: i64,
    pub last_seen: i64,
}

pub fn insert(
    conn: &Conn<'_>,
    id_hash: &str,
    user: &str,
    pw_fingerprint: &str,
    now: i64,
    remote: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO web_sessions (id_hash, \"user\", pw_fingerprint, created, last_seen, remote)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        &[&id_hash, &user, &pw_fingerprint, &now, &remote],
    )?;
    Ok(())
}

pub fn get(conn: &Conn<'_>, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
    conn.query_opt(
        "SELECT \"user\", pw_fingerprint, created, last_seen FROM web_sessions WHERE id_hash = ?1",
        &[&id_hash],
        |r| {
            Ok(SessionRow {
                user: r.get(0)?,
                pw_fingerprint: r.get(1)?,
                created: r.get(2)?,
                last_seen: r.get(3)?,
            })
        },
    )
}

pub fn touch(conn: &Conn<'_>, id_hash: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE web_sessions SET last_seen = ?2 WHERE id_hash = ?1",
        &[&id_hash, &now],
    )?;
    Ok(())
}

pub fn delete(conn: &Conn<'_>, id_hash: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM web_sessions WHERE id_hash = ?1", &[&id_hash])? > 0)
}

/// Sessions idle since before `idle_before` or created before
/// `created_before` are gone; returns how many.
pub fn expire(conn: &Conn<'_>, idle_before: i64, created_before: i64) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM web_sessions WHERE last_seen < ?1 OR created < ?2",
        &[&idle_before, &created_before],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        for m in crate::store::schema::MIGRATIONS {
            c.execute_batch(m).unwrap();
        }
        c
    }

    #[test]
    fn a_session_round_trips_and_is_gone_after_delete() {
        let c_ = db();
        let c = Conn::sqlite(&c_);
        insert(&c, "h1", "alice", "fp", 100, Some("127.0.0.1:1")).unwrap();
        let row = get(&c, "h1").unwrap().unwrap();
        assert_eq!(
            (row.user.as_str(), row.created, row.last_seen),
            ("alice", 100, 100)
        );
        touch(&c, "h1", 150).unwrap();
        assert_eq!(get(&c, "h1").unwrap().unwrap().last_seen, 150);
        assert!(delete(&c, "h1").unwrap());
        assert!(get(&c, "h1").unwrap().is_none());
        assert!(!delete(&c, "h1").unwrap());
    }

    #[test]
    fn expiry_removes_idle_and_old_sessions_only() {
        let c_ = db();
        let c = Conn::sqlite(&c_);
        insert(&c, "idle", "a", "fp", 100, None).unwrap();
        insert(&c, "old", "a", "fp", 10, None).unwrap();
        touch(&c, "old", 500).unwrap();
        insert(&c, "fresh", "a", "fp", 400, None).unwrap();
        assert_eq!(expire(&c, 200, 50).unwrap(), 2);
        assert!(get(&c, "fresh").unwrap().is_some());
        assert!(get(&c, "idle").unwrap().is_none());
        assert!(get(&c, "old").unwrap().is_none());
    }
}
