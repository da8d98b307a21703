//! Several `pilotline serve` replicas on one PostgreSQL and the machine's Mosquitto, as separate
//! processes of the release binary:
//! - lot moves/s and latency with 32 clients through one replica and through three (round
//!   robin, as a load balancer would), beside pgbench's TPC-B on the same server in the run;
//! - MQTT samples/s with one collector and with three sharing the stream (`$share/…`);
//! - the take-over time of the singleton jobs and of a SIGKILLed collector's Modbus tools.
//!
//! Run: `cargo build --release -p pilotline && cargo bench -p pilotline-tests --bench replicas`
//! Env: `BENCH_SECONDS` (lot moves per run, default 20), `BENCH_CLIENTS` (default 32),
//! `BENCH_MESSAGES` (MQTT readings per run, default 60000), `BENCH_LEASES` (lease lengths in
//! seconds to time the take-over with, default `15,3`), `PILOTLINE_TEST_POSTGRES_URL`
//! (default postgres://postgres@127.0.0.1:5432/postgres).
//!
//! The MQTT runs use a Mosquitto of this machine started on a free port with
//! `ops/mosquitto/pilotline.conf`, the settings a collector's broker should have (a session's
//! backlog kept, not dropped at Mosquitto's default 1,000 queued messages).

use pilotline_collector::modbus_server::{RegisterMap, serve};
use pilotline_tests::{Running, run, start, token};
use pilotline_tests::{psql, with_db};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const STEPS: usize = 20;
const METERS: usize = 10;
const TOOLS: usize = 6;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh database `name` on the server of `admin`.
fn fresh_db(admin: &str, name: &str) -> String {
    psql(
        admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    psql(admin, &format!("CREATE DATABASE {name}"));
    with_db(admin, name)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] as f64 / 1000.0
}

/// Starts `n` replicas with `env` plus each replica's own `extra(i)`.
async fn replicas(
    n: usize,
    env: &[(&str, String)],
    extra: impl Fn(usize) -> Vec<(&'static str, String)>,
) -> Vec<Running> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut all: Vec<(&str, String)> = env.to_vec();
        all.extend(extra(i));
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.push(start(&["serve"], &all).await);
    }
    out
}

async fn stop(replicas: Vec<Running>) {
    for mut r in replicas {
        let _ = r.child.kill().await;
    }
}

/// 32 clients move lots of their own through `n` replicas for `seconds`: moves/s, p50, p99.
async fn lot_moves(admin: &str, n: usize, clients: usize, seconds: u64) -> f64 {
    let db = fresh_db(admin, "pilotline_bench_replicas");
    let dir = tempfile::tempdir().unwrap();
    let route = dir.path().join("flat.toml");
    let mut text = String::from("id = \"FLAT\"\nname = \"Flat\"\n");
    for s in 0..STEPS {
        text.push_str(&format!(
            "\n[[steps]]\nid = \"S{s:02}\"\nname = \"S{s:02}\"\nstage = \"fabrication\"\n\
             equipment_type = \"FLAT\"\nrecipe = \"R\"\n"
        ));
    }
    std::fs::write(&route, text).unwrap();
    let (ok, out, err) = run(
        &["route", "import", route.to_str().unwrap()],
        &[("PILOTLINE_DATABASE_URL", &db)],
    )
    .await;
    assert!(ok, "route import: {out}{err}");
    let eng = token(&db, "bench-engineer", "engineer", None).await;
    let env = [
        ("PILOTLINE_DATABASE_URL", db.clone()),
        ("PILOTLINE_LISTEN", "127.0.0.1:0".to_string()),
        ("PILOTLINE_LOG", "warn".to_string()),
    ];
    let up = replicas(n, &env, |_| Vec::new()).await;
    let bases: Vec<String> = up.iter().map(|r| r.url.clone()).collect();
    let client = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        let req = client
            .post(format!("{}{path}", bases[0]))
            .bearer_auth(&eng)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
        }
    };
    post(
        "/api/v1/products".into(),
        json!({"id": "FLAT-P", "default_route": "FLAT"}),
    )
    .await;
    for c in 0..clients {
        post(
            "/api/v1/equipment".into(),
            json!({"id": format!("T{c}"), "equipment_type": "FLAT", "description": ""}),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (bases, eng) = (bases.clone(), eng.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut turn = c;
            let mut generation = 0;
            'outer: loop {
                let lot = format!("B{c}x{generation}");
                generation += 1;
                let res = client
                    .post(format!("{}/api/v1/lots", bases[c % bases.len()]))
                    .bearer_auth(&eng)
                    .json(&json!({"id": lot, "product": "FLAT-P", "wafer_count": 25}))
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success(), "start lot: {}", res.status());
                for _ in 0..STEPS {
                    for (action, body) in [
                        ("track-in", json!({"equipment": format!("T{c}")})),
                        ("track-out", json!({})),
                    ] {
                        if Instant::now() >= deadline {
                            break 'outer;
                        }
                        let base = &bases[turn % bases.len()];
                        turn += 1;
                        let t = Instant::now();
                        let res = client
                            .post(format!("{base}/api/v1/lots/{lot}/{action}"))
                            .bearer_auth(&eng)
                            .json(&body)
                            .send()
                            .await;
                        let ok = matches!(&res, Ok(r) if r.status().is_success());
                        if let Ok(r) = res {
                            let _ = r.bytes().await;
                        }
                        lat.push(t.elapsed().as_micros() as u32);
                        errors += usize::from(!ok);
                    }
                }
            }
            (lat, errors)
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
    stop(up).await;
    all.sort_unstable();
    let tps = all.len() as f64 / elapsed;
    println!(
        "  {n} replica(s): {tps:>7.0} lot moves/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} moves, {errors} errors, {clients} clients, {seconds} s)",
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.len()
    );
    psql(
        admin,
        "DROP DATABASE IF EXISTS pilotline_bench_replicas WITH (FORCE)",
    );
    tps
}

/// Removes `client_id`'s session from the broker.
async fn close_session(host: &str, port: u16, client_id: &str) {
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_clean_session(true);
    let (client, mut el) = AsyncClient::new(o, 10);
    while !matches!(
        el.poll().await,
        Ok(Event::Incoming(Packet::ConnAck(_))) | Err(_)
    ) {}
    client.disconnect().await.unwrap();
    while !matches!(
        el.poll().await,
        Err(_) | Ok(Event::Outgoing(Outgoing::Disconnect))
    ) {}
}

/// `messages` QoS 1 readings spread over the meters, published as fast as the broker takes
/// them, stored by `n` collectors sharing the stream: samples/s from the first publish to the
/// last sample stored.
async fn mqtt_ingest(admin: &str, mqtt: &str, n: usize, messages: usize) -> f64 {
    let rest = mqtt.trim_start_matches("mqtt://");
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    let port: u16 = port.parse().unwrap();
    let db = fresh_db(admin, "pilotline_bench_ingest");
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("meter.toml"),
        pilotline_tests::profiles::meter_type("pilotline-bench"),
    )
    .unwrap();
    let tag = format!("b{}n{n}", std::process::id());
    let meters: Vec<String> = (0..METERS).map(|m| format!("M-{tag}-{m}")).collect();
    let mut devices = String::new();
    for m in &meters {
        devices.push_str(&pilotline_tests::profiles::meter_device(m, mqtt));
    }
    std::fs::write(profiles.join("devices.toml"), devices).unwrap();
    let group = format!("bench-{tag}");
    let topics: Vec<String> = meters
        .iter()
        .map(|m| format!("$share/{group}/pilotline-bench/{m}/reading"))
        .collect();
    let ids: Vec<String> = (0..n).map(|i| format!("{tag}-collector-{i}")).collect();
    for id in &ids {
        pilotline_tests::open_mqtt_session(host, port, id, &topics).await;
    }
    let (ok, out, err) = run(&["migrate"], &[("PILOTLINE_DATABASE_URL", &db)]).await;
    assert!(ok, "migrate: {out}{err}");
    let env = [
        ("PILOTLINE_DATABASE_URL", db.clone()),
        ("PILOTLINE_LISTEN", "127.0.0.1:0".to_string()),
        ("PILOTLINE_LOG", "warn".to_string()),
        ("PILOTLINE_ROLES", "collector".to_string()),
        (
            "PILOTLINE_EQUIPMENT_PROFILES",
            profiles.display().to_string(),
        ),
        ("PILOTLINE_MQTT_SHARE_GROUP", group.clone()),
    ];
    let spool = dir.path().to_path_buf();
    let up = replicas(n, &env, |i| {
        vec![
            ("PILOTLINE_MQTT_CLIENT_ID", ids[i].clone()),
            (
                "PILOTLINE_SPOOL_DIR",
                spool.join(format!("spool-{i}")).display().to_string(),
            ),
        ]
    })
    .await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM samples")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let mut o = MqttOptions::new(format!("{tag}-publisher"), host, port);
    o.set_inflight(100);
    let (client, mut el) = AsyncClient::new(o, 1000);
    let pump = tokio::spawn(async move {
        let mut acked = 0;
        while acked < messages {
            if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.expect("broker") {
                acked += 1;
            }
        }
    });
    let base_ms = chrono::Utc::now().timestamp_millis() - 86_400_000;
    let started = Instant::now();
    for k in 0..messages {
        let m = &meters[k % METERS];
        let body = format!(r#"{{"n": {k}, "ts": {}}}"#, base_ms + k as i64);
        client
            .publish(
                format!("pilotline-bench/{m}/reading"),
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await
            .unwrap();
    }
    pump.await.unwrap();
    let published = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    while stored().await < messages as i64 {
        assert!(
            Instant::now() < deadline,
            "not every reading was stored in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "  {n} collector(s): {:>7.0} samples/s stored  ({messages} QoS 1 readings on {METERS} topics; \
         the broker took them at {:.0}/s)",
        messages as f64 / elapsed,
        messages as f64 / published
    );
    stop(up).await;
    for id in &ids {
        close_session(host, port, id).await;
    }
    psql(
        admin,
        "DROP DATABASE IF EXISTS pilotline_bench_ingest WITH (FORCE)",
    );
    messages as f64 / elapsed
}

/// Three replicas with `lease_s`; the one holding the jobs is SIGKILLed: how long until
/// another holds the Q-time monitor, and until each of its Modbus tools is polled again.
async fn take_over(admin: &str, lease_s: u64) {
    let db = fresh_db(admin, "pilotline_bench_takeover");
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("furnace.toml"),
        pilotline_tests::profiles::furnace_type(100),
    )
    .unwrap();
    let mut devices = String::new();
    let mut regs = BTreeMap::new();
    let mut servers = Vec::new();
    for t in 1..=TOOLS {
        let id = format!("FURNACE-{t:02}");
        let map = Arc::new(RegisterMap::new(None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = listener.local_addr().unwrap().port();
        servers.push(serve(listener, map.clone()));
        regs.insert(id.clone(), map);
        devices.push_str(&pilotline_tests::profiles::furnace_device(&id, p));
    }
    std::fs::write(profiles.join("devices.toml"), devices).unwrap();
    let (ok, out, err) = run(&["migrate"], &[("PILOTLINE_DATABASE_URL", &db)]).await;
    assert!(ok, "migrate: {out}{err}");
    let env = [
        ("PILOTLINE_DATABASE_URL", db.clone()),
        ("PILOTLINE_LISTEN", "127.0.0.1:0".to_string()),
        ("PILOTLINE_LOG", "warn".to_string()),
        ("PILOTLINE_LEASE_S", lease_s.to_string()),
        (
            "PILOTLINE_EQUIPMENT_PROFILES",
            profiles.display().to_string(),
        ),
    ];
    let spool = dir.path().to_path_buf();
    let mut up = replicas(3, &env, |i| {
        vec![(
            "PILOTLINE_SPOOL_DIR",
            spool.join(format!("spool-{i}")).display().to_string(),
        )]
    })
    .await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let leases = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT job, holder FROM job_leases WHERE expires_at > now() ORDER BY job",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let pid_of = |holder: &str| {
        holder
            .rsplit('-')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
    };
    // Settled: every tool held, no collector over its share of 2.
    let deadline = Instant::now() + Duration::from_secs(20 * lease_s);
    let held = loop {
        let l = leases().await;
        let tools: Vec<&(String, String)> =
            l.iter().filter(|(j, _)| j.starts_with("modbus:")).collect();
        let mut per: BTreeMap<Option<u32>, usize> = BTreeMap::new();
        for (_, h) in &tools {
            *per.entry(pid_of(h)).or_default() += 1;
        }
        if tools.len() == TOOLS
            && per.len() == 3
            && l.iter().any(|(j, _)| j == pilotline_app::job::QTIME)
        {
            break l;
        }
        assert!(Instant::now() < deadline, "the leases never settled: {l:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let jobs_holder = held
        .iter()
        .find(|(j, _)| j == pilotline_app::job::QTIME)
        .map(|(_, h)| h.clone())
        .unwrap();
    let victim_pid = pid_of(&jobs_holder).unwrap();
    let victim_tools: Vec<String> = held
        .iter()
        .filter(|(j, h)| j.starts_with("modbus:") && pid_of(h) == Some(victim_pid))
        .map(|(j, _)| j.trim_start_matches("modbus:").to_string())
        .collect();
    let victim = up
        .iter()
        .position(|r| r.child.id() == Some(victim_pid))
        .unwrap();
    up[victim].child.kill().await.unwrap();
    let killed = Instant::now();
    let at_kill: BTreeMap<String, u16> = victim_tools
        .iter()
        .map(|t| (t.clone(), regs[t].requests()))
        .collect();
    let mut tools_at = BTreeMap::new();
    let mut jobs_at = None;
    while tools_at.len() < victim_tools.len() || jobs_at.is_none() {
        for t in &victim_tools {
            if !tools_at.contains_key(t) && regs[t].requests() != at_kill[t] {
                tools_at.insert(t.clone(), killed.elapsed().as_secs_f64());
            }
        }
        if jobs_at.is_none() {
            let l = leases().await;
            if l.iter()
                .any(|(j, h)| j == pilotline_app::job::QTIME && *h != jobs_holder)
            {
                jobs_at = Some(killed.elapsed().as_secs_f64());
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10 * lease_s),
            "no take-over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let slowest = tools_at.values().cloned().fold(0.0, f64::max);
    println!(
        "  lease {lease_s:>2} s: jobs taken over after {:.2} s, the dead collector's {} tools polled again after {:.2} s at the latest (stated bound {:.0} s + a poll)",
        jobs_at.unwrap(),
        victim_tools.len(),
        slowest,
        lease_s as f64 + (lease_s as f64 / 3.0).ceil()
    );
    stop(up).await;
    for s in servers {
        s.abort();
    }
    psql(
        admin,
        "DROP DATABASE IF EXISTS pilotline_bench_takeover WITH (FORCE)",
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = pilotline_tests::binary();
    let admin = std::env::var("PILOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/mosquitto/pilotline.conf");
    let broker = pilotline_tests::OwnBroker::start(&conf);
    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    let seconds = env_or("BENCH_SECONDS", 20u64);
    let clients = env_or("BENCH_CLIENTS", 32usize);
    let messages = env_or("BENCH_MESSAGES", 60_000usize);
    let leases: Vec<u64> = std::env::var("BENCH_LEASES")
        .unwrap_or_else(|_| "15,3".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "Pilotline replicas on one PostgreSQL, {cores} cores shared by the replicas, PostgreSQL, \
         Mosquitto and the clients"
    );
    println!("Lot moves through the API:");
    let one = lot_moves(&admin, 1, clients, seconds).await;
    let three = lot_moves(&admin, 3, clients, seconds).await;
    if let Some(tps) = pilotline_tests::pgbench(&admin, seconds, clients) {
        println!(
            "    ratio: 1 replica {:.2} x pgbench, 3 replicas {:.2} x pgbench; 3 / 1 = {:.2}",
            one / tps,
            three / tps,
            three / one
        );
    }
    println!("MQTT readings into PostgreSQL:");
    let one = mqtt_ingest(&admin, &mqtt, 1, messages).await;
    let three = mqtt_ingest(&admin, &mqtt, 3, messages).await;
    println!("    ratio: 3 collectors / 1 = {:.2}", three / one);
    println!("Take-over after a SIGKILL of the replica holding the jobs:");
    for l in leases {
        take_over(&admin, l).await;
    }
}
