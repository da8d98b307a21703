//! Pilotline's store: one API over SQLite (the embedded default) and PostgreSQL.
//!
//! The API speaks domain types only. Every mutation goes through [`Store::execute`], which runs
//! one [`WriteOp`] in one database transaction: it locks what it changes, lets the pure domain
//! decide, writes the new state, appends the events, and records the answer for the request's
//! `Idempotency-Key` — all or nothing.
//!
//! SQLite runs with WAL, `synchronous=FULL` and a single writer connection (`BEGIN IMMEDIATE`);
//! reads use a separate pool. PostgreSQL locks the rows a transaction changes with
//! `SELECT … FOR UPDATE`; a plain lot move there is one version-checked statement instead, with
//! no transaction around it (`unlocked`).

mod backup;
mod blobs;
mod conn;
mod error;
mod idempotency;
mod identity;
mod leases;
mod open;
mod pg_pool;
mod read;
mod retention;
mod rollups;
mod rows;
mod sample_ids;
mod sessions;
mod shuttles;
mod spc;
mod sqlite_writer;
mod telemetry;
mod tenants;
mod testdata;
pub mod testing;
mod transfer;
mod tx;
mod units;
mod unlocked;
mod write;

pub use blobs::{Blob, BlobStore, BlobWriter};
pub use error::{DatabaseError, StoreError};
pub use idempotency::{IdempotencyKey, StoredResponse};
pub use identity::{TOKEN_PREFIX, TenantUser, TokenInfo, hash_token};
pub use leases::Lease;
pub use open::{OpenOptions, redact_url};
pub use pilotline_yield::chart::{
    ChartLimits, ChartPoint, ChartSpec, ChartType, ChartView, ChartViolation, OocAction,
};
pub use read::{Genealogy, GenealogyLink, LotFilter, LotPage, WipRow};
pub use retention::{RETENTION_BATCH, RetentionPolicies, RetentionPolicy, RetentionRun};
pub use rollups::{Bucket, ROLLUP_GRACE_S, Resolution, RollupRun};
pub use sessions::PasswordRecord;
pub use shuttles::{
    Booking, BookingEvent, DesignRevision, NewBooking, PlatformFigures, StoredLayout,
};
pub use spc::{Measurement, MeasurementRow, NewMeasurements, SpcOutcome, SpcSignal};
pub use telemetry::{
    CONFLICT_EXAMPLES, CommState, NewSample, ProcessDataQuery, ProcessRun, SampleCursor,
    SamplePage, SampleQuery, SampleRecord, SamplesStored, stored_time,
};
pub use testdata::{
    BinPareto, GroupBy, IMPORT_BATCH, ImportedFile, LotYield, ParametricRow, ParetoBin,
    ProductBins, Rejection, Stage, StageYield, StdfUpload, TestFileInfo, WaferYield, YieldFilter,
    YieldGroup,
};
pub use transfer::CopyReport;
pub use tx::{Tx, Work};
pub use units::{
    CalibrationRecord, DieOrigin, FinalResult, ModulePart, RunTrace, UnitGenealogy, UnitLotTrace,
    UnitPage, UnitRecord, WaferLotTrace, WhereUsed, WhereUsedModule,
};
pub use write::{LotCommand, NewLotRequest, Outcome, Render, WriteOp};

use pilotline_domain::Route;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite {
        /// The single writer, used by one transaction at a time.
        writer: Arc<tokio::sync::Mutex<rusqlite::Connection>>,
        /// Readers (and migrations).
        read: sqlx::SqlitePool,
        /// When the planner's statistics last changed: readers opened before are not lent.
        stats: Arc<open::StatsClock>,
    },
    Postgres(pg_pool::PgPool),
}

/// The Pilotline store. Cheap to clone; clones share pools and caches.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Route versions are immutable, so once read they are cached for good.
    routes: Arc<RwLock<RouteCache>>,
    /// The numbers of the tools and points that sent samples.
    sample_ids: sample_ids::SampleIds,
    /// Where uploads go unless the application says otherwise.
    blob_dir: std::path::PathBuf,
}

/// Route versions by (id, version).
type RouteCache = HashMap<(String, u32), Arc<Route>>;

impl Store {
    /// Which backend this store runs on.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The blob directory uploads default to: beside the SQLite file (`FILE.blobs`), or
    /// `pilotline-blobs` in the working directory for PostgreSQL.
    pub fn default_blob_dir(&self) -> std::path::PathBuf {
        self.blob_dir.clone()
    }

    /// The database connections pooled for reads (all of them on PostgreSQL): how many are
    /// open, and how many of those are idle. SQLite's one writer connection is not counted.
    pub fn pool_status(&self) -> (u32, usize) {
        match &self.backend {
            Backend::Sqlite { read, .. } => (read.size(), read.num_idle()),
            Backend::Postgres(p) => p.status(),
        }
    }

    /// Closes every pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, .. } => read.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }

    fn cached_route(&self, id: &str, version: u32) -> Option<Arc<Route>> {
        self.routes
            .read()
            .ok()?
            .get(&(id.to_string(), version))
            .cloned()
    }

    fn cache_route(&self, route: Arc<Route>) {
        if let Ok(mut map) = self.routes.write() {
            map.insert((route.id.clone(), route.version), route);
        }
    }
}

/// The current time as stored: UTC, truncated to microseconds (PostgreSQL's precision), so both
/// backends give back exactly what they were given.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Runs `$body` with `$c` bound to a connection inside a write transaction of either backend,
/// committing on `Ok` and rolling back on `Err`. On SQLite the whole transaction runs in one
/// hop on the writer connection (see `sqlite_writer`).
macro_rules! in_write_tx {
    ($store:expr, |$c:ident| $body:expr) => {{
        match &$store.backend {
            $crate::Backend::Sqlite { writer, .. } => {
                let mut guard = writer.lock().await;
                let conn: &mut rusqlite::Connection = &mut guard;
                $crate::sqlite_writer::blocking(|| {
                    $crate::sqlite_writer::transaction(conn, |$c| {
                        $crate::sqlite_writer::run_ready(async { $body })
                    })
                })
            }
            $crate::Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let mut rollback_failed = false;
                let out = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let $c: &mut sqlx::PgConnection = &mut tx;
                    let out = $body;
                    match &out {
                        Ok(_) => tx.commit().await?,
                        // Rolled back now (not queued for the connection's next use), so its
                        // locks go at once; the refusal or error is what the caller gets.
                        Err(_) => rollback_failed = tx.rollback().await.is_err(),
                    }
                    out
                }
                .await;
                conn.discard_after(&out);
                if rollback_failed {
                    conn.discard();
                }
                out
            }
        }
    }};
}
pub(crate) use in_write_tx;

/// Runs `$body` with `$c` bound to a pooled read connection of either backend.
macro_rules! with_read_conn {
    ($store:expr, |$c:ident| $body:expr) => {{
        match &$store.backend {
            $crate::Backend::Sqlite { read, .. } => {
                let mut conn = read.acquire().await?;
                let $c: &mut sqlx::SqliteConnection = &mut conn;
                $body
            }
            $crate::Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let out = async {
                    let $c: &mut sqlx::PgConnection = &mut conn;
                    $body
                }
                .await;
                conn.discard_after(&out);
                out
            }
        }
    }};
}
pub(crate) use with_read_conn;

/// Runs `$body` on a read connection with `$actor`'s tenant scope set (on PostgreSQL inside
/// a read transaction, so the scope holds for every statement of the body).
macro_rules! scoped_read {
    ($store:expr, $actor:expr, |$c:ident| $body:expr) => {{
        match &$store.backend {
            $crate::Backend::Sqlite { read, .. } => {
                let mut conn = read.acquire().await?;
                let $c: &mut sqlx::SqliteConnection = &mut conn;
                $body
            }
            $crate::Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let out = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let $c: &mut sqlx::PgConnection = &mut tx;
                    $crate::shuttles::set_scope($c, $actor).await?;
                    let out = $body;
                    tx.commit().await?;
                    out
                }
                .await;
                conn.discard_after(&out);
                out
            }
        }
    }};
}
pub(crate) use scoped_read;

/// Runs `$body` reading lots or test data for `$actor`: in its tenant scope when it is a
/// tenant's (so on PostgreSQL row-level security is a second wall behind the query's own
/// tenant filter), on a plain pooled connection for platform staff.
macro_rules! tenant_read {
    ($store:expr, $actor:expr, |$c:ident| $body:expr) => {{
        if $actor.tenant_scope().is_some() {
            $crate::scoped_read!($store, $actor, |$c| $body)
        } else {
            $crate::with_read_conn!($store, |$c| $body)
        }
    }};
}
pub(crate) use tenant_read;
