//! Pilotline's equipment collector.
//!
//! One task per Modbus tool, and one per MQTT broker (plain JSON topics and a Sparkplug B host
//! application), report [`Event`]s: decoded, scaled samples, readings refused as implausible,
//! E10 states the tools' signals call for, and tools going stale or recovering. A slow or
//! unreachable tool only ever delays its own task. MQTT deliveries are acknowledged to the broker
//! only once the writer has made what they carried durable ([`Delivery`]); [`spool`] keeps
//! events on local disk while the database is unreachable.

pub mod metrics;
pub mod modbus;
pub mod modbus_server;
pub mod mqtt;
pub mod recorder;
pub mod sparkplug;
pub mod spool;

use chrono::{DateTime, Utc};
use pilotline_domain::E10State;
use pilotline_equipment::Decoded;

/// One value read from a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Tool id.
    pub equipment: String,
    /// Point name.
    pub point: String,
    /// When it was read (the tool's own timestamp where the protocol carries one).
    pub at: DateTime<Utc>,
    /// The value, scaled.
    pub value: Decoded,
}

/// An MQTT message whose content has been reported; acknowledging it tells the broker it may
/// forget the message, so the writer does that only after the content is durable.
pub struct Delivery {
    acks: tokio::sync::mpsc::UnboundedSender<rumqttc::Publish>,
    publish: rumqttc::Publish,
}

impl Delivery {
    /// Queues the PUBACK, in the order the messages arrived (as MQTT requires). It never
    /// waits: the connection's acknowledger task hands it to the client, so a writer that
    /// acknowledges can never wait on an event loop that is itself waiting for the writer.
    pub fn ack(self) {
        if self.acks.send(self.publish).is_err() {
            // The connection is gone: the broker redelivers the message to the next session.
            tracing::debug!("delivery not acknowledged: connection closed");
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.publish.topic)
            .field("pkid", &self.publish.pkid)
            .finish()
    }
}

/// What a collector task reports.
#[derive(Debug)]
pub enum Event {
    /// A new value (outside the deadband of the last one recorded).
    Sample(Sample),
    /// A reading that could not be used (undecodable, or outside the point's valid range).
    Rejected {
        /// Tool id.
        equipment: String,
        /// Point name (or the topic, when the payload could not be read at all).
        point: String,
        /// Why.
        reason: String,
    },
    /// The tool's signals call for another E10 state.
    State {
        /// Tool id.
        equipment: String,
        /// The state.
        state: E10State,
        /// When the signal changed.
        at: DateTime<Utc>,
        /// Which signal, e.g. `alarm_1 = true`.
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
    /// Everything reported before this is from an MQTT message that must be acknowledged once
    /// it is durable.
    Delivered(Delivery),
}
