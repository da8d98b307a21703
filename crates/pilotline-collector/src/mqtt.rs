//! Collecting from tools that publish plain JSON over MQTT (rumqttc).
//!
//! One client per broker owns its event loop. Subscriptions are QoS 1 on a persistent session,
//! renewed whenever the broker reports no session. A redelivery (DUP flag, same payload) is
//! dropped, and repeated values within a point's deadband are not recorded again. A payload that is not JSON, or lacks a point, is reported
//! as rejected with its topic and never stops the loop. Losing the broker marks every tool on it
//! stale; reconnection uses capped exponential backoff.

use chrono::Utc;
use pilotline_equipment::Decoded;
use pilotline_equipment::decode::DataType;
use pilotline_equipment::profile::{Codec, Device, DeviceType, Point, Transport};
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::Event;
use crate::recorder::{BACKOFF_START, Recorder, back_off, mark_stale, reject};

/// Largest MQTT packet accepted (Sparkplug births exceed rumqttc's 10 KiB default).
pub const MAX_PACKET: usize = 1024 * 1024;

/// `host` and `port` of an `mqtt://host[:port]` URL.
pub fn broker_address(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| format!("broker URL {url:?} must start with mqtt://"))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_string(),
            port.parse().map_err(|_| format!("bad port in {url:?}"))?,
        )),
        None => Ok((rest.to_string(), 1883)),
    }
}

/// The concrete topic of `point` on `device`.
pub fn topic_for(point: &Point, device: &Device) -> Option<String> {
    let (group, node) = match &device.transport {
        Transport::Mqtt { group, node, .. } => (
            group.clone().unwrap_or_default(),
            node.clone().unwrap_or_default(),
        ),
        _ => return None,
    };
    let dev = device
        .mqtt_device
        .clone()
        .unwrap_or_else(|| device.id.clone());
    Some(
        point
            .topic
            .as_ref()?
            .replace("{group}", &group)
            .replace("{node}", &node)
            .replace("{device}", &dev),
    )
}

struct Route {
    device: usize,
    point: usize,
}

/// Collects the JSON points of `devices` (all on the broker at `broker`) until `stop` turns true.
pub async fn run(
    broker: String,
    client_id: String,
    devices: Vec<(Device, Arc<DeviceType>)>,
    events: mpsc::Sender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    let (host, port) = match broker_address(&broker) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(%broker, error = %e, "cannot collect from this broker");
            return;
        }
    };
    let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
    for (d, (device, ty)) in devices.iter().enumerate() {
        for (p, point) in ty.point.iter().enumerate() {
            if point.codec != Some(Codec::Json) {
                continue;
            }
            if let Some(topic) = topic_for(point, device) {
                routes.entry(topic).or_default().push(Route {
                    device: d,
                    point: p,
                });
            }
        }
    }
    if routes.is_empty() {
        return;
    }
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let mut recorders: HashMap<usize, Recorder> = HashMap::new();
    // Last payload per topic: a QoS 1 redelivery (DUP set, same payload) is not a new reading.
    let mut last_payload: HashMap<String, Vec<u8>> = HashMap::new();
    let mut backoff = BACKOFF_START;
    let mut stale = false;
    loop {
        let polled = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.changed() => {
                let _ = client.disconnect().await;
                return;
            }
        };
        match polled {
            Ok(MqttEvent::Incoming(Packet::ConnAck(ack))) => {
                backoff = BACKOFF_START;
                if !ack.session_present {
                    for (topic, rs) in &routes {
                        let qos = rs
                            .iter()
                            .map(|r| devices[r.device].1.point[r.point].qos.unwrap_or(1))
                            .max();
                        let qos = if qos == Some(0) {
                            QoS::AtMostOnce
                        } else {
                            QoS::AtLeastOnce
                        };
                        if let Err(e) = client.subscribe(topic.clone(), qos).await {
                            tracing::error!(%topic, error = %e, "cannot subscribe");
                        }
                    }
                }
                if stale {
                    stale = false;
                    for (device, _) in &devices {
                        let _ = events
                            .send(Event::Recovered {
                                equipment: device.id.clone(),
                                at: Utc::now(),
                            })
                            .await;
                    }
                }
            }
            Ok(MqttEvent::Incoming(Packet::Publish(publish))) => {
                let Some(rs) = routes.get(publish.topic.as_str()) else {
                    continue;
                };
                if publish.dup
                    && last_payload
                        .get(&publish.topic)
                        .is_some_and(|p| p[..] == publish.payload[..])
                {
                    continue;
                }
                last_payload.insert(publish.topic.clone(), publish.payload.to_vec());
                let at = Utc::now();
                let payload: Result<serde_json::Value, _> =
                    serde_json::from_slice(&publish.payload);
                for r in rs {
                    let (device, ty) = &devices[r.device];
                    let point = &ty.point[r.point];
                    let alive = match &payload {
                        Err(e) => {
                            let reason = format!("payload on {} is not JSON: {e}", publish.topic);
                            reject(&events, &device.id, &point.name, reason).await
                        }
                        Ok(doc) => match json_value(doc, point) {
                            Ok(Some(v)) => {
                                recorders
                                    .entry(r.device)
                                    .or_default()
                                    .record(&events, &device.id, point, at, v)
                                    .await
                            }
                            Ok(None) => true,
                            Err(reason) => {
                                let reason = format!("{} on {}", reason, publish.topic);
                                reject(&events, &device.id, &point.name, reason).await
                            }
                        },
                    };
                    if !alive {
                        return;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                let ids: Vec<&str> = devices.iter().map(|(d, _)| d.id.as_str()).collect();
                mark_stale(&events, &mut stale, &ids, &format!("broker {broker}: {e}")).await;
                // rumqttc has no reconnect delay of its own.
                if !back_off(&mut backoff, &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// The value of `point` in a JSON document: `Ok(None)` when the document does not carry it
/// (tools publish different points on one topic), `Err` when it carries something unusable.
fn json_value(doc: &serde_json::Value, point: &Point) -> Result<Option<Decoded>, String> {
    let Some(pointer) = point.pointer.as_deref() else {
        return Ok(None);
    };
    let Some(v) = doc.pointer(pointer) else {
        return Ok(None);
    };
    let value = match v {
        serde_json::Value::Number(n) => {
            let n = n
                .as_f64()
                .ok_or_else(|| format!("{pointer} is not a finite number"))?;
            Decoded::Number(n * point.scale + point.offset)
        }
        serde_json::Value::Bool(b) => Decoded::Bool(*b),
        serde_json::Value::String(s) => Decoded::Text(s.clone()),
        other => return Err(format!("{pointer} holds {other}, not a value")),
    };
    match (point.data_type, &value) {
        (None, _) => Ok(Some(value)),
        (Some(DataType::Bool | DataType::Bit), Decoded::Bool(_)) => Ok(Some(value)),
        (Some(DataType::String), Decoded::Text(_)) => Ok(Some(value)),
        (Some(t), Decoded::Number(_)) if t.numeric() => Ok(Some(value)),
        (Some(t), v) => Err(format!("{pointer} holds {v:?}, not a {t:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            broker_address("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            broker_address("mqtt://broker").unwrap(),
            ("broker".into(), 1883)
        );
        assert!(broker_address("http://x").is_err());
    }

    #[test]
    fn json_values_by_pointer_with_types_checked() {
        let p: Point = toml::from_str(
            "name = \"x\"\ntopic = \"t\"\ncodec = \"json\"\npointer = \"/a/b\"\nscale = 2.0",
        )
        .unwrap();
        let doc = serde_json::json!({"a": {"b": 21}, "c": "s"});
        assert_eq!(json_value(&doc, &p), Ok(Some(Decoded::Number(42.0))));
        assert_eq!(json_value(&serde_json::json!({"z": 1}), &p), Ok(None));
        assert!(json_value(&serde_json::json!({"a": {"b": [1]}}), &p).is_err());
        let typed: Point = toml::from_str(
            "name = \"x\"\ntopic = \"t\"\ncodec = \"json\"\npointer = \"/c\"\ntype = \"f32\"",
        )
        .unwrap();
        assert!(json_value(&doc, &typed).is_err(), "a string is not an f32");
    }
}
