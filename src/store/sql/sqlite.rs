//! [`super::Conn`] on a rusqlite connection: statements from its cache,
//! values bound as SQLite's own kinds.

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValue};

use super::{Param, Row, RowInner, Value, ValueRef};
use crate::store::StoreError;

/// A parameter as rusqlite binds it.
struct Bound<'a>(Value<'a>);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null(_) => SqliteValue::Null,
            Value::Int(i) => SqliteValue::Integer(i),
            Value::Real(f) => SqliteValue::Real(f),
            Value::Text(s) => SqliteValue::Text(s.as_bytes()),
            Value::Blob(b) => SqliteValue::Blob(b),
        }))
    }
}

fn bind<'a>(params: &'a [&'a dyn Param]) -> Vec<Bound<'a>> {
    params.iter().map(|p| Bound(p.value())).collect()
}

pub(super) fn execute(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn Param],
) -> Result<usize, StoreError> {
    let bound = bind(params);
    let n = conn
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(bound.iter()))?;
    Ok(n)
}

pub(super) fn for_each(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn Param],
    f: &mut dyn FnMut(&Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let bound = bind(params);
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(bound.iter()))?;
    while let Some(r) = rows.next()? {
        f(&Row(RowInner::Sqlite(r)))?;
    }
    Ok(())
}

/// `f` on the first row only; the rest of the result is not stepped through.
pub(super) fn first(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn Param],
    f: &mut dyn FnMut(&Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let bound = bind(params);
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(bound.iter()))?;
    if let Some(r) = rows.next()? {
        f(&Row(RowInner::Sqlite(r)))?;
    }
    Ok(())
}

pub(super) fn column<T>(
    row: &rusqlite::Row<'_>,
    idx: usize,
    read: impl FnOnce(ValueRef<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let v = row.get_ref(idx).map_err(|e| e.to_string())?;
    read(match v {
        SqliteValue::Null => ValueRef::Null,
        SqliteValue::Integer(i) => ValueRef::Int(i),
        SqliteValue::Real(f) => ValueRef::Real(f),
        SqliteValue::Text(t) => {
            ValueRef::Text(std::str::from_utf8(t).map_err(|_| "text is not UTF-8".to_string())?)
        }
        SqliteValue::Blob(b) => ValueRef::Blob(b),
    })
}
