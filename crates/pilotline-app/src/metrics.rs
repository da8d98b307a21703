//! The application layer's metrics: every write, whichever front end asked for it.

use pilotline_store::{LotCommand, WriteOp};
use prometheus::{IntCounterVec, Opts};

/// Counters of the use cases.
pub struct AppMetrics {
    writes: IntCounterVec,
    samples: IntCounterVec,
}

impl Default for AppMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AppMetrics {
    /// Fresh counters.
    pub fn new() -> Self {
        let writes = IntCounterVec::new(
            Opts::new(
                "writes_total",
                "Writes by operation and result (ok / refused)",
            ),
            &["operation", "result"],
        )
        .expect("metric");
        let samples = IntCounterVec::new(
            Opts::new(
                "samples_total",
                "Samples offered to the store by outcome: stored, replay (the same value again) \
                 conflict (another value for a point's instant; the first is kept) or expired \
                 (older than the raw retention, not stored)",
            ),
            &["outcome"],
        )
        .expect("metric");
        Self { writes, samples }
    }

    /// Registers the counters with `registry`.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.writes.clone()))?;
        registry.register(Box::new(self.samples.clone()))
    }

    /// Counts what storing a batch of samples did.
    pub(crate) fn record_samples(&self, done: &pilotline_store::SamplesStored) {
        for (outcome, n) in [
            ("stored", done.stored),
            ("replay", done.replays),
            ("conflict", done.conflicts),
            ("expired", done.expired),
        ] {
            if n > 0 {
                self.samples.with_label_values(&[outcome]).inc_by(n);
            }
        }
    }

    /// Samples counted with `outcome` (`stored`, `replay`, `conflict`) so far.
    pub fn samples(&self, outcome: &str) -> u64 {
        self.samples.with_label_values(&[outcome]).get()
    }

    /// Counts a write.
    pub(crate) fn record_write(&self, op: &WriteOp, ok: bool) {
        self.writes
            .with_label_values(&[operation(op), if ok { "ok" } else { "refused" }])
            .inc();
    }
}

/// The metric label of a write.
fn operation(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::PutRoute(_) => "put_route",
        WriteOp::PutProduct(_) => "put_product",
        WriteOp::PutEquipment { .. } => "put_equipment",
        WriteOp::SetEquipmentState { .. } => "set_equipment_state",
        WriteOp::SignalEquipmentState { .. } => "signal_equipment_state",
        WriteOp::StartLot(_) => "start_lot",
        WriteOp::ExpireQTime { .. } => "expire_qtime",
        WriteOp::Lot { command, .. } => match command {
            LotCommand::TrackIn { .. } => "track_in",
            LotCommand::TrackOut { .. } => "track_out",
            LotCommand::Hold { .. } => "hold",
            LotCommand::Release { .. } => "release",
            LotCommand::FutureHold { .. } => "future_hold",
            LotCommand::Split { .. } => "split",
            LotCommand::Merge { .. } => "merge",
            LotCommand::Rework { .. } => "rework",
            LotCommand::Scrap { .. } => "scrap",
            LotCommand::Ship => "ship",
        },
    }
}
