//! The `typo_rules` table: names an admin allowed or denied, per index
//! (scope `user/index`) or everywhere (scope `""`).

use super::sql::Conn;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypoRuleRow {
    pub scope: String,
    pub name: String,
    pub verdict: String,
    pub set_by: String,
    pub created: i64,
}

pub fn all(conn: &Conn<'_>) -> Result<Vec<TypoRuleRow>, StoreError> {
    let rows = conn.query_map(
        "SELECT scope, name, verdict, set_by, created FROM typo_rules ORDER BY scope, name",
        &[],
        |r| {
            Ok(TypoRuleRow {
                scope: r.get(0)?,
                name: r.get(1)?,
                verdict: r.get(2)?,
                set_by: r.get(3)?,
                created: r.get(4)?,
            })
        },
    )?;
    Ok(rows)
}

pub fn set(
    conn: &Conn<'_>,
    scope: &str,
    name: &str,
    verdict: &str,
    by: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO typo_rules (scope, name, verdict, set_by, created) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(scope, name) DO UPDATE SET verdict = excluded.verdict, set_by = excluded.set_by,
           created = excluded.created",
        &[&scope, &name, &verdict, &by, &super::now()],
    )?;
    Ok(())
}

pub fn remove(conn: &Conn<'_>, scope: &str, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM typo_rules WHERE scope = ?1 AND name = ?2",
        &[&scope, &name],
    )? == 1)
}
