//! The collector role: polls the tools described in the equipment profiles and stores what
//! they report. `pilotline serve` runs it beside the API when profiles are configured;
//! `pilotline collect` runs it alone.

mod writer;

use anyhow::{Context, Result, bail};
use pilotline_app::{App, ToolShare};
use pilotline_collector::spool::Spool;
use pilotline_collector::{modbus, mqtt};
use pilotline_equipment::profile::{Device, DeviceType, Transport};
use pilotline_equipment::{Catalogue, load_dir};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;

pub use writer::{BATCH, LINGER};

/// What the collector needs besides the store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Equipment profile directory.
    pub profiles: PathBuf,
    /// The tools to collect, when given instead of loading `profiles` (the demo's own).
    pub catalogue: Option<Catalogue>,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Broker URL replacing every MQTT device's own.
    pub mqtt_broker: Option<String>,
    /// MQTT client id and Sparkplug host id.
    pub client_id: String,
    /// Shared-subscription group of the MQTT JSON topics (several collectors split them).
    pub share_group: Option<String>,
    /// This collector's holder id for the Modbus tools' leases (default: host, process id
    /// and a random suffix).
    pub holder: Option<String>,
    /// How long a Modbus tool's lease lasts unless renewed.
    pub lease: std::time::Duration,
}

impl Options {
    /// The collector options of `config`, collecting from `profiles`.
    pub fn from_config(config: &Config, profiles: PathBuf) -> Options {
        Options {
            profiles,
            catalogue: None,
            spool_dir: PathBuf::from(&config.spool_dir),
            mqtt_broker: config.mqtt_broker.clone(),
            client_id: config.mqtt_client_id.clone(),
            share_group: config.mqtt_share_group.clone(),
            holder: None,
            lease: std::time::Duration::from_secs(config.lease_s.max(3)),
        }
    }
}

/// Loads the profiles at `profiles`, refusing to start on any error.
pub fn load_profiles(profiles: &std::path::Path) -> Result<Catalogue> {
    let (catalogue, errors) = load_dir(profiles);
    if !errors.is_empty() {
        for e in &errors {
            tracing::error!(%e, "equipment profile error");
        }
        bail!(
            "{} error(s) in equipment profiles {}; run `pilotline validate`",
            errors.len(),
            profiles.display()
        );
    }
    Ok(catalogue)
}

/// The retention of every tool of `catalogue` whose device type has a `[retention]` of its
/// own: the line's policy `line` with the type's periods replacing its own.
pub fn tool_retention(
    catalogue: &Catalogue,
    line: pilotline_app::RetentionPolicy,
) -> Vec<(String, pilotline_app::RetentionPolicy)> {
    catalogue
        .devices
        .values()
        .filter_map(|d| {
            let r = catalogue.types.get(&d.device_type)?.retention?;
            let policy = line.with_days(r.raw_days, r.lot_raw_days, r.minute_days, r.hour_days);
            Some((d.id.clone(), policy))
        })
        .collect()
}

/// `app` keeping the telemetry of the tools in the profiles at `profiles` as their device
/// types' `[retention]` says (the others as `line`); refuses a profile error or an
/// inconsistent policy, naming it.
pub fn with_profile_retention(
    app: App,
    profiles: &std::path::Path,
    line: pilotline_app::RetentionPolicy,
) -> Result<App> {
    let catalogue = load_profiles(profiles)?;
    app.with_tool_retention(tool_retention(&catalogue, line))
        .map_err(|e| {
            anyhow::anyhow!(
                "equipment profiles {}: [retention]: {e}",
                profiles.display()
            )
        })
}

/// Starts the Modbus tools' share (each collector polls the tools whose leases it holds; see
/// [`pilotline_app::ToolShare`]), a supervisor per Modbus tool, one task per MQTT broker, and
/// the writer that stores their events, until `stop` turns true. The returned task ends once
/// everything is stored and the collector's leases are given back.
pub fn start(store: App, options: &Options, stop: watch::Receiver<bool>) -> Result<JoinHandle<()>> {
    let catalogue = match &options.catalogue {
        Some(c) => c.clone(),
        None => load_profiles(&options.profiles)?,
    };
    let spool = Spool::open(&options.spool_dir)
        .with_context(|| format!("cannot open the spool in {}", options.spool_dir.display()))?;
    let (tx, rx) = mpsc::channel(10_000);
    let mut pollers = Vec::new();
    let mut brokers: BTreeMap<String, Vec<(Device, Arc<DeviceType>)>> = BTreeMap::new();
    let mut modbus_tools = Vec::new();
    for device in catalogue.devices.values() {
        let Some(ty) = catalogue.types.get(&device.device_type) else {
            continue;
        };
        match &device.transport {
            // `validate` refuses a Modbus type on an MQTT transport and the reverse.
            Transport::Mqtt { broker, .. } => {
                let broker = options
                    .mqtt_broker
                    .clone()
                    .unwrap_or_else(|| broker.clone());
                brokers
                    .entry(broker)
                    .or_default()
                    .push((device.clone(), Arc::new(ty.clone())));
            }
            _ => modbus_tools.push((device.clone(), Arc::new(ty.clone()))),
        }
    }
    let holder = options
        .holder
        .clone()
        .unwrap_or_else(pilotline_app::holder_id);
    let share = ToolShare::new(
        &store,
        holder,
        options.lease,
        modbus_tools.iter().map(|(d, _)| d.id.clone()),
    );
    let heartbeat =
        (!modbus_tools.is_empty()).then(|| tokio::spawn(share.clone().keep(stop.clone())));
    for (device, ty) in modbus_tools {
        let task = supervise(device, ty, share.subscribe(), tx.clone(), stop.clone());
        pollers.push(tokio::spawn(task));
    }
    for (broker, devices) in brokers {
        let task = mqtt::run(
            broker,
            mqtt::Options::new(options.client_id.clone()).shared(options.share_group.clone()),
            devices,
            tx.clone(),
            stop.clone(),
        );
        pollers.push(tokio::spawn(task));
    }
    drop(tx);
    tracing::info!(tasks = pollers.len(), "collector started");
    Ok(tokio::spawn(async move {
        writer::Writer::new(store, spool).run(rx).await;
        for p in pollers {
            let _ = p.await;
        }
        if let Some(h) = heartbeat {
            let _ = h.await;
            share.release_all().await;
        }
    }))
}

/// Polls `device` while this collector holds its lease: starts its poller when the lease
/// comes, stops it when the lease goes to another collector, and stops for good at `stop`.
async fn supervise(
    device: Device,
    ty: Arc<DeviceType>,
    mut held: watch::Receiver<std::collections::BTreeSet<String>>,
    events: mpsc::Sender<pilotline_collector::Event>,
    mut stop: watch::Receiver<bool>,
) {
    let m = &*pilotline_collector::metrics::METRICS;
    let mut running: Option<(watch::Sender<bool>, JoinHandle<()>)> = None;
    loop {
        let mine = held.borrow_and_update().contains(&device.id);
        match (mine, running.is_some()) {
            (true, false) => {
                tracing::info!(equipment = %device.id, "polling: this collector holds the tool");
                let (halt, halted) = watch::channel(false);
                let poll = modbus::run(device.clone(), ty.clone(), events.clone(), halted);
                running = Some((halt, tokio::spawn(poll)));
                m.tools_polled.inc();
            }
            (false, true) => {
                halt(running.take()).await;
                tracing::info!(equipment = %device.id, "stopped polling: another collector holds the tool");
            }
            _ => {}
        }
        tokio::select! {
            _ = stop.changed() => break,
            changed = held.changed() => if changed.is_err() { break },
        }
    }
    halt(running).await;
}

/// Stops a tool's poller, if one runs, and waits for it.
async fn halt(running: Option<(watch::Sender<bool>, JoinHandle<()>)>) {
    if let Some((halt, task)) = running {
        let _ = halt.send(true);
        let _ = task.await;
        pilotline_collector::metrics::METRICS.tools_polled.dec();
    }
}
