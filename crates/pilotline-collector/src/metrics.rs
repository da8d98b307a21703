//! The collector's Prometheus metrics. They are process-wide, so every task counts into them;
//! [`register`] adds them to the registry `/metrics` serves. Labels are tool ids and point names
//! from the profiles (a bounded set), never payload text.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
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
    /// Seconds one Modbus poll cycle took, by tool (`pilotline_collector_poll_duration_seconds`).
    pub poll_duration: HistogramVec,
    /// Failed Modbus requests (timeouts, exceptions, lost connections), by tool
    /// (`pilotline_collector_poll_failures_total`).
    pub poll_failures: IntCounterVec,
    /// 1 while the MQTT session with the broker is up, else 0, by broker (`host:port`)
    /// (`pilotline_collector_broker_connected`).
    pub broker_connected: IntGaugeVec,
    /// MQTT messages this collector received from a broker, by broker (`host:port`)
    /// (`pilotline_collector_mqtt_messages_total`): with a shared subscription, each
    /// collector's part of the stream.
    pub mqtt_messages: IntCounterVec,
    /// 1 while a tool's communication is lost (its data stale), else 0, by tool
    /// (`pilotline_collector_stale`).
    pub stale: IntGaugeVec,
    /// Modbus tools this collector polls now (those whose leases it holds)
    /// (`pilotline_collector_tools_polled`).
    pub tools_polled: IntGauge,
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
    poll_duration: HistogramVec::new(
        HistogramOpts::new(
            "collector_poll_duration_seconds",
            "Seconds a Modbus poll cycle (every due group's requests) took",
        )
        .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
        &["equipment"],
    )
    .expect("metric"),
    poll_failures: IntCounterVec::new(
        Opts::new(
            "collector_poll_failures_total",
            "Modbus poll cycles that failed (timeout, exception, lost connection)",
        ),
        &["equipment"],
    )
    .expect("metric"),
    tools_polled: IntGauge::new(
        "collector_tools_polled",
        "Modbus tools this collector polls now (those whose leases it holds)",
    )
    .expect("metric"),
    stale: IntGaugeVec::new(
        Opts::new(
            "collector_stale",
            "1 while communication with the tool is lost and its values are stale, else 0",
        ),
        &["equipment"],
    )
    .expect("metric"),
    mqtt_messages: IntCounterVec::new(
        Opts::new(
            "collector_mqtt_messages_total",
            "MQTT messages received from the broker (redeliveries included)",
        ),
        &["broker"],
    )
    .expect("metric"),
    broker_connected: IntGaugeVec::new(
        Opts::new(
            "collector_broker_connected",
            "1 while the collector's MQTT session with the broker is up, else 0",
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
    registry.register(Box::new(m.poll_duration.clone()))?;
    registry.register(Box::new(m.poll_failures.clone()))?;
    registry.register(Box::new(m.broker_connected.clone()))?;
    registry.register(Box::new(m.mqtt_messages.clone()))?;
    registry.register(Box::new(m.stale.clone()))?;
    registry.register(Box::new(m.tools_polled.clone()))?;
    Ok(())
}
