//! `pilotline serve`: the HTTP API and the background monitors in one process.

use anyhow::{Context, Result};
use pilotline_app::App;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, Roles};
use pilotline_app::{Leases, job};

/// Opens the store, applies migrations, binds the listeners and serves `roles` until
/// SIGINT/SIGTERM.
pub async fn serve(config: &Config, roles: Roles) -> Result<()> {
    tracing::info!(?config, ?roles, "starting");
    let store = crate::cli::open_migrated(config).await?.with_uploads(
        config.blob_dir.clone().map(Into::into),
        config.max_concurrent_uploads,
    );
    // Tools whose device type keeps its telemetry otherwise than the line.
    let store = match &config.equipment_profiles {
        Some(dir) => crate::collect::with_profile_retention(
            store,
            std::path::Path::new(dir),
            config.retention(),
        )?,
        None => store,
    };
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let metrics_listener = match &config.metrics_listen {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} (metrics_listen)"))?,
        ),
        None => None,
    };
    let options = Options {
        roles,
        lease: Duration::from_secs(config.lease_s.max(3)),
        holder: None,
        metrics_listener,
        qtime_interval: Duration::from_secs(config.qtime_check_interval_s),
        collector: config
            .equipment_profiles
            .clone()
            .map(|dir| crate::collect::Options::from_config(config, dir.into())),
        drop_folder: config
            .stdf_drop_dir
            .clone()
            .map(|dir| crate::dropfolder::DropFolder {
                dir: dir.into(),
                create_lots: config.stdf_drop_create_lots,
                interval: Duration::from_secs(1),
            }),
    };
    run(store, listener, shutdown_signal(), options).await
}

/// What `run` starts besides the listener.
#[derive(Debug)]
pub struct Options {
    /// The parts to run (default: all).
    pub roles: Roles,
    /// How long a singleton job's lease lasts unless renewed (default 15 s).
    pub lease: Duration,
    /// This process's holder id for leases (default: host, process id and a random suffix).
    pub holder: Option<String>,
    /// A listener of its own for `/metrics` and `/healthz`.
    pub metrics_listener: Option<std::net::TcpListener>,
    /// Interval of the Q-time monitor.
    pub qtime_interval: Duration,
    /// The collector; none when `None`.
    pub collector: Option<crate::collect::Options>,
    /// The test data drop folder; none when `None`.
    pub drop_folder: Option<crate::dropfolder::DropFolder>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            roles: Roles::ALL,
            lease: pilotline_app::DEFAULT_LEASE,
            holder: None,
            metrics_listener: None,
            qtime_interval: Duration::from_secs(30),
            collector: None,
            drop_folder: None,
        }
    }
}

/// Serves `options.roles` — the API and web interface on `listener` (or only `/healthz` and
/// `/metrics` there when the API is not among them), the collector, the singleton jobs under
/// their leases — until `shutdown` completes; then drains in-flight requests, gives the leases
/// back and closes the store.
pub async fn run(
    store: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: Options,
) -> Result<()> {
    let addr = listener.local_addr()?;
    let roles = options.roles;
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = pilotline_api::AppState::new(store.clone());
    let collector = match (&options.collector, roles.collector) {
        (Some(c), true) => {
            pilotline_collector::metrics::register(state.metrics.registry())
                .context("cannot register the collector's metrics")?;
            Some(crate::collect::start(store.clone(), c, stop_rx.clone())?)
        }
        _ => None,
    };
    let jobs = if roles.jobs {
        let mut names = vec![job::QTIME, job::ROLLUPS, job::RETENTION, job::EXPIRY];
        if options.drop_folder.is_some() {
            names.push(job::DROP_FOLDER);
        }
        let holder = options
            .holder
            .clone()
            .unwrap_or_else(pilotline_app::holder_id);
        let leases = Leases::new(&store, holder, options.lease, names);
        leases
            .register(state.metrics.registry())
            .context("cannot register the lease metrics")?;
        let drop_folder = options.drop_folder.clone().map(|f| {
            tokio::spawn(crate::dropfolder::watch(
                store.clone(),
                f,
                leases.clone(),
                stop_rx.clone(),
            ))
        });
        let heartbeat = tokio::spawn(leases.clone().keep(stop_rx.clone()));
        let monitor = tokio::spawn(monitors(
            store.clone(),
            leases.clone(),
            options.qtime_interval,
            stop_rx.clone(),
        ));
        Some((leases, heartbeat, monitor, drop_folder))
    } else {
        None
    };
    let app = if roles.api {
        let web = pilotline_web::router(pilotline_web::WebState::new(store.clone()));
        pilotline_api::router(state.clone()).merge(pilotline_api::observed(web, &state))
    } else {
        pilotline_api::system_router(state.clone())
    };
    let metrics_server = match options.metrics_listener {
        Some(l) => {
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            let maddr = l.local_addr()?;
            let router = pilotline_api::system_router(state.clone());
            let mut stop = stop_rx.clone();
            tracing::info!(addr = %maddr, "metrics listening");
            Some(tokio::spawn(async move {
                let done = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(l, router).with_graceful_shutdown(done).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }))
        }
        None => None,
    };
    println!("Pilotline listening on http://{addr}");
    tracing::info!(%addr, api = roles.api, collector = collector.is_some(), jobs = roles.jobs, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")?;
    let _ = stop_tx.send(true);
    if let Some((leases, heartbeat, monitor, drop_folder)) = jobs {
        let _ = monitor.await;
        if let Some(d) = drop_folder {
            let _ = d.await;
        }
        let _ = heartbeat.await;
        leases.release_all().await;
    }
    if let Some(c) = collector {
        let _ = c.await;
    }
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Rollup transactions the job runs per minute at most (each one tool's 5 minutes).
const ROLLUP_SLICES_PER_TICK: u64 = 5_000;
/// Retention transactions run every 10 minutes at most (each 2,000 rows): 10M rows, far more
/// than a line stores in that time.
const RETENTION_BATCHES_PER_TICK: u64 = 5_000;

/// Periodic jobs, each run only while this process holds its lease: the Q-time monitor
/// (holds lots whose window closed), the samples' rollups (every minute), telemetry retention
/// (every 10 minutes) and idempotency-key expiry (hourly).
async fn monitors(
    store: App,
    leases: Leases,
    qtime_interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // A job's branch waits until the heartbeat task has taken its lease; its first tick
    // then runs at once.
    let every = |period: Duration| {
        let mut i = tokio::time::interval(period);
        // A tick missed while another replica held the job is not made up in a burst.
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        i
    };
    let mut qtime = every(qtime_interval.max(Duration::from_secs(1)));
    let mut expiry = every(Duration::from_secs(3600));
    let mut rollup = every(Duration::from_secs(60));
    let mut retention = every(Duration::from_secs(600));
    let held = |job: &str| leases.holds(job, pilotline_app::now());
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = rollup.tick(), if held(job::ROLLUPS) => {
                // Short transactions, a bounded number per minute: a backlog (after an
                // outage, or at the first start on old data) is caught up over the next ticks.
                match store.roll_up_samples(pilotline_app::now(), ROLLUP_SLICES_PER_TICK).await {
                    Ok(run) if run.buckets > 0 => {
                        tracing::debug!(slices = run.slices, buckets = run.buckets, "samples rolled up")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "rolling samples up failed"),
                }
            }
            _ = qtime.tick(), if held(job::QTIME) => {
                match store.expire_qtime(pilotline_app::now()).await {
                    Ok(held) => {
                        for lot in held {
                            tracing::warn!(%lot, "Q-time expired: lot held");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "Q-time check failed"),
                }
            }
            _ = retention.tick(), if held(job::RETENTION) => {
                match store.enforce_retention(pilotline_app::now(), RETENTION_BATCHES_PER_TICK).await {
                    Ok(run) if run.batches > 0 => tracing::debug!(
                        raw = run.raw, minute = run.minute, hour = run.hour,
                        longest_ms = run.longest.as_secs_f64() * 1000.0,
                        "telemetry past its retention deleted"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "telemetry retention failed"),
                }
            }
            _ = expiry.tick(), if held(job::EXPIRY) => {
                if let Err(e) = store.expire_idempotency_keys().await {
                    tracing::warn!(error = %e, "idempotency key expiry failed");
                }
                match store.expire_sessions().await {
                    Ok(n) if n > 0 => tracing::debug!(sessions = n, "timed-out web sessions deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "deleting timed-out web sessions failed"),
                }
            }
            // A replica holding none of the jobs looks again at every heartbeat.
            _ = tokio::time::sleep(leases.heartbeat()) => {}
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
