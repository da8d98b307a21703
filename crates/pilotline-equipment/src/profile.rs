//! The profile format: device types and devices, as written in `equipment-profiles/`.
//!
//! Every struct refuses unknown keys. Register addresses are written as the device manual
//! writes them and the type's `address_base` says how: `0` when the manual gives on-the-wire
//! (0-based) addresses, `1` when it counts from 1 (Kepware/PLC4X style, "40001" = holding 1).

use pilotline_domain::E10State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::decode::{DataType, WordOrder};

/// How a device type talks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Modbus TCP or RTU registers.
    Modbus,
    /// MQTT, plain JSON or Sparkplug B.
    Mqtt,
}

/// A Modbus data area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// Read/write single bits (function 1).
    Coil,
    /// Read-only single bits (function 2).
    Discrete,
    /// Read/write 16-bit registers (function 3).
    Holding,
    /// Read-only 16-bit registers (function 4).
    Input,
}

/// How an MQTT payload is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// JSON; the point's `pointer` (RFC 6901) selects the value.
    Json,
    /// Sparkplug B protobuf; the point's `metric` names the metric.
    Sparkplug,
}

/// A named set of points polled together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollGroup {
    /// Name points refer to.
    pub name: String,
    /// Poll interval in milliseconds.
    pub interval_ms: u64,
}

/// One signal a tool exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Point name, unique within the type (e.g. `tube_temperature`).
    pub name: String,
    /// Data type: required for Modbus; for MQTT optional (JSON and Sparkplug payloads carry
    /// their own types), and when given the value is checked against it.
    #[serde(rename = "type")]
    pub data_type: Option<DataType>,
    /// Unit (e.g. `degC`, `Pa`, `sccm`, `%`).
    #[serde(default)]
    pub unit: String,
    /// Multiplier applied to the raw number.
    #[serde(default = "one")]
    pub scale: f64,
    /// Added after scaling.
    #[serde(default)]
    pub offset: f64,
    /// Smallest change worth recording (after scaling); 0 records every poll.
    #[serde(default)]
    pub deadband: f64,
    /// Raw value → label (status words, modes).
    #[serde(default, rename = "enum", skip_serializing_if = "BTreeMap::is_empty")]
    pub enum_labels: BTreeMap<String, String>,
    /// Plausible range of the scaled value; readings outside are counted and dropped.
    #[serde(default)]
    pub valid_min: Option<f64>,
    /// Upper end of the plausible range.
    #[serde(default)]
    pub valid_max: Option<f64>,

    /// Modbus: data area.
    pub area: Option<Area>,
    /// Modbus: register or bit address, counted from the type's `address_base`.
    pub address: Option<u32>,
    /// Modbus: word/byte order of multi-register values (default ABCD).
    pub order: Option<WordOrder>,
    /// Modbus: registers of a `string`.
    pub registers: Option<u16>,
    /// Modbus: bit of a `bit` point, 0 = least significant.
    pub bit: Option<u8>,
    /// Modbus: poll group.
    pub poll_group: Option<String>,

    /// MQTT: topic; `{group}`, `{node}`, `{device}` are filled from the device.
    pub topic: Option<String>,
    /// MQTT: payload codec.
    pub codec: Option<Codec>,
    /// MQTT JSON: JSON pointer of the value (e.g. `/chamber/pressure_pa`).
    pub pointer: Option<String>,
    /// MQTT JSON: JSON pointer of the reading's timestamp (milliseconds since the epoch, or an
    /// RFC 3339 string); without it the time of receipt is used.
    pub time_pointer: Option<String>,
    /// MQTT Sparkplug: metric name.
    pub metric: Option<String>,
    /// MQTT: subscription QoS (0 or 1; default 1).
    pub qos: Option<u8>,
}

fn one() -> f64 {
    1.0
}

/// The value an E10 rule compares with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Match {
    /// A boolean point.
    Bool(bool),
    /// A numeric point (its value after scaling).
    Number(f64),
    /// An enum label or text point.
    Text(String),
}

/// Maps a signal to a SEMI E10 state. Rules are tried in order; the first that matches wins, and
/// when none matches the tool is idle (`standby`); see [`crate::e10`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct E10Rule {
    /// Point whose value is tested.
    pub point: String,
    /// Value that makes the rule match.
    pub equals: Match,
    /// State entered. `productive` means "running": Pilotline records engineering time instead
    /// when the lot on the tool is an engineering or qualification lot.
    pub state: E10State,
    /// Whether this signal is a tool-stopping alarm (the collector inhibits track-in).
    #[serde(default)]
    pub stops_tool: bool,
}

/// What a kind of tool exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceTypeHeader {
    /// Type id devices refer to.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Pilotline equipment type of tools of this kind (matched against route steps).
    pub equipment_type: String,
    /// Protocol.
    pub protocol: Protocol,
    /// `0` if addresses are on-the-wire (0-based), `1` if counted from 1.
    #[serde(default)]
    pub address_base: u8,
}

/// A device type file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceType {
    /// Identity and protocol.
    pub device_type: DeviceTypeHeader,
    /// Poll groups (Modbus).
    #[serde(default)]
    pub poll_group: Vec<PollGroup>,
    /// Points.
    pub point: Vec<Point>,
    /// Signal → E10 state rules.
    #[serde(default)]
    pub e10_rule: Vec<E10Rule>,
    /// How long this type's telemetry is kept, where it differs from the line's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}

/// A device type's telemetry retention (`[retention]`), in days, each one replacing the line's
/// default (`retention_*_days` in the configuration) for the tools of the type: e.g. a
/// metrology tool's raw data kept a year, a chiller's a week.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Raw samples.
    pub raw_days: Option<u32>,
    /// Raw samples taken during a lot's run (the lot's process data).
    pub lot_raw_days: Option<u32>,
    /// 1-minute rollups.
    pub minute_days: Option<u32>,
    /// 1-hour rollups.
    pub hour_days: Option<u32>,
}

impl Retention {
    /// What is wrong with the section on its own: a period of 0 days. (Whether each level
    /// outlives the finer one is checked against the line's defaults when the tools' policies
    /// are made.)
    pub fn problems(&self) -> Vec<String> {
        [
            ("raw_days", self.raw_days),
            ("lot_raw_days", self.lot_raw_days),
            ("minute_days", self.minute_days),
            ("hour_days", self.hour_days),
        ]
        .into_iter()
        .filter(|(_, d)| *d == Some(0))
        .map(|(name, _)| format!("{name} must be at least 1"))
        .collect()
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// None.
    None,
    /// Even.
    Even,
    /// Odd.
    Odd,
}

/// How to reach a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Transport {
    /// Modbus TCP.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (502 by default on devices).
        port: u16,
    },
    /// Modbus RTU on a serial line.
    Rtu {
        /// Serial device path.
        path: String,
        /// Baud rate.
        baud: u32,
        /// Parity.
        parity: Parity,
        /// Stop bits (1 or 2).
        stop_bits: u8,
    },
    /// Modbus RTU frames tunnelled over TCP (serial gateways).
    RtuOverTcp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// MQTT broker.
    Mqtt {
        /// Broker URL (`mqtt://host:port`).
        broker: String,
        /// Sparkplug group id / topic `{group}`.
        #[serde(default)]
        group: Option<String>,
        /// Sparkplug edge node id / topic `{node}`.
        #[serde(default)]
        node: Option<String>,
    },
}

/// One tool on the line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Tool id, as in Pilotline's equipment list (e.g. `FURNACE-01`).
    pub id: String,
    /// Device type id.
    #[serde(rename = "type")]
    pub device_type: String,
    /// Where it stands.
    #[serde(default)]
    pub location: String,
    /// How to reach it.
    pub transport: Transport,
    /// Modbus unit (slave) id, 0-247.
    pub unit_id: Option<u8>,
    /// Request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries before the tool is marked stale.
    #[serde(default = "default_retries")]
    pub retries: u8,
    /// Quirk: pause between requests, in milliseconds.
    #[serde(default)]
    pub pause_between_requests_ms: u64,
    /// Quirk: most registers one request may read (1-125).
    #[serde(default = "default_max_registers")]
    pub max_registers_per_request: u16,
    /// Quirk: close the connection after every poll cycle.
    #[serde(default)]
    pub close_after_cycle: bool,
    /// Sparkplug device id / topic `{device}` (MQTT; defaults to `id`).
    pub mqtt_device: Option<String>,
}

fn default_timeout_ms() -> u64 {
    1000
}

fn default_retries() -> u8 {
    2
}

fn default_max_registers() -> u16 {
    125
}

/// A device file: one or more tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    /// Tools.
    pub device: Vec<Device>,
}
