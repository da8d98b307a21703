//! SQLite's write path: one connection, owned by the store, on which a whole write transaction
//! runs in a single hop.
//!
//! sqlx runs each SQLite statement on a worker thread and waits for it; inside a write
//! transaction that made every statement a thread round trip, serialised behind the write
//! lock. Here the whole transaction (`BEGIN IMMEDIATE` … `COMMIT`) runs synchronously on the
//! calling worker thread (`block_in_place`) through rusqlite, with the same SQL and the same
//! generic store code as PostgreSQL: [`WriterConn`] implements [`Conn`] with futures that are
//! always ready. Reads still use sqlx's pool. Both drivers link the one bundled SQLite.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use rusqlite::types::Value;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::StoreError;
use crate::conn::{Conn, Param, RowExt, sqlite_time};

/// Opens the writer connection on `path` with the store's durability settings.
pub(crate) fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(|e| {
        StoreError::Config(format!("cannot open SQLite file {}: {e}", path.display()))
    })?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768;",
    )
    .map_err(|e| StoreError::Config(format!("cannot configure SQLite: {e}")))?;
    Ok(conn)
}

/// A rusqlite connection inside a write transaction.
pub(crate) struct WriterConn<'a>(pub &'a mut rusqlite::Connection);

/// A row read through rusqlite, owned so it can leave the statement.
pub(crate) struct OwnedRow(Vec<(String, Value)>);

/// An error from rusqlite, presented as a database error of sqlx so the store's error handling
/// (unique violations, transient failures) is the same for both drivers.
#[derive(Debug)]
struct WriterError(rusqlite::Error);

impl std::fmt::Display for WriterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WriterError {}

impl sqlx::error::DatabaseError for WriterError {
    fn message(&self) -> &str {
        match &self.0 {
            rusqlite::Error::SqliteFailure(_, Some(m)) => m,
            _ => "SQLite error",
        }
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        match &self.0 {
            rusqlite::Error::SqliteFailure(e, _) => Some(Cow::Owned(e.extended_code.to_string())),
            _ => None,
        }
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        match &self.0 {
            rusqlite::Error::SqliteFailure(e, _) => match e.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    sqlx::error::ErrorKind::UniqueViolation
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
                ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
                ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
                _ => sqlx::error::ErrorKind::Other,
            },
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

/// A rusqlite error as a database error of sqlx, so the store classifies it as for sqlx.
pub(crate) fn db_err(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Database(Box::new(WriterError(e)))
}

fn decode_err(col: &str, what: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: what.to_string().into(),
    }
}

fn to_value(p: Param) -> Value {
    match p {
        Param::Text(v) => Value::Text(v),
        Param::OptText(v) => v.map_or(Value::Null, Value::Text),
        Param::Int(v) => Value::Integer(v),
        Param::OptInt(v) => v.map_or(Value::Null, Value::Integer),
        Param::Time(v) => Value::Text(sqlite_time(v)),
        Param::OptTime(v) => v.map_or(Value::Null, |t| Value::Text(sqlite_time(t))),
        Param::Json(v) => Value::Text(v.to_string()),
        Param::JsonText(v) => Value::Text(v.get().to_string()),
        Param::Bool(v) => Value::Integer(i64::from(v)),
        Param::Float(v) => v.map_or(Value::Null, Value::Real),
        Param::Blob(v) => Value::Blob(v),
    }
}

/// Binds `$N` parameters by number, as sqlx does (SQLite numbers named parameters in order of
/// first appearance, which is not always `N`).
fn bind(stmt: &mut rusqlite::CachedStatement<'_>, params: Vec<Param>) -> Result<(), sqlx::Error> {
    let values: Vec<Value> = params.into_iter().map(to_value).collect();
    for i in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=values.len()).contains(n))
            .ok_or_else(|| sqlx::Error::Protocol(format!("parameter {i} is not a bound $N")))?;
        stmt.raw_bind_parameter(i, &values[n - 1]).map_err(db_err)?;
    }
    Ok(())
}

impl WriterConn<'_> {
    fn query(&mut self, sql: &str, params: Vec<Param>) -> Result<Vec<OwnedRow>, sqlx::Error> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db_err)?;
        let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        bind(&mut stmt, params)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_err)? {
            let mut cols = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                cols.push((name.clone(), row.get::<_, Value>(i).map_err(db_err)?));
            }
            out.push(OwnedRow(cols));
        }
        Ok(out)
    }
}

impl Conn for WriterConn<'_> {
    type Row = OwnedRow;
    const POSTGRES: bool = false;

    async fn execute(&mut self, sql: &'static str, params: Vec<Param>) -> Result<u64, sqlx::Error> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db_err)?;
        bind(&mut stmt, params)?;
        Ok(stmt.raw_execute().map_err(db_err)? as u64)
    }

    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Option<OwnedRow>, sqlx::Error> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<OwnedRow>, sqlx::Error> {
        self.query(sql, params)
    }
}

impl crate::conn::BulkInsert for WriterConn<'_> {
    async fn insert_columns(
        &mut self,
        table: &'static str,
        names: &'static [&'static str],
        columns: Vec<crate::conn::Column<'_>>,
    ) -> Result<u64, sqlx::Error> {
        use crate::conn::Column;
        use rusqlite::types::ToSqlOutput;
        let rows = crate::conn::bulk_rows(names, &columns)?;
        let holes: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            holes.join(", ")
        );
        let mut stmt = self.0.prepare_cached(&sql).map_err(db_err)?;
        for row in 0..rows {
            for (i, c) in columns.iter().enumerate() {
                let v = match c {
                    Column::Int(v) => ToSqlOutput::from(v[row]),
                    Column::Text(v) => ToSqlOutput::from(v[row]),
                    Column::Float(v) => match v[row] {
                        Some(f) => ToSqlOutput::from(f),
                        None => ToSqlOutput::from(rusqlite::types::Null),
                    },
                };
                stmt.raw_bind_parameter(i + 1, v).map_err(db_err)?;
            }
            stmt.raw_execute().map_err(db_err)?;
        }
        Ok(rows as u64)
    }
}

impl OwnedRow {
    fn get(&self, col: &str) -> Result<&Value, sqlx::Error> {
        self.0
            .iter()
            .find(|(n, _)| n == col)
            .map(|(_, v)| v)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(col.to_string()))
    }
}

impl RowExt for OwnedRow {
    fn text(&self, col: &str) -> Result<String, sqlx::Error> {
        self.opt_text(col)?
            .ok_or_else(|| decode_err(col, "unexpected NULL"))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        match self.get(col)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(decode_err(col, format!("expected text, found {other:?}"))),
        }
    }
    fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
        self.opt_int(col)?
            .ok_or_else(|| decode_err(col, "unexpected NULL"))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        match self.get(col)? {
            Value::Null => Ok(None),
            Value::Integer(i) => Ok(Some(*i)),
            other => Err(decode_err(
                col,
                format!("expected integer, found {other:?}"),
            )),
        }
    }
    fn opt_float(&self, col: &str) -> Result<Option<f64>, sqlx::Error> {
        match self.get(col)? {
            Value::Null => Ok(None),
            Value::Real(f) => Ok(Some(*f)),
            Value::Integer(i) => Ok(Some(*i as f64)),
            other => Err(decode_err(
                col,
                format!("expected a number, found {other:?}"),
            )),
        }
    }
    fn time(&self, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        self.opt_time(col)?
            .ok_or_else(|| decode_err(col, "unexpected NULL"))
    }
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        self.opt_text(col)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| decode_err(col, e))
            })
            .transpose()
    }
    fn blob(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
        match self.get(col)? {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(decode_err(col, format!("expected bytes, found {other:?}"))),
        }
    }
    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T, sqlx::Error> {
        match self.get(col)? {
            Value::Null => serde_json::from_str("null").map_err(|e| decode_err(col, e)),
            Value::Text(s) => serde_json::from_str(s).map_err(|e| decode_err(col, e)),
            other => Err(decode_err(
                col,
                format!("expected JSON text, found {other:?}"),
            )),
        }
    }
}

/// Runs a future whose every await is on [`WriterConn`] (always ready) to completion.
pub(crate) fn run_ready<F: Future>(fut: F) -> Result<F::Output, StoreError> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(StoreError::Corrupt(
            "a SQLite write transaction awaited something other than the database".into(),
        )),
    }
}

/// Runs blocking work on this worker thread without starving the runtime (inline on a
/// current-thread runtime, as in tests).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `BEGIN IMMEDIATE`, then `body`, then `COMMIT` on success or `ROLLBACK` on failure.
pub(crate) fn transaction<T>(
    conn: &mut rusqlite::Connection,
    body: impl FnOnce(&mut WriterConn<'_>) -> Result<Result<T, StoreError>, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| StoreError::from(db_err(e)))?;
    let out = body(&mut WriterConn(conn)).and_then(|r| r);
    let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
    if let Err(e) = conn.execute_batch(end) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(StoreError::from(db_err(e)));
    }
    out
}

/// A sample's value as SQLite stores it in the untyped `value` column: an integral number as an
/// INTEGER (1 to 8 bytes instead of 8; read back as the same `f64`), any other number as a
/// REAL, a text as TEXT.
fn sqlite_value(s: &crate::NewSample) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match (s.number, &s.text) {
        (Some(n), _)
            if n.fract() == 0.0 && n.abs() < 9.0e15 && !(n == 0.0 && n.is_sign_negative()) =>
        {
            Value::Integer(n as i64)
        }
        (Some(n), _) => Value::Real(n),
        (None, Some(t)) => Value::Text(t.clone()),
        (None, None) => Value::Null,
    }
}

/// What [`sqlite_value`] stored, as (number, text).
fn from_sqlite_value(v: rusqlite::types::Value) -> (Option<f64>, Option<String>) {
    use rusqlite::types::Value;
    match v {
        Value::Integer(i) => (Some(i as f64), None),
        Value::Real(f) => (Some(f), None),
        Value::Text(t) => (None, Some(t)),
        Value::Null | Value::Blob(_) => (None, None),
    }
}

/// Stores a batch of samples (their tools and points numbered in `ids`) in one transaction; see
/// [`Store::insert_samples`](crate::Store::insert_samples).
pub(crate) fn insert_samples(
    conn: &mut rusqlite::Connection,
    samples: &[crate::NewSample],
    ids: &crate::telemetry::Numbered,
) -> Result<crate::SamplesStored, StoreError> {
    let db = |e: rusqlite::Error| StoreError::from(db_err(e));
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let mut outcome = crate::SamplesStored::default();
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO samples (tool, at, point, value) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING",
            )
            .map_err(db)?;
        let mut stored_value = tx
            .prepare_cached("SELECT value FROM samples WHERE tool = ?1 AND at = ?2 AND point = ?3")
            .map_err(db)?;
        // Where retention has deleted each tool's raw samples up to: nothing is stored behind
        // it (its rollups are final there).
        let mut purged = tx
            .prepare_cached("SELECT raw_purged_until FROM rollup_progress WHERE equipment_id = ?1")
            .map_err(db)?;
        let mut purged_until: std::collections::HashMap<&str, i64> = Default::default();
        for s in samples {
            if !purged_until.contains_key(s.equipment.as_str()) {
                let mark: Option<i64> = purged
                    .query_row([&s.equipment], |r| r.get(0))
                    .optional()
                    .map_err(db)?;
                purged_until.insert(s.equipment.as_str(), mark.unwrap_or(0));
            }
        }
        let mut kept = Vec::with_capacity(samples.len());
        for s in samples {
            let (tool, at, point) = crate::telemetry::key_of(ids, s)?;
            if at < purged_until[s.equipment.as_str()] {
                outcome.expired += 1;
                continue;
            }
            if insert
                .execute(rusqlite::params![tool, at, point, sqlite_value(s)])
                .map_err(db)?
                > 0
            {
                outcome.stored += 1;
                kept.push(s);
                continue;
            }
            // The key is stored already: the same value again, or a conflict.
            let value: rusqlite::types::Value = stored_value
                .query_row(rusqlite::params![tool, at, point], |r| r.get(0))
                .map_err(db)?;
            let (number, text) = from_sqlite_value(value);
            outcome.duplicate(s, (number, text.as_deref()));
        }
        let mut latest = tx
            .prepare_cached(
                "INSERT INTO equipment_latest (equipment_id, point, at, number, text) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (equipment_id, point) DO UPDATE SET \
                 at = excluded.at, number = excluded.number, text = excluded.text \
                 WHERE excluded.at > equipment_latest.at",
            )
            .map_err(db)?;
        let mut at = String::with_capacity(32);
        for s in crate::telemetry::latest_of(kept.iter().copied()) {
            at.clear();
            crate::conn::write_sqlite_time(&mut at, crate::telemetry::stored_time(s.at));
            latest
                .execute(rusqlite::params![
                    s.equipment,
                    s.point,
                    at,
                    s.number,
                    s.text
                ])
                .map_err(db)?;
        }
        // Rollups from the oldest stored sample of each tool on must be rolled up (again).
        let mut marks = tx
            .prepare_cached(
                "INSERT INTO rollup_progress (equipment_id, rolled_1m, rolled_1h) \
                 VALUES (?1, ?2, ?2) ON CONFLICT (equipment_id) DO UPDATE SET \
                 rolled_1m = min(rolled_1m, excluded.rolled_1m), \
                 rolled_1h = min(rolled_1h, excluded.rolled_1h)",
            )
            .map_err(db)?;
        for (tool, oldest) in crate::telemetry::oldest_per_tool(&kept) {
            at.clear();
            crate::conn::write_sqlite_time(&mut at, oldest);
            marks.execute(rusqlite::params![tool, at]).map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    Ok(outcome)
}
