//! Singleton jobs under leases, so several replicas on one PostgreSQL run each job once.
//!
//! A process names itself (its *holder* id) and the jobs it is willing to run. Its heartbeat
//! ([`Leases::renew`], every third of the lease's length) takes each free or expired lease and
//! renews the ones it holds; a job runs a tick only while [`Leases::holds`] says so. When a
//! holder dies its leases lapse, and another process's next heartbeat takes them over: the
//! take-over time is at most the lease's length plus one heartbeat. A clean stop releases its
//! leases, so another process takes over at its next heartbeat.
//!
//! On the embedded SQLite store one process serves the file, so its leases are always its own:
//! the jobs run as they always did.

use chrono::{DateTime, Utc};
use pilotline_store::Lease;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{App, AppError};

/// The singleton jobs `pilotline serve` runs (its `jobs` role).
pub mod job {
    /// Holds lots whose Q-time window closed.
    pub const QTIME: &str = "qtime-monitor";
    /// Imports the STDF files dropped in the drop folder.
    pub const DROP_FOLDER: &str = "stdf-drop-folder";
    /// Rolls samples up into minute and hour buckets.
    pub const ROLLUPS: &str = "sample-rollups";
    /// Deletes telemetry past its retention.
    pub const RETENTION: &str = "telemetry-retention";
    /// Forgets old idempotency keys and timed-out web sessions; refreshes planner statistics.
    pub const EXPIRY: &str = "key-expiry";
}

/// Runs `$renew` (an expression awaiting one heartbeat at `now`) every `$period` until `$stop`
/// turns true; a failed heartbeat is logged and the next one tried.
macro_rules! heartbeat_loop {
    ($period:expr, $stop:expr, $what:literal, |$now:ident| $renew:expr) => {{
        let mut stop: tokio::sync::watch::Receiver<bool> = $stop;
        let mut tick = tokio::time::interval($period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {
                    let $now = crate::now();
                    if let Err(e) = $renew {
                        tracing::warn!(error = %e, $what);
                    }
                }
            }
        }
    }};
}

/// When a lease taken at `now` for `length` lapses.
fn lapse(now: DateTime<Utc>, length: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(length).unwrap_or_else(|_| chrono::Duration::seconds(15))
}

/// The leases a process holds, by job (a poisoned lock still holds a sound map).
type Held = Arc<Mutex<BTreeMap<String, Lease>>>;

fn locked(held: &Held) -> std::sync::MutexGuard<'_, BTreeMap<String, Lease>> {
    held.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gives `holder`'s leases of `jobs` back; one that cannot be given back lapses instead.
async fn give_back(app: &App, holder: &str, jobs: impl IntoIterator<Item = String>) {
    for job in jobs {
        if let Err(e) = app.store.release_lease(&job, holder).await {
            tracing::warn!(job, error = %e, "releasing a lease failed; it lapses instead");
        }
    }
}

/// How long a lease lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// One process's leases: the jobs it may run, which of them it holds now, and their metrics.
#[derive(Clone)]
pub struct Leases {
    app: App,
    holder: String,
    length: Duration,
    jobs: Vec<String>,
    held: Held,
    metrics: LeaseMetrics,
}

/// `job_lease_held{task}` (1 while this process holds the job's lease) and
/// `job_lease_acquired_total{task}` (how often this process took a lease it did not hold).
#[derive(Clone)]
struct LeaseMetrics {
    held: IntGaugeVec,
    acquired: IntCounterVec,
}

impl LeaseMetrics {
    fn new() -> Self {
        Self {
            held: IntGaugeVec::new(
                Opts::new(
                    "job_lease_held",
                    "1 while this process holds the lease of the singleton job, else 0",
                ),
                &["task"],
            )
            .expect("metric"),
            acquired: IntCounterVec::new(
                Opts::new(
                    "job_lease_acquired_total",
                    "Leases of singleton jobs this process took over (first start included)",
                ),
                &["task"],
            )
            .expect("metric"),
        }
    }
}

impl Leases {
    /// The leases of `jobs` that process `holder` will try to hold, each for `length`.
    pub fn new(
        app: &App,
        holder: impl Into<String>,
        length: Duration,
        jobs: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let metrics = LeaseMetrics::new();
        let jobs: Vec<String> = jobs.into_iter().map(Into::into).collect();
        for j in &jobs {
            metrics.held.with_label_values(&[j]).set(0);
        }
        Self {
            app: app.clone(),
            holder: holder.into(),
            length: length.max(Duration::from_secs(1)),
            jobs,
            held: Arc::default(),
            metrics,
        }
    }

    /// This process's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How often [`Leases::renew`] should run: a third of the lease's length, so one missed
    /// heartbeat never loses a lease.
    pub fn heartbeat(&self) -> Duration {
        self.length / 3
    }

    /// Runs the heartbeat until `stop` turns true.
    pub async fn keep(self, stop: tokio::sync::watch::Receiver<bool>) {
        heartbeat_loop!(
            self.heartbeat(),
            stop,
            "renewing the job leases failed",
            |now| { self.renew(now).await }
        )
    }

    /// Registers the lease metrics with `registry`.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.metrics.held.clone()))?;
        registry.register(Box::new(self.metrics.acquired.clone()))
    }

    /// The heartbeat at `now`: takes every free or expired lease of this process's jobs and
    /// renews those it holds. A job whose lease another process holds is left to it. A store
    /// error drops every lease this process believed it held (it can no longer prove them).
    pub async fn renew(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        let until = lapse(now, self.length);
        for job in &self.jobs {
            let got = match self
                .app
                .store
                .acquire_lease(job, &self.holder, now, until)
                .await
            {
                Ok(got) => got,
                Err(e) => {
                    self.forget_all();
                    return Err(e.into());
                }
            };
            self.record(job, got);
        }
        Ok(())
    }

    fn record(&self, job: &str, got: Option<Lease>) {
        let mut held = locked(&self.held);
        match got {
            Some(lease) => {
                let fresh = held.get(job).is_none_or(|old| old.epoch != lease.epoch);
                if fresh {
                    tracing::info!(job, holder = %self.holder, epoch = lease.epoch, "lease taken");
                    self.metrics.acquired.with_label_values(&[job]).inc();
                }
                self.metrics.held.with_label_values(&[job]).set(1);
                held.insert(job.to_string(), lease);
            }
            None => {
                if held.remove(job).is_some() {
                    tracing::warn!(job, holder = %self.holder, "lease lost to another process");
                }
                self.metrics.held.with_label_values(&[job]).set(0);
            }
        }
    }

    fn forget_all(&self) {
        let mut held = locked(&self.held);
        for job in held.keys() {
            self.metrics.held.with_label_values(&[job]).set(0);
        }
        held.clear();
    }

    /// Whether this process holds `job`'s lease at `now` (taken, and not yet expired).
    pub fn holds(&self, job: &str, now: DateTime<Utc>) -> bool {
        let held = locked(&self.held);
        held.get(job).is_some_and(|l| l.expires_at > now)
    }

    /// The fencing epoch of `job`'s lease while this process holds it.
    pub fn epoch(&self, job: &str) -> Option<i64> {
        let held = locked(&self.held);
        held.get(job).map(|l| l.epoch)
    }

    /// Gives every lease this process holds back (a clean stop), so the others take over at
    /// their next heartbeat rather than after the leases lapse.
    pub async fn release_all(&self) {
        let jobs: Vec<String> = locked(&self.held).keys().cloned().collect();
        give_back(&self.app, &self.holder, jobs).await;
        self.forget_all();
    }
}

impl App {
    /// Every lease on record (the singleton jobs' and the Modbus tools'), expired ones too.
    pub async fn leases(&self) -> Result<Vec<Lease>, AppError> {
        Ok(self.store.leases("").await?)
    }
}

/// A holder id for this process: host name, process id and a random suffix, so a restarted
/// process never mistakes its predecessor's leases for its own.
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pilotline".to_string());
    let mut bytes = [0u8; 4];
    crate::sessions::rand_bytes(&mut bytes);
    let suffix = u32::from_le_bytes(bytes);
    format!("{host}-{}-{suffix:08x}", std::process::id())
}

/// The lease family of the collectors' presence: `collector:{holder}`.
const MEMBER: &str = "collector:";
/// The lease family of the Modbus tools: `modbus:{tool}`.
const TOOL: &str = "modbus:";

/// A collector's share of the Modbus tools: every collector of a line holds a presence lease
/// and at most its fair share (the tools divided by the live collectors, rounded up) of the
/// tools' leases, and polls exactly the tools it holds. A collector that joins makes the
/// others give tools back at their next heartbeat; a dead collector's presence and tools
/// lapse together, and the others take its tools up to their new share.
///
/// While the database cannot be reached a collector goes on polling the tools it held (its
/// samples wait in its spool): a line loses no data for a database outage. Should another
/// collector take them over meanwhile, the first learns it at its next heartbeat that
/// reaches the database, and stops.
#[derive(Clone)]
pub struct ToolShare {
    app: App,
    holder: String,
    length: Duration,
    tools: Vec<String>,
    held: Held,
    changes: Arc<tokio::sync::watch::Sender<std::collections::BTreeSet<String>>>,
}

impl ToolShare {
    /// Collector `holder`'s share of `tools`, each lease lasting `length`.
    pub fn new(
        app: &App,
        holder: impl Into<String>,
        length: Duration,
        tools: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut tools: Vec<String> = tools.into_iter().map(Into::into).collect();
        tools.sort();
        tools.dedup();
        Self {
            app: app.clone(),
            holder: holder.into(),
            length: length.max(Duration::from_secs(1)),
            tools,
            held: Arc::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
        }
    }

    /// How often [`ToolShare::renew`] should run: a third of the lease's length.
    pub fn heartbeat(&self) -> Duration {
        self.length / 3
    }

    /// Runs the heartbeat until `stop` turns true. A failed one (the database away) keeps the
    /// tools polled as they were.
    pub async fn keep(self, stop: tokio::sync::watch::Receiver<bool>) {
        heartbeat_loop!(
            self.heartbeat(),
            stop,
            "renewing the Modbus tools' leases failed; polling goes on",
            |now| self.renew(now).await
        )
    }

    /// The tools this collector holds, as they change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<std::collections::BTreeSet<String>> {
        self.changes.subscribe()
    }

    /// The tools this collector holds now.
    pub fn tools(&self) -> Vec<String> {
        let held = locked(&self.held);
        held.keys()
            .filter_map(|j| j.strip_prefix(TOOL))
            .map(String::from)
            .collect()
    }

    /// The heartbeat at `now`: renews this collector's presence and tools, gives back what is
    /// above its share, and takes free or expired tools up to it.
    pub async fn renew(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        let until = lapse(now, self.length);
        let store = &self.app.store;
        let me = format!("{MEMBER}{}", self.holder);
        store.acquire_lease(&me, &self.holder, now, until).await?;
        let members = store
            .leases(MEMBER)
            .await?
            .iter()
            .filter(|l| l.expires_at > now)
            .count()
            .max(1);
        let share = self.tools.len().div_ceil(members);
        let wanted: std::collections::BTreeSet<String> =
            self.tools.iter().map(|t| format!("{TOOL}{t}")).collect();
        let mut mine: BTreeMap<String, Lease> = store
            .renew_leases(&self.holder, TOOL, until)
            .await?
            .into_iter()
            .filter(|l| wanted.contains(&l.job))
            .map(|l| (l.job.clone(), l))
            .collect();
        while mine.len() > share {
            let Some((job, _)) = mine.pop_last() else {
                break;
            };
            store.release_lease(&job, &self.holder).await?;
            tracing::info!(
                tool = job.trim_start_matches(TOOL),
                "tool handed back: a collector joined"
            );
        }
        if mine.len() < share {
            let taken: std::collections::BTreeSet<String> = store
                .leases(TOOL)
                .await?
                .into_iter()
                .filter(|l| l.expires_at > now)
                .map(|l| l.job)
                .collect();
            // Start at a place of this holder's own, so collectors joining together seldom
            // race for the same tool.
            let offset = self.holder.bytes().map(usize::from).sum::<usize>() % wanted.len().max(1);
            let order = wanted.iter().cycle().skip(offset).take(wanted.len());
            for job in order {
                if mine.len() >= share {
                    break;
                }
                if taken.contains(job) || mine.contains_key(job) {
                    continue;
                }
                if let Some(lease) = store.acquire_lease(job, &self.holder, now, until).await? {
                    tracing::info!(
                        tool = job.trim_start_matches(TOOL),
                        epoch = lease.epoch,
                        "tool taken"
                    );
                    mine.insert(job.clone(), lease);
                }
            }
        }
        let tools: std::collections::BTreeSet<String> = mine
            .keys()
            .filter_map(|j| j.strip_prefix(TOOL))
            .map(String::from)
            .collect();
        *locked(&self.held) = mine;
        self.changes.send_if_modified(|old| {
            let changed = *old != tools;
            *old = tools;
            changed
        });
        Ok(())
    }

    /// Gives this collector's tools and presence back (a clean stop), so the others take its
    /// tools at their next heartbeat.
    pub async fn release_all(&self) {
        let mut jobs: Vec<String> = locked(&self.held).keys().cloned().collect();
        jobs.push(format!("{MEMBER}{}", self.holder));
        give_back(&self.app, &self.holder, jobs).await;
        locked(&self.held).clear();
        self.changes.send_replace(Default::default());
    }
}
