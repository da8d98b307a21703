//! Pilotline's equipment collector.
//!
//! One task per tool polls it as its profile describes and reports [`Event`]s: decoded, scaled
//! samples, readings refused as implausible, and the tool going stale or recovering. A slow or
//! unreachable tool only ever delays its own task.

pub mod modbus;
pub mod modbus_server;
pub mod mqtt;
pub mod recorder;

use chrono::{DateTime, Utc};
use pilotline_equipment::Decoded;

/// One value read from a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Tool id.
    pub equipment: String,
    /// Point name.
    pub point: String,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// The value, scaled.
    pub value: Decoded,
}

/// What a collector task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new value (outside the deadband of the last one recorded).
    Sample(Sample),
    /// A reading that could not be used (undecodable, or outside the point's valid range).
    Rejected {
        /// Tool id.
        equipment: String,
        /// Point name.
        point: String,
        /// Why.
        reason: String,
    },
    /// Communication with the tool was lost; its last state stands, flagged stale.
    Stale {
        /// Tool id.
        equipment: String,
        /// When.
        at: DateTime<Utc>,
        /// Why (timeout, refused connection, header mismatch, …).
        reason: String,
    },
    /// Communication is back.
    Recovered {
        /// Tool id.
        equipment: String,
        /// When.
        at: DateTime<Utc>,
    },
}
