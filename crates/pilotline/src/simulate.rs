//! `pilotline simulate`: every tool of the equipment profiles as a simulated tool on real
//! sockets — Modbus TCP and RTU-over-TCP servers (several units may share a gateway port), MQTT
//! JSON publishers and Sparkplug B edge nodes (births with aliases, data by alias, rebirth on
//! request, a will NDEATH) — with signals from [`signals::ToolModel`]. Serial RTU tools are not
//! simulated (there is no serial line to serve on).

pub mod signals;

use anyhow::{Context, Result};
use chrono::Utc;
use pilotline_collector::modbus_server::{Framing, RegisterMap, Units, serve_units};
use pilotline_collector::sparkplug::proto::{DataType as SpType, Metric, Payload, Value};
use pilotline_collector::sparkplug::{NAMESPACE, REBIRTH_METRIC};
use pilotline_equipment::encode::encode;
use pilotline_equipment::profile::{Area, Codec, Device, DeviceType, Transport};
use pilotline_equipment::{Catalogue, DataType, Decoded, WordOrder};
use prost::Message;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use signals::{ToolModel, seed_of};

/// Tools with their types.
type Tools = Vec<(Device, Arc<DeviceType>)>;

/// How often simulated values change.
pub const TICK: Duration = Duration::from_millis(1000);

/// Starts every simulated tool of `catalogue`; MQTT tools publish to `broker` when given,
/// else to their profile's broker. Runs until `stop` turns true.
pub async fn start(
    catalogue: &Catalogue,
    broker: Option<&str>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>> {
    start_bound(catalogue, broker, None, stop, BTreeMap::new()).await
}

/// Like [`start`], serving the Modbus gateways whose port is a key of `bound` on that
/// listener (already bound, so a caller can use ports the system chose) instead of binding.
/// With `primary_host`, the Sparkplug edge nodes wait for that host application's STATE to be
/// online before their births, as Sparkplug 3.0 edge nodes configured with a primary host do.
pub async fn start_bound(
    catalogue: &Catalogue,
    broker: Option<&str>,
    primary_host: Option<&str>,
    stop: watch::Receiver<bool>,
    mut bound: BTreeMap<u16, std::net::TcpListener>,
) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let mut gateways: BTreeMap<(String, u16, bool), Tools> = BTreeMap::new();
    let mut json: BTreeMap<String, Tools> = BTreeMap::new();
    let mut nodes: BTreeMap<(String, String, String), Tools> = BTreeMap::new();
    for device in catalogue.devices.values() {
        let Some(ty) = catalogue.types.get(&device.device_type) else {
            continue;
        };
        let ty = Arc::new(ty.clone());
        match &device.transport {
            Transport::Tcp { host, port } => gateways
                .entry((host.clone(), *port, false))
                .or_default()
                .push((device.clone(), ty)),
            Transport::RtuOverTcp { host, port } => gateways
                .entry((host.clone(), *port, true))
                .or_default()
                .push((device.clone(), ty)),
            Transport::Rtu { path, .. } => {
                tracing::info!(equipment = %device.id, %path, "serial RTU tool not simulated")
            }
            Transport::Mqtt {
                broker: own,
                group,
                node,
            } => {
                let url = broker.unwrap_or(own).to_string();
                let sparkplug = ty.point.iter().any(|p| p.codec == Some(Codec::Sparkplug));
                match (sparkplug, group, node) {
                    (true, Some(g), Some(n)) => nodes
                        .entry((url, g.clone(), n.clone()))
                        .or_default()
                        .push((device.clone(), ty)),
                    _ => json.entry(url).or_default().push((device.clone(), ty)),
                }
            }
        }
    }
    for ((host, port, rtu), tools) in gateways {
        let listener = match bound.remove(&port) {
            Some(l) => {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)?
            }
            None => TcpListener::bind((host.as_str(), port))
                .await
                .with_context(|| format!("cannot serve simulated Modbus tools on {host}:{port}"))?,
        };
        let mut units = Units::default();
        let mut models = Vec::new();
        for (device, ty) in tools {
            let map = Arc::new(RegisterMap::new(None));
            units.0.insert(device.unit_id.unwrap_or(1), map.clone());
            models.push((ToolModel::new(ty.clone(), seed_of(&device.id)), ty, map));
        }
        let framing = if rtu {
            Framing::RtuOverTcp
        } else {
            Framing::Tcp
        };
        let server = serve_units(listener, units, framing);
        tasks.push(tokio::spawn(modbus_tools(models, server, stop.clone())));
    }
    for (url, tools) in json {
        tasks.push(tokio::spawn(json_tools(url, tools, stop.clone())));
    }
    for ((url, group, node), tools) in nodes {
        tasks.push(tokio::spawn(edge_node(
            url,
            group,
            node,
            tools,
            primary_host.map(str::to_string),
            stop.clone(),
        )));
    }
    tracing::info!(tasks = tasks.len(), "simulator started");
    Ok(tasks)
}

/// Keeps the register maps of the tools behind one port up to date.
async fn modbus_tools(
    mut tools: Vec<(ToolModel, Arc<DeviceType>, Arc<RegisterMap>)>,
    server: JoinHandle<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        for (model, ty, map) in &mut tools {
            model.step(TICK);
            write_registers(model, ty, map);
        }
    }
    server.abort();
}

fn write_registers(model: &mut ToolModel, ty: &DeviceType, map: &RegisterMap) {
    let base = u32::from(ty.device_type.address_base);
    for p in &ty.point {
        let (Some(area), Some(address)) = (p.area, p.address) else {
            continue;
        };
        let Ok(addr) = u16::try_from(address.saturating_sub(base)) else {
            continue;
        };
        // Registers hold the raw value: undo the profile's scaling.
        let raw = unscale(model.value(p), p);
        let data_type = p.data_type.unwrap_or(DataType::U16);
        match (area, data_type) {
            (Area::Coil, _) => map.set_coil(addr, raw == Decoded::Bool(true)),
            (Area::Discrete, _) => map.set_discrete(addr, raw == Decoded::Bool(true)),
            (area, DataType::Bit) => map.set_bit(
                area == Area::Input,
                addr,
                p.bit.unwrap_or(0),
                raw == Decoded::Bool(true),
            ),
            (area, _) => {
                let words = encode(
                    &raw,
                    data_type,
                    p.order.unwrap_or(WordOrder::ABCD),
                    p.registers.unwrap_or(1),
                    0,
                );
                for (i, w) in words.into_iter().enumerate() {
                    let a = addr.wrapping_add(i as u16);
                    if area == Area::Input {
                        map.set_input(a, w);
                    } else {
                        map.set_holding(a, w);
                    }
                }
            }
        }
    }
}

fn mqtt_options(url: &str, client_id: String) -> Result<MqttOptions> {
    let (host, port) =
        pilotline_collector::mqtt::broker_address(url).map_err(anyhow::Error::msg)?;
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20);
    Ok(o)
}

/// Keeps a client's event loop turning until `stop`; returns the packets of interest.
async fn pump(mut el: rumqttc::EventLoop, tx: tokio::sync::mpsc::UnboundedSender<Packet>) {
    loop {
        match el.poll().await {
            Ok(Event::Incoming(p @ (Packet::ConnAck(_) | Packet::Publish(_)))) => {
                let _ = tx.send(p);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "simulator lost the broker; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// JSON tools: one document per topic per tick.
async fn json_tools(url: String, tools: Tools, mut stop: watch::Receiver<bool>) {
    let options = match mqtt_options(&url, format!("pilotline-sim-json-{}", std::process::id())) {
        Ok(o) => o,
        Err(e) => return tracing::error!(%url, error = %e, "cannot simulate MQTT tools"),
    };
    let (client, el) = AsyncClient::new(options, 1000);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let pump = tokio::spawn(pump(el, tx));
    let mut models: Vec<ToolModel> = tools
        .iter()
        .map(|(d, ty)| ToolModel::new(ty.clone(), seed_of(&d.id)))
        .collect();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        for ((device, ty), model) in tools.iter().zip(&mut models) {
            model.step(TICK);
            let mut docs: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            for p in &ty.point {
                let (Some(topic), Some(pointer)) = (
                    pilotline_collector::mqtt::topic_for(p, device),
                    p.pointer.as_deref(),
                ) else {
                    continue;
                };
                let doc = docs.entry(topic).or_insert_with(|| serde_json::json!({}));
                let raw = match unscale(model.value(p), p) {
                    Decoded::Number(n) => serde_json::json!(n),
                    Decoded::Bool(b) => serde_json::json!(b),
                    Decoded::Text(t) => serde_json::json!(t),
                };
                set_pointer(doc, pointer, raw);
                if let Some(tp) = p.time_pointer.as_deref() {
                    set_pointer(doc, tp, serde_json::json!(Utc::now().timestamp_millis()));
                }
            }
            for (topic, doc) in docs {
                let _ = client
                    .publish(topic, QoS::AtLeastOnce, false, doc.to_string())
                    .await;
            }
        }
    }
    let _ = client.disconnect().await;
    pump.abort();
}

/// Sets `value` at RFC 6901 `pointer` in `doc`, creating objects on the way.
fn set_pointer(doc: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let mut at = doc;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = serde_json::json!({});
        }
        let obj = at.as_object_mut().expect("object");
        if i + 1 == parts.len() {
            obj.insert(part.clone(), value);
            return;
        }
        at = obj
            .entry(part.clone())
            .or_insert_with(|| serde_json::json!({}));
    }
}

fn ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

/// A metric by alias; births also carry the name and the data type.
fn metric(name: Option<String>, alias: u64, value: &Decoded) -> Metric {
    let (t, v) = match value {
        Decoded::Number(n) => (SpType::Double, Value::Double(*n)),
        Decoded::Bool(b) => (SpType::Boolean, Value::Boolean(*b)),
        Decoded::Text(s) => (SpType::String, Value::String(s.clone())),
    };
    Metric {
        alias: Some(alias),
        timestamp: Some(ms()),
        datatype: name.is_some().then_some(t as u32),
        value: Some(v),
        name,
        ..Metric::default()
    }
}

/// A Sparkplug B edge node with its devices.
async fn edge_node(
    url: String,
    group: String,
    node: String,
    tools: Tools,
    primary_host: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let bd_seq: u64 = 0;
    let state_topic = primary_host
        .as_ref()
        .map(|h| format!("{NAMESPACE}/STATE/{h}"));
    // Without a primary host to wait for, the host counts as online from the start.
    let mut host_online = state_topic.is_none();
    let death = Payload {
        timestamp: Some(ms()),
        metrics: vec![Metric {
            name: Some("bdSeq".into()),
            datatype: Some(SpType::Int64 as u32),
            value: Some(Value::Long(bd_seq)),
            ..Metric::default()
        }],
        ..Payload::default()
    };
    let topic = |kind: &str, device: Option<&str>| match device {
        Some(d) => format!("{NAMESPACE}/{group}/{kind}/{node}/{d}"),
        None => format!("{NAMESPACE}/{group}/{kind}/{node}"),
    };
    let mut options = match mqtt_options(&url, format!("pilotline-sim-{group}-{node}")) {
        Ok(o) => o,
        Err(e) => return tracing::error!(%url, error = %e, "cannot simulate the edge node"),
    };
    options.set_last_will(LastWill::new(
        topic("NDEATH", None),
        death.encode_to_vec(),
        QoS::AtLeastOnce,
        false,
    ));
    let (client, el) = AsyncClient::new(options, 1000);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pump = tokio::spawn(pump(el, tx));
    let mut models: Vec<ToolModel> = tools
        .iter()
        .map(|(d, ty)| ToolModel::new(ty.clone(), seed_of(&d.id)))
        .collect();
    let device_id = |d: &Device| d.mqtt_device.clone().unwrap_or_else(|| d.id.clone());
    let mut seq: u64 = 0;
    let mut born = false;
    let mut last: HashMap<(usize, u64), Decoded> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        let mut rebirth = false;
        tokio::select! {
            _ = tick.tick() => {}
            p = rx.recv() => match p {
                Some(Packet::ConnAck(_)) => {
                    let _ = client.subscribe(topic("NCMD", None), QoS::AtLeastOnce).await;
                    if let Some(t) = &state_topic {
                        let _ = client.subscribe(t.clone(), QoS::AtLeastOnce).await;
                    }
                    rebirth = host_online;
                }
                Some(Packet::Publish(p)) if state_topic.as_deref() == Some(p.topic.as_str()) => {
                    let online = serde_json::from_slice::<serde_json::Value>(&p.payload)
                        .is_ok_and(|v| v["online"] == serde_json::Value::Bool(true));
                    if online == host_online {
                        continue;
                    }
                    host_online = online;
                    born = false;
                    rebirth = online;
                }
                Some(Packet::Publish(p)) => {
                    let asked = Payload::decode(&p.payload[..]).is_ok_and(|pl| {
                        pl.metrics.iter().any(|m| {
                            m.name.as_deref() == Some(REBIRTH_METRIC)
                                && m.value == Some(Value::Boolean(true))
                        })
                    });
                    if !asked {
                        continue;
                    }
                    rebirth = true;
                }
                _ => continue,
            },
            _ = stop.changed() => break,
        }
        if rebirth && host_online {
            seq = 0;
            let nbirth = Payload {
                timestamp: Some(ms()),
                seq: Some(seq),
                metrics: vec![
                    Metric {
                        name: Some("bdSeq".into()),
                        datatype: Some(SpType::Int64 as u32),
                        value: Some(Value::Long(bd_seq)),
                        ..Metric::default()
                    },
                    Metric {
                        name: Some(REBIRTH_METRIC.into()),
                        alias: Some(1),
                        datatype: Some(SpType::Boolean as u32),
                        value: Some(Value::Boolean(false)),
                        ..Metric::default()
                    },
                ],
                ..Payload::default()
            };
            let _ = client
                .publish(
                    topic("NBIRTH", None),
                    QoS::AtMostOnce,
                    false,
                    nbirth.encode_to_vec(),
                )
                .await;
            for (i, ((device, ty), model)) in tools.iter().zip(&mut models).enumerate() {
                seq = (seq + 1) % 256;
                let metrics = ty
                    .point
                    .iter()
                    .enumerate()
                    .filter_map(|(k, p)| {
                        let name = p.metric.clone()?;
                        let v = unscale(model.value(p), p);
                        last.insert((i, k as u64), v.clone());
                        Some(metric(Some(name), 100 + k as u64, &v))
                    })
                    .collect();
                let dbirth = topic("DBIRTH", Some(&device_id(device)));
                send(&client, dbirth, seq, metrics).await;
            }
            born = true;
            continue;
        }
        if !born {
            continue;
        }
        for (i, ((device, ty), model)) in tools.iter().zip(&mut models).enumerate() {
            model.step(TICK);
            let mut metrics = Vec::new();
            for (k, p) in ty.point.iter().enumerate() {
                if p.metric.is_none() {
                    continue;
                }
                let v = unscale(model.value(p), p);
                if last.get(&(i, k as u64)) != Some(&v) {
                    last.insert((i, k as u64), v.clone());
                    metrics.push(metric(None, 100 + k as u64, &v));
                }
            }
            if metrics.is_empty() {
                continue;
            }
            seq = (seq + 1) % 256;
            send(
                &client,
                topic("DDATA", Some(&device_id(device))),
                seq,
                metrics,
            )
            .await;
        }
    }
    let _ = client
        .publish(
            topic("NDEATH", None),
            QoS::AtLeastOnce,
            false,
            death.encode_to_vec(),
        )
        .await;
    let _ = client.disconnect().await;
    pump.abort();
}

/// Publishes a device message (QoS 0, as Sparkplug data is).
async fn send(client: &AsyncClient, topic: String, seq: u64, metrics: Vec<Metric>) {
    let payload = Payload {
        timestamp: Some(ms()),
        seq: Some(seq),
        metrics,
        ..Payload::default()
    };
    let _ = client
        .publish(topic, QoS::AtMostOnce, false, payload.encode_to_vec())
        .await;
}

/// The raw value a tool publishes for a scaled `value` of `point`.
fn unscale(value: Decoded, point: &pilotline_equipment::Point) -> Decoded {
    match value {
        Decoded::Number(n) if point.scale != 0.0 => {
            Decoded::Number((n - point.offset) / point.scale)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_build_nested_documents() {
        let mut doc = serde_json::json!({});
        set_pointer(&mut doc, "/chamber/pressure_pa", serde_json::json!(12.5));
        set_pointer(&mut doc, "/chamber/temp", serde_json::json!(20));
        set_pointer(&mut doc, "/a~1b", serde_json::json!(true));
        assert_eq!(
            doc,
            serde_json::json!({"chamber": {"pressure_pa": 12.5, "temp": 20}, "a/b": true})
        );
    }
}
