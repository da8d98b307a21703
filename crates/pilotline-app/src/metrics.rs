//! The application layer's metrics: every write, whichever front end asked for it.

use pilotline_store::{LotCommand, WriteOp};
use prometheus::{IntCounterVec, Opts};

/// Counters of the use cases.
pub struct AppMetrics {
    writes: IntCounterVec,
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
        Self { writes }
    }

    /// Registers the counters with `registry`.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.writes.clone()))
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
