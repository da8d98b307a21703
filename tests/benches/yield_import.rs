//! STDF import and the lot yield page, beside rust-stdf's bare parse and pystdf's on the same
//! file in the same run.
//!
//! Run: `cargo bench -p pilotline-tests --bench yield_import`
//! Env: `BENCH_WAFERS` (default 25), `BENCH_DIES` (per wafer, default 7000), `BENCH_PTRS`
//! (parametric results per die, default 10), `PILOTLINE_TEST_POSTGRES_URL`.
//!
//! The file is generated with rust-stdf's writer: per die a PIR, the PTRs and a PRR (2 % of dies
//! retested). Figures are MB/s of uncompressed STDF: Pilotline's import end to end (read, hash,
//! parse, store every part result in one transaction; best of three fresh SQLite stores) into
//! SQLite and PostgreSQL; rust-stdf iterating every record (best of three); pystdf parsing the
//! file (when installed). Then the lot's yield and its 25 wafer maps are read back, as the lot
//! yield page does.

use pilotline_app::App;
use pilotline_domain::{Actor, Role};
use rust_stdf::stdf_file::StdfReader;
use std::path::Path;
use std::time::Instant;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

/// Imports the file into a fresh store at each of `db_urls` (best of them is reported), then
/// reads the lot yield page's data from the last, best of three.
async fn pilotline(db_urls: &[String], label: &str, file: &Path, bytes: u64, wafers: usize) {
    let mut best_import = f64::MAX;
    let mut last = None;
    for url in db_urls {
        let store = App::open(url, &Default::default()).await.unwrap();
        store.migrate().await.unwrap();
        let t = Instant::now();
        pilotline::import::stdf(&store, &[file.to_path_buf()], None, true, "bench")
            .await
            .unwrap();
        best_import = best_import.min(t.elapsed().as_secs_f64());
        if let Some(old) = last.replace(store) {
            old.close().await;
        }
    }
    println!(
        "  pilotline import -> {label:<8} {:>7.1} MB/s  ({best_import:.2} s, end to end, best of {})",
        mb_s(bytes, best_import),
        db_urls.len()
    );
    let store = last.expect("at least one store");
    let actor = Actor {
        user: "bench".into(),
        role: Role::Manager,
        tenant: None,
    };
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let y = store.lot_yield("BENCH-LOT", &actor).await.unwrap();
        for wy in &y.wafers {
            let map = store
                .wafer_map(&wy.wafer, None, None, &actor)
                .await
                .unwrap();
            assert!(!map.dies.is_empty());
        }
        assert_eq!(y.wafers.len(), wafers);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "  lot yield + {wafers} wafer maps ({label}): {:.0} ms (best of 3)",
        best * 1000.0
    );
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let wafers = env_or("BENCH_WAFERS", 25usize);
    let dies = env_or("BENCH_DIES", 7000usize);
    let ptrs = env_or("BENCH_PTRS", 10u32);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.stdf");
    let (bytes, _) = pilotline_tests::stdf::write_probe_file(
        &file,
        "BENCH-LOT",
        dies,
        ptrs,
        pilotline_tests::stdf::Until::Wafers(wafers),
    );
    println!(
        "STDF import: {wafers} wafers x {dies} dies x {ptrs} PTRs, {:.1} MB uncompressed",
        bytes as f64 / 1e6
    );

    let mut secs = f64::MAX;
    let mut records = 0usize;
    for _ in 0..3 {
        let t = Instant::now();
        let mut reader = StdfReader::new(&file).unwrap();
        records = 0;
        for r in reader.get_record_iter() {
            r.unwrap();
            records += 1;
        }
        secs = secs.min(t.elapsed().as_secs_f64());
    }
    println!(
        "  rust-stdf bare parse:     {:>7.1} MB/s  ({records} records, {secs:.2} s, best of 3)",
        mb_s(bytes, secs)
    );

    let py = "import sys, time\nfrom pystdf.IO import Parser\nt = time.time()\n\
              p = Parser(inp=open(sys.argv[1], 'rb'))\np.parse()\nprint(time.time() - t)";
    match std::process::Command::new("python3")
        .args(["-c", py, file.to_str().unwrap()])
        .output()
    {
        Ok(out) if out.status.success() => {
            let secs: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(f64::NAN);
            println!(
                "  pystdf parse:             {:>7.1} MB/s  ({secs:.2} s)",
                mb_s(bytes, secs)
            );
        }
        _ => println!("  pystdf parse:             skipped (pip install pystdf)"),
    }

    let sqlite: Vec<String> = (0..3)
        .map(|i| format!("sqlite://{}", dir.path().join(format!("y{i}.db")).display()))
        .collect();
    pilotline(&sqlite, "sqlite", &file, bytes, wafers).await;
    let admin = std::env::var("PILOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([admin.as_str(), "-qc", sql])
            .status()
            .is_ok_and(|s| s.success())
    };
    if psql("DROP DATABASE IF EXISTS pilotline_bench_yield WITH (FORCE)")
        && psql("CREATE DATABASE pilotline_bench_yield")
    {
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        pilotline(
            &[format!("{base}/pilotline_bench_yield")],
            "postgres",
            &file,
            bytes,
            wafers,
        )
        .await;
        psql("DROP DATABASE IF EXISTS pilotline_bench_yield WITH (FORCE)");
    } else {
        println!("  postgres: skipped (no server at {admin})");
    }
}
