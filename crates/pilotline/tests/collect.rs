//! `serve` with equipment profiles: a Modbus tool served over a real socket is polled and its
//! scaled values, and its loss of communication, appear through the HTTP API.

use pilotline_collector::modbus_server::{RegisterMap, serve};
use pilotline_domain::{Actor, Role};
use pilotline_store::{Store, WriteOp};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const TYPE: &str = r#"
[device_type]
id = "furnace"
equipment_type = "FURNACE"
protocol = "modbus"

[[poll_group]]
name = "fast"
interval_ms = 100

[[point]]
name = "tube_temperature"
area = "holding"
address = 1
type = "i16"
scale = 0.1
unit = "degC"
poll_group = "fast"

[[point]]
name = "o2_flow"
area = "holding"
address = 100
type = "f32"
order = "CDAB"
poll_group = "fast"
"#;

/// GETs `path` until `done` holds for the answer (at most 15 s).
async fn wait_for(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v: Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached; last answer {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_values_and_staleness_appear_through_the_api() {
    let regs = Arc::new(RegisterMap::new(None));
    regs.set_holding(1, 1140);
    regs.set_holding(100, 0xE979);
    regs.set_holding(101, 0x42F6);
    let modbus = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool_addr = modbus.local_addr().unwrap();
    let tool = serve(modbus, regs);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("furnace.toml"), TYPE).unwrap();
    std::fs::write(
        dir.path().join("tools.toml"),
        format!(
            "[[device]]\nid = \"FURNACE-01\"\ntype = \"furnace\"\nunit_id = 1\ntimeout_ms = 300\n\
             transport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {} }}\n",
            tool_addr.port()
        ),
    )
    .unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
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
    store.execute(&put, &admin, None).await.unwrap();
    let token = store
        .create_token("eng", Role::Engineer, None)
        .await
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = pilotline::serve::Options {
        collector: Some(pilotline::collect::Options {
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
        v["latest"].as_array().is_some_and(|l| l.len() == 2)
    })
    .await;
    assert_eq!(v["stale"], false);
    let latest = v["latest"].as_array().unwrap();
    assert_eq!(latest[1]["point"], "tube_temperature");
    assert_eq!(latest[1]["number"], 114.0);
    let o2 = latest[0]["number"].as_f64().unwrap();
    assert!((o2 - 123.456).abs() < 1e-3, "{o2}");

    let samples: Value = client
        .get(format!(
            "{base}/api/v1/equipment/FURNACE-01/samples?point=tube_temperature"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(samples[0]["number"], 114.0);

    // Kill the tool: it goes stale, its last state and values stand.
    tool.abort();
    let v = wait_for(&client, &url, &token, |v| v["stale"] == true).await;
    assert_eq!(v["state"], "standby");
    assert_eq!(v["latest"].as_array().unwrap().len(), 2);

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
