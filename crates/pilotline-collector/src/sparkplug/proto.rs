//! The Sparkplug B payload (`org.eclipse.tahu.protobuf.Payload`, sparkplug_b.proto), as prost
//! messages. Only what a host application reads is declared; prost skips the rest (datasets,
//! templates, metadata, property sets) as unknown fields.

/// A Sparkplug B payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Milliseconds since the epoch when the message was produced.
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    /// Metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Sequence number, 0–255 (absent on NDEATH and STATE).
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    /// Optional UUID of the payload schema.
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    /// Opaque body.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// One metric of a payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Name: required in births, usually omitted in data messages when an alias is used.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Alias announced in the birth certificate.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Milliseconds since the epoch when the value was sampled.
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// Data type ([`DataType`] as u32).
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    /// A historical (back-filled) value.
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    /// A value not to be stored.
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    /// The value is null.
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// The value.
    #[prost(oneof = "Value", tags = "10, 11, 12, 13, 14, 15, 16")]
    pub value: Option<Value>,
}

/// A metric's value.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// Int8/16/32, UInt8/16/32 (signed types as two's complement).
    #[prost(uint32, tag = "10")]
    Int(u32),
    /// Int64, UInt64, DateTime.
    #[prost(uint64, tag = "11")]
    Long(u64),
    /// Float.
    #[prost(float, tag = "12")]
    Float(f32),
    /// Double.
    #[prost(double, tag = "13")]
    Double(f64),
    /// Boolean.
    #[prost(bool, tag = "14")]
    Boolean(bool),
    /// String, Text, UUID.
    #[prost(string, tag = "15")]
    String(String),
    /// Bytes, File.
    #[prost(bytes = "vec", tag = "16")]
    Bytes(Vec<u8>),
}

/// Sparkplug B data types (the `datatype` of a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DataType {
    /// 8-bit signed.
    Int8 = 1,
    /// 16-bit signed.
    Int16 = 2,
    /// 32-bit signed.
    Int32 = 3,
    /// 64-bit signed.
    Int64 = 4,
    /// 8-bit unsigned.
    UInt8 = 5,
    /// 16-bit unsigned.
    UInt16 = 6,
    /// 32-bit unsigned.
    UInt32 = 7,
    /// 64-bit unsigned.
    UInt64 = 8,
    /// IEEE 754 single.
    Float = 9,
    /// IEEE 754 double.
    Double = 10,
    /// Boolean.
    Boolean = 11,
    /// UTF-8 string.
    String = 12,
    /// Milliseconds since the epoch.
    DateTime = 13,
    /// UTF-8 text.
    Text = 14,
}

impl DataType {
    /// The type with this wire number, if it is a scalar Pilotline records.
    pub fn from_u32(n: u32) -> Option<DataType> {
        use DataType::*;
        Some(match n {
            1 => Int8,
            2 => Int16,
            3 => Int32,
            4 => Int64,
            5 => UInt8,
            6 => UInt16,
            7 => UInt32,
            8 => UInt64,
            9 => Float,
            10 => Double,
            11 => Boolean,
            12 => String,
            13 => DateTime,
            14 => Text,
            _ => return None,
        })
    }
}
