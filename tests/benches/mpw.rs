//! MPW shuttles measured: bookings per second and their latency under 64 concurrent clients
//! over HTTP on SQLite and PostgreSQL (beside lot starts, another one-row-counter write, in the
//! same run and server); the layout of 40 designs (beside 4); and the GDSII precheck of a
//! 200 MB file, its time and peak memory (beside the SHA-256 of the same file, which every
//! upload computes), each in a process of its own.
//!
//! Run: `cargo bench -p pilotline-tests --bench mpw`
//! Env: `BENCH_SECONDS` (per phase, default 10), `BENCH_CLIENTS` (default 64), `BENCH_GDS_MB`
//! (default 200), `BENCH_PARTS` (`booking,layout,precheck`, default all),
//! `PILOTLINE_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres).

use pilotline_app::App;
use pilotline_domain::{Actor, Product, Role, Tenant, TenantStatus};
use pilotline_mpw::layout::{self, Request};
use pilotline_mpw::precheck::{self, LayerKey, Requirements, sample};
use pilotline_mpw::{Field, LineConfig, Offer, ShuttleSpec, ShuttleStatus, Space};
use pilotline_store::WriteOp;
use pilotline_tests::{psql, with_db};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const TENANTS: usize = 8;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn engineer() -> Actor {
    Actor {
        user: "bench-engineer".into(),
        role: Role::Engineer,
        tenant: None,
    }
}

fn line() -> LineConfig {
    serde_json::from_value(json!({
        "stepper_field": {"width_um": 20000, "height_um": 20000},
        "wafer": {"diameter_um": 200000, "edge_exclusion_um": 3000, "orientation": {"kind": "notch"}},
        "time_zone": "Asia/Shanghai",
        "test_structures": [{"name": "PCM", "width_um": 2000, "height_um": 2000}]
    }))
    .unwrap()
}

/// An offer of an 8 × 8 grid with `slots` 1 × 1 slots, and `area_um2` of area.
fn offer(slots: u32, area_um2: i64) -> Value {
    json!({"currency": "CNY", "seal_ring_um": 20, "scribe_um": 80,
           "slots": {"columns": 8, "rows": 8, "shapes": [
               {"id": "1x1", "columns": 1, "rows": 1, "count": slots, "price_minor": 1000000, "dies_delivered": 40}]},
           "area": {"price_per_mm2_minor": 150000, "min_area_um2": 10000, "capacity_um2": area_um2, "dies_delivered": 25},
           "options": []})
}

/// The route, product, tenants with their admins' tokens, the line and an open shuttle `B`
/// with room for every booking the run can make.
async fn seed(app: &App) -> (Vec<String>, String) {
    let eng = engineer();
    let spec = pilotline_store::testing::flat_route("BENCH", "BENCH", 5);
    app.execute(&WriteOp::PutRoute(spec), &eng).await.unwrap();
    let product = Product {
        id: "BENCH-P".into(),
        description: String::new(),
        default_route: "BENCH".into(),
        tenant: None,
    };
    app.execute(&WriteOp::PutProduct(product), &eng)
        .await
        .unwrap();
    app.put_line_config(&line(), &eng).await.unwrap();
    let admin = Actor {
        user: "bench-admin".into(),
        role: Role::Admin,
        tenant: None,
    };
    let mut tokens = Vec::new();
    for t in 0..TENANTS {
        let tenant = Tenant {
            id: format!("t{t}"),
            name: format!("Tenant {t}"),
            status: TenantStatus::Active,
        };
        app.create_tenant(&tenant, &admin).await.unwrap();
        tokens.push(
            app.create_token(&format!("t{t}-admin"), Role::TenantAdmin, Some(&tenant.id))
                .await
                .unwrap(),
        );
    }
    let now = chrono::Utc::now();
    let d = |days: i64| (now + chrono::Duration::days(days)).to_rfc3339();
    let shuttle: ShuttleSpec = serde_json::from_value(json!({
        "id": "B", "name": "Bench shuttle", "route": "BENCH", "product": "BENCH-P", "wafer_count": 2,
        "calendar": {"booking_opens": d(-1), "booking_closes": d(10), "design_deadline": d(20),
                     "drc_freeze": d(25), "fab_start": d(30), "expected_delivery": d(120)},
        "offer": offer(63, 400_000_000)
    }))
    .unwrap();
    app.create_shuttle(&shuttle, &eng).await.unwrap();
    app.set_shuttle_status("B", ShuttleStatus::Open, &eng)
        .await
        .unwrap();
    let engineer = app
        .create_token("bench-engineer", Role::Engineer, None)
        .await
        .unwrap();
    (tokens, engineer)
}

struct Figures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    count: usize,
    errors: usize,
}

/// `clients` closed-loop clients POSTing `body(client, request)` to `path` for `seconds`,
/// client `c` with token `tokens[c % len]`.
async fn drive(
    base: &str,
    path: &str,
    body: fn(usize, usize) -> Value,
    tokens: &[String],
    clients: usize,
    seconds: u64,
    expect: u16,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (url, token) = (format!("{base}{path}"), tokens[c % tokens.len()].clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let body = body(c, latencies.len());
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let ok = matches!(&res, Ok(r) if r.status().as_u16() == expect);
                if let Ok(r) = res {
                    let _ = r.bytes().await;
                }
                latencies.push(t.elapsed().as_micros() as u32);
                errors += usize::from(!ok);
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    Figures {
        rate: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        count: all.len(),
        errors,
    }
}

async fn bookings(db_url: &str, label: &str, seconds: u64, clients: usize) {
    let app = App::open(db_url, &Default::default()).await.unwrap();
    app.migrate().await.unwrap();
    let (tenants, engineer_token) = seed(&app).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_app = app.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        pilotline::serve::run(server_app, listener, shutdown, Default::default())
            .await
            .unwrap();
    });
    let show = |what: &str, f: &Figures| {
        println!(
            "{label:>10}: {:>7.0} {what}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {} errors, {clients} clients, {seconds} s)",
            f.rate, f.p50_ms, f.p99_ms, f.count, f.errors
        );
    };
    // Small area bookings (100 µm square): the one shuttle all clients book has room for
    // about 20,000, so every one is confirmed, and every one contends for the same row.
    let area = |_, _| json!({"space": {"kind": "area", "width_um": 100, "height_um": 100}});
    let b = drive(
        &base,
        "/api/v1/shuttles/B/bookings",
        area,
        &tenants,
        clients,
        seconds,
        201,
    )
    .await;
    show("bookings ", &b);
    // Lot starts with the client's own ids (a write of similar weight: a lot, its 25 wafers
    // and its first event, no shared row).
    let lot = |c, n| json!({"id": format!("L{c}-{n}"), "product": "BENCH-P", "wafer_count": 25});
    let l = drive(
        &base,
        "/api/v1/lots",
        lot,
        &[engineer_token],
        clients,
        seconds,
        201,
    )
    .await;
    show("lot starts", &l);
    let left = app.shuttle("B", &engineer()).await.unwrap();
    let taken: i64 = left.capacity.iter().map(|p| p.taken).sum();
    let each = 140 * 140; // the design with its 20 µm seal ring
    assert_eq!(
        taken as usize,
        (b.count - b.errors) * each,
        "capacity counts every confirmed booking"
    );
    let _ = stop_tx.send(());
    let _ = server.await;
}

/// Median time of `f` over `runs` runs.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn layouts() {
    let line = line();
    let offer: Offer = serde_json::from_value(offer(63, 400_000_000)).unwrap();
    let slot = |n: usize| -> Vec<Request> {
        (0..n)
            .map(|i| Request {
                booking: format!("B{i}"),
                tenant: format!("t{}", i % TENANTS),
                space: Space::Slot { slot: "1x1".into() },
            })
            .collect()
    };
    let area = |n: usize| -> Vec<Request> {
        (0..n)
            .map(|i| Request {
                booking: format!("A{i}"),
                tenant: format!("t{}", i % TENANTS),
                space: Space::Area {
                    width_um: 1_000 + (i as i64 * 137) % 1_500,
                    height_um: 1_000 + (i as i64 * 311) % 1_200,
                },
            })
            .collect()
    };
    for (what, requests) in [
        ("4 slot designs", slot(4)),
        ("40 slot designs", slot(40)),
        ("4 area designs", area(4)),
        ("40 area designs", area(40)),
    ] {
        let l = layout::compute("B", &line, &offer, &requests).unwrap();
        let t = median(51, || {
            layout::compute("B", &line, &offer, &requests).unwrap();
        });
        println!(
            "    layout: {what:>16}: {:>8.2} ms  ({} fields, {} dies on the wafer; median of 51)",
            t.as_secs_f64() * 1000.0,
            l.fields.len(),
            l.dies.len()
        );
    }
}

/// A GDSII file of about `mb` MB: one top cell holding rectangles on two layers.
fn big_design(path: &std::path::Path, mb: usize) {
    // A boundary of five points takes 64 bytes.
    let n = mb * 1_000_000 / 64;
    let side = (n as f64).sqrt().ceil() as i32;
    let mut top = gds21::GdsStruct::new("TOP");
    top.elems.reserve(n);
    for i in 0..n as i32 {
        let (x, y) = ((i % side) * 3, (i / side) * 3);
        top.elems.push(sample::rect(1 + (i % 2) as i16, x, y, 2, 2));
    }
    std::fs::write(path, sample::library(vec![top])).unwrap();
}

/// Peak resident memory of this process, KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// In the child: one measured pass over the file; prints seconds and peak RSS.
fn child(mode: &str, path: &str) {
    let t = Instant::now();
    let detail = match mode {
        "precheck" => {
            let req = Requirements {
                limit: Field {
                    width_um: 20_000,
                    height_um: 20_000,
                },
                seal_ring_um: 20,
                layers: [1, 2]
                    .into_iter()
                    .map(|layer| LayerKey { layer, datatype: 0 })
                    .collect(),
            };
            let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
            let v = precheck::precheck(file, &req);
            assert!(v.passed, "{v:?}");
            "passed".to_string()
        }
        _ => {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            let mut f = std::fs::File::open(path).unwrap();
            std::io::copy(&mut f, &mut h).unwrap();
            hex::encode(h.finalize())[..12].to_string()
        }
    };
    println!("{} {} {detail}", t.elapsed().as_secs_f64(), peak_rss_kib());
}

fn prechecks() {
    let mb = env_or("BENCH_GDS_MB", 200usize);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.gds");
    big_design(&path, mb);
    let size = std::fs::metadata(&path).unwrap().len();
    for mode in ["sha256", "precheck"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--child", mode])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        let secs: f64 = f[0].parse().unwrap();
        let rss: f64 = f[1].parse().unwrap();
        println!(
            "  precheck: {mode:>8} of a {:.0} MB GDSII file: {secs:>6.2} s ({:>6.1} MB/s), peak RSS {:>6.0} MiB ({})",
            size as f64 / 1e6,
            size as f64 / 1e6 / secs,
            rss / 1024.0,
            f[2]
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "booking,layout,precheck".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("Pilotline MPW benchmarks, {cores} cores");
    if parts.contains("booking") {
        let seconds = env_or("BENCH_SECONDS", 10u64);
        let clients = env_or("BENCH_CLIENTS", 64usize);
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        bookings(&sqlite, "sqlite", seconds, clients).await;
        let admin = std::env::var("PILOTLINE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        psql(
            &admin,
            "DROP DATABASE IF EXISTS pilotline_bench_mpw WITH (FORCE)",
        );
        psql(&admin, "CREATE DATABASE pilotline_bench_mpw");
        bookings(
            &with_db(&admin, "pilotline_bench_mpw"),
            "postgres",
            seconds,
            clients,
        )
        .await;
        psql(
            &admin,
            "DROP DATABASE IF EXISTS pilotline_bench_mpw WITH (FORCE)",
        );
    }
    if parts.contains("layout") {
        layouts();
    }
    if parts.contains("precheck") {
        prechecks();
    }
}
