//! [`super::Conn`] on a PostgreSQL connection from the pool.
//!
//! `store/` functions are synchronous and run on tokio's blocking pool (as
//! they do on SQLite); here each statement is sent with the async driver
//! and waited for on that blocking thread. Statements are prepared once per
//! connection (the pool's statement cache). Parameters are converted to
//! whatever integer, text or byte type PostgreSQL inferred for them, so the
//! same `?1` binds to a `BIGINT` column and to a `LIMIT`.

use std::error::Error as StdError;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type};

use super::{postgres_placeholders, Param, Row, RowInner, Value, ValueRef};
use crate::store::StoreError;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A pooled PostgreSQL connection in use by one read or write, with the
/// runtime its driver runs on.
pub struct PgSession {
    client: deadpool_postgres::Object,
    rt: tokio::runtime::Handle,
    /// A BEGIN not sent yet ([`PgSession::defer`]): it goes out with the
    /// next statement, in the same round trip.
    deferred: std::sync::Mutex<Option<String>>,
}

impl PgSession {
    /// Wrap `client`; `rt` is the runtime the pool's connections run on.
    pub fn new(client: deadpool_postgres::Object, rt: tokio::runtime::Handle) -> Self {
        Self {
            client,
            rt,
            deferred: std::sync::Mutex::new(None),
        }
    }

    /// Send the batch `begin` (a BEGIN) only with the next statement,
    /// pipelined ahead of it: one round trip for both instead of two.
    pub fn defer(&self, begin: &str) {
        *self.deferred.lock().unwrap_or_else(|p| p.into_inner()) = Some(begin.to_string());
    }

    /// Whether a deferred BEGIN is still unsent (no statement ran since).
    pub fn begin_pending(&self) -> bool {
        self.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// `fut` (a statement on this session's client) after the deferred
    /// BEGIN, if any, both sent before either answer is awaited
    /// (tokio-postgres sends requests in the order they are first polled
    /// and the server answers in order).
    async fn after_begin<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let begin = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match begin {
            None => fut.await,
            Some(sql) => {
                let (began, out) =
                    futures_util::join!(async { self.client.batch_execute(&sql).await }, fut);
                began?;
                out
            }
        }
    }

    /// Give the connection back (to the pool, when dropped).
    pub fn into_client(self) -> deadpool_postgres::Object {
        self.client
    }

    /// The rows of `sql` as the server sends them.
    async fn rows(
        &self,
        sql: &str,
        values: &[PgValue<'_>],
    ) -> Result<tokio_postgres::RowStream, StoreError> {
        let stmt = self.statement(sql).await?;
        Ok(self
            .client
            .query_raw(&stmt, values.iter().map(|v| v as &(dyn ToSql + Sync)))
            .await?)
    }

    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        let sql = postgres_placeholders(sql);
        Ok(self.client.prepare_cached(&sql).await?)
    }

    pub(super) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        let values: Vec<PgValue<'_>> = params.iter().map(|p| PgValue(p.value())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        self.rt.block_on(self.after_begin(async {
            let stmt = self.statement(sql).await?;
            let n = self.client.execute(&stmt, &refs).await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        }))
    }

    pub(super) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.rt
            .block_on(self.after_begin(async { Ok(self.client.batch_execute(sql).await?) }))
    }

    pub(super) fn for_each(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: &mut dyn FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let values: Vec<PgValue<'_>> = params.iter().map(|p| PgValue(p.value())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let rows = self.rt.block_on(self.after_begin(async {
            let stmt = self.statement(sql).await?;
            Ok::<_, StoreError>(self.client.query(&stmt, &refs).await?)
        }))?;
        for r in &rows {
            f(&Row(RowInner::Postgres(r)))?;
        }
        Ok(())
    }

    /// `f` on every row as it arrives (see [`super::Conn::for_each_streamed`]).
    pub(super) fn for_each_streamed(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: &mut dyn FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use futures_util::{pin_mut, TryStreamExt};
        let values: Vec<PgValue<'_>> = params.iter().map(|p| PgValue(p.value())).collect();
        self.rt.block_on(self.after_begin(async {
            let rows = self.rows(sql, &values).await?;
            pin_mut!(rows);
            while let Some(r) = rows.try_next().await? {
                f(&Row(RowInner::Postgres(&r)))?;
            }
            Ok(())
        }))
    }

    /// `f` on the first row only: the rows are streamed and the rest of the
    /// result is dropped unread.
    pub(super) fn first(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: &mut dyn FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use futures_util::{pin_mut, TryStreamExt};
        let values: Vec<PgValue<'_>> = params.iter().map(|p| PgValue(p.value())).collect();
        let row = self.rt.block_on(self.after_begin(async {
            let rows = self.rows(sql, &values).await?;
            pin_mut!(rows);
            Ok::<_, StoreError>(rows.try_next().await?)
        }))?;
        if let Some(r) = &row {
            f(&Row(RowInner::Postgres(r)))?;
        }
        Ok(())
    }

    /// Run `fut` (something on this session's client) to completion here.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

/// A [`Value`] as PostgreSQL takes it, for the type it inferred.
#[derive(Debug)]
struct PgValue<'a>(Value<'a>);

impl ToSql for PgValue<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Value::Null(_) => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                _ => Err(mismatch("an integer", ty)),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => Err(mismatch("a real number", ty)),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(ty, out)
                }
                // The binary forms: JSON is its text, JSONB a version byte
                // (1) and the text; the server checks the text is JSON.
                Type::JSON => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSONB => {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(mismatch("text", ty)),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(mismatch("bytes", ty)),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Checked per value in `to_sql`, which knows the value's kind.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn mismatch(what: &str, ty: &Type) -> BoxError {
    format!("{what} cannot be bound to a {ty} parameter").into()
}

pub(super) fn column<T>(
    row: &tokio_postgres::Row,
    idx: usize,
    read: impl FnOnce(ValueRef<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let Some(col) = row.columns().get(idx) else {
        return Err(format!("no column {idx}"));
    };
    let e = |e: tokio_postgres::Error| e.to_string();
    match *col.type_() {
        Type::INT8 => read(opt(
            row.try_get::<_, Option<i64>>(idx).map_err(e)?,
            ValueRef::Int,
        )),
        Type::INT4 => read(opt(
            row.try_get::<_, Option<i32>>(idx)
                .map_err(e)?
                .map(i64::from),
            ValueRef::Int,
        )),
        Type::INT2 => read(opt(
            row.try_get::<_, Option<i16>>(idx)
                .map_err(e)?
                .map(i64::from),
            ValueRef::Int,
        )),
        Type::BOOL => read(opt(
            row.try_get::<_, Option<bool>>(idx)
                .map_err(e)?
                .map(i64::from),
            ValueRef::Int,
        )),
        Type::FLOAT8 => read(opt(
            row.try_get::<_, Option<f64>>(idx).map_err(e)?,
            ValueRef::Real,
        )),
        Type::FLOAT4 => read(opt(
            row.try_get::<_, Option<f32>>(idx)
                .map_err(e)?
                .map(f64::from),
            ValueRef::Real,
        )),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            match row.try_get::<_, Option<&str>>(idx).map_err(e)? {
                Some(s) => read(ValueRef::Text(s)),
                None => read(ValueRef::Null),
            }
        }
        Type::BYTEA => match row.try_get::<_, Option<&[u8]>>(idx).map_err(e)? {
            Some(b) => read(ValueRef::Blob(b)),
            None => read(ValueRef::Null),
        },
        ref other => Err(format!(
            "a column of type {other}, which airlock does not read (cast it in the statement)"
        )),
    }
}

fn opt<V>(v: Option<V>, wrap: impl FnOnce(V) -> ValueRef<'static>) -> ValueRef<'static> {
    v.map_or(ValueRef::Null, wrap)
}
