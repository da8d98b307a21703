//! The collector's Prometheus metrics. They are process-wide, so every task counts into them;
//! [`register`] adds them to the registry `/metrics` serves. Labels are tool ids and point names
//! from the profiles (a bounded set), never payload text.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::LazyLock;

/// The collector's metrics.
pub struct CollectorMetrics {
    /// Samples stored (`pilotline_collector_samples_total`).
    pub samples: IntCounter,
    /// Readings refused, by tool and point (`pilotline_collector_rejected_total`).
    pub rejected: IntCounterVec,
    /// Records waiting in the local spool (`pilotline_collector_spooled_records`).
    pub spooled: IntGauge,
    /// Communication losses, by tool (`pilotline_collector_comm_losses_total`).
    pub comm_losses: IntCounterVec,
    /// Sparkplug rebirth requests sent (`pilotline_collector_rebirth_requests_total`).
    pub rebirths: IntCounter,
    /// Messages the broker dropped since it started, from its `$SYS` topic, by broker
    /// (`host:port`) (`pilotline_collector_broker_dropped_messages`).
    pub broker_dropped: IntGaugeVec,
}

/// The process's collector metrics.
pub static METRICS: LazyLock<CollectorMetrics> = LazyLock::new(|| {
    CollectorMetrics {
    samples: IntCounter::new("collector_samples_total", "Samples stored").expect("metric"),
    rejected: IntCounterVec::new(
        Opts::new(
            "collector_rejected_total",
            "Readings refused (undecodable, malformed payload, outside the valid range)",
        ),
        &["equipment", "point"],
    )
    .expect("metric"),
    spooled: IntGauge::new(
        "collector_spooled_records",
        "Records waiting in the local spool for the database",
    )
    .expect("metric"),
    comm_losses: IntCounterVec::new(
        Opts::new(
            "collector_comm_losses_total",
            "Times communication with a tool was lost",
        ),
        &["equipment"],
    )
    .expect("metric"),
    rebirths: IntCounter::new(
        "collector_rebirth_requests_total",
        "Sparkplug B rebirth requests sent to edge nodes",
    )
    .expect("metric"),
    broker_dropped: IntGaugeVec::new(
        Opts::new(
            "collector_broker_dropped_messages",
            "Messages the MQTT broker dropped since it started ($SYS/broker/publish/messages/dropped)",
        ),
        &["broker"],
    )
    .expect("metric"),
}
});

/// Adds the collector's metrics to `registry`.
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    let m = &*METRICS;
    registry.register(Box::new(m.samples.clone()))?;
    registry.register(Box::new(m.rejected.clone()))?;
    registry.register(Box::new(m.spooled.clone()))?;
    registry.register(Box::new(m.comm_losses.clone()))?;
    registry.register(Box::new(m.rebirths.clone()))?;
    registry.register(Box::new(m.broker_dropped.clone()))?;
    Ok(())
}
