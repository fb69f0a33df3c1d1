//! Secrets every node of a cluster must share (`--database postgres://`):
//! the key that signs login tokens, so a token one node issued is good on
//! every node. A single node keeps its key in the data folder instead
//! (`auth::token`); this table exists in the PostgreSQL schema only.

use super::sql::Conn;
use super::StoreError;

/// The secret called `name`: the stored one, or `fresh` stored now if
/// there is none yet (nodes starting together agree on the first one
/// committed).
pub fn get_or_insert(conn: &Conn<'_>, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
    conn.execute(
        "INSERT INTO cluster_secrets (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        &[&name, &fresh],
    )?;
    conn.query_one(
        "SELECT value FROM cluster_secrets WHERE name = ?1",
        &[&name],
        |r| r.get(0),
    )
}
