//! `pilotline serve`: the HTTP API and the background monitors in one process.

use anyhow::{Context, Result};
use pilotline_app::App;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

/// Opens the store, applies migrations, binds the listener and serves until SIGINT/SIGTERM.
pub async fn serve(config: &Config) -> Result<()> {
    tracing::info!(?config, "starting");
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
    let options = Options {
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

/// What `run` starts besides the API.
#[derive(Debug, Clone)]
pub struct Options {
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
            qtime_interval: Duration::from_secs(30),
            collector: None,
            drop_folder: None,
        }
    }
}

/// Serves the API on `listener` and runs the monitors until `shutdown` completes, then drains
/// in-flight requests and closes the store.
pub async fn run(
    store: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: Options,
) -> Result<()> {
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let collector = match &options.collector {
        Some(c) => Some(crate::collect::start(store.clone(), c, stop_rx.clone())?),
        None => None,
    };
    let drop_folder = options
        .drop_folder
        .clone()
        .map(|f| tokio::spawn(crate::dropfolder::watch(store.clone(), f, stop_rx.clone())));
    let monitor = tokio::spawn(monitors(store.clone(), options.qtime_interval, stop_rx));
    let state = pilotline_api::AppState::new(store.clone());
    if collector.is_some() {
        pilotline_collector::metrics::register(state.metrics.registry())
            .context("cannot register the collector's metrics")?;
    }
    let web = pilotline_web::router(pilotline_web::WebState::new(store.clone()));
    let app = pilotline_api::router(state.clone()).merge(pilotline_api::observed(web, &state));
    println!("Pilotline listening on http://{addr}");
    tracing::info!(%addr, "HTTP API and web interface listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")?;
    let _ = stop_tx.send(true);
    let _ = monitor.await;
    if let Some(d) = drop_folder {
        let _ = d.await;
    }
    if let Some(c) = collector {
        let _ = c.await;
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

/// Periodic jobs: the Q-time monitor (holds lots whose window closed), the samples' rollups
/// (every minute), telemetry retention (every 10 minutes) and idempotency-key expiry.
async fn monitors(store: App, qtime_interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut qtime = tokio::time::interval(qtime_interval.max(Duration::from_secs(1)));
    let mut expiry = tokio::time::interval(Duration::from_secs(3600));
    let mut rollup = tokio::time::interval(Duration::from_secs(60));
    let mut retention = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = rollup.tick() => {
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
            _ = qtime.tick() => {
                match store.expire_qtime(pilotline_app::now()).await {
                    Ok(held) => {
                        for lot in held {
                            tracing::warn!(%lot, "Q-time expired: lot held");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "Q-time check failed"),
                }
            }
            _ = retention.tick() => {
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
            _ = expiry.tick() => {
                if let Err(e) = store.expire_idempotency_keys().await {
                    tracing::warn!(error = %e, "idempotency key expiry failed");
                }
                match store.expire_sessions().await {
                    Ok(n) if n > 0 => tracing::debug!(sessions = n, "timed-out web sessions deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "deleting timed-out web sessions failed"),
                }
            }
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
