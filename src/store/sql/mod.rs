//! One way to run SQL whatever the engine: the handle every `store/`
//! function takes ([`Conn`]), the values it binds ([`Param`]) and the rows
//! it reads ([`Row`]).
//!
//! airlock's metadata lives in SQLite (the embedded default) or in
//! PostgreSQL (`--database postgres://`, several nodes). The operations in
//! `store/` are written once, in SQL both engines accept, against this
//! module; `registry/` and everything above it only ever see a [`Conn`].
//! What differs between the engines is kept here:
//! - placeholders: statements are written with SQLite's `?1`, `?2`; for
//!   PostgreSQL they become `$1`, `$2` ([`postgres_placeholders`]);
//! - values: both engines see the same five kinds ([`Value`]); a boolean is
//!   stored as an integer (0/1) in both, so a row reads back the same;
//! - the few functions the engines spell differently (JSON fields) are
//!   fragments chosen by [`Dialect`].
//!
//! A statement that fails is a [`StoreError`]; nothing here panics on what
//! a database returns.

mod postgres;
mod sqlite;

pub use self::postgres::PgSession;

use super::StoreError;

/// Which engine a [`Conn`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The text of the top-level JSON field `key` of the JSON text in
    /// column expression `column` (NULL when absent). `key` must be a
    /// plain identifier: it is written into the statement.
    pub fn json_text(self, column: &str, key: &str) -> String {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("(({column})::jsonb ->> '{key}')"),
        }
    }

    /// A subquery of the elements of the JSON array of strings bound as
    /// parameter `param` (`?1`), for `x IN (...)` with any number of values;
    /// its one column is named `value`.
    pub fn json_array(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({param})"),
            Dialect::Postgres => {
                format!("SELECT jsonb_array_elements_text(CAST({param} AS jsonb)) AS value")
            }
        }
    }

    /// [`Dialect::json_array`] for a JSON array of integers.
    pub fn json_int_array(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({param})"),
            Dialect::Postgres => {
                format!(
                    "SELECT CAST(jsonb_array_elements_text(CAST({param} AS jsonb)) AS BIGINT) AS value"
                )
            }
        }
    }
}

/// The kind of a value, also for a NULL (PostgreSQL types every parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

/// A value bound to a statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value read from a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Something that can be bound as a statement parameter.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u16, u8, bool);

impl Param for u64 {
    /// Values beyond `i64::MAX` are clamped: nothing airlock stores counts
    /// that high, and a database integer is signed.
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for usize {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

/// A list of parameters built at run time (`IN (...)` of any length).
impl Param for Value<'_> {
    fn value(&self) -> Value<'_> {
        *self
    }
}

/// `params` as the slice [`Conn`]'s methods take.
pub fn refs<'a>(params: &'a [Value<'a>]) -> Vec<&'a dyn Param> {
    params.iter().map(|v| v as &dyn Param).collect()
}

/// The kind of a parameter type, sized or not (`str`, `[u8]`).
pub trait ParamKind {
    const KIND: Kind;
}
impl ParamKind for str {
    const KIND: Kind = Kind::Text;
}
impl ParamKind for [u8] {
    const KIND: Kind = Kind::Blob;
}
impl ParamKind for String {
    const KIND: Kind = Kind::Text;
}
impl ParamKind for Vec<u8> {
    const KIND: Kind = Kind::Blob;
}
impl ParamKind for f64 {
    const KIND: Kind = Kind::Real;
}
macro_rules! int_kind {
    ($($t:ty),*) => {$( impl ParamKind for $t { const KIND: Kind = Kind::Int; } )*};
}
int_kind!(i64, i32, u32, u16, u8, bool, u64, usize);
impl<T: ParamKind + ?Sized> ParamKind for &T {
    const KIND: Kind = T::KIND;
}

impl<T: Param + ParamKind> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null(T::KIND),
        }
    }
}

/// Something a column can be read as.
pub trait FromSql: Sized {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String>;
}

impl FromSql for i64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => Err(format!("expected an integer, found {}", describe(other))),
        }
    }
}

impl FromSql for i32 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        let i = i64::from_sql(v)?;
        i32::try_from(i).map_err(|_| format!("integer {i} out of range"))
    }
}

impl FromSql for u32 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        let i = i64::from_sql(v)?;
        u32::try_from(i).map_err(|_| format!("integer {i} out of range"))
    }
}

impl FromSql for u64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        let i = i64::from_sql(v)?;
        u64::try_from(i).map_err(|_| format!("negative integer {i} where a count was expected"))
    }
}

impl FromSql for usize {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        let i = i64::from_sql(v)?;
        usize::try_from(i).map_err(|_| format!("integer {i} out of range"))
    }
}

impl FromSql for bool {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        Ok(i64::from_sql(v)? != 0)
    }
}

impl FromSql for f64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {}", describe(other))),
        }
    }
}

impl FromSql for String {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(format!("expected text, found {}", describe(other))),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => Err(format!("expected bytes, found {}", describe(other))),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

fn describe(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Int(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "bytes",
    }
}

/// One row of a result.
pub struct Row<'r>(RowInner<'r>);

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `idx` (from 0) as a `T`.
    pub fn get<T: FromSql>(&self, idx: usize) -> Result<T, StoreError> {
        let read = match &self.0 {
            RowInner::Sqlite(r) => sqlite::column(r, idx, T::from_sql),
            RowInner::Postgres(r) => postgres::column(r, idx, T::from_sql),
        };
        read.map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
    }
}

/// A connection (or the transaction on it) that `store/` functions run
/// their statements on. Reads get one on a read-only connection; writes one
/// inside the transaction [`crate::store::Db::write`] commits.
pub struct Conn<'a>(ConnInner<'a>);

enum ConnInner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a PgSession),
}

impl<'a> Conn<'a> {
    pub fn sqlite(conn: &'a rusqlite::Connection) -> Self {
        Self(ConnInner::Sqlite(conn))
    }

    pub fn postgres(session: &'a PgSession) -> Self {
        Self(ConnInner::Postgres(session))
    }

    pub fn dialect(&self) -> Dialect {
        match self.0 {
            ConnInner::Sqlite(_) => Dialect::Sqlite,
            ConnInner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection underneath, for the operations not yet written
    /// against this module (they refuse to run on PostgreSQL).
    pub fn raw_sqlite(&self) -> Result<&'a rusqlite::Connection, StoreError> {
        match self.0 {
            ConnInner::Sqlite(c) => Ok(c),
            ConnInner::Postgres(_) => Err(StoreError::Unsupported(
                "this operation is not available on PostgreSQL yet".into(),
            )),
        }
    }

    /// Run `f` on one consistent view of the data (several reads that must
    /// agree, like audit entries and the chain head). Writes already run in
    /// one transaction, and PostgreSQL reads in a repeatable-read one; a
    /// SQLite reader takes a read transaction for `f`.
    pub fn snapshot<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.0 {
            ConnInner::Sqlite(c) if c.is_autocommit() => {
                let tx = c.unchecked_transaction()?;
                let out = f(&Conn::sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            _ => f(self),
        }
    }

    /// Run one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        match self.0 {
            ConnInner::Sqlite(c) => sqlite::execute(c, sql, params),
            ConnInner::Postgres(s) => s.execute(sql, params),
        }
    }

    /// Run statements separated by `;`, without parameters.
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self.0 {
            ConnInner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            ConnInner::Postgres(s) => s.batch(sql),
        }
    }

    /// Call `f` on every row of the result, in order; stops at the first
    /// error `f` returns.
    pub fn for_each(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self.0 {
            ConnInner::Sqlite(c) => sqlite::for_each(c, sql, params, &mut f),
            ConnInner::Postgres(s) => s.for_each(sql, params, &mut f),
        }
    }

    /// [`Conn::for_each`] for results too large to hold at once (a table
    /// exported whole): on PostgreSQL the rows are streamed from the server
    /// as `f` consumes them instead of read in full first. `f` must not run
    /// statements on this connection (they would wait behind the stream).
    pub fn for_each_streamed(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self.0 {
            ConnInner::Sqlite(c) => sqlite::for_each(c, sql, params, &mut f),
            ConnInner::Postgres(s) => s.for_each_streamed(sql, params, &mut f),
        }
    }

    /// Every row, mapped by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.for_each(sql, params, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`, or `None` when there is none.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        let mut once = |r: &Row<'_>| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        };
        match self.0 {
            ConnInner::Sqlite(c) => sqlite::first(c, sql, params, &mut once)?,
            ConnInner::Postgres(s) => s.first(sql, params, &mut once)?,
        }
        Ok(out)
    }

    /// The first row mapped by `f`; an error when there is none.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| StoreError::Internal(format!("no row from: {}", first_line(sql))))
    }
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or("")
}

/// SQLite's numbered placeholders (`?1`, and bare `?` counted from 1) as
/// PostgreSQL's (`$1`). Quoted text (`'…'`, `"…"`) and comments are left
/// as they are.
pub fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next_bare = 1u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next_bare.to_string());
                    next_bare += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod pg_cluster;
#[cfg(test)]
mod tests;
