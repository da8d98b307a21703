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

mod backup;
mod delivery;
mod error;
mod identity;
mod leases;
mod lots;
mod master;
mod metrics;
mod perform;
mod platform;
mod qtime;
mod reads;
mod sessions;
mod shuttles;
mod spc;
mod telemetry;
mod tenants;
mod testdata;
mod units;

pub use delivery::{Delivery, LotProgress};
pub use error::AppError;
pub use leases::{DEFAULT_LEASE, Leases, ToolShare, holder_id, job};
pub use lots::{Scanned, StepCycleTime};
pub use master::{StateHistory, ToolStatus};
pub use metrics::AppMetrics;
pub use perform::{Performed, Renderer};
pub use qtime::qtime_actor;
pub use sessions::{MIN_PASSWORD, SessionPolicy, SignedIn, Use};
pub use shuttles::{
    BookingRequest, BookingView, LayoutView, MAX_DESIGN_FILE, PoolView, ShuttleView,
};
pub use testdata::{MAX_TEST_FILE, Upload};
pub use units::{
    BuildRequest, BuiltModules, ComponentReceipt, DEFAULT_TRAY, DiceRequest, GENEALOGY_SAMPLES,
    UnitCommand, UnitLotView,
};

/// The read models and commands adapters exchange with the application layer.
pub use pilotline_store::{
    BackendKind, BinPareto, Booking, BookingEvent, Bucket, ChartLimits, ChartPoint, ChartSpec,
    ChartType, ChartView, ChartViolation, CommState, CopyReport, DesignRevision, Genealogy,
    GenealogyLink, GroupBy, IMPORT_BATCH, IdempotencyKey, ImportedFile, Lease, LotCommand,
    LotFilter, LotPage, LotYield, Measurement, NewLotRequest, NewMeasurements, NewSample,
    OocAction, OpenOptions, Outcome, ParametricRow, ParetoBin, PlatformFigures, ProcessDataQuery,
    ProcessRun, ProductBins, Rejection, Resolution, RetentionPolicies, RetentionPolicy,
    RetentionRun, RollupRun, SampleCursor, SamplePage, SampleQuery, SampleRecord, SamplesStored,
    SpcOutcome, SpcSignal, Stage, StageYield, StdfUpload, Store, StoredResponse, TOKEN_PREFIX,
    TenantUser, TestFileInfo, TokenInfo, WaferYield, WipRow, WriteOp, YieldFilter, YieldGroup, now,
    redact_url,
};
pub use pilotline_store::{
    CalibrationRecord, DieOrigin, FinalResult, ModulePart, RunTrace, UnitGenealogy, UnitLotTrace,
    UnitPage, UnitRecord, WaferLotTrace, WhereUsed, WhereUsedModule,
};

use std::sync::Arc;

/// The application: the store plus what every use case shares. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    metrics: Arc<AppMetrics>,
    blobs: pilotline_store::BlobStore,
    uploads: Arc<tokio::sync::Semaphore>,
    max_uploads: usize,
    retention: pilotline_store::RetentionPolicies,
    sessions: sessions::SessionPolicy,
}

/// Uploads that may stream in at once, by default; one more is refused (`too_many_uploads`).
pub const MAX_CONCURRENT_UPLOADS: usize = 2;

impl App {
    /// The application over `store`, its uploads kept in the store's default blob directory
    /// (beside an SQLite file; `pilotline-blobs` for PostgreSQL).
    pub fn new(store: Store) -> Self {
        let blobs = pilotline_store::BlobStore::new(store.default_blob_dir());
        Self {
            store,
            metrics: Arc::new(AppMetrics::new()),
            blobs,
            uploads: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_UPLOADS)),
            max_uploads: MAX_CONCURRENT_UPLOADS,
            retention: pilotline_store::RetentionPolicies::default(),
            sessions: sessions::SessionPolicy::default(),
        }
    }

    /// Where the store keeps uploads unless configured otherwise (beside an SQLite file).
    pub fn default_blob_dir(&self) -> std::path::PathBuf {
        self.store.default_blob_dir()
    }

    /// The database connections pooled for reads: (open, idle).
    pub fn pool_status(&self) -> (u32, usize) {
        self.store.pool_status()
    }

    /// The same application keeping telemetry as `policy` says (refused when the policy is
    /// inconsistent: a rollup must outlive what it replaces).
    pub fn with_retention(
        mut self,
        policy: pilotline_store::RetentionPolicy,
    ) -> Result<Self, AppError> {
        let problems = policy.problems();
        if !problems.is_empty() {
            return Err(pilotline_domain::Code::DefinitionInvalid
                .refusal()
                .with("what", "retention")
                .with("problems", problems.join("; "))
                .into());
        }
        self.retention.line = policy;
        Ok(self)
    }

    /// The same application keeping the telemetry of the tools in `tools` as their own policy
    /// says (a device type's `[retention]`), the others as the line's; refused, naming the
    /// tool, when a policy is inconsistent.
    pub fn with_tool_retention(
        mut self,
        tools: impl IntoIterator<Item = (String, pilotline_store::RetentionPolicy)>,
    ) -> Result<Self, AppError> {
        for (tool, policy) in tools {
            let problems = policy.problems();
            if !problems.is_empty() {
                return Err(pilotline_domain::Code::DefinitionInvalid
                    .refusal()
                    .with("what", format!("retention of {tool}"))
                    .with("problems", problems.join("; "))
                    .into());
            }
            self.retention.tools.insert(tool, policy);
        }
        Ok(self)
    }

    /// The same application keeping its uploads in `dir` (when given), `max` of them
    /// streaming at once.
    pub fn with_uploads(mut self, dir: Option<std::path::PathBuf>, max: usize) -> Self {
        if let Some(dir) = dir {
            self.blobs = pilotline_store::BlobStore::new(dir);
        }
        self.uploads = Arc::new(tokio::sync::Semaphore::new(max.max(1)));
        self.max_uploads = max.max(1);
        self
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
