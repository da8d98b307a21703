//! Pilotline's application layer: one entry per use case, and the only door to the store.
//!
//! Every front end — the HTTP API, the CLI, the demo's seeding, the drop folder, the Q-time
//! monitor, the collector's writer — calls [`App`]. A use case decides the order of its steps
//! here and runs them in one database transaction ([`pilotline_store::Tx`]): a track-out with
//! readings stores the readings, moves the lot, judges the SPC charts and carries out their
//! holds and tool inhibits, and remembers the idempotent answer, all committed together or not
//! at all. Adapters only parse, call and render; a refusal comes back as a
//! [`Refusal`](pilotline_domain::Refusal) with a stable code.
//!
//! Idempotency and the write metrics live here, so every front end has them. Reads go through
//! here too, with the caller's role checked and its tenant scope applied by the store.

mod error;
mod identity;
mod lots;
mod master;
mod metrics;
mod perform;
mod qtime;
mod reads;
mod spc;
mod telemetry;
mod tenants;
mod testdata;

pub use error::AppError;
pub use master::{StateHistory, ToolStatus};
pub use metrics::AppMetrics;
pub use perform::{Performed, Renderer};
pub use qtime::qtime_actor;

/// The read models and commands adapters exchange with the application layer.
pub use pilotline_store::{
    BackendKind, BinPareto, ChartLimits, ChartPoint, ChartSpec, ChartType, ChartView,
    ChartViolation, CommState, Genealogy, GenealogyLink, GroupBy, IdempotencyKey, ImportedFile,
    LotCommand, LotFilter, LotPage, LotYield, Measurement, NewLotRequest, NewMeasurements,
    NewSample, OocAction, OpenOptions, Outcome, ParametricRow, ParetoBin, ProcessRun, ProductBins,
    Rejection, SampleRecord, SpcOutcome, SpcSignal, Stage, StageYield, StdfUpload, Store,
    StoredResponse, TOKEN_PREFIX, TestFileImport, TestFileInfo, TokenInfo, WaferYield, WipRow,
    WriteOp, YieldFilter, YieldGroup, now, redact_url,
};

use std::sync::Arc;

/// The application: the store plus what every use case shares. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    metrics: Arc<AppMetrics>,
}

impl App {
    /// The application over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            metrics: Arc::new(AppMetrics::new()),
        }
    }

    /// The application's metrics (to register with the process's registry).
    pub fn metrics(&self) -> &AppMetrics {
        &self.metrics
    }

    /// Which backend the store runs on.
    pub fn backend(&self) -> BackendKind {
        self.store.kind()
    }

    /// Opens the store at `url` and runs its migrations.
    pub async fn open(url: &str, opts: &OpenOptions) -> Result<App, AppError> {
        let store = Store::open_with(url, opts).await?;
        Ok(App::new(store))
    }

    /// Creates or upgrades the schema.
    pub async fn migrate(&self) -> Result<(), AppError> {
        Ok(self.store.migrate().await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }

    /// Closes the store's pools.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
