//! Collector ingest, beside its references in the same run:
//!
//! 1. **MQTT**: samples/s stored by the collector (`pilotline::collect`, the code path of
//!    `pilotline collect`) into SQLite and into PostgreSQL, while publishers push QoS 1 JSON
//!    messages of 50 points each for 20 tools as fast as the broker takes them; beside the
//!    samples/s a bare rumqttc subscriber receives from the same publishers and broker.
//! 2. **Modbus**: 200 simulated tools (`pilotline simulate`, another process) × 50 holding
//!    registers polled at 1 s by the collector into SQLite: CPU used (share of one core),
//!    peak memory, samples stored per second.
//!
//! Run: `cargo build --release -p pilotline && cargo bench -p pilotline-tests --bench ingest`
//! Env: `BENCH_SECONDS` (default 15), `PILOTLINE_TEST_MQTT_URL` (default mqtt://127.0.0.1:1883),
//! `PILOTLINE_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres),
//! `BENCH_MODBUS_TOOLS` (default 200), `BENCH_PART` (`mqtt`, `modbus`, default both),
//! `BENCH_RATES` (messages/s, e.g. `2000,4000,max`), `BENCH_MOSQUITTO_CONF` (start this machine's
//! Mosquitto with those settings, e.g. `ops/mosquitto/pilotline.conf`, instead of using the
//! broker at `PILOTLINE_TEST_MQTT_URL`).
//!
//! Each collector run also counts what was lost: the samples of every message the broker
//! acknowledged to the publishers, against those stored once the collector has drained.

use pilotline_collector::metrics::METRICS;
use pilotline_store::Store;
use pilotline_tests::psql;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const TOOLS: usize = 20;
const POINTS: usize = 50;
const PUBLISHERS: usize = 2;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn broker() -> (String, String, u16) {
    let url =
        std::env::var("PILOTLINE_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let (host, port) = pilotline_collector::mqtt::broker_address(&url).unwrap();
    (url, host, port)
}

fn topic(run: &str, tool: usize) -> String {
    format!("pilotline-bench/{run}/T{tool:03}/data")
}

/// A type of `POINTS` JSON points on one topic, and `TOOLS` tools of it.
fn write_mqtt_profiles(dir: &Path, url: &str, run: &str) {
    let mut ty = String::from(
        "[device_type]\nid = \"bench\"\nequipment_type = \"BENCH\"\nprotocol = \"mqtt\"\n",
    );
    for p in 0..POINTS {
        ty.push_str(&format!(
            "\n[[point]]\nname = \"v{p}\"\ntopic = \"pilotline-bench/{run}/{{device}}/data\"\ncodec = \"json\"\npointer = \"/v{p}\"\n"
        ));
    }
    std::fs::write(dir.join("bench.toml"), ty).unwrap();
    let mut devices = String::new();
    for t in 0..TOOLS {
        devices.push_str(&format!(
            "[[device]]\nid = \"T{t:03}\"\ntype = \"bench\"\ntransport = {{ kind = \"mqtt\", broker = \"{url}\" }}\n\n"
        ));
    }
    std::fs::write(dir.join("devices.toml"), devices).unwrap();
}

/// Publishes to the tools' topics (QoS 1, 100 in flight per publisher) until `stop`: at `rate`
/// messages/s in all, or as fast as the broker acknowledges. Returns the messages acknowledged.
async fn publish(
    host: &str,
    port: u16,
    run: &str,
    rate: Option<u64>,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let (host, run, stop) = (host.to_string(), run.to_string(), stop.clone());
        // Paced: a burst every 10 ms.
        let per_tick = rate.map(|r| (r / PUBLISHERS as u64 / 100).max(1));
        tasks.push(tokio::spawn(async move {
            let mut o = MqttOptions::new(format!("bench-pub-{run}-{p}"), host, port);
            o.set_inflight(100).set_max_packet_size(1 << 20, 1 << 20);
            let (client, mut el) = AsyncClient::new(o, 200);
            let acked = Arc::new(AtomicU64::new(0));
            let counter = acked.clone();
            let pump = tokio::spawn(async move {
                while let Ok(e) = el.poll().await {
                    if let Event::Incoming(Packet::PubAck(_)) = e {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let mut n: u64 = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                if let Some(burst) = per_tick
                    && n.is_multiple_of(burst)
                {
                    tick.tick().await;
                }
                let tool = (n as usize * PUBLISHERS + p) % TOOLS;
                let mut body = String::with_capacity(POINTS * 16);
                body.push('{');
                for k in 0..POINTS {
                    if k > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!("\"v{k}\":{}.{}", n, k));
                }
                body.push('}');
                if client
                    .publish(topic(&run, tool), QoS::AtLeastOnce, false, body)
                    .await
                    .is_err()
                {
                    break;
                }
                n += 1;
            }
            let _ = client.disconnect().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            pump.abort();
            acked.load(Ordering::Relaxed)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

/// Samples/s a bare subscriber (QoS 1, acknowledging at once) receives.
async fn bare(host: &str, port: u16, rate: Option<u64>, seconds: u64) -> f64 {
    let run = format!("bare{}", std::process::id());
    let mut o = MqttOptions::new(format!("bench-bare-{run}"), host, port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 100);
    client
        .subscribe(format!("pilotline-bench/{run}/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Ok(Event::Incoming(Packet::SubAck(_))) = el.poll().await {
            break;
        }
    }
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let pump = tokio::spawn(async move {
        while let Ok(e) = el.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                // Count the points as the collector would find them.
                let doc: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                counter.fetch_add(
                    doc.as_object().map_or(0, |o| o.len()) as u64,
                    Ordering::Relaxed,
                );
            }
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn(publish_named(
        host.to_string(),
        port,
        run,
        rate,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = (received.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let rate =
        (received.load(Ordering::Relaxed) - start.0) as f64 / start.1.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();
    pump.abort();
    rate
}

async fn publish_named(
    host: String,
    port: u16,
    run: String,
    rate: Option<u64>,
    stop: Arc<AtomicBool>,
) -> u64 {
    publish(&host, port, &run, rate, stop).await
}

/// Samples/s the collector stores into `db_url` from the same publishers.
async fn collector(
    (url, host, port): (&str, &str, u16),
    db_url: &str,
    label: &str,
    rate: Option<u64>,
    seconds: u64,
) -> Ingest {
    let run = format!("{label}{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    write_mqtt_profiles(dir.path(), url, &run);
    let store = Store::open(db_url).await.unwrap();
    store.migrate().await.unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let options = pilotline::collect::Options {
        catalogue: None,
        profiles: dir.path().to_path_buf(),
        spool_dir: dir.path().join("spool"),
        mqtt_broker: None,
        client_id: format!("bench-collector-{run}"),
        share_group: None,
        holder: None,
        lease: pilotline_app::DEFAULT_LEASE,
    };
    let baseline = METRICS.samples.get();
    let task =
        pilotline::collect::start(pilotline_app::App::new(store.clone()), &options, stop).unwrap();
    // Let the collector subscribe before the publishers start.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pub_stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn(publish_named(
        host.to_string(),
        port,
        run.clone(),
        rate,
        pub_stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = (METRICS.samples.get(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let rate = (METRICS.samples.get() - start.0) as f64 / start.1.elapsed().as_secs_f64();
    pub_stop.store(true, Ordering::Relaxed);
    let acked = publisher.await.unwrap();
    // Every acknowledged message's samples must end up stored: wait until the count stops
    // growing (the collector drains what the broker queued), then count.
    let offered = acked * POINTS as u64;
    let mut last = (METRICS.samples.get(), Instant::now());
    while METRICS.samples.get() - baseline < offered && last.1.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if METRICS.samples.get() != last.0 {
            last = (METRICS.samples.get(), Instant::now());
        }
    }
    let stored = METRICS.samples.get() - baseline;
    let _ = stop_tx.send(true);
    let _ = task.await;
    store.close().await;
    Ingest {
        rate,
        offered,
        stored,
    }
}

/// What one collector run stored.
struct Ingest {
    /// Samples/s stored while the publishers ran.
    rate: f64,
    /// Samples the broker acknowledged to the publishers.
    offered: u64,
    /// Samples stored in all, after the collector drained.
    stored: u64,
}

async fn mqtt_part(seconds: u64) {
    // `BENCH_MOSQUITTO_CONF`: run against a Mosquitto started with those settings instead.
    // A relative path is taken from the workspace's top (cargo runs benches in `tests/`).
    let conf = std::env::var_os("BENCH_MOSQUITTO_CONF").map(|c| {
        let c = std::path::PathBuf::from(c);
        if c.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(c)
        } else {
            c
        }
    });
    let own = conf.as_deref().map(pilotline_tests::OwnBroker::start);
    let (url, host, port) = match &own {
        Some(b) => (
            format!("mqtt://127.0.0.1:{}", b.port),
            "127.0.0.1".to_string(),
            b.port,
        ),
        None => broker(),
    };
    if let Some(c) = std::env::var_os("BENCH_MOSQUITTO_CONF") {
        println!(
            "  (this machine's Mosquitto started with {})",
            Path::new(&c).display()
        );
    }
    // Offered loads in messages/s (x 50 samples), then flat out.
    let rates: Vec<Option<u64>> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "2000,4000,8000,max".into())
        .split(',')
        .map(|r| r.trim().parse().ok())
        .collect();
    println!(
        "MQTT ingest: {TOOLS} tools x {POINTS} points per QoS 1 JSON message, {PUBLISHERS} publishers, {seconds} s per run, broker {url}"
    );
    let admin = std::env::var("PILOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    for rate in rates {
        let offered = match rate {
            Some(r) => format!("{} samples/s offered", r * POINTS as u64),
            None => "publishers flat out".into(),
        };
        println!("  -- {offered}");
        let reference = bare(&host, port, rate, seconds).await;
        println!("     bare subscriber:    {reference:>9.0} samples/s received");
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("ingest.db").display());
        let lite = collector((&url, &host, port), &sqlite, "sqlite", rate, seconds).await;
        println!(
            "     collector sqlite:   {:>9.0} samples/s stored ({:.2} x bare); {} published, {} stored, {} lost",
            lite.rate,
            lite.rate / reference,
            lite.offered,
            lite.stored,
            lite.offered.saturating_sub(lite.stored)
        );
        psql(
            &admin,
            "DROP DATABASE IF EXISTS pilotline_bench_ingest WITH (FORCE)",
        );
        psql(&admin, "CREATE DATABASE pilotline_bench_ingest");
        let pg_url = format!("{base}/pilotline_bench_ingest");
        let pg = collector((&url, &host, port), &pg_url, "pg", rate, seconds).await;
        psql(
            &admin,
            "DROP DATABASE IF EXISTS pilotline_bench_ingest WITH (FORCE)",
        );
        println!(
            "     collector postgres: {:>9.0} samples/s stored ({:.2} x bare); {} published, {} stored, {} lost",
            pg.rate,
            pg.rate / reference,
            pg.offered,
            pg.stored,
            pg.offered.saturating_sub(pg.stored)
        );
    }
}

/// CPU seconds (user + system) and peak RSS in MiB of process `pid`, from /proc.
fn proc_usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu / ticks, hwm_kb / 1024.0)
}

fn release_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("pilotline");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p pilotline first",
        bin.display()
    );
    bin
}

async fn modbus_part(seconds: u64) {
    let tools: usize = env_or("BENCH_MODBUS_TOOLS", 200);
    let registers = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut ty = String::from(
        "[device_type]\nid = \"bench-modbus\"\nequipment_type = \"BENCH\"\nprotocol = \"modbus\"\n\n[[poll_group]]\nname = \"fast\"\ninterval_ms = 1000\n",
    );
    for r in 0..registers {
        ty.push_str(&format!(
            "\n[[point]]\nname = \"r{r}\"\narea = \"holding\"\naddress = {r}\ntype = \"u16\"\npoll_group = \"fast\"\n"
        ));
    }
    std::fs::write(dir.path().join("bench.toml"), ty).unwrap();
    let base_port = 21000 + (std::process::id() % 20_000) as u16;
    let mut devices = String::new();
    for t in 0..tools {
        devices.push_str(&format!(
            "[[device]]\nid = \"M{t:03}\"\ntype = \"bench-modbus\"\nunit_id = 1\ntransport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {} }}\n\n",
            base_port + t as u16
        ));
    }
    std::fs::write(dir.path().join("devices.toml"), devices).unwrap();
    let bin = release_binary();
    let mut sim = tokio::process::Command::new(&bin)
        .args(["simulate", dir.path().to_str().unwrap()])
        .env("PILOTLINE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = dir.path().join("modbus.db");
    let mut collector = tokio::process::Command::new(&bin)
        .args(["collect", "--profiles", dir.path().to_str().unwrap()])
        .env(
            "PILOTLINE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("PILOTLINE_SPOOL_DIR", dir.path().join("spool"))
        .env("PILOTLINE_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = collector.id().unwrap();
    // Warm up: connections made, first cycles stored.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let store = Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let count = |store: Store| async move {
        let mut n = 0usize;
        for t in 0..tools {
            n += store
                .samples(&format!("M{t:03}"), Some("r0"), None, None, None, 100_000)
                .await
                .map(|s| s.samples.len())
                .unwrap_or(0);
        }
        n
    };
    let (cpu0, _) = proc_usage(pid);
    let polls0 = count(store.clone()).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, hwm) = proc_usage(pid);
    let elapsed = t0.elapsed().as_secs_f64();
    let polls1 = count(store.clone()).await;
    let cycles = (polls1 - polls0) as f64 / elapsed;
    println!(
        "Modbus polling: {tools} simulated tools x {registers} holding registers at 1 s, collector into SQLite, {seconds} s"
    );
    println!(
        "  collector CPU: {:.1} % of one core; peak RSS {hwm:.1} MiB; {cycles:.0} tool polls/s ({:.0} samples/s) of {tools} expected",
        (cpu1 - cpu0) / elapsed * 100.0,
        cycles * registers as f64
    );
    let _ = collector.kill().await;
    let _ = sim.kill().await;
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_or("BENCH_SECONDS", 15u64);
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    println!(
        "Pilotline collector ingest, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if part.is_empty() || part == "mqtt" {
        mqtt_part(seconds).await;
    }
    if part.is_empty() || part == "modbus" {
        modbus_part(seconds.max(30)).await;
    }
}
