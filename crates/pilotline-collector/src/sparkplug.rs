//! The Sparkplug B host application's bookkeeping, without I/O.
//!
//! Per edge node it keeps the birth's `bdSeq`, the next expected `seq` and the alias tables of
//! the node and its devices. [`Host::handle`] turns one message into [`Action`]s: metric values
//! (names resolved through the aliases, types from the birth), devices and nodes going offline
//! or online, and rebirth requests. The rules followed (Sparkplug 3.0):
//!
//! - `NBIRTH` starts a session: `seq` restarts, aliases are replaced, `bdSeq` is remembered.
//! - Every later message of the node carries the next `seq` (mod 256). A gap, or data from a
//!   node whose birth was not seen (after a host restart, say), asks the node to rebirth — at
//!   most once every [`REBIRTH_EVERY`] until the birth arrives. Values that can still be
//!   resolved are kept.
//! - `NDEATH` ends the session only when its `bdSeq` matches the birth's: an old session's will,
//!   delivered late, does not kill a new one.
//! - `DDEATH` takes one device offline; `DBIRTH` brings it back.

pub mod proto;

use chrono::{DateTime, TimeZone, Utc};
use pilotline_equipment::Decoded;
use prost::Message;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use proto::{DataType, Metric, Payload, Value};

/// Namespace of Sparkplug B topics.
pub const NAMESPACE: &str = "spBv1.0";
/// Shortest time between two rebirth requests to one node.
pub const REBIRTH_EVERY: Duration = Duration::from_secs(5);
/// Name of the node control metric that asks for a rebirth.
pub const REBIRTH_METRIC: &str = "Node Control/Rebirth";

/// A parsed Sparkplug topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic<'a> {
    /// Group id.
    pub group: &'a str,
    /// Message type (`NBIRTH`, `DDATA`, …).
    pub kind: &'a str,
    /// Edge node id.
    pub node: &'a str,
    /// Device id, for device messages.
    pub device: Option<&'a str>,
}

impl<'a> Topic<'a> {
    /// `spBv1.0/group/KIND/node[/device]`; `None` for anything else (STATE included).
    pub fn parse(topic: &'a str) -> Option<Topic<'a>> {
        let mut parts = topic.split('/');
        if parts.next()? != NAMESPACE {
            return None;
        }
        let group = parts.next()?;
        let kind = parts.next()?;
        let node = parts.next()?;
        let device = parts.next();
        if parts.next().is_some() || group == "STATE" {
            return None;
        }
        Some(Topic {
            group,
            kind,
            node,
            device,
        })
    }
}

/// What a message means for the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A metric value of the node (`device: None`) or one of its devices.
    Value {
        /// Device id.
        device: Option<String>,
        /// Metric name.
        metric: String,
        /// Sample time.
        at: DateTime<Utc>,
        /// Value.
        value: Decoded,
    },
    /// The device is publishing (its birth was received).
    DeviceOnline(String),
    /// The device is offline (`DDEATH`).
    DeviceOffline(String),
    /// The node and all its devices are offline (`NDEATH`).
    NodeOffline,
    /// Ask the node to publish its births again.
    Rebirth(String),
    /// Something in the message could not be used.
    Rejected(String),
}

#[derive(Debug, Default)]
struct Node {
    born: bool,
    bd_seq: Option<u64>,
    next_seq: Option<u8>,
    /// Alias → (name, data type) of node metrics.
    aliases: HashMap<u64, (String, Option<u32>)>,
    /// Device → its alias table.
    devices: HashMap<String, HashMap<u64, (String, Option<u32>)>>,
    rebirth_asked: Option<Instant>,
}

/// Sessions of every edge node seen.
#[derive(Debug, Default)]
pub struct Host {
    nodes: HashMap<(String, String), Node>,
}

impl Host {
    /// Handles one message on a Sparkplug topic; `now` dates values that carry no timestamp and
    /// `clock` paces rebirth requests.
    pub fn handle(
        &mut self,
        topic: &Topic<'_>,
        payload: &[u8],
        now: DateTime<Utc>,
        clock: Instant,
    ) -> Vec<Action> {
        let payload = match Payload::decode(payload) {
            Ok(p) => p,
            Err(e) => return vec![Action::Rejected(format!("not a Sparkplug B payload: {e}"))],
        };
        let key = (topic.group.to_string(), topic.node.to_string());
        let node = self.nodes.entry(key).or_default();
        let mut out = Vec::new();
        match (topic.kind, topic.device) {
            ("NBIRTH", None) => {
                node.born = true;
                node.rebirth_asked = None;
                node.bd_seq = bd_seq(&payload);
                node.next_seq = payload.seq.map(|s| next(s as u8));
                node.aliases = alias_table(&payload.metrics);
                node.devices.clear();
                values(&payload, None, &node.aliases, now, &mut out);
            }
            ("NDEATH", None) => {
                let death = bd_seq(&payload);
                if node.born && node.bd_seq.is_some() && death.is_some() && death != node.bd_seq {
                    tracing::info!(
                        group = topic.group,
                        node = topic.node,
                        "NDEATH of an earlier session ignored"
                    );
                    return out;
                }
                node.born = false;
                node.next_seq = None;
                out.push(Action::NodeOffline);
            }
            (kind @ ("NDATA" | "DBIRTH" | "DDATA" | "DDEATH"), device) => {
                if (kind == "NDATA") != device.is_none() {
                    out.push(Action::Rejected(format!("{kind} on a malformed topic")));
                    return out;
                }
                check_seq(node, kind, payload.seq, clock, &mut out);
                match (kind, device) {
                    ("NDATA", None) => values(&payload, None, &node.aliases, now, &mut out),
                    ("DBIRTH", Some(d)) => {
                        let table = alias_table(&payload.metrics);
                        values(&payload, Some(d), &table, now, &mut out);
                        node.devices.insert(d.to_string(), table);
                        out.push(Action::DeviceOnline(d.to_string()));
                    }
                    ("DDATA", Some(d)) => match node.devices.get(d) {
                        Some(table) => values(&payload, Some(d), table, now, &mut out),
                        None => {
                            // Named metrics can still be read; aliases cannot.
                            values(&payload, Some(d), &HashMap::new(), now, &mut out);
                            ask_rebirth(
                                node,
                                format!("DDATA from {d} before its DBIRTH"),
                                clock,
                                &mut out,
                            );
                        }
                    },
                    ("DDEATH", Some(d)) => {
                        node.devices.remove(d);
                        out.push(Action::DeviceOffline(d.to_string()));
                    }
                    _ => {}
                }
            }
            // Commands (NCMD/DCMD) are for the node; anything else is not ours to judge.
            _ => {}
        }
        out
    }
}

fn next(seq: u8) -> u8 {
    seq.wrapping_add(1)
}

/// Checks a message's `seq` against the node's session and moves the session on.
fn check_seq(node: &mut Node, kind: &str, seq: Option<u64>, clock: Instant, out: &mut Vec<Action>) {
    if !node.born {
        ask_rebirth(node, format!("{kind} before the node's NBIRTH"), clock, out);
        return;
    }
    let Some(seq) = seq else {
        out.push(Action::Rejected(format!("{kind} without seq")));
        return;
    };
    let seq = (seq % 256) as u8;
    if let Some(expected) = node.next_seq
        && expected != seq
    {
        ask_rebirth(
            node,
            format!("seq gap: expected {expected}, got {seq}"),
            clock,
            out,
        );
    }
    node.next_seq = Some(next(seq));
}

fn ask_rebirth(node: &mut Node, reason: String, clock: Instant, out: &mut Vec<Action>) {
    if node
        .rebirth_asked
        .is_some_and(|at| clock.duration_since(at) < REBIRTH_EVERY)
    {
        return;
    }
    node.rebirth_asked = Some(clock);
    out.push(Action::Rebirth(reason));
}

fn bd_seq(payload: &Payload) -> Option<u64> {
    payload
        .metrics
        .iter()
        .find(|m| m.name.as_deref() == Some("bdSeq"))
        .and_then(|m| match m.value {
            Some(Value::Long(n)) => Some(n),
            Some(Value::Int(n)) => Some(u64::from(n)),
            _ => None,
        })
}

fn alias_table(metrics: &[Metric]) -> HashMap<u64, (String, Option<u32>)> {
    metrics
        .iter()
        .filter_map(|m| Some((m.alias?, (m.name.clone()?, m.datatype))))
        .collect()
}

/// Pushes every usable metric value of `payload`.
fn values(
    payload: &Payload,
    device: Option<&str>,
    aliases: &HashMap<u64, (String, Option<u32>)>,
    now: DateTime<Utc>,
    out: &mut Vec<Action>,
) {
    let default_at = payload.timestamp.and_then(millis).unwrap_or(now);
    for m in &payload.metrics {
        let (name, birth_type) = match (&m.name, m.alias) {
            (Some(n), _) => (n.clone(), None),
            (None, Some(a)) => match aliases.get(&a) {
                Some((n, t)) => (n.clone(), *t),
                None => {
                    out.push(Action::Rejected(format!("unknown alias {a}")));
                    continue;
                }
            },
            (None, None) => {
                out.push(Action::Rejected("metric without name or alias".into()));
                continue;
            }
        };
        if m.is_null == Some(true) || name == "bdSeq" || name.starts_with("Node Control/") {
            continue;
        }
        let Some(raw) = &m.value else { continue };
        let at = m.timestamp.and_then(millis).unwrap_or(default_at);
        // Data messages may omit the type (or send 0): the birth's stands.
        match decode(raw, m.datatype.filter(|t| *t != 0).or(birth_type)) {
            Some(value) => out.push(Action::Value {
                device: device.map(str::to_string),
                metric: name,
                at,
                value,
            }),
            None => out.push(Action::Rejected(format!(
                "metric {name}: value {raw:?} does not fit its data type"
            ))),
        }
    }
}

fn millis(ms: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// A metric value as Pilotline records it; signed integers are two's complement on the wire.
fn decode(raw: &Value, datatype: Option<u32>) -> Option<Decoded> {
    use DataType as T;
    let t = datatype.and_then(DataType::from_u32);
    Some(match (raw, t) {
        (Value::Int(n), Some(T::Int8 | T::Int16 | T::Int32)) => {
            Decoded::Number(f64::from(*n as i32))
        }
        (Value::Int(n), _) => Decoded::Number(f64::from(*n)),
        (Value::Long(n), Some(T::Int64)) => Decoded::Number(*n as i64 as f64),
        (Value::Long(n), _) => Decoded::Number(*n as f64),
        (Value::Float(x), _) => Decoded::Number(pilotline_equipment::decode::f32_as_f64(*x)),
        (Value::Double(x), _) => Decoded::Number(*x),
        (Value::Boolean(b), _) => Decoded::Bool(*b),
        (Value::String(s), _) => Decoded::Text(s.clone()),
        (Value::Bytes(_), _) => return None,
    })
}

/// The NCMD payload that asks a node to publish its births again.
pub fn rebirth_request(now: DateTime<Utc>) -> Vec<u8> {
    let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    Payload {
        timestamp: Some(ms),
        metrics: vec![Metric {
            name: Some(REBIRTH_METRIC.into()),
            timestamp: Some(ms),
            datatype: Some(DataType::Boolean as u32),
            value: Some(Value::Boolean(true)),
            ..Metric::default()
        }],
        ..Payload::default()
    }
    .encode_to_vec()
}

/// Topic of a host application's STATE message (Sparkplug 3.0).
pub fn state_topic(host_id: &str) -> String {
    format!("{NAMESPACE}/STATE/{host_id}")
}

/// Payload of a host application's STATE message.
pub fn state_payload(online: bool, timestamp_ms: i64) -> Vec<u8> {
    serde_json::json!({ "online": online, "timestamp": timestamp_ms })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests;
