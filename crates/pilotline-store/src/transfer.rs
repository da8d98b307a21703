//! Moving a line from the embedded SQLite store to PostgreSQL: every table's every row, copied
//! into a freshly migrated PostgreSQL database in one transaction (all or nothing), in the
//! order the migrations created the tables (so a row's references are there before it), then
//! the sequences moved past the copied ids.
//!
//! Both schemas come from the same migrations, so they have the same tables and columns; the
//! values are carried as text and cast to the PostgreSQL column's type (timestamps, JSON,
//! numbers), except bytes and booleans, which are bound as such. A table of the source the
//! target lacks, or a column it lacks, stops the copy before anything is written.

use sqlx::{Column, Row, TypeInfo, ValueRef};
use std::collections::BTreeMap;

use crate::{Backend, Store, StoreError};

/// Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters in one).
const BATCH_PARAMS: usize = 30_000;

/// What a copy moved: rows per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// (table, rows copied), in the order the tables were copied.
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// A value read from SQLite, by its storage class.
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A PostgreSQL column: its name and the type to cast text to.
struct Target {
    name: String,
    /// `udt_name` (e.g. `int8`, `timestamptz`, `jsonb`, `bytea`, `bool`, `text`).
    udt: String,
}

impl Store {
    /// Copies every row of this SQLite store into `target`, a PostgreSQL store just migrated
    /// and holding no data of its own (refused otherwise, naming the table that has rows).
    /// One transaction: on any error nothing is left in `target`.
    pub async fn copy_into(&self, target: &Store) -> Result<CopyReport, StoreError> {
        let (Backend::Sqlite { read, .. }, Backend::Postgres(pg)) =
            (&self.backend, &target.backend)
        else {
            return Err(StoreError::Config(
                "a store is copied from SQLite (the configured store) into PostgreSQL".into(),
            ));
        };
        let mut src = read.acquire().await?;
        // Creation order: a table is created after the tables it refers to.
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY rowid",
        )
        .fetch_all(&mut *src)
        .await?;
        // One read transaction on the source: the copy is one consistent snapshot.
        sqlx::query("BEGIN").execute(&mut *src).await?;
        let result = copy_tables(&mut src, pg, &tables).await;
        let _ = sqlx::query("ROLLBACK").execute(&mut *src).await;
        result
    }
}

async fn copy_tables(
    src: &mut sqlx::SqliteConnection,
    pg: &crate::pg_pool::PgPool,
    tables: &[String],
) -> Result<CopyReport, StoreError> {
    let mut conn = pg.acquire().await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // Row-level security applies to the tables' owner too (FORCE): the copy acts as the
    // platform, which sees and writes every tenant's rows.
    sqlx::query("SELECT set_config('pilotline.tenant', '*', true)")
        .execute(&mut *tx)
        .await?;
    let columns = target_columns(&mut tx).await?;
    // Every table must exist in the target and be empty before anything is written: the
    // migrations may have written rows of their own (none today), which a copy would clash with.
    for table in tables {
        if !columns.contains_key(table) {
            return Err(StoreError::Config(format!(
                "table {table} is not in the PostgreSQL schema: migrate it with this version first"
            )));
        }
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) t"
        )))
        .fetch_one(&mut *tx)
        .await?;
        if rows > 0 {
            return Err(StoreError::Config(format!(
                "the PostgreSQL store is not empty (table {table} has rows): copy into a new database"
            )));
        }
    }
    // The copied rows include what the target's triggers would derive (an MPW lot's children,
    // the per-day ship counters): the triggers are off while
    // the rows go in, and on again before the commit (ALTER TABLE is transactional, so a
    // failed copy leaves them on too).
    for table in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} DISABLE TRIGGER USER"
        )))
        .execute(&mut *tx)
        .await?;
    }
    let mut report = CopyReport::default();
    for table in tables {
        let target = &columns[table];
        let n = copy_table(src, &mut tx, table, target).await?;
        report.tables.push((table.clone(), n));
    }
    for table in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} ENABLE TRIGGER USER"
        )))
        .execute(&mut *tx)
        .await?;
    }
    reset_sequences(&mut tx).await?;
    tx.commit().await?;
    Ok(report)
}

/// The columns of every table of the target's schema, by table.
async fn target_columns(
    tx: &mut sqlx::PgConnection,
) -> Result<BTreeMap<String, Vec<Target>>, StoreError> {
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, udt_name::text AS u \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut out: BTreeMap<String, Vec<Target>> = BTreeMap::new();
    for r in rows {
        out.entry(r.try_get("t")?).or_default().push(Target {
            name: r.try_get("c")?,
            udt: r.try_get("u")?,
        });
    }
    Ok(out)
}

async fn copy_table(
    src: &mut sqlx::SqliteConnection,
    tx: &mut sqlx::PgConnection,
    table: &str,
    target: &[Target],
) -> Result<u64, StoreError> {
    use futures_util::TryStreamExt;
    // A table scan: rowid order (the order rows were written, so a lot's parent comes before
    // it) for ordinary tables, key order for WITHOUT ROWID ones. Streamed, not collected.
    let mut rows =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}"))).fetch(&mut *src);
    let mut columns: Option<(Vec<Dest>, Vec<usize>)> = None;
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut copied = 0u64;
    while let Some(row) = rows.try_next().await? {
        let (dests, order) = match &columns {
            Some(c) => c,
            None => columns.insert(destinations(table, &row, target)?),
        };
        let mut values = Vec::with_capacity(order.len());
        for (i, dest) in dests.iter().enumerate() {
            let v = read_value(&row, i)?;
            match dest {
                Dest::Column => values.push(v),
                // A number goes to the numeric column, text to the text one.
                Dest::Split => match v {
                    Value::Int(_) | Value::Real(_) => values.extend([v, Value::Null]),
                    Value::Null => values.extend([Value::Null, Value::Null]),
                    other => values.extend([Value::Null, other]),
                },
            }
        }
        batch.push(values);
        if batch.len() * order.len() >= BATCH_PARAMS {
            copied += insert(tx, table, target, order, &mut batch).await?;
        }
    }
    if let Some((_, order)) = &columns
        && !batch.is_empty()
    {
        copied += insert(tx, table, target, order, &mut batch).await?;
    }
    Ok(copied)
}

/// Where a source column goes in the target.
enum Dest {
    /// The target column of the same name.
    Column,
    /// SQLite's compact samples keep a number or a text in one dynamically typed `value`;
    /// PostgreSQL has `number` and `text`.
    Split,
}

/// Each source column's destination, and the target columns in the order values are bound.
fn destinations(
    table: &str,
    row: &sqlx::sqlite::SqliteRow,
    target: &[Target],
) -> Result<(Vec<Dest>, Vec<usize>), StoreError> {
    let find = |name: &str| target.iter().position(|t| t.name == name);
    let mut dests = Vec::new();
    let mut order = Vec::new();
    for c in row.columns() {
        if let Some(i) = find(c.name()) {
            dests.push(Dest::Column);
            order.push(i);
        } else if table == "samples"
            && c.name() == "value"
            && let (Some(n), Some(t)) = (find("number"), find("text"))
        {
            dests.push(Dest::Split);
            order.extend([n, t]);
        } else {
            return Err(StoreError::Config(format!(
                "column {table}.{} is not in the PostgreSQL schema",
                c.name()
            )));
        }
    }
    Ok((dests, order))
}

fn read_value(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    // The value's own storage class (a SQLite column may hold any).
    let class = raw.type_info().name().to_string();
    Ok(match class.as_str() {
        "INTEGER" => Value::Int(row.try_get(i)?),
        "REAL" => Value::Real(row.try_get(i)?),
        "BLOB" => Value::Bytes(row.try_get(i)?),
        _ => Value::Text(row.try_get(i)?),
    })
}

async fn insert(
    tx: &mut sqlx::PgConnection,
    table: &str,
    target: &[Target],
    order: &[usize],
    batch: &mut Vec<Vec<Value>>,
) -> Result<u64, StoreError> {
    let names: Vec<&str> = order.iter().map(|&i| target[i].name.as_str()).collect();
    // The copied ids are kept, identity columns' included.
    let mut sql = format!(
        "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE VALUES ",
        names.join(", ")
    );
    let mut n = 0;
    for (r, _) in batch.iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (k, &i) in order.iter().enumerate() {
            if k > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match target[i].udt.as_str() {
                "bytea" | "bool" => sql.push_str(&format!("${n}")),
                udt => sql.push_str(&format!("CAST(${n} AS {udt})")),
            }
        }
        sql.push(')');
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in batch.drain(..) {
        for (k, v) in row.into_iter().enumerate() {
            let udt = target[order[k]].udt.as_str();
            q = match (udt, v) {
                ("bytea", Value::Bytes(b)) => q.bind(b),
                ("bytea", Value::Null) => q.bind(None::<Vec<u8>>),
                ("bool", Value::Int(i)) => q.bind(i != 0),
                ("bool", Value::Null) => q.bind(None::<bool>),
                ("bytea" | "bool", other) => {
                    return Err(StoreError::Config(format!(
                        "{table}.{}: a {} value where {udt} was expected",
                        target[order[k]].name,
                        kind(&other)
                    )));
                }
                (_, Value::Null) => q.bind(None::<String>),
                (_, Value::Int(i)) => q.bind(i.to_string()),
                // Rust's shortest representation that reads back as the same f64.
                (_, Value::Real(f)) => q.bind(format!("{f:?}")),
                (_, Value::Text(t)) => q.bind(t),
                (_, Value::Bytes(b)) => q.bind(String::from_utf8(b).map_err(|_| {
                    StoreError::Config(format!(
                        "{table}.{}: bytes where {udt} was expected",
                        target[order[k]].name
                    ))
                })?),
            };
        }
    }
    Ok(q.execute(&mut *tx).await?.rows_affected())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Int(_) => "integer",
        Value::Real(_) => "real",
        Value::Text(_) => "text",
        Value::Bytes(_) => "blob",
    }
}

/// Moves every sequence that numbers a column (serial or identity) past the largest id copied.
async fn reset_sequences(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, \
         pg_get_serial_sequence(quote_ident(table_name), column_name)::text AS s \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')",
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in rows {
        let (t, c): (String, String) = (r.try_get("t")?, r.try_get("c")?);
        let Some(seq) = r.try_get::<Option<String>, _>("s")? else {
            continue;
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval('{seq}', GREATEST((SELECT max({c}) FROM {t}), 1), \
             (SELECT max({c}) FROM {t}) IS NOT NULL)"
        )))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
