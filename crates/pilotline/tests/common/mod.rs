//! What the binary crate's integration tests share: the furnace device type they serve, and
//! reading the API until a condition holds.

#![allow(dead_code)]

use serde_json::Value;
use std::time::{Duration, Instant};

/// A diffusion furnace over Modbus: temperature in tenths (i16) and O2 flow as a CDAB f32,
/// polled every 100 ms. Tests append points and rules of their own.
pub const FURNACE: &str = r#"
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

/// GETs `url` once, as JSON.
pub async fn get(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GETs `url` until `done` holds for the answer (at most 20 s).
pub async fn wait_for(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get(client, url, token).await;
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

/// The latest sample of `point` in an equipment answer.
pub fn latest<'a>(v: &'a Value, point: &str) -> Option<&'a Value> {
    v["latest"].as_array()?.iter().find(|s| s["point"] == point)
}
