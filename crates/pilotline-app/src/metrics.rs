//! The application layer's metrics: every write, whichever front end asked for it.

use pilotline_store::{LotCommand, WriteOp};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

/// Counters of the use cases.
pub struct AppMetrics {
    writes: IntCounterVec,
    samples: IntCounterVec,
    files: IntCounterVec,
    latency: HistogramVec,
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
        let files = IntCounterVec::new(
            Opts::new(
                "files_imported_total",
                "Files offered for import by kind (stdf, gds) and result: stored, duplicate \
                 (the same file again, nothing stored) or refused",
            ),
            &["kind", "result"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "write_duration_seconds",
                "Seconds a write's database transaction took (judging, holds and the \
                 idempotent answer included), by operation",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
            &["operation"],
        )
        .expect("metric");
        Self {
            writes,
            samples,
            files,
            latency,
        }
    }

    /// Counts a file's import (`kind` is `stdf` or `gds`).
    pub(crate) fn record_import<E>(
        &self,
        kind: &str,
        result: &Result<pilotline_store::ImportedFile, E>,
    ) {
        let result = match result {
            Ok(f) if f.duplicate => "duplicate",
            Ok(_) => "stored",
            Err(_) => "refused",
        };
        self.files.with_label_values(&[kind, result]).inc();
    }

    /// Counts a design file's upload (`stored` or `refused`).
    pub(crate) fn record_design(&self, stored: bool) {
        self.files
            .with_label_values(&["gds", if stored { "stored" } else { "refused" }])
            .inc();
    }

    /// Registers the counters with `registry`.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.writes.clone()))?;
        registry.register(Box::new(self.samples.clone()))?;
        registry.register(Box::new(self.files.clone()))?;
        registry.register(Box::new(self.latency.clone()))
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
    pub(crate) fn record_write(&self, op: &WriteOp, ok: bool, took: std::time::Duration) {
        self.writes
            .with_label_values(&[operation(op), if ok { "ok" } else { "refused" }])
            .inc();
        self.latency
            .with_label_values(&[operation(op)])
            .observe(took.as_secs_f64());
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
