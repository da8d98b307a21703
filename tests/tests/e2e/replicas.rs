//! Three `pilotline serve` replicas on one PostgreSQL and the real Mosquitto, with the load
//! spread over all three: clients move lots through whichever replica answers, MQTT meters
//! publish QoS 1 readings that the replicas' collectors split through a shared subscription,
//! six Modbus tools are shared out by leases, and lots wait out Q-time windows. One replica —
//! the one running the singleton jobs — is SIGKILLed mid-run, then restarted as its
//! supervisor would (same MQTT client id). Afterwards:
//! - every lot transaction a client saw acknowledged is in the lots' histories, once;
//! - every reading the broker acknowledged is stored, once;
//! - every lot whose Q-time window closed is held for it exactly once;
//! - the dead replica's Modbus tools are polled again by the others within the lease's
//!   take-over time, and another replica takes the jobs over.

use pilotline_collector::modbus_server::{RegisterMap, serve};
use pilotline_store::Store;
use pilotline_tests::{Running, postgres_url, run, start, token};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, RwLock};

/// Lease length the replicas run with: a dead replica's jobs and tools are taken over within
/// this plus a third of it (a heartbeat).
const LEASE_S: u64 = 3;
/// Clients moving lots.
const MOVERS: usize = 6;
/// Steps of the movers' route (a track-in and a track-out each).
const STEPS: usize = 8;
/// Lots that wait out a 1-minute Q-time window.
const QTIME_LOTS: usize = 6;
/// MQTT meters, and readings each publishes a second.
const METERS: usize = 3;
const RATE: u64 = 50;
/// Modbus tools.
const TOOLS: usize = 6;

fn route(id: &str, steps: &[(&str, &str, Option<u32>)]) -> String {
    let mut out = format!("id = \"{id}\"\nname = \"{id}\"\n");
    for (step, ty, qtime) in steps {
        out.push_str(&format!(
            "\n[[steps]]\nid = \"{step}\"\nname = \"{step}\"\nstage = \"fabrication\"\n\
             equipment_type = \"{ty}\"\nrecipe = \"R-{step}\"\n"
        ));
        if let Some(m) = qtime {
            out.push_str(&format!(
                "qtime_max_minutes = {m}\nqtime_action = \"hold\"\n"
            ));
        }
    }
    out
}

/// The API addresses of the live replicas, as a load balancer would know them.
type Bases = Arc<RwLock<Vec<String>>>;

/// Sends a mutation with `key` to the replicas in turn until one acknowledges it. A refused
/// request fails the test; a lost connection or a 5xx is retried on the next replica with the
/// same key, as a client behind a load balancer does.
async fn send(
    client: &reqwest::Client,
    bases: &Bases,
    token: &str,
    path: &str,
    body: Value,
    key: &str,
    turn: &AtomicUsize,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (i, base) = {
            let bases = bases.read().await;
            let i = turn.fetch_add(1, Ordering::Relaxed) % bases.len();
            (i, bases[i].clone())
        };
        let res = client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return i,
            Ok(r) if r.status().is_server_error() => {}
            // The same key still being processed elsewhere: the refusal says to retry.
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => {
                let problem: Value = r.json().await.unwrap_or_default();
                assert_eq!(
                    problem["code"], "idempotency_key_in_flight",
                    "{path}: refused {problem}"
                );
            }
            Ok(r) => {
                let status = r.status();
                panic!("{path}: {status} {}", r.text().await.unwrap_or_default());
            }
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "{path}: no replica acknowledged it in 60 s"
        );
        // A replica that is gone refuses the connection at once; the next try goes to another,
        // after a breath so a client does not spin while the replicas are busy.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One acknowledged lot transaction: lot, step, `tracked_in` or `tracked_out`.
type Acked = (String, String, &'static str);

/// Moves lots of its own through the route until `stop`, on tools of its own.
async fn mover(
    i: usize,
    bases: Bases,
    token: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
    per_replica: Arc<Mutex<BTreeMap<String, usize>>>,
) {
    let client = reqwest::Client::new();
    let turn = AtomicUsize::new(i);
    // A steady load (40 transactions a second per client), not a flood: the other tests of
    // this binary run beside it.
    let mut pace = tokio::time::interval(Duration::from_millis(25));
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let lot = format!("RM{i}-{n:04}");
        n += 1;
        let start = json!({"id": lot, "product": "REPL-MOVE", "wafer_count": 1});
        send(
            &client,
            &bases,
            &token,
            "/api/v1/lots",
            start,
            &format!("{lot}-start"),
            &turn,
        )
        .await;
        for s in 0..STEPS {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let step = format!("M{:03}", (s + 1) * 10);
            let tool = format!("MOVE-{}-{i:02}", ["A", "B"][s % 2]);
            for (kind, path, body) in [
                ("tracked_in", "track-in", json!({"equipment": tool})),
                ("tracked_out", "track-out", json!({})),
            ] {
                pace.tick().await;
                let key = format!("{lot}-{step}-{path}");
                let path = format!("/api/v1/lots/{lot}/{path}");
                let replica = send(&client, &bases, &token, &path, body, &key, &turn).await;
                let base = bases.read().await.get(replica).cloned().unwrap_or_default();
                *per_replica.lock().await.entry(base).or_default() += 1;
                acked.lock().await.push((lot.clone(), step.clone(), kind));
            }
        }
    }
}

/// Publishes readings `{"n": k, "ts": base + k}` on meter `name`'s topic at QoS 1, `RATE` a
/// second, until `stop`, counting each sent into `sent`; returns how many the broker
/// acknowledged (all of them, k = 0..).
async fn meter(
    host: String,
    port: u16,
    name: String,
    base_ms: i64,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) -> i64 {
    let topic = format!("pilotline-replicas/{name}/reading");
    let mut o = MqttOptions::new(format!("{name}-publisher"), host, port);
    o.set_inflight(100);
    let (client, mut el) = AsyncClient::new(o, 100);
    let acked = Arc::new(AtomicUsize::new(0));
    let counted = acked.clone();
    let pump = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => panic!("publisher lost the broker: {e}"),
            }
        }
    });
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let body = format!(r#"{{"n": {k}, "ts": {}}}"#, base_ms + k);
        client
            .publish(&topic, QoS::AtLeastOnce, false, body)
            .await
            .unwrap();
        sent.fetch_add(1, Ordering::SeqCst);
        k += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (acked.load(Ordering::SeqCst) as i64) < k {
        assert!(
            Instant::now() < deadline,
            "the broker did not acknowledge every reading"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
    k
}

/// The unexpired leases whose job starts with `prefix`, and their holders, as an operator
/// would query them.
async fn holders(pool: &sqlx::PgPool, prefix: &str) -> Vec<(String, String)> {
    sqlx::query_as::<_, (String, String)>(
        "SELECT job, holder FROM job_leases WHERE job LIKE $1 || '%' \
         AND expires_at > now() ORDER BY job",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_nothing_when_one_is_killed() {
    let Some((mqtt_url, host, port)) =
        pilotline_tests::test_broker("three_replicas_lose_nothing_when_one_is_killed")
    else {
        return;
    };
    let Some((db_url, _guard)) =
        postgres_url("three_replicas_lose_nothing_when_one_is_killed").await
    else {
        return;
    };
    let tag = format!("r{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();

    // Routes, products, tools.
    let mut steps: Vec<(String, &str)> = Vec::new();
    for s in 0..STEPS {
        steps.push((format!("M{:03}", (s + 1) * 10), ["MOVE-A", "MOVE-B"][s % 2]));
    }
    let steps: Vec<(&str, &str, Option<u32>)> =
        steps.iter().map(|(s, t)| (s.as_str(), *t, None)).collect();
    let files = [
        ("move.toml", route("REPL-MOVE", &steps)),
        (
            "qtime.toml",
            route(
                "REPL-QT",
                &[("Q010", "QT-A", Some(1)), ("Q020", "QT-B", None)],
            ),
        ),
    ];
    let env = [("PILOTLINE_DATABASE_URL", db_url.as_str())];
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = run(&["route", "import", path.to_str().unwrap()], &env).await;
        assert!(ok, "route import {name}: {out}{err}");
    }
    let eng = token(&db_url, "erin", "engineer", None).await;

    // The Modbus tools and the meters' profiles.
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("furnace.toml"),
        pilotline_tests::profiles::furnace_type(200),
    )
    .unwrap();
    std::fs::write(
        profiles.join("meter.toml"),
        pilotline_tests::profiles::meter_type("pilotline-replicas"),
    )
    .unwrap();
    let mut devices = String::new();
    let mut regs = BTreeMap::new();
    for t in 1..=TOOLS {
        let id = format!("FURNACE-{t:02}");
        let map = Arc::new(RegisterMap::new(None));
        map.set_holding(1, 1000 + t as u16);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = listener.local_addr().unwrap().port();
        let _server = serve(listener, map.clone());
        regs.insert(id.clone(), map);
        devices.push_str(&pilotline_tests::profiles::furnace_device(&id, p));
    }
    let meters: Vec<String> = (1..=METERS).map(|m| format!("METER-{tag}-{m}")).collect();
    for m in &meters {
        devices.push_str(&pilotline_tests::profiles::meter_device(m, &mqtt_url));
    }
    std::fs::write(profiles.join("devices.toml"), devices).unwrap();

    // Each replica's collector has a stable client id and subscribes in the share group
    // itself. The first one's session is kept from before the line shared the stream: it
    // holds the plain subscriptions, which the collector must drop for the shared ones.
    let group = format!("pilotline-{tag}");
    let plain: Vec<String> = meters
        .iter()
        .map(|m| format!("pilotline-replicas/{m}/reading"))
        .collect();
    let client_ids: Vec<String> = (0..3).map(|i| format!("{tag}-replica-{i}")).collect();
    pilotline_tests::open_mqtt_session(&host, port, &client_ids[0], &plain).await;
    let lease = LEASE_S.to_string();
    let replica_env = |i: usize| -> Vec<(String, String)> {
        vec![
            ("PILOTLINE_DATABASE_URL".into(), db_url.clone()),
            ("PILOTLINE_LISTEN".into(), "127.0.0.1:0".into()),
            (
                "PILOTLINE_EQUIPMENT_PROFILES".into(),
                profiles.display().to_string(),
            ),
            (
                "PILOTLINE_SPOOL_DIR".into(),
                dir.path().join(format!("spool-{i}")).display().to_string(),
            ),
            ("PILOTLINE_MQTT_CLIENT_ID".into(), client_ids[i].clone()),
            ("PILOTLINE_MQTT_SHARE_GROUP".into(), group.clone()),
            ("PILOTLINE_LEASE_S".into(), lease.clone()),
            ("PILOTLINE_QTIME_CHECK_INTERVAL_S".into(), "1".into()),
            ("PILOTLINE_MAX_CONNECTIONS".into(), "6".into()),
        ]
    };
    let launch = |i: usize| {
        let env = replica_env(i);
        async move {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            start(&["serve"], &env).await
        }
    };
    let mut replicas: Vec<Running> = Vec::new();
    for i in 0..3 {
        replicas.push(launch(i).await);
    }
    let bases: Bases = Arc::new(RwLock::new(
        replicas.iter().map(|r| r.url.clone()).collect(),
    ));
    let client = reqwest::Client::new();
    let first = replicas[0].url.clone();
    let post = |path: &str, body: Value| {
        let req = client
            .post(format!("{first}{path}"))
            .bearer_auth(&eng)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            assert!(
                status.is_success(),
                "{status}: {}",
                res.text().await.unwrap()
            );
        }
    };
    post(
        "/api/v1/products",
        json!({"id": "REPL-MOVE", "default_route": "REPL-MOVE"}),
    )
    .await;
    post(
        "/api/v1/products",
        json!({"id": "REPL-QT", "default_route": "REPL-QT"}),
    )
    .await;
    let mut tools: Vec<(String, &str)> =
        vec![("QT-A-01".into(), "QT-A"), ("QT-B-01".into(), "QT-B")];
    for i in 0..MOVERS {
        tools.push((format!("MOVE-A-{i:02}"), "MOVE-A"));
        tools.push((format!("MOVE-B-{i:02}"), "MOVE-B"));
    }
    for t in 1..=TOOLS {
        tools.push((format!("FURNACE-{t:02}"), "FURNACE"));
    }
    for m in &meters {
        tools.push((m.clone(), "METER"));
    }
    for (id, ty) in &tools {
        post(
            "/api/v1/equipment",
            json!({"id": id, "equipment_type": ty, "description": ""}),
        )
        .await;
    }
    for q in 0..QTIME_LOTS {
        post(
            "/api/v1/lots",
            json!({"id": format!("QL{q}"), "product": "REPL-QT", "wafer_count": 1}),
        )
        .await;
    }
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let store = Store::open(&db_url).await.unwrap();

    // The load: lot moves through every replica, readings through the broker.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let per_replica: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let mut movers = Vec::new();
    for i in 0..MOVERS {
        movers.push(tokio::spawn(mover(
            i,
            bases.clone(),
            eng.clone(),
            stop.clone(),
            acked.clone(),
            per_replica.clone(),
        )));
    }
    let base_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let mut publishers = Vec::new();
    let sent: Vec<Arc<AtomicUsize>> = meters.iter().map(|_| Arc::default()).collect();
    let sent_total = || sent.iter().map(|c| c.load(Ordering::SeqCst)).sum::<usize>() as f64;
    for (m, sent) in meters.iter().zip(&sent) {
        publishers.push(tokio::spawn(meter(
            host.clone(),
            port,
            m.clone(),
            base_ms,
            stop.clone(),
            sent.clone(),
        )));
    }

    // The Q-time lots leave Q010 three seconds apart: their windows close a minute later,
    // before and after the kill.
    let started = Instant::now();
    let turn = AtomicUsize::new(0);
    for q in 0..QTIME_LOTS {
        let lot = format!("QL{q}");
        for (path, body) in [
            ("track-in", json!({"equipment": "QT-A-01"})),
            ("track-out", json!({})),
        ] {
            let key = format!("{lot}-{path}");
            let p = format!("/api/v1/lots/{lot}/{path}");
            send(&client, &bases, &eng, &p, body, &key, &turn).await;
        }
        tokio::time::sleep_until((started + Duration::from_secs(3 * (q as u64 + 1))).into()).await;
    }
    // Every replica takes part: lot moves and readings reach all three. From then on every
    // collector is subscribed, and every reading the broker acknowledges must be stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (from, received_from, sent_from) = loop {
        let spread = per_replica.lock().await.clone();
        let mqtt = mqtt_messages(&client, &replicas, &eng).await;
        let api_ok = replicas
            .iter()
            .all(|r| spread.get(&r.url).is_some_and(|&n| n > 0));
        if api_ok && mqtt.iter().all(|&n| n > 0.0) {
            eprintln!(
                "replicas: lot moves per replica {spread:?}; MQTT messages per collector {mqtt:?}"
            );
            let from: Vec<i64> = sent
                .iter()
                .map(|c| c.load(Ordering::SeqCst) as i64)
                .collect();
            break (from, mqtt.iter().sum::<f64>(), sent_total());
        }
        assert!(
            Instant::now() < deadline,
            "the load did not reach every replica: moves {spread:?}, MQTT messages {mqtt:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The victim: the replica running the Q-time monitor, two windows after the first closed.
    tokio::time::sleep_until((started + Duration::from_secs(60 + 3 * 2 + 2)).into()).await;
    // Split, not copied: since all three subscribed, the collectors together received about
    // what was sent (a few in flight either side), not three times it.
    let received = mqtt_messages(&client, &replicas, &eng)
        .await
        .iter()
        .sum::<f64>()
        - received_from;
    let sent_since = sent_total() - sent_from;
    assert!(
        received <= sent_since + 30.0 && received >= sent_since - 30.0,
        "the collectors received {received} messages of {sent_since} sent: the stream was not split"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let jobs = loop {
        // One holder, unless a heartbeat is late at this instant.
        let jobs = holders(&pool, pilotline_app::job::QTIME).await;
        if jobs.len() == 1 {
            break jobs;
        }
        assert!(Instant::now() < deadline, "one Q-time monitor: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Holder ids name the process (`{host}-{pid}-{random}`); its jobs and its collector
    // each have one of their own.
    let pid_of = |holder: &str| {
        holder
            .rsplit('-')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
    };
    let victim_pid = pid_of(&jobs[0].1).expect("a holder id with a process id");
    let victim = replicas
        .iter()
        .position(|r| r.child.id() == Some(victim_pid))
        .expect("a replica holds the Q-time monitor");
    let victim_holder = jobs[0].1.clone();
    let victim_tools: Vec<String> = holders(&pool, "modbus:")
        .await
        .into_iter()
        .filter(|(_, h)| pid_of(h) == Some(victim_pid))
        .map(|(j, _)| j.trim_start_matches("modbus:").to_string())
        .collect();
    assert!(
        !victim_tools.is_empty(),
        "the victim polls some of the Modbus tools"
    );
    let held_before: usize = {
        let mut n = 0;
        for q in 0..QTIME_LOTS {
            n += qtime_holds(&client, &first, &eng, &format!("QL{q}")).await;
        }
        n
    };
    let victim_url = replicas[victim].url.clone();
    replicas[victim].child.kill().await.unwrap();
    let killed = Instant::now();
    bases.write().await.retain(|b| *b != victim_url);
    // A request the victim sent just before it died may still be served: counts are taken
    // once that has had time to land (well before any lease can lapse).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let polls_at_kill: BTreeMap<&String, u16> = victim_tools
        .iter()
        .map(|t| (t, regs[t].requests()))
        .collect();
    eprintln!(
        "replicas: killed replica {victim} (jobs and tools {victim_tools:?}) with {held_before} \
         Q-time hold(s) placed"
    );

    // Its tools are polled again by the others, and its jobs taken over.
    let take_over = Duration::from_secs(LEASE_S + LEASE_S.div_ceil(3));
    let mut repolled = BTreeMap::new();
    let mut jobs_taken = None;
    let limit = take_over + Duration::from_secs(10);
    while repolled.len() < victim_tools.len() || jobs_taken.is_none() {
        for t in &victim_tools {
            // A counter of 16 bits: any change is a new request.
            if !repolled.contains_key(t) && regs[t].requests() != polls_at_kill[t] {
                repolled.insert(t.clone(), killed.elapsed());
            }
        }
        if jobs_taken.is_none() {
            let now = holders(&pool, pilotline_app::job::QTIME).await;
            if now.len() == 1 && now[0].1 != victim_holder {
                jobs_taken = Some(killed.elapsed());
            }
        }
        assert!(
            killed.elapsed() < limit,
            "not taken over within {limit:?}: tools {repolled:?}, jobs {jobs_taken:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let slowest = repolled.values().max().copied().unwrap();
    eprintln!(
        "replicas: the dead replica's tools polled again after {repolled:?}; its jobs taken \
         over after {jobs_taken:?} (stated take-over time {take_over:?} + a poll)"
    );
    assert!(
        slowest <= take_over + Duration::from_secs(2),
        "tools taken over after {slowest:?}, beyond {take_over:?} and a poll"
    );

    // The supervisor restarts it, with its MQTT session: the readings the broker queued for
    // it arrive now.
    replicas[victim] = launch(victim).await;
    bases.write().await.push(replicas[victim].url.clone());

    // The load runs until the last Q-time window has closed and been seen to.
    tokio::time::sleep_until(
        (started + Duration::from_secs(60 + 3 * QTIME_LOTS as u64 + 4)).into(),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for m in movers {
        m.await.unwrap();
    }
    let mut published = Vec::new();
    for p in publishers {
        published.push(p.await.unwrap());
    }

    // Every acknowledged lot transaction, once.
    let acked = acked.lock().await.clone();
    let mut by_lot: BTreeMap<String, BTreeSet<(String, &str)>> = BTreeMap::new();
    for (lot, step, kind) in &acked {
        assert!(
            by_lot
                .entry(lot.clone())
                .or_default()
                .insert((step.clone(), kind)),
            "{lot} {step} {kind} acknowledged twice"
        );
    }
    let base = bases.read().await[0].clone();
    for (lot, want) in &by_lot {
        let history =
            pilotline_tests::get_json(&client, &format!("{base}/api/v1/lots/{lot}/history"), &eng)
                .await;
        let mut got = BTreeSet::new();
        for e in history.as_array().unwrap() {
            let kind = e["change"]["type"].as_str().unwrap_or_default();
            let kind = match kind {
                "tracked_in" => "tracked_in",
                "tracked_out" => "tracked_out",
                _ => continue,
            };
            let step = e["change"]["step"].as_str().unwrap().to_string();
            assert!(
                got.insert((step.clone(), kind)),
                "{lot}: {step} {kind} stored twice"
            );
        }
        assert_eq!(
            &got, want,
            "{lot}: the history is not what was acknowledged"
        );
    }

    // Every Q-time window that closed, held exactly once (the monitor checks every second;
    // on a loaded machine the last hold may come a little after the load stops).
    for q in 0..QTIME_LOTS {
        let lot = format!("QL{q}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while qtime_holds(&client, &base, &eng, &lot).await == 0 {
            assert!(
                Instant::now() < deadline,
                "{lot}: never held for its Q-time"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for q in 0..QTIME_LOTS {
        let lot = format!("QL{q}");
        assert_eq!(
            qtime_holds(&client, &base, &eng, &lot).await,
            1,
            "{lot}: one Q-time hold"
        );
    }

    // Every reading the broker acknowledged once all three collectors were subscribed is
    // stored, once.
    for ((m, &n), &from) in meters.iter().zip(&published).zip(&from) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let got = loop {
            let got: Vec<i64> = store
                .samples(m, Some("n"), None, None, None, 100_000)
                .await
                .map(|s| s.samples.iter().map(|r| r.number.unwrap() as i64).collect())
                .unwrap_or_default();
            if got.len() as i64 >= n || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), got.len(), "{m}: a reading stored twice");
        let missing: Vec<i64> = (from..n)
            .filter(|k| sorted.binary_search(k).is_err())
            .collect();
        assert!(
            missing.is_empty(),
            "{m}: {} of readings {from}..{n} lost, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    eprintln!(
        "replicas: {} lot transactions on {} lots and {:?} readings, none lost or doubled",
        acked.len(),
        by_lot.len(),
        published
    );
    for r in &mut replicas {
        let _ = r.child.kill().await;
    }
}

/// How many Q-time holds `lot`'s history records.
async fn qtime_holds(client: &reqwest::Client, base: &str, token: &str, lot: &str) -> usize {
    let history =
        pilotline_tests::get_json(client, &format!("{base}/api/v1/lots/{lot}/history"), token)
            .await;
    history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["change"]["type"] == "hold_placed" && e["user"] == "qtime-monitor")
        .count()
}

/// Each replica's count of MQTT messages received (`pilotline_collector_mqtt_messages_total`).
async fn mqtt_messages(client: &reqwest::Client, replicas: &[Running], token: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for r in replicas {
        let text = client
            .get(format!("{}/metrics", r.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        out.push(
            text.lines()
                .filter(|l| l.starts_with("pilotline_collector_mqtt_messages_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        );
    }
    out
}
