//! `serve` with equipment profiles: a Modbus tool served over a real socket is polled and its
//! scaled values, its signal-driven E10 state, a lot's process data, the count of rejected
//! readings and its loss of communication appear through the HTTP API.

use pilotline_app::{App, WriteOp};
use pilotline_collector::modbus_server::{RegisterMap, serve};
use pilotline_domain::{Actor, Role};
use std::sync::Arc;
use tokio::net::TcpListener;

mod common;

use common::{FURNACE, get, latest, wait_for};

/// The shared furnace with an implausible-value check and a tool-stopping alarm.
const EXTRA: &str = r#"
[[point]]
name = "pressure"
area = "holding"
address = 10
type = "u16"
valid_max = 1000.0
poll_group = "fast"

[[point]]
name = "alarm_1"
area = "coil"
address = 0
type = "bool"
poll_group = "fast"

[[e10_rule]]
point = "alarm_1"
equals = true
state = "unscheduled_down"
stops_tool = true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_values_and_staleness_appear_through_the_api() {
    let regs = Arc::new(RegisterMap::new(None));
    regs.set_holding(1, 1140);
    regs.set_holding(100, 0xE979);
    regs.set_holding(101, 0x42F6);
    // A broken gauge: 65535 is outside the point's valid range.
    regs.set_holding(10, 65535);
    let modbus = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool_addr = modbus.local_addr().unwrap();
    let tool = serve(modbus, regs.clone());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("furnace.toml"), format!("{FURNACE}{EXTRA}")).unwrap();
    std::fs::write(
        dir.path().join("tools.toml"),
        format!(
            "[[device]]\nid = \"FURNACE-01\"\ntype = \"furnace\"\nunit_id = 1\ntimeout_ms = 300\n\
             transport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {} }}\n",
            tool_addr.port()
        ),
    )
    .unwrap();
    let store = App::open(
        &format!("sqlite://{}", dir.path().join("c.db").display()),
        &Default::default(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let admin = Actor {
        user: "t".into(),
        role: Role::Admin,
        tenant: None,
    };
    let put = WriteOp::PutEquipment {
        id: "FURNACE-01".into(),
        equipment_type: "FURNACE".into(),
        description: String::new(),
    };
    store.execute(&put, &admin).await.unwrap();
    let store2 = store.clone();
    let token = store
        .create_token("eng", Role::Engineer, None)
        .await
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = pilotline::serve::Options {
        collector: Some(pilotline::collect::Options {
            catalogue: None,
            profiles: dir.path().to_path_buf(),
            spool_dir: dir.path().join("spool"),
            mqtt_broker: None,
            client_id: format!("pilotline-test-{}", std::process::id()),
            share_group: None,
            holder: None,
            lease: pilotline_app::DEFAULT_LEASE,
        }),
        ..Default::default()
    };
    let server = tokio::spawn(pilotline::serve::run(
        store,
        listener,
        async move {
            let _ = stop_rx.await;
        },
        options,
    ));

    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/equipment/FURNACE-01");
    let v = wait_for(&client, &url, &token, |v| {
        v["latest"].as_array().is_some_and(|l| l.len() == 3)
    })
    .await;
    assert_eq!(v["stale"], false);
    let value = |name: &str| {
        latest(&v, name).unwrap_or_else(|| panic!("no {name} in {v}"))["number"].clone()
    };
    assert_eq!(value("tube_temperature"), 114.0);
    assert_eq!(value("o2_flow"), 123.456);
    assert_eq!(value("alarm_1"), 0.0);
    assert!(
        latest(&v, "pressure").is_none(),
        "an implausible reading is not stored"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "pilotline_collector_rejected_total{equipment=\"FURNACE-01\",point=\"pressure\"}"
        )),
        "rejected readings are counted by tool and point"
    );

    // A lot run on the tool: its process data is the tool's samples between track-in and out.
    let eng = Actor {
        user: "t".into(),
        role: Role::Engineer,
        tenant: None,
    };
    let route: pilotline_domain::RouteSpec = toml::from_str(
        "id = \"OX\"\nname = \"oxidation\"\n[[steps]]\nid = \"S010\"\nname = \"Wet oxidation\"\n\
         stage = \"fabrication\"\nequipment_type = \"FURNACE\"\nrecipe = \"WETOX-1000\"\n",
    )
    .unwrap();
    store2
        .execute(&WriteOp::PutRoute(route), &eng)
        .await
        .unwrap();
    let product = pilotline_domain::Product {
        id: "OX-TEST".into(),
        description: String::new(),
        default_route: "OX".into(),
        tenant: None,
    };
    store2
        .execute(&WriteOp::PutProduct(product), &eng)
        .await
        .unwrap();
    let start = WriteOp::StartLot(pilotline_app::NewLotRequest {
        id: Some("L1".into()),
        product: "OX-TEST".into(),
        route: None,
        route_version: None,
        lot_type: pilotline_domain::LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count: 2,
        wafer_ids: None,
    });
    store2.execute(&start, &eng).await.unwrap();
    let lot_op = |command| WriteOp::Lot {
        lot_id: "L1".into(),
        command,
        if_version: None,
    };
    let track_in = pilotline_app::LotCommand::TrackIn {
        equipment: "FURNACE-01".into(),
        recipe: None,
    };
    store2.execute(&lot_op(track_in), &eng).await.unwrap();
    // Samples keep coming while the lot runs (the temperature moves).
    regs.set_holding(1, 1150);
    wait_for(&client, &url, &token, |v| {
        v["latest"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["number"] == 115.0 && s["lot"] == "L1"))
    })
    .await;
    // The alarm signal takes the running tool down; clearing it puts it back to its run.
    regs.coils.lock().unwrap().insert(0, true);
    wait_for(&client, &url, &token, |v| v["state"] == "unscheduled_down").await;
    regs.coils.lock().unwrap().insert(0, false);
    wait_for(&client, &url, &token, |v| v["state"] == "productive").await;
    let out = pilotline_app::LotCommand::TrackOut {
        scrap_wafers: vec![],
        scrap_reason: None,
        readings: vec![],
    };
    store2.execute(&lot_op(out), &eng).await.unwrap();
    let runs = get(
        &client,
        &format!("{base}/api/v1/lots/L1/process-data?point=tube_temperature"),
        &token,
    )
    .await;
    let run = &runs[0];
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(
        (run["step"].as_str(), run["equipment"].as_str()),
        (Some("S010"), Some("FURNACE-01"))
    );
    assert_eq!(run["recipe"], "WETOX-1000");
    assert_eq!(
        (run["run"].as_u64(), &run["truncated"]),
        (Some(0), &serde_json::json!(false))
    );
    let samples = run["samples"].as_array().unwrap();
    assert!(samples.iter().any(|s| s["number"] == 115.0), "{run}");
    let (from, to) = (
        run["tracked_in"].as_str().unwrap(),
        run["tracked_out"].as_str().unwrap(),
    );
    let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    for s in samples {
        let at = s["at"].as_str().unwrap();
        assert!(s["point"] == "tube_temperature");
        assert!(
            time(at) >= time(from) && time(at) < time(to),
            "{at} outside the run {from}..{to}"
        );
    }

    let samples = get(
        &client,
        &format!("{base}/api/v1/equipment/FURNACE-01/samples?point=tube_temperature"),
        &token,
    )
    .await;
    assert_eq!(samples["samples"][0]["number"], 114.0);
    assert_eq!(samples["truncated"], false, "{samples}");
    assert!(samples["next"].is_null());
    // A limit cuts the answer, says so and gives the cursor that continues it.
    let first = get(
        &client,
        &format!("{base}/api/v1/equipment/FURNACE-01/samples?point=tube_temperature&limit=1"),
        &token,
    )
    .await;
    assert_eq!(first["truncated"], true, "{first}");
    let next = first["next"].as_str().unwrap();
    let rest = get(
        &client,
        &format!(
            "{base}/api/v1/equipment/FURNACE-01/samples?point=tube_temperature&limit=100000&after={next}"
        ),
        &token,
    )
    .await;
    assert_eq!(
        rest["samples"].as_array().unwrap().len() + 1,
        samples["samples"].as_array().unwrap().len(),
        "{rest}"
    );
    assert_eq!(rest["samples"][0], samples["samples"][1]);

    // The counters moved with the lot and the samples, and the exposition parses.
    let scrape = || async {
        client
            .get(format!("{base}/metrics"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let text = scrape().await;
    check_exposition(&text);
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    for op in ["start_lot", "track_in", "track_out"] {
        let series = format!("pilotline_writes_total{{operation=\"{op}\",result=\"ok\"}}");
        assert_eq!(value(&text, &series), 1.0, "{series}");
    }
    let stored = "pilotline_samples_total{outcome=\"stored\"}";
    let polls = "pilotline_collector_poll_duration_seconds_count{equipment=\"FURNACE-01\"}";
    let (stored_before, polls_before) = (value(&text, stored), value(&text, polls));
    assert!(stored_before > 0.0 && polls_before > 0.0);
    regs.set_holding(1, 1160);
    wait_for(&client, &url, &token, |v| {
        latest(v, "tube_temperature").is_some_and(|s| s["number"] == 116.0)
    })
    .await;
    let text = scrape().await;
    assert!(
        value(&text, stored) > stored_before,
        "samples counted as they arrive"
    );
    assert!(
        value(&text, polls) > polls_before,
        "polls timed as they run"
    );

    // Kill the tool: it goes stale, its last state and values stand.
    tool.abort();
    let v = wait_for(&client, &url, &token, |v| v["stale"] == true).await;
    assert_eq!(v["state"], "standby");
    assert_eq!(v["latest"].as_array().unwrap().len(), 3);

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}

/// Parses a Prometheus text exposition with Prometheus' own parser (`promtool check metrics`,
/// from Debian's `prometheus` package, which `.ci/run` installs): a parse error fails the test;
/// lint hints do not. Says loudly that it skipped where promtool is absent.
fn check_exposition(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("\n*** SKIPPED parsing /metrics with promtool: it is not installed ***\n");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits 1 for lint hints too; a parse failure says "error while linting".
    assert!(
        !said.contains("error while linting") && !said.contains("parse error"),
        "promtool could not parse /metrics: {said}"
    );
}

/// Whether a scaled reading is `want` (tenths scaled by 0.1 are not exact in binary).
fn near(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() < 1e-9)
}

/// Waits (up to 20 s) until `done` holds.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_split_the_modbus_tools_and_one_takes_over_at_the_others_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut devices = String::new();
    let mut maps = Vec::new();
    for (n, id) in ["FURNACE-01", "FURNACE-02"].iter().enumerate() {
        let regs = Arc::new(RegisterMap::new(None));
        regs.set_holding(1, 1000 + n as u16);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        maps.push((regs.clone(), serve(listener, regs)));
        devices.push_str(&format!(
            "[[device]]\nid = \"{id}\"\ntype = \"furnace\"\nunit_id = 1\ntimeout_ms = 300\n\
             transport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {port} }}\n"
        ));
    }
    std::fs::write(dir.path().join("furnace.toml"), FURNACE).unwrap();
    std::fs::write(dir.path().join("tools.toml"), devices).unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let app = App::open(&url, &Default::default()).await.unwrap();
    app.migrate().await.unwrap();
    let admin = Actor {
        user: "t".into(),
        role: Role::Admin,
        tenant: None,
    };
    for id in ["FURNACE-01", "FURNACE-02"] {
        let put = WriteOp::PutEquipment {
            id: id.into(),
            equipment_type: "FURNACE".into(),
            description: String::new(),
        };
        app.execute(&put, &admin).await.unwrap();
    }
    let collector = |holder: &str| {
        let options = pilotline::collect::Options {
            catalogue: None,
            profiles: dir.path().to_path_buf(),
            spool_dir: dir.path().join(format!("spool-{holder}")),
            mqtt_broker: None,
            client_id: format!("pilotline-test-{holder}-{}", std::process::id()),
            share_group: None,
            holder: Some(holder.to_string()),
            // Heartbeats every second.
            lease: std::time::Duration::from_secs(3),
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let own = app.clone();
        (
            stop,
            pilotline::collect::start(own, &options, stopped).unwrap(),
        )
    };
    let tool_holders = || async {
        let mut held: Vec<(String, String)> = app
            .leases()
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.job.starts_with("modbus:") && l.expires_at > pilotline_app::now())
            .map(|l| (l.job.trim_start_matches("modbus:").to_string(), l.holder))
            .collect();
        held.sort();
        held
    };
    let (stop_a, task_a) = collector("collector-a");
    until("collector a holds both tools", || async {
        tool_holders().await.len() == 2
    })
    .await;
    let (stop_b, task_b) = collector("collector-b");
    until("the tools are split between a and b", || async {
        let h = tool_holders().await;
        h.len() == 2 && h[0].1 != h[1].1
    })
    .await;
    // Each tool is polled, by its one holder: both tools' values arrive.
    let value = |id: &'static str| {
        let app = app.clone();
        let admin = admin.clone();
        async move {
            app.latest_samples(id, &admin)
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.point == "tube_temperature")
                .and_then(|s| s.number)
        }
    };
    until("both tools' first values", || async {
        near(value("FURNACE-01").await, 100.0) && near(value("FURNACE-02").await, 100.1)
    })
    .await;
    let a_tool = tool_holders()
        .await
        .into_iter()
        .find(|(_, h)| h == "collector-a")
        .map(|(t, _)| t)
        .unwrap();
    let a_regs = if a_tool == "FURNACE-01" {
        &maps[0].0
    } else {
        &maps[1].0
    };

    // a stops cleanly: b takes its tool, and the tool's new value arrives through b.
    stop_a.send(true).unwrap();
    task_a.await.unwrap();
    a_regs.set_holding(1, 1234);
    until("b holds both tools", || async {
        let h = tool_holders().await;
        h.len() == 2 && h.iter().all(|(_, holder)| holder == "collector-b")
    })
    .await;
    let tool: &'static str = if a_tool == "FURNACE-01" {
        "FURNACE-01"
    } else {
        "FURNACE-02"
    };
    until("the handed-over tool's new value", || async {
        near(value(tool).await, 123.4)
    })
    .await;
    stop_b.send(true).unwrap();
    task_b.await.unwrap();
    assert!(
        tool_holders().await.is_empty(),
        "a clean stop gives every lease back"
    );
}
