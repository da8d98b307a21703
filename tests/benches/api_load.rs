//! Lot moves per second through the HTTP API with 32 concurrent clients, on SQLite and
//! PostgreSQL, beside pgbench's TPC-B figure on the same PostgreSQL server in the same run.
//!
//! Run: `cargo bench -p pilotline-tests --bench api_load`
//! Env: `BENCH_SECONDS` (default 20), `BENCH_CLIENTS` (comma-separated, default `32,8`),
//! `BENCH_POOL` (database connections, default 8),
//! `PILOTLINE_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres).
//!
//! Each client owns one tool and moves its own lots through a 20-step route: every request is
//! one lot transaction (track-in or track-out), each a durable database transaction with its
//! event and E10 state change. A lot that completes is replaced by a new one (not counted).
//!
//! The HTTP clients run on a runtime of their own (one thread, `load-client`), the server on
//! the main one, so that the CPU each side spends per move can be read from `/proc` and printed
//! beside PostgreSQL's (and, for pgbench, beside pgbench's own).

use pilotline_domain::{Actor, Role};
use pilotline_store::{Store, WriteOp};
use pilotline_tests::{psql, with_db};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const STEPS: usize = 20;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Figures {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    moves: usize,
    errors: usize,
}

async fn seed(store: &Store, clients: usize) {
    pilotline_store::testing::seed_flat_line(store, STEPS, clients).await;
}

async fn start_lot(store: &Store, id: &str) {
    let admin = Actor {
        user: "bench".into(),
        role: Role::Admin,
        tenant: None,
    };
    let req = pilotline_store::testing::flat_lot(id, 25);
    store
        .execute(&WriteOp::StartLot(req), &admin, None)
        .await
        .unwrap();
}

/// The name of the client runtime's thread.
const CLIENT_THREAD: &str = "load-client";

async fn load(
    clients_rt: &tokio::runtime::Handle,
    db_url: &str,
    label: &str,
    seconds: u64,
    clients: usize,
) -> Figures {
    let pool = env_or("BENCH_POOL", 8u32);
    let store = Store::open_with(
        db_url,
        &pilotline_store::OpenOptions {
            max_connections: pool,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    seed(&store, clients).await;
    let token = store
        .create_token("bench-operator", Role::Operator, None)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_store = store.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        pilotline::serve::run(
            pilotline_app::App::new(server_store),
            listener,
            shutdown,
            Default::default(),
        )
        .await
        .unwrap();
    });
    let server_rt = tokio::runtime::Handle::current();
    let cpu_before = pilotline_tests::cpu::read(CLIENT_THREAD);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (base, token, store) = (base.clone(), token.clone(), store.clone());
        let server_rt = server_rt.clone();
        tasks.push(clients_rt.spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut generation = 0;
            'outer: loop {
                let lot = format!("B{c}x{generation}");
                // Started on the server's side (its CPU counts there), not timed.
                let (s, l) = (store.clone(), lot.clone());
                server_rt
                    .spawn(async move { start_lot(&s, &l).await })
                    .await
                    .unwrap();
                for _ in 0..STEPS {
                    for (action, body) in [
                        ("track-in", json!({"equipment": format!("T{c}")})),
                        ("track-out", json!({})),
                    ] {
                        if Instant::now() >= deadline {
                            break 'outer;
                        }
                        let t = Instant::now();
                        let res = client
                            .post(format!("{base}/api/v1/lots/{lot}/{action}"))
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await;
                        let ok = matches!(&res, Ok(r) if r.status().is_success());
                        if let Ok(r) = res {
                            let _ = r.bytes().await;
                        }
                        latencies.push(t.elapsed().as_micros() as u32);
                        if !ok {
                            errors += 1;
                        }
                    }
                }
                generation += 1;
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = pilotline_tests::cpu::read(CLIENT_THREAD).since(&cpu_before);
    let _ = stop_tx.send(());
    let _ = server.await;
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    let f = Figures {
        tps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        moves: all.len(),
        errors,
    };
    println!(
        "{label:>10}: {:>8.0} lot moves/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} moves, {} errors, {clients} clients, pool {pool}, {seconds} s)",
        f.tps, f.p50_ms, f.p99_ms, f.moves, f.errors
    );
    if f.moves > 0 && cpu.other_threads > 0.0 {
        let per = |secs: f64| secs / f.moves as f64 * 1e3;
        let db = if label == "postgres" {
            format!("PostgreSQL {:.2} ms, ", per(cpu.postgres))
        } else {
            String::new()
        };
        println!(
            "       CPU per move: {db}server {:.2} ms, HTTP clients {:.2} ms",
            per(cpu.other_threads),
            per(cpu.named_threads)
        );
    }
    f
}

fn fsync_time() {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return;
    };
    for e in entries.flatten() {
        let bin = e.path().join("bin/pg_test_fsync");
        if bin.exists() {
            let dir = std::env::temp_dir().join("pilotline-fsync-probe");
            let out = Command::new(bin).args(["-s", "1", "-f"]).arg(&dir).output();
            let _ = std::fs::remove_file(&dir);
            if let Ok(out) = out {
                let text = String::from_utf8_lossy(&out.stdout);
                if let Some(line) = text
                    .lines()
                    .find(|l| l.trim_start().starts_with("fdatasync"))
                {
                    println!(
                        "     fsync: {}",
                        line.split_whitespace().collect::<Vec<_>>().join(" ")
                    );
                }
            }
            return;
        }
    }
}

fn main() {
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    server_rt.block_on(run(clients_rt.handle().clone()));
}

async fn run(clients_rt: tokio::runtime::Handle) {
    let seconds = env_or("BENCH_SECONDS", 20u64);
    let client_counts: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "32,8".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("Pilotline API load: {seconds} s per run, {cores} cores");
    fsync_time();
    let admin = std::env::var("PILOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    for clients in client_counts {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        load(&clients_rt, &sqlite, "sqlite", seconds, clients).await;
        psql(
            &admin,
            "DROP DATABASE IF EXISTS pilotline_bench WITH (FORCE)",
        );
        psql(&admin, "CREATE DATABASE pilotline_bench");
        let pg = load(
            &clients_rt,
            &with_db(&admin, "pilotline_bench"),
            "postgres",
            seconds,
            clients,
        )
        .await;
        psql(
            &admin,
            "DROP DATABASE IF EXISTS pilotline_bench WITH (FORCE)",
        );
        if let Some(tps) = pilotline_tests::pgbench(&admin, seconds, clients) {
            println!(
                "     ratio: API on PostgreSQL = {:.2} x pgbench TPC-B at {clients} clients",
                pg.tps / tps
            );
        }
    }
}
