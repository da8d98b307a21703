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

    // Kill the tool: it goes stale, its last state and values stand.
    tool.abort();
    let v = wait_for(&client, &url, &token, |v| v["stale"] == true).await;
    assert_eq!(v["state"], "standby");
    assert_eq!(v["latest"].as_array().unwrap().len(), 3);

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
