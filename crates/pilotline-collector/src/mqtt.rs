//! Collecting from tools that publish over MQTT (rumqttc): plain JSON topics, and Sparkplug B
//! edge nodes, for which the collector is a host application ([`crate::sparkplug`]).
//!
//! One client per broker owns its event loop. Subscriptions are QoS 1 on a persistent session,
//! renewed whenever the broker reports no session. Acknowledgements are manual: a QoS 1 message
//! is acknowledged only after the writer has stored (or spooled) what it carried, so a crash
//! loses nothing the broker was told it could forget. A redelivery (DUP flag, same payload) is
//! not read twice, and repeated values within a point's deadband are not recorded again. A
//! payload that is not JSON or not Sparkplug, or lacks a point, is reported as rejected with its
//! topic and never stops the loop. Losing the broker marks every tool on it stale; reconnection
//! uses capped exponential backoff.

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use pilotline_equipment::Decoded;
use pilotline_equipment::decode::DataType;
use pilotline_equipment::profile::{Codec, Device, DeviceType, Point, Transport};
use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions, Packet, Publish, QoS};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

use crate::metrics::METRICS;
use crate::recorder::{BACKOFF_START, Recorder, back_off, mark_stale, reject};
use crate::sparkplug::{self, Action, Host};
use crate::{Delivery, Event};

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

/// Where a message's values go: the JSON points of one topic, or the Sparkplug points of the
/// devices of one edge node.
struct Route {
    device: usize,
    point: usize,
}

/// Options of a collector's MQTT session.
#[derive(Debug, Clone)]
pub struct Options {
    /// MQTT client id; keep it stable so the broker keeps the session (and its QoS 1 queue)
    /// across restarts.
    pub client_id: String,
    /// Sparkplug host application id, for the STATE topic.
    pub host_id: String,
    /// Shared-subscription group of the JSON topics (`$share/{group}/{topic}`): the broker
    /// hands each message to one collector of the group, so several collectors split the
    /// stream. `None`: this collector takes every message.
    pub share_group: Option<String>,
}

impl Options {
    /// Options with `client_id`, also used as the host id, taking every message.
    pub fn new(client_id: impl Into<String>) -> Options {
        let client_id = client_id.into();
        Options {
            host_id: client_id.clone(),
            client_id,
            share_group: None,
        }
    }

    /// These options with the JSON topics shared in `group` (see [`Options::share_group`]).
    pub fn shared(mut self, group: Option<String>) -> Options {
        self.share_group = group;
        self
    }
}

/// Whether `group` can name a shared subscription: not empty, and none of `/`, `+`, `#`.
pub fn valid_share_group(group: &str) -> bool {
    !group.is_empty() && !group.contains(['/', '+', '#'])
}

/// Routing tables built from the profiles.
#[derive(Default)]
struct Routes {
    /// Topic → JSON points.
    json: BTreeMap<String, Vec<Route>>,
    /// (group, node, device) → device index; and (device index, metric) → point index.
    sparkplug_devices: HashMap<(String, String, String), usize>,
    sparkplug_points: HashMap<(usize, String), usize>,
    /// (group, node) → device indexes.
    sparkplug_nodes: HashMap<(String, String), Vec<usize>>,
}

impl Routes {
    fn new(devices: &[(Device, Arc<DeviceType>)]) -> Routes {
        let mut routes = Routes::default();
        for (d, (device, ty)) in devices.iter().enumerate() {
            for (p, point) in ty.point.iter().enumerate() {
                match point.codec {
                    Some(Codec::Json) => {
                        if let Some(topic) = topic_for(point, device) {
                            routes.json.entry(topic).or_default().push(Route {
                                device: d,
                                point: p,
                            });
                        }
                    }
                    Some(Codec::Sparkplug) => {
                        let Transport::Mqtt {
                            group: Some(group),
                            node: Some(node),
                            ..
                        } = &device.transport
                        else {
                            continue;
                        };
                        let Some(metric) = &point.metric else {
                            continue;
                        };
                        let name = device
                            .mqtt_device
                            .clone()
                            .unwrap_or_else(|| device.id.clone());
                        routes
                            .sparkplug_devices
                            .insert((group.clone(), node.clone(), name), d);
                        let node_devices = routes
                            .sparkplug_nodes
                            .entry((group.clone(), node.clone()))
                            .or_default();
                        if !node_devices.contains(&d) {
                            node_devices.push(d);
                        }
                        routes.sparkplug_points.insert((d, metric.clone()), p);
                    }
                    None => {}
                }
            }
        }
        routes
    }

    /// Subscriptions: every JSON topic at its points' QoS (in the shared group `share`, when
    /// given), and each Sparkplug group.
    ///
    /// Sparkplug is never shared. A host must see every message of an edge node, in order, to
    /// keep the node's state: its birth certificate (metric names and aliases, and which
    /// devices are online) and the `seq` it expects next. If a group shared the node's stream,
    /// every collector would see gaps, ask for rebirths without end, and take values on
    /// aliases it never saw born. So each collector is a whole Sparkplug host of its own (its
    /// own host id and STATE topic), and the store keeps a sample once (a point has one value
    /// per instant, and Sparkplug metrics carry their own timestamps).
    fn subscriptions(
        &self,
        devices: &[(Device, Arc<DeviceType>)],
        share: Option<&str>,
    ) -> Vec<(String, QoS)> {
        let mut subs: Vec<(String, QoS)> = self
            .json
            .iter()
            .map(|(topic, rs)| {
                let qos = rs
                    .iter()
                    .map(|r| devices[r.device].1.point[r.point].qos.unwrap_or(1))
                    .max();
                let qos = if qos == Some(0) {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                let topic = match share {
                    Some(group) => format!("$share/{group}/{topic}"),
                    None => topic.clone(),
                };
                (topic, qos)
            })
            .collect();
        let groups: std::collections::BTreeSet<&String> =
            self.sparkplug_nodes.keys().map(|(g, _)| g).collect();
        for g in groups {
            subs.push((format!("{}/{g}/#", sparkplug::NAMESPACE), QoS::AtLeastOnce));
        }
        subs
    }

    /// The JSON topics as plain (unshared) subscriptions: what a session made before the
    /// collectors shared the stream holds, and must drop once they do.
    fn plain_json_topics(&self) -> Vec<String> {
        self.json.keys().cloned().collect()
    }
}

/// The collector's side of one broker: routing, per-tool recorders, Sparkplug sessions.
struct Session<'a> {
    devices: &'a [(Device, Arc<DeviceType>)],
    routes: Routes,
    recorders: HashMap<usize, Recorder>,
    host: Host,
    events: &'a mpsc::Sender<Event>,
    /// Tools currently marked stale by a Sparkplug death.
    dead: HashSet<usize>,
}

impl Session<'_> {
    /// Handles one message; `false` when the event receiver is gone.
    async fn on_publish(&mut self, client: &AsyncClient, publish: &Publish) -> bool {
        if let Some(topic) = sparkplug::Topic::parse(&publish.topic) {
            return self.on_sparkplug(client, &topic, &publish.payload).await;
        }
        let Some(rs) = self.routes.json.get(publish.topic.as_str()) else {
            return true;
        };
        let received = Utc::now();
        let payload: Result<serde_json::Value, _> = serde_json::from_slice(&publish.payload);
        for r in rs {
            let (device, ty) = &self.devices[r.device];
            let point = &ty.point[r.point];
            let alive = match &payload {
                Err(e) => {
                    let reason = format!("payload on {} is not JSON: {e}", publish.topic);
                    reject(self.events, &device.id, &point.name, reason).await
                }
                Ok(doc) => {
                    match json_value(doc, point).and_then(|v| Ok((v, json_time(doc, point)?))) {
                        Ok((Some(v), at)) => {
                            self.recorders
                                .entry(r.device)
                                .or_default()
                                .record(
                                    self.events,
                                    &device.id,
                                    ty,
                                    point,
                                    at.unwrap_or(received),
                                    v,
                                )
                                .await
                        }
                        Ok((None, _)) => true,
                        Err(reason) => {
                            let reason = format!("{} on {}", reason, publish.topic);
                            reject(self.events, &device.id, &point.name, reason).await
                        }
                    }
                }
            };
            if !alive {
                return false;
            }
        }
        true
    }

    async fn on_sparkplug(
        &mut self,
        client: &AsyncClient,
        topic: &sparkplug::Topic<'_>,
        payload: &[u8],
    ) -> bool {
        let node_key = (topic.group.to_string(), topic.node.to_string());
        let Some(node_devices) = self.routes.sparkplug_nodes.get(&node_key).cloned() else {
            return true;
        };
        let now = Utc::now();
        let devices = &self.routes.sparkplug_devices;
        let device_index = |name: &str| {
            devices
                .get(&(node_key.0.clone(), node_key.1.clone(), name.to_string()))
                .copied()
        };
        let actions = self.host.handle(topic, payload, now, Instant::now());
        let actions: Vec<(Action, Option<usize>)> = actions
            .into_iter()
            .map(|a| {
                let d = match &a {
                    Action::Value {
                        device: Some(n), ..
                    }
                    | Action::DeviceOnline(n)
                    | Action::DeviceOffline(n) => device_index(n),
                    _ => None,
                };
                (a, d)
            })
            .collect();
        for (action, d) in actions {
            let alive = match action {
                Action::Value {
                    device: Some(_),
                    metric,
                    at,
                    value,
                } => {
                    let Some(d) = d else { continue };
                    let Some(&p) = self.routes.sparkplug_points.get(&(d, metric)) else {
                        continue;
                    };
                    let (device, ty) = &self.devices[d];
                    let point = &ty.point[p];
                    let value = match value {
                        Decoded::Number(n) => Decoded::Number(n * point.scale + point.offset),
                        other => other,
                    };
                    self.recorders
                        .entry(d)
                        .or_default()
                        .record(self.events, &device.id, ty, point, at, value)
                        .await
                }
                Action::Value { device: None, .. } => true,
                Action::DeviceOnline(_) => match d {
                    Some(d) => self.recovered(d, now).await,
                    None => true,
                },
                Action::DeviceOffline(_) => match d {
                    Some(d) => {
                        self.died(d, now, format!("DDEATH from {}", topic.node))
                            .await
                    }
                    None => true,
                },
                Action::NodeOffline => {
                    let mut alive = true;
                    for &d in &node_devices {
                        let reason = format!("NDEATH of edge node {}/{}", topic.group, topic.node);
                        alive &= self.died(d, now, reason).await;
                    }
                    alive
                }
                Action::Rebirth(reason) => {
                    tracing::warn!(group = topic.group, node = topic.node, %reason, "asking the edge node to rebirth");
                    METRICS.rebirths.inc();
                    let cmd = format!(
                        "{}/{}/NCMD/{}",
                        sparkplug::NAMESPACE,
                        topic.group,
                        topic.node
                    );
                    if let Err(e) = client
                        .publish(cmd, QoS::AtMostOnce, false, sparkplug::rebirth_request(now))
                        .await
                    {
                        tracing::error!(error = %e, "cannot send the rebirth request");
                    }
                    true
                }
                Action::Rejected(reason) => {
                    // Attribute it to the node's first tool: the message names no point.
                    let equipment = node_devices
                        .first()
                        .map(|&d| self.devices[d].0.id.clone())
                        .unwrap_or_default();
                    let where_ = format!("{}/{}/{}", topic.group, topic.kind, topic.node);
                    reject(self.events, &equipment, &where_, reason).await
                }
            };
            if !alive {
                return false;
            }
        }
        true
    }

    async fn died(&mut self, d: usize, at: chrono::DateTime<Utc>, reason: String) -> bool {
        if !self.dead.insert(d) {
            return true;
        }
        let equipment = self.devices[d].0.id.clone();
        self.events
            .send(Event::Stale {
                equipment,
                at,
                reason,
            })
            .await
            .is_ok()
    }

    async fn recovered(&mut self, d: usize, at: chrono::DateTime<Utc>) -> bool {
        if !self.dead.remove(&d) {
            return true;
        }
        let equipment = self.devices[d].0.id.clone();
        self.events
            .send(Event::Recovered { equipment, at })
            .await
            .is_ok()
    }
}

/// Collects the JSON and Sparkplug points of `devices` (all on the broker at `broker`) until
/// `stop` turns true. QoS 1 messages are acknowledged through [`Event::Delivered`], once the
/// writer has made their content durable.
pub async fn run(
    broker: String,
    options: Options,
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
    let routes = Routes::new(&devices);
    let mut subscriptions = routes.subscriptions(&devices, options.share_group.as_deref());
    // With a share group, a session the broker kept from before may still hold the plain
    // subscriptions (the collector ran alone, then joined a group): each reconnect drops them
    // and (re)makes the shared ones, so the stream is split and nothing arrives twice. A
    // shared subscription gets no retained messages, so renewing it replays nothing.
    let unshare = match options.share_group {
        Some(_) => routes.plain_json_topics(),
        None => Vec::new(),
    };
    if subscriptions.is_empty() {
        return;
    }
    subscriptions.push((DROPPED_TOPIC.to_string(), QoS::AtMostOnce));
    let mut dropped = BrokerDrops::default();
    // Labels and logs name the broker by address only (a URL may carry credentials).
    let broker_shown = format!("{host}:{port}");
    let has_sparkplug = !routes.sparkplug_nodes.is_empty();
    let mut mqtt = MqttOptions::new(options.client_id.clone(), host, port);
    mqtt.set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_inflight(100)
        .set_manual_acks(true);
    // Sparkplug 3.0 host: the will says offline; the birth, sent once subscribed, online.
    let state_topic = sparkplug::state_topic(&options.host_id);
    let session_ts = Utc::now().timestamp_millis();
    if has_sparkplug {
        mqtt.set_last_will(LastWill::new(
            state_topic.clone(),
            sparkplug::state_payload(false, session_ts),
            QoS::AtLeastOnce,
            true,
        ));
    }
    let (client, mut eventloop) = AsyncClient::new(mqtt, 1000);
    // PUBACKs go through a task of their own, in arrival order. The client's request queue is
    // bounded and only this loop's `poll` drains it, while this loop may be waiting for the
    // writer (the event channel is full): a writer that sent acknowledgements itself could end
    // up waiting for this loop, and both would stall (seen with a deep broker queue). The queue
    // below is bounded in practice by the messages already received and not yet acknowledged.
    let (acks, mut ack_queue) = mpsc::unbounded_channel::<Publish>();
    let acker = {
        let client = client.clone();
        tokio::spawn(async move {
            while let Some(publish) = ack_queue.recv().await {
                if let Err(e) = client.ack(&publish).await {
                    tracing::debug!(topic = %publish.topic, error = %e, "delivery not acknowledged");
                }
            }
        })
    };
    let _acker = AbortOnDrop(acker);
    let mut session = Session {
        devices: &devices,
        routes,
        recorders: HashMap::new(),
        host: Host::default(),
        events: &events,
        dead: HashSet::new(),
    };
    // Last payload per topic: a QoS 1 redelivery (DUP set, same payload) is not a new reading.
    let mut last_payload: HashMap<String, Bytes> = HashMap::new();
    let mut backoff = BACKOFF_START;
    let mut stale = false;
    loop {
        let polled = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.changed() => {
                if has_sparkplug {
                    let offline = sparkplug::state_payload(false, session_ts);
                    let _ = client.publish(state_topic.clone(), QoS::AtLeastOnce, true, offline).await;
                }
                let _ = client.disconnect().await;
                // Let the event loop send what is queued (the PUBACKs handed over so far, the
                // STATE, DISCONNECT). Acknowledgements the writer gives after this are not sent:
                // the broker redelivers those messages to the next session, and storing them
                // again is a replay.
                let drain = async { while eventloop.poll().await.is_ok() {} };
                let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                return;
            }
        };
        match polled {
            Ok(MqttEvent::Incoming(Packet::ConnAck(ack))) => {
                backoff = BACKOFF_START;
                crate::metrics::METRICS
                    .broker_connected
                    .with_label_values(&[&broker_shown])
                    .set(1);
                if ack.session_present {
                    for topic in &unshare {
                        if let Err(e) = client.unsubscribe(topic.clone()).await {
                            tracing::error!(%topic, error = %e, "cannot unsubscribe");
                        }
                    }
                }
                let shared = |t: &str| t.starts_with("$share/");
                for (topic, qos) in &subscriptions {
                    // A kept session keeps its plain subscriptions (renewing them would
                    // replay retained messages); the shared ones are renewed.
                    if ack.session_present && !shared(topic) {
                        continue;
                    }
                    if let Err(e) = client.subscribe(topic.clone(), *qos).await {
                        tracing::error!(%topic, error = %e, "cannot subscribe");
                    }
                }
                if has_sparkplug {
                    let online = sparkplug::state_payload(true, session_ts);
                    if let Err(e) = client
                        .publish(state_topic.clone(), QoS::AtLeastOnce, true, online)
                        .await
                    {
                        tracing::error!(error = %e, "cannot publish the host's STATE");
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
            Ok(MqttEvent::Incoming(Packet::Publish(publish))) if publish.topic == DROPPED_TOPIC => {
                dropped.report(&broker_shown, &publish.payload);
            }
            Ok(MqttEvent::Incoming(Packet::Publish(publish))) => {
                crate::metrics::METRICS
                    .mqtt_messages
                    .with_label_values(&[&broker_shown])
                    .inc();
                let duplicate = publish.dup
                    && last_payload
                        .get(&publish.topic)
                        .is_some_and(|p| p[..] == publish.payload[..]);
                if !duplicate {
                    last_payload.insert(publish.topic.clone(), publish.payload.clone());
                    if !session.on_publish(&client, &publish).await {
                        return;
                    }
                }
                if publish.qos != QoS::AtMostOnce {
                    // Even a duplicate waits for the writer: its original may not be stored yet.
                    let delivery = Delivery {
                        acks: acks.clone(),
                        publish,
                    };
                    if events.send(Event::Delivered(delivery)).await.is_err() {
                        return;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                crate::metrics::METRICS
                    .broker_connected
                    .with_label_values(&[&broker_shown])
                    .set(0);
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

/// Aborts a task when dropped (the acknowledger, once its connection's loop is done).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Mosquitto's count of the messages it dropped since it started (a client's queue or in-flight
/// limit reached), published every `sys_interval` seconds.
pub const DROPPED_TOPIC: &str = "$SYS/broker/publish/messages/dropped";

/// The broker's dropped-message count as last seen.
#[derive(Debug, Default)]
pub struct BrokerDrops {
    last: Option<u64>,
}

impl BrokerDrops {
    /// Takes a `$SYS` dropped-messages payload from broker `broker` (`host:port`): sets
    /// `collector_broker_dropped_messages` and logs a warning when the count grew (or is not 0
    /// when first seen). Returns the messages dropped since the last report.
    pub fn report(&mut self, broker: &str, payload: &[u8]) -> u64 {
        let Some(total) = std::str::from_utf8(payload)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        else {
            return 0;
        };
        crate::metrics::METRICS
            .broker_dropped
            .with_label_values(&[broker])
            .set(i64::try_from(total).unwrap_or(i64::MAX));
        let new = total.saturating_sub(self.last.unwrap_or(0));
        if new > 0 {
            tracing::warn!(
                %broker, dropped = new, total,
                "the broker dropped messages (a client's queue or in-flight limit reached)"
            );
        }
        self.last = Some(total);
        new
    }
}

/// The reading's own time, from the point's `time_pointer`: epoch milliseconds or RFC 3339.
fn json_time(
    doc: &serde_json::Value,
    point: &Point,
) -> Result<Option<chrono::DateTime<Utc>>, String> {
    let Some(pointer) = point.time_pointer.as_deref() else {
        return Ok(None);
    };
    match doc.pointer(pointer) {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map(Some)
            .ok_or_else(|| format!("{pointer} is not a time in milliseconds")),
        Some(serde_json::Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| format!("{pointer} is not an RFC 3339 time: {e}")),
        Some(other) => Err(format!("{pointer} holds {other}, not a time")),
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
mod drop_tests {
    use super::BrokerDrops;

    #[test]
    fn broker_drops_are_reported_as_they_grow() {
        let mut d = BrokerDrops::default();
        assert_eq!(d.report("b:1", b"0"), 0);
        assert_eq!(d.report("b:1", b"0"), 0);
        assert_eq!(d.report("b:1", b"6850"), 6850);
        assert_eq!(d.report("b:1", b"6850"), 0);
        assert_eq!(d.report("b:1", b"not a number"), 0);
        let gauge = crate::metrics::METRICS
            .broker_dropped
            .with_label_values(&["b:1"])
            .get();
        assert_eq!(gauge, 6850);
        // Drops before the collector first looked are reported once.
        let mut late = BrokerDrops::default();
        assert_eq!(late.report("b:2", b"12"), 12);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The devices of a profile directory holding `files` (name, text).
    fn devices(files: &[(&str, &str)]) -> Vec<(Device, Arc<DeviceType>)> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (catalogue, errors) = pilotline_equipment::validate::load_dir(dir.path());
        assert!(errors.is_empty(), "{errors:?}");
        catalogue
            .devices
            .values()
            .map(|d| {
                let ty = catalogue.types[&d.device_type].clone();
                (d.clone(), Arc::new(ty))
            })
            .collect()
    }

    #[test]
    fn a_share_group_shares_the_json_topics_and_never_sparkplug() {
        let json = "[device_type]\nid = \"meter\"\nequipment_type = \"METER\"\nprotocol = \"mqtt\"\n\n\
                    [[point]]\nname = \"n\"\ntopic = \"line/{device}/n\"\ncodec = \"json\"\npointer = \"/n\"\n";
        let spb = "[device_type]\nid = \"node\"\nequipment_type = \"NODE\"\nprotocol = \"mqtt\"\n\n\
                   [[point]]\nname = \"t\"\ncodec = \"sparkplug\"\nmetric = \"t\"\n";
        let tools = "[[device]]\nid = \"M1\"\ntype = \"meter\"\ntransport = { kind = \"mqtt\", broker = \"mqtt://b\" }\n\
                     [[device]]\nid = \"N1\"\ntype = \"node\"\ntransport = { kind = \"mqtt\", broker = \"mqtt://b\", group = \"fab\", node = \"edge1\" }\n";
        let devices = devices(&[
            ("meter.toml", json),
            ("node.toml", spb),
            ("tools.toml", tools),
        ]);
        let routes = Routes::new(&devices);
        let topics = |share| -> Vec<String> {
            routes
                .subscriptions(&devices, share)
                .into_iter()
                .map(|(t, _)| t)
                .collect()
        };
        assert_eq!(topics(None), ["line/M1/n", "spBv1.0/fab/#"]);
        assert_eq!(
            topics(Some("collectors")),
            ["$share/collectors/line/M1/n", "spBv1.0/fab/#"]
        );
        assert_eq!(routes.plain_json_topics(), ["line/M1/n"]);
        assert!(valid_share_group("collectors"));
        for bad in ["", "a/b", "a+", "#"] {
            assert!(!valid_share_group(bad), "{bad:?}");
        }
    }

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
