//! `pilotline backup` measured: the time to copy a SQLite store of a given size while eight
//! clients keep moving lots, beside a plain file copy of the same store in the same run, and
//! what the backup does to the lot moves running meanwhile (rate and latency during the
//! backup against the second before it).
//!
//! Run: `cargo bench -p pilotline-tests --bench backup`
//! Env: `BENCH_SAMPLES` (raw samples stored first to give the file its size, default
//! 10,000,000).

use chrono::{Duration, Utc};
use pilotline_domain::{Actor, LotType, Role};
use pilotline_store::{LotCommand, NewLotRequest, NewSample, Store, WriteOp};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const CLIENTS: usize = 8;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn engineer() -> Actor {
    Actor {
        user: "bench".into(),
        role: Role::Engineer,
        tenant: None,
    }
}

async fn seed(store: &Store, samples: usize) {
    pilotline_store::testing::seed_flat_line(store, 20, CLIENTS).await;
    // 50 tools × 50 points at 1 Hz, as long as it takes to reach `samples`.
    let t0 = Utc::now() - Duration::seconds((samples / 2500) as i64 + 60);
    let mut batch = Vec::with_capacity(5000);
    for i in 0..samples {
        let (s, t, p) = (i / 2500, (i / 50) % 50, i % 50);
        batch.push(NewSample {
            equipment: format!("TOOL-{t:03}"),
            point: format!("point_{p:02}"),
            at: t0 + Duration::seconds(s as i64),
            number: Some(((s as f64 * 0.01 + p as f64).sin() * 100.0 * 1000.0).round() / 1000.0),
            text: None,
        });
        if batch.len() == 5000 {
            store.insert_samples(&batch).await.unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.insert_samples(&batch).await.unwrap();
    }
}

/// Client `c` moves its lots until `stop`; returns (finished at, latency) per move.
async fn client(store: Store, c: usize, stop: Arc<AtomicBool>, t0: Instant) -> Vec<(f64, f64)> {
    let eng = engineer();
    let mut out = Vec::new();
    let mut generation = 0;
    while !stop.load(Ordering::Relaxed) {
        let lot = format!("K{c}x{generation}");
        let start = WriteOp::StartLot(NewLotRequest {
            id: Some(lot.clone()),
            product: pilotline_store::testing::FLAT_PRODUCT.into(),
            route: None,
            route_version: None,
            lot_type: LotType::Production,
            priority: 3,
            tenant: None,
            due_date: None,
            wafer_count: 25,
            wafer_ids: None,
        });
        store.execute(&start, &eng, None).await.unwrap();
        'steps: for _ in 0..20 {
            for command in [
                LotCommand::TrackIn {
                    equipment: format!("T{c}"),
                    recipe: None,
                },
                LotCommand::TrackOut {
                    scrap_wafers: vec![],
                    scrap_reason: None,
                    readings: vec![],
                },
            ] {
                if stop.load(Ordering::Relaxed) {
                    break 'steps;
                }
                let op = WriteOp::Lot {
                    lot_id: lot.clone(),
                    command,
                    if_version: None,
                };
                let t = Instant::now();
                store.execute(&op, &eng, None).await.unwrap();
                out.push((
                    t0.elapsed().as_secs_f64(),
                    t.elapsed().as_secs_f64() * 1000.0,
                ));
            }
        }
        generation += 1;
    }
    out
}

fn window(moves: &[(f64, f64)], from: f64, to: f64) -> (f64, f64, f64) {
    let mut l: Vec<f64> = moves
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .map(|(_, ms)| *ms)
        .collect();
    l.sort_by(f64::total_cmp);
    let p99 = l
        .get((l.len() as f64 * 0.99) as usize)
        .copied()
        .unwrap_or(f64::NAN);
    let max = l.last().copied().unwrap_or(f64::NAN);
    (l.len() as f64 / (to - from), p99, max)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let samples = env_or("BENCH_SAMPLES", 10_000_000usize);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.db");
    let store = Store::open(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let started = Instant::now();
    seed(&store, samples).await;
    println!(
        "Pilotline backup: store of {samples} samples filled in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // Reference: the file copied as it lies (after a checkpoint, with nothing writing).
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let size = std::fs::metadata(&file).unwrap().len() as f64 / 1e6;
    let t = Instant::now();
    std::fs::copy(&file, dir.path().join("plain-copy.db")).unwrap();
    let copy_s = t.elapsed().as_secs_f64();
    println!(
        "   cp: {size:.0} MB in {copy_s:.2} s ({:.0} MB/s), nothing writing",
        size / copy_s
    );
    std::fs::remove_file(dir.path().join("plain-copy.db")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(store.clone(), c, stop.clone(), t0)))
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let from = t0.elapsed().as_secs_f64();
    let bytes = store
        .backup_to(&dir.path().join("backup.db"))
        .await
        .unwrap() as f64
        / 1e6;
    let to = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut moves = Vec::new();
    for t in tasks {
        moves.extend(t.await.unwrap());
    }
    let backup_s = to - from;
    println!(
        "backup: {bytes:.0} MB in {backup_s:.2} s ({:.0} MB/s) while {CLIENTS} clients moved lots",
        bytes / backup_s
    );
    let (r0, p0, m0) = window(&moves, from - 1.0, from);
    let (r1, p1, m1) = window(&moves, from, to);
    println!("  lot moves, the second before: {r0:>6.0} /s  p99 {p0:>6.2} ms  max {m0:>7.2} ms");
    println!("  lot moves, during the backup: {r1:>6.0} /s  p99 {p1:>6.2} ms  max {m1:>7.2} ms");
    store.close().await;
}
