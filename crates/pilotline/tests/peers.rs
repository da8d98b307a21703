//! Independent implementations as the tools: a Modbus TCP server built with pymodbus and a
//! Sparkplug B edge node built with pysparkplug (pinned in `tests/peers/requirements.txt`,
//! installed by `.ci/run`), through the real Mosquitto broker. What they publish must appear
//! through the HTTP API, scaled; Sparkplug deaths must mark the tool stale, and a forced `seq`
//! gap must make Pilotline ask the node to rebirth.

use pilotline_app::{App, WriteOp};
use pilotline_domain::{Actor, Role};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

mod common;

use common::{FURNACE, latest, wait_for};

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers");

const DRIE: &str = r#"
[device_type]
id = "drie"
equipment_type = "DRIE"
protocol = "mqtt"

[[point]]
name = "chamber_pressure"
codec = "sparkplug"
metric = "Chamber/Pressure"
unit = "mTorr"

[[point]]
name = "coil_power"
codec = "sparkplug"
metric = "Source/CoilPower"
unit = "kW"
scale = 0.001

[[point]]
name = "tool_state"
codec = "sparkplug"
metric = "Tool/State"

[[e10_rule]]
point = "tool_state"
equals = "FAULT"
state = "unscheduled_down"
stops_tool = true

[[e10_rule]]
point = "tool_state"
equals = "PROCESSING"
state = "productive"
"#;

/// Whether the Python peers can run here; without them the test skips loudly, unless CI says
/// they must be there.
fn peers_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import pymodbus, pysparkplug, paho"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("PILOTLINE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("the Python peers are missing: pip install -r tests/peers/requirements.txt");
        }
        eprintln!(
            "\n*** SKIPPED the independent-peer test: pip install -r tests/peers/requirements.txt ***\n"
        );
    }
    ok
}

fn broker() -> Option<String> {
    match std::env::var("PILOTLINE_TEST_MQTT_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("PILOTLINE_REQUIRE_BROKER").is_ok_and(|v| v == "1") => {
            panic!("PILOTLINE_TEST_MQTT_URL is not set but PILOTLINE_REQUIRE_BROKER=1")
        }
        Err(_) => {
            eprintln!("\n*** SKIPPED the independent-peer test: set PILOTLINE_TEST_MQTT_URL ***\n");
            None
        }
    }
}

/// A peer process driven on stdin, answering line by line on stdout.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    fn spawn(script: &str, args: &[&str]) -> Peer {
        let mut child = Command::new("python3")
            .arg(format!("{PEERS}/{script}"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Peer {
            child,
            stdin,
            lines,
        }
    }

    /// The next line, which must start with `prefix` (within 20 s).
    async fn expect(&mut self, prefix: &str) -> String {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {prefix:?} from the peer within 20 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the peer exited before {prefix:?}"));
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    async fn send(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_and_pysparkplug_tools_are_collected() {
    let Some(url) = broker() else { return };
    if !peers_available() {
        return;
    }
    let (host, port) = pilotline_collector::mqtt::broker_address(&url).unwrap();
    let id = std::process::id();
    let (group, node, device) = (format!("pl-test-{id}"), "etch-gw", "DRIE-SP");
    let client_id = format!("pilotline-peers-{id}");

    // The Modbus tool: o2_flow 123.456 as f32 in CDAB order, temperature 114.0 °C ×10.
    let mut modbus = Peer::spawn(
        "modbus_peer.py",
        &[
            "--port",
            "0",
            "--unit",
            "1",
            "--holding",
            "1=1140,100=0xE979,101=0x42F6",
        ],
    );
    let ready = modbus.expect("READY").await;
    let modbus_port: u16 = ready["READY ".len()..].trim().parse().unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("furnace.toml"), FURNACE).unwrap();
    std::fs::write(dir.path().join("drie.toml"), DRIE).unwrap();
    std::fs::write(
        dir.path().join("tools.toml"),
        format!(
            "[[device]]\nid = \"FURNACE-PY\"\ntype = \"furnace\"\nunit_id = 1\ntimeout_ms = 500\n\
             transport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {modbus_port} }}\n\n\
             [[device]]\nid = \"{device}\"\ntype = \"drie\"\n\
             transport = {{ kind = \"mqtt\", broker = \"{url}\", group = \"{group}\", node = \"{node}\" }}\n"
        ),
    )
    .unwrap();
    let store = App::open(
        &format!("sqlite://{}", dir.path().join("p.db").display()),
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
    for (tool, ty) in [("FURNACE-PY", "FURNACE"), (device, "DRIE")] {
        let put = WriteOp::PutEquipment {
            id: tool.into(),
            equipment_type: ty.into(),
            description: String::new(),
        };
        store.execute(&put, &admin).await.unwrap();
    }
    let token = store
        .create_token("eng", Role::Engineer, None)
        .await
        .unwrap();

    // Watch the host's STATE and the node's commands, as any other client of the broker can.
    let mut o = MqttOptions::new(format!("{client_id}-watch"), &host, port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (watch, mut watch_loop) = AsyncClient::new(o, 10);
    watch
        .subscribe(format!("spBv1.0/STATE/{client_id}"), QoS::AtLeastOnce)
        .await
        .unwrap();
    watch
        .subscribe(format!("spBv1.0/{group}/NCMD/{node}"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let pump = tokio::spawn(async move {
        while let Ok(e) = watch_loop.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                let _ = seen_tx.send((p.topic.clone(), p.payload.to_vec()));
            }
        }
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = pilotline::serve::Options {
        collector: Some(pilotline::collect::Options {
            catalogue: None,
            profiles: dir.path().to_path_buf(),
            spool_dir: dir.path().join("spool"),
            mqtt_broker: None,
            client_id: client_id.clone(),
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

    // The host announces itself online (retained, Sparkplug 3.0 JSON) once subscribed.
    let online = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (topic, body) = seen.recv().await.unwrap();
            if topic.contains("/STATE/") {
                let v: Value = serde_json::from_slice(&body).unwrap();
                if v["online"] == true {
                    return v;
                }
            }
        }
    })
    .await
    .expect("STATE online within 20 s");
    assert!(online["timestamp"].as_i64().unwrap() > 0);

    let client = reqwest::Client::new();
    // pymodbus: scaled and decoded.
    let furnace = wait_for(
        &client,
        &format!("{base}/api/v1/equipment/FURNACE-PY"),
        &token,
        |v| latest(v, "o2_flow").is_some() && latest(v, "tube_temperature").is_some(),
    )
    .await;
    assert_eq!(
        latest(&furnace, "tube_temperature").unwrap()["number"],
        114.0
    );
    let o2 = latest(&furnace, "o2_flow").unwrap()["number"]
        .as_f64()
        .unwrap();
    assert!((o2 - 123.456).abs() < 1e-3, "{o2}");
    assert_eq!(furnace["stale"], false);

    // pysparkplug: births, then DDATA by alias.
    let mut edge = Peer::spawn(
        "sparkplug_edge.py",
        &[
            "--host",
            &host,
            "--port",
            &port.to_string(),
            "--group",
            &group,
            "--node",
            node,
            "--device",
            device,
        ],
    );
    edge.expect("BIRTH").await;
    edge.send("data 31.5 1500 PROCESSING 7").await;
    edge.expect("SENT").await;
    let drie_url = format!("{base}/api/v1/equipment/{device}");
    let drie = wait_for(&client, &drie_url, &token, |v| {
        latest(v, "tool_state").is_some_and(|s| s["text"] == "PROCESSING")
    })
    .await;
    assert_eq!(latest(&drie, "chamber_pressure").unwrap()["number"], 31.5);
    let kw = latest(&drie, "coil_power").unwrap()["number"]
        .as_f64()
        .unwrap();
    assert!((kw - 1.5).abs() < 1e-6, "scaled W → kW: {kw}");
    // Running with no lot tracked in is engineering time.
    let drie = wait_for(&client, &drie_url, &token, |v| v["state"] == "engineering").await;
    assert_eq!(drie["stale"], false);

    // A forced seq gap: the host asks for a rebirth (NCMD), the node rebirths.
    edge.send("gap").await;
    edge.expect("GAP").await;
    edge.send("data 32.0 1500 FAULT 8").await;
    edge.expect("SENT").await;
    edge.expect("REBIRTH").await;
    let ncmd = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (topic, body) = seen.recv().await.unwrap();
            if topic.contains("/NCMD/") {
                return body;
            }
        }
    })
    .await
    .expect("NCMD seen on the broker");
    assert!(
        String::from_utf8_lossy(&ncmd).contains("Node Control/Rebirth"),
        "the NCMD names the rebirth metric"
    );
    // The FAULT signal is a tool-stopping alarm: unscheduled down.
    wait_for(&client, &drie_url, &token, |v| {
        v["state"] == "unscheduled_down"
    })
    .await;

    // DDEATH → stale; a new session's births → live again; the will NDEATH → stale.
    edge.send("ddeath").await;
    edge.expect("DDEATH").await;
    wait_for(&client, &drie_url, &token, |v| v["stale"] == true).await;
    edge.send("ndeath").await;
    edge.expect("NDEATH").await;
    edge.send("reconnect").await;
    edge.expect("BIRTH").await;
    wait_for(&client, &drie_url, &token, |v| v["stale"] == false).await;
    edge.child.start_kill().unwrap();
    edge.child.wait().await.unwrap();
    let drie = wait_for(&client, &drie_url, &token, |v| v["stale"] == true).await;
    assert_eq!(
        drie["state"], "unscheduled_down",
        "a dead tool keeps its last state"
    );
    // The pymodbus tool was not affected.
    let furnace = wait_for(
        &client,
        &format!("{base}/api/v1/equipment/FURNACE-PY"),
        &token,
        |_| true,
    )
    .await;
    assert_eq!(furnace["stale"], false);

    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The counter is registered from the start: the gap must have counted.
    let rebirths: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pilotline_collector_rebirth_requests_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rebirth counter in {metrics}"));
    assert!(rebirths >= 1.0, "rebirth requests counted: {rebirths}");
    drop(modbus);
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
    pump.abort();
}
