//! The narrow seam between the store's SQL and the two sqlx drivers.
//!
//! Every query in this crate is written once, with `$1`-style placeholders that both SQLite and
//! PostgreSQL understand, and runs through [`Conn`], implemented for both drivers' connections.
//! Values cross the seam as [`Param`]s and come back through [`RowExt`], so the rest of the crate
//! is ordinary generic code with no sqlx trait bounds.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::Row;
use std::future::Future;

/// A query whose text depends on which optional filters a call uses, built once per shape and
/// kept for the life of the process (the shapes are few and fixed by the code, so this holds
/// a bounded set of strings). Writing `col = $n` only for the filters given — instead of one
/// text with `($n IS NULL OR col = $n)` — lets both planners use the index that matches.
pub(crate) fn shaped(sql: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SHAPES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = SHAPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = set.get(sql.as_str()) {
        return s;
    }
    let s: &'static str = Box::leak(sql.into_boxed_str());
    set.insert(s);
    s
}

/// Builds `WHERE a = $1 AND b = $2 …` for the filters given, numbering from `first`, and
/// collects their parameters.
pub(crate) struct Filters {
    clauses: Vec<String>,
    params: Vec<Param>,
}

impl Filters {
    /// No filter yet.
    pub(crate) fn new() -> Self {
        Filters {
            clauses: Vec::new(),
            params: Vec::new(),
        }
    }

    /// Adds `{expr} $n` (e.g. `state =`, `id >`, `at <`) with `value`, when it is given.
    pub(crate) fn add(&mut self, expr: &str, value: Option<Param>) -> &mut Self {
        self.add_clause(&format!("{expr} ?"), value)
    }

    /// Adds `clause`, its one `?` standing for `$n`, with `value`, when it is given.
    pub(crate) fn add_clause(&mut self, clause: &str, value: Option<Param>) -> &mut Self {
        if let Some(v) = value {
            self.params.push(v);
            let n = format!("${}", self.params.len());
            self.clauses.push(clause.replacen('?', &n, 1));
        }
        self
    }

    /// Adds `clause`, its two `?` standing for the next two parameters, `a` and `b`.
    pub(crate) fn add_pair(&mut self, clause: &str, a: Param, b: Param) -> &mut Self {
        let (na, nb) = (self.params.len() + 1, self.params.len() + 2);
        self.params.extend([a, b]);
        let clause = clause
            .replacen('?', &format!("${na}"), 1)
            .replacen('?', &format!("${nb}"), 1);
        self.clauses.push(clause);
        self
    }

    /// Adds a clause without a parameter.
    pub(crate) fn raw(&mut self, clause: &str) -> &mut Self {
        self.clauses.push(clause.to_string());
        self
    }

    /// The next parameter's number.
    pub(crate) fn next(&self) -> usize {
        self.params.len() + 1
    }

    /// ` WHERE …` (or nothing) and the parameters so far.
    pub(crate) fn finish(self) -> (String, Vec<Param>) {
        let sql = if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        };
        (sql, self.params)
    }
}

/// One bound query parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    /// Text.
    Text(String),
    /// Nullable text.
    OptText(Option<String>),
    /// 64-bit integer.
    Int(i64),
    /// Nullable 64-bit integer.
    OptInt(Option<i64>),
    /// Timestamp (TIMESTAMPTZ on PostgreSQL, RFC 3339 TEXT on SQLite).
    Time(DateTime<Utc>),
    /// Nullable timestamp.
    OptTime(Option<DateTime<Utc>>),
    /// JSON document (JSONB on PostgreSQL, TEXT on SQLite).
    Json(serde_json::Value),
    /// JSON document already written as text (serialized straight from its Rust value, with
    /// no `Value` tree between): JSONB on PostgreSQL, TEXT on SQLite.
    JsonText(Box<serde_json::value::RawValue>),
    /// Boolean.
    Bool(bool),
    /// Nullable double.
    Float(Option<f64>),
    /// Bytes (BYTEA on PostgreSQL, BLOB on SQLite).
    Blob(Vec<u8>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_string())
    }
}
impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}
impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(v.clone())
    }
}
impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Param::OptText(v.map(str::to_string))
    }
}
impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Param::OptText(v)
    }
}
impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::OptInt(v)
    }
}
impl From<DateTime<Utc>> for Param {
    fn from(v: DateTime<Utc>) -> Self {
        Param::Time(v)
    }
}
impl From<Option<DateTime<Utc>>> for Param {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Param::OptTime(v)
    }
}
impl From<Option<f64>> for Param {
    fn from(v: Option<f64>) -> Self {
        Param::Float(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// Builds a `Vec<Param>` from values convertible into [`Param`].
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::conn::Param::from($v)),*] };
}
pub(crate) use params;

/// Typed column access shared by both drivers' rows.
pub(crate) trait RowExt {
    /// A non-null text column.
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// A non-null integer column.
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
    /// A nullable integer column.
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A non-null timestamp column.
    fn time(&self, col: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    /// A nullable timestamp column.
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    /// A nullable floating-point column.
    fn opt_float(&self, col: &str) -> Result<Option<f64>, sqlx::Error>;
    /// A JSON column decoded into `T`.
    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T, sqlx::Error>;
    /// A byte (BLOB / BYTEA) column.
    fn blob(&self, col: &str) -> Result<Vec<u8>, sqlx::Error>;
}

/// The values of one column of a bulk insert.
pub(crate) enum Column<'a> {
    /// BIGINT / INTEGER.
    Int(Vec<i64>),
    /// TEXT.
    Text(Vec<&'a str>),
    /// Nullable DOUBLE PRECISION / REAL.
    Float(Vec<Option<f64>>),
}

impl Column<'_> {
    fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Text(v) => v.len(),
            Column::Float(v) => v.len(),
        }
    }
}

/// Rows inserted by the thousand, given column by column: one `UNNEST` statement per batch on
/// PostgreSQL, one prepared statement stepped per row on SQLite's writer connection. For the
/// bulk of test data (hundreds of thousands of part results a file).
pub(crate) trait BulkInsert: Send {
    /// Inserts the rows `columns` hold (all of one length) into `table`'s `names` columns.
    fn insert_columns(
        &mut self,
        table: &'static str,
        names: &'static [&'static str],
        columns: Vec<Column<'_>>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
}

/// The rows of a bulk insert: all columns must be equally long.
pub(crate) fn bulk_rows(names: &[&str], columns: &[Column<'_>]) -> Result<usize, sqlx::Error> {
    let rows = columns.first().map_or(0, Column::len);
    if columns.len() != names.len() || columns.iter().any(|c| c.len() != rows) {
        return Err(sqlx::Error::Protocol(
            "bulk insert: columns differ in number or length".into(),
        ));
    }
    Ok(rows)
}

/// A connection (usually inside a transaction) of either backend.
pub(crate) trait Conn: Send {
    /// The driver's row type.
    type Row: RowExt + Send;
    /// Whether this is PostgreSQL (for the few statements whose text differs).
    const POSTGRES: bool;
    /// Whether reads lock the rows they return (`FOR UPDATE` on PostgreSQL, inside a
    /// transaction). Not on an [`crate::unlocked::Unlocked`] connection, whose one write checks
    /// the versions it read instead.
    const LOCKS: bool = true;

    /// Says that the work under way cannot be done on this connection as it is (a write other
    /// than a lot move's one statement on an unlocked connection): the caller runs it again in
    /// a transaction. Nothing on an ordinary connection.
    fn decline(&mut self) {}

    /// Runs a statement and returns the number of rows it affected.
    fn execute(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Runs a query returning at most one row.
    fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send;

    /// Runs a query returning every row.
    fn fetch_all(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;
}

macro_rules! impl_backend {
    ($conn:ty, $row:ty, $db:ty, $postgres:expr) => {
        impl RowExt for $row {
            fn text(&self, col: &str) -> Result<String, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(col)
            }
            fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(col)
            }
            fn time(&self, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_float(&self, col: &str) -> Result<Option<f64>, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
                self.try_get(col)
            }
            fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T, sqlx::Error> {
                let sqlx::types::Json(v) = self.try_get::<sqlx::types::Json<T>, _>(col)?;
                Ok(v)
            }
            fn blob(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(col)
            }
        }

        impl Conn for $conn {
            type Row = $row;
            const POSTGRES: bool = $postgres;

            async fn execute(
                &mut self,
                sql: &'static str,
                params: Vec<Param>,
            ) -> Result<u64, sqlx::Error> {
                let q = bind_all(sqlx::query::<$db>(sql), params);
                Ok(q.execute(&mut *self).await?.rows_affected())
            }

            async fn fetch_optional(
                &mut self,
                sql: &'static str,
                params: Vec<Param>,
            ) -> Result<Option<$row>, sqlx::Error> {
                bind_all(sqlx::query::<$db>(sql), params)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn fetch_all(
                &mut self,
                sql: &'static str,
                params: Vec<Param>,
            ) -> Result<Vec<$row>, sqlx::Error> {
                bind_all(sqlx::query::<$db>(sql), params)
                    .fetch_all(&mut *self)
                    .await
            }
        }
    };
}

/// How SQLite stores a time: RFC 3339 in UTC with exactly six decimals, so that text order is
/// time order (a variable number of decimals would sort `05.100001Z` before `05.100Z`).
pub(crate) fn sqlite_time(t: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(27);
    write_sqlite_time(&mut s, t);
    s
}

/// Appends [`sqlite_time`]'s text to `out` (without chrono's format-string parsing: this runs
/// once per stored sample).
pub(crate) fn write_sqlite_time(out: &mut String, t: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        // A leap second shows as :60 in chrono's nanoseconds; keep it in the same second.
        (t.nanosecond() % 1_000_000_000) / 1_000
    );
}

macro_rules! impl_bind_all {
    ($name:ident, $db:ty, $time:expr) => {
        fn $name(
            mut q: sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>,
            params: Vec<Param>,
        ) -> sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments> {
            for p in params {
                q = match p {
                    Param::Text(v) => q.bind(v),
                    Param::OptText(v) => q.bind(v),
                    Param::Int(v) => q.bind(v),
                    Param::OptInt(v) => q.bind(v),
                    Param::Time(v) => q.bind($time(v)),
                    Param::OptTime(v) => q.bind(v.map($time)),
                    Param::Json(v) => q.bind(sqlx::types::Json(v)),
                    Param::JsonText(v) => q.bind(sqlx::types::Json(v)),
                    Param::Bool(v) => q.bind(v),
                    Param::Float(v) => q.bind(v),
                    Param::Blob(v) => q.bind(v),
                };
            }
            q
        }
    };
}

mod sqlite {
    use super::*;
    impl_bind_all!(bind_all, sqlx::Sqlite, sqlite_time);
    impl_backend!(
        sqlx::SqliteConnection,
        sqlx::sqlite::SqliteRow,
        sqlx::Sqlite,
        false
    );
}

mod postgres {
    use super::*;
    impl_bind_all!(bind_all, sqlx::Postgres, std::convert::identity);
    impl_backend!(
        sqlx::PgConnection,
        sqlx::postgres::PgRow,
        sqlx::Postgres,
        true
    );

    /// Rows per `UNNEST` statement: large enough to amortise the round trip, small enough to
    /// keep each statement's arrays modest.
    const BATCH: usize = 20_000;

    impl BulkInsert for sqlx::PgConnection {
        async fn insert_columns(
            &mut self,
            table: &'static str,
            names: &'static [&'static str],
            columns: Vec<Column<'_>>,
        ) -> Result<u64, sqlx::Error> {
            let rows = bulk_rows(names, &columns)?;
            let arrays: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let ty = match c {
                        Column::Int(_) => "bigint",
                        Column::Text(_) => "text",
                        Column::Float(_) => "float8",
                    };
                    format!("${}::{ty}[]", i + 1)
                })
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({}) SELECT * FROM UNNEST({})",
                names.join(", "),
                arrays.join(", ")
            );
            let mut done = 0;
            let mut start = 0;
            while start < rows {
                let end = (start + BATCH).min(rows);
                // Table and column names are the caller's `'static` literals; every value is bound.
                let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql.as_str()));
                for c in &columns {
                    q = match c {
                        Column::Int(v) => q.bind(&v[start..end]),
                        Column::Text(v) => q.bind(&v[start..end]),
                        Column::Float(v) => q.bind(&v[start..end]),
                    };
                }
                done += q.execute(&mut *self).await?.rows_affected();
                start = end;
            }
            Ok(done)
        }
    }
}
