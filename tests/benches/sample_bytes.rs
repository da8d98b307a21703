//! Bytes per stored raw sample on SQLite and PostgreSQL.
//!
//! 50 tools × 50 points at 1 Hz for 400 s (1,000,000 samples) are stored through
//! `Store::insert_samples` — the collector's path — in batches of 5,000, into a fresh database.
//! Then the space they took: on SQLite the growth of the database file (after a checkpoint:
//! everything, the samples' B-tree, the point numbers, the latest values and the rollup marks)
//! and the `samples` table alone; on PostgreSQL `pg_total_relation_size('samples')` (heap, key
//! index, TOAST, after `VACUUM`) and the database's growth. Two value mixes: every value a
//! non-integral number (analog readings, the worst case), and half of the points integral
//! (states, counts, flags). The reference, in the same run: the same rows copied into the
//! layout before (tool and point names and a text time in every row, the lot index), measured
//! the same way.
//!
//! Run: `cargo bench -p pilotline-tests --bench sample_bytes`
//! Env: `PILOTLINE_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres).

use chrono::{Duration, Utc};
use pilotline_store::{NewSample, Store};
use std::time::Instant;

const TOOLS: usize = 50;
const POINTS: usize = 50;
const SECONDS: i64 = 400;

/// Stores the samples; returns how many and the rate.
async fn fill(store: &Store, integral_half: bool) -> (u64, f64) {
    let t0 = Utc::now() - Duration::seconds(SECONDS + 60);
    let mut batch = Vec::with_capacity(5000);
    let mut stored = 0;
    let started = Instant::now();
    for s in 0..SECONDS {
        for t in 0..TOOLS {
            // Each tool reads all its points at one instant, with its own phase.
            let at = t0 + Duration::seconds(s) + Duration::milliseconds((t * 17) as i64 % 1000);
            for p in 0..POINTS {
                let x = (s as f64 * 0.01 + p as f64).sin() * 100.0 + t as f64;
                let number = if integral_half && p % 2 == 0 {
                    (x.abs() as i64 % 8) as f64
                } else {
                    (x * 1000.0).round() / 1000.0 + 0.0005
                };
                batch.push(NewSample {
                    equipment: format!("TOOL-{t:03}"),
                    point: format!("point_{p:02}"),
                    at,
                    number: Some(number),
                    text: None,
                });
                if batch.len() == 5000 {
                    stored += store.insert_samples(&batch).await.unwrap().stored;
                    batch.clear();
                }
            }
        }
    }
    if !batch.is_empty() {
        stored += store.insert_samples(&batch).await.unwrap().stored;
    }
    (stored, stored as f64 / started.elapsed().as_secs_f64())
}

async fn sqlite_bytes(pool: &sqlx::SqlitePool) -> (i64, Option<i64>) {
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .unwrap();
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await
        .unwrap();
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await
        .unwrap();
    let table: Option<i64> =
        sqlx::query_scalar("SELECT SUM(pgsize) FROM dbstat WHERE name = 'samples'")
            .fetch_one(pool)
            .await
            .ok()
            .flatten();
    (pages * size, table)
}

async fn sqlite(integral_half: bool, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bytes.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (before, _) = sqlite_bytes(&pool).await;
    let (n, rate) = fill(&store, integral_half).await;
    let (after, table) = sqlite_bytes(&pool).await;
    let per = (after - before) as f64 / n as f64;
    let table = table.map_or("dbstat not available".to_string(), |t| {
        format!("{:.1} B/sample in `samples` alone", t as f64 / n as f64)
    });
    println!(
        "  sqlite   {label:<22} {n} samples ({rate:.0}/s): {per:.1} B/sample in the file; {table}"
    );
    // The reference: the same rows in the layout before (names and text times in every row).
    sqlx::raw_sql(
        "CREATE TABLE legacy_samples (equipment_id TEXT NOT NULL, at TEXT NOT NULL, \
         point TEXT NOT NULL, number REAL, text TEXT, lot_id TEXT, \
         PRIMARY KEY (equipment_id, at, point)) WITHOUT ROWID; \
         CREATE INDEX legacy_samples_lot_idx ON legacy_samples (lot_id, at) WHERE lot_id IS NOT NULL; \
         INSERT INTO legacy_samples (equipment_id, at, point, number) \
         SELECT t.equipment_id, strftime('%Y-%m-%dT%H:%M:%S', s.at / 1000000, 'unixepoch') || '.' \
         || printf('%06d', s.at % 1000000) || 'Z', p.name, s.value \
         FROM samples s JOIN sample_tools t ON t.id = s.tool \
         JOIN sample_points p ON p.tool = s.tool AND p.id = s.point ORDER BY s.tool, s.at, s.point",
    )
    .execute(&pool)
    .await
    .unwrap();
    let legacy: Option<i64> = sqlx::query_scalar(
        "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('legacy_samples', 'legacy_samples_lot_idx')",
    )
    .fetch_one(&pool)
    .await
    .ok()
    .flatten();
    if let Some(l) = legacy {
        println!(
            "  sqlite   {label:<22} reference, the layout before: {:.1} B/sample",
            l as f64 / n as f64
        );
    }
    pool.close().await;
    store.close().await;
}

async fn postgres(admin: &str, integral_half: bool, label: &str) {
    let psql = |sql: &str| {
        let ok = std::process::Command::new("psql")
            .args([admin, "-qc", sql])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "psql {sql}");
    };
    psql("DROP DATABASE IF EXISTS pilotline_bench_bytes WITH (FORCE)");
    psql("CREATE DATABASE pilotline_bench_bytes");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    let url = format!("{base}/pilotline_bench_bytes");
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let db_size = || async {
        sqlx::raw_sql("VACUUM ANALYZE")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = db_size().await;
    let (n, rate) = fill(&store, integral_half).await;
    let after = db_size().await;
    let table: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('samples')")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "  postgres {label:<22} {n} samples ({rate:.0}/s): {:.1} B/sample in `samples` (heap + key); {:.1} B/sample of database growth",
        table as f64 / n as f64,
        (after - before) as f64 / n as f64
    );
    // The reference: the same rows in the layout before (names in every row, a text lot).
    sqlx::raw_sql(
        "CREATE TABLE legacy_samples (id BIGSERIAL PRIMARY KEY, equipment_id TEXT NOT NULL, \
         point TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, number DOUBLE PRECISION, text TEXT, \
         lot_id TEXT); \
         CREATE UNIQUE INDEX legacy_samples_key ON legacy_samples (equipment_id, at, point); \
         CREATE INDEX legacy_samples_lot_idx ON legacy_samples (lot_id, at) WHERE lot_id IS NOT NULL; \
         INSERT INTO legacy_samples (equipment_id, point, at, number) \
         SELECT t.equipment_id, p.name, to_timestamp(s.at / 1000000.0), s.number \
         FROM samples s JOIN sample_tools t ON t.id = s.tool \
         JOIN sample_points p ON p.tool = s.tool AND p.id = s.point ORDER BY s.tool, s.at, s.point",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql("VACUUM ANALYZE legacy_samples")
        .execute(&pool)
        .await
        .unwrap();
    let legacy: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('legacy_samples')")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "  postgres {label:<22} reference, the layout before: {:.1} B/sample",
        legacy as f64 / n as f64
    );
    pool.close().await;
    store.close().await;
    psql("DROP DATABASE IF EXISTS pilotline_bench_bytes WITH (FORCE)");
}

#[tokio::main]
async fn main() {
    println!(
        "Bytes per raw sample: {TOOLS} tools x {POINTS} points at 1 Hz for {SECONDS} s, batches of 5000"
    );
    let admin = std::env::var("PILOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    for (half, label) in [(false, "analog values"), (true, "half integral values")] {
        sqlite(half, label).await;
        postgres(&admin, half, label).await;
    }
}
