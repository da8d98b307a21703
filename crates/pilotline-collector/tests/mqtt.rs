//! The MQTT JSON collector against the real Mosquitto broker named by `PILOTLINE_TEST_MQTT_URL`
//! (CI sets it; without it the test says loudly that it skipped).

use pilotline_collector::{Event, mqtt};
use pilotline_equipment::Decoded;
use pilotline_equipment::profile::{DeviceFile, DeviceType};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const STEPPER: &str = r#"
[device_type]
id = "stepper"
equipment_type = "STEPPER"
protocol = "mqtt"

[[point]]
name = "state"
topic = "pilotline-test/{device}/status"
codec = "json"
pointer = "/state"

[[point]]
name = "dose"
topic = "pilotline-test/{device}/exposure"
codec = "json"
pointer = "/dose_mj_cm2"
type = "f64"
deadband = 0.5
valid_max = 1000.0

[[point]]
name = "overlay_x"
topic = "pilotline-test/{device}/exposure"
codec = "json"
pointer = "/overlay/x_nm"
"#;

/// The next event that is not a delivery; deliveries are acknowledged at once, as the writer
/// does once their content is stored.
async fn next(rx: &mut mpsc::Receiver<Event>) -> Event {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event within 10 s")
            .expect("open");
        match event {
            Event::Delivered(d) => d.ack(),
            other => return other,
        }
    }
}

fn broker() -> Option<String> {
    match std::env::var("PILOTLINE_TEST_MQTT_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("PILOTLINE_REQUIRE_BROKER").is_ok_and(|v| v == "1") => {
            panic!("PILOTLINE_TEST_MQTT_URL is not set but PILOTLINE_REQUIRE_BROKER=1")
        }
        Err(_) => {
            eprintln!(
                "\n*** SKIPPED the MQTT collector test: set PILOTLINE_TEST_MQTT_URL (e.g. mqtt://127.0.0.1:1883) ***\n"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_points_are_collected_and_bad_payloads_rejected() {
    let Some(url) = broker() else { return };
    let (host, port) = mqtt::broker_address(&url).unwrap();
    let tool = format!("STEPPER-T{}", std::process::id());
    let ty: Arc<DeviceType> = Arc::new(toml::from_str(STEPPER).unwrap());
    let device = toml::from_str::<DeviceFile>(&format!(
        "[[device]]\nid = \"{tool}\"\ntype = \"stepper\"\ntransport = {{ kind = \"mqtt\", broker = \"{url}\" }}\n"
    ))
    .unwrap()
    .device
    .remove(0);

    // Retained messages reach the collector whenever it subscribes: no race with its start.
    let (publisher, mut pub_loop) =
        AsyncClient::new(MqttOptions::new(format!("{tool}-pub"), host, port), 10);
    let pump = tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    let status = format!("pilotline-test/{tool}/status");
    let exposure = format!("pilotline-test/{tool}/exposure");
    publisher
        .publish(&status, QoS::AtLeastOnce, true, r#"{"state": "exposing"}"#)
        .await
        .unwrap();
    publisher
        .publish(&exposure, QoS::AtLeastOnce, true, "this is not JSON")
        .await
        .unwrap();

    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop) = watch::channel(false);
    let collector = tokio::spawn(mqtt::run(
        url.clone(),
        mqtt::Options::new(format!("{tool}-collector")),
        vec![(device, ty)],
        tx,
        stop,
    ));
    let mut seen: HashMap<String, Decoded> = HashMap::new();
    let mut rejected = Vec::new();
    while !(seen.contains_key("state") && rejected.len() >= 2) {
        match next(&mut rx).await {
            Event::Sample(s) => {
                seen.insert(s.point, s.value);
            }
            Event::Rejected { point, reason, .. } => {
                assert!(
                    reason.contains("not JSON") && reason.contains(&exposure),
                    "{reason}"
                );
                rejected.push(point);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen["state"], Decoded::Text("exposing".into()));
    // Good data keeps flowing after the bad payload, and a repeat inside the deadband is not recorded again.
    for _ in 0..2 {
        publisher
            .publish(
                &exposure,
                QoS::AtLeastOnce,
                false,
                r#"{"dose_mj_cm2": 120.5, "overlay": {"x_nm": -3}}"#,
            )
            .await
            .unwrap();
    }
    publisher
        .publish(
            &exposure,
            QoS::AtLeastOnce,
            false,
            r#"{"dose_mj_cm2": 5000}"#,
        )
        .await
        .unwrap();
    publisher
        .publish(&status, QoS::AtLeastOnce, false, r#"{"state": "idle"}"#)
        .await
        .unwrap();
    let mut doses = Vec::new();
    loop {
        match next(&mut rx).await {
            Event::Sample(s) if s.point == "dose" => doses.push(s.value),
            Event::Sample(s) if s.point == "state" && s.value == Decoded::Text("idle".into()) => {
                break;
            }
            Event::Sample(s) => {
                seen.insert(s.point, s.value);
            }
            Event::Rejected { point, reason, .. } => {
                assert_eq!(point, "dose");
                assert!(reason.contains("5000"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        doses,
        vec![Decoded::Number(120.5)],
        "one sample for two readings within the deadband"
    );
    assert_eq!(seen["overlay_x"], Decoded::Number(-3.0));

    for topic in [&status, &exposure] {
        publisher
            .publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new())
            .await
            .unwrap();
    }
    stop_tx.send(true).unwrap();
    collector.await.unwrap();
    pump.abort();
}
