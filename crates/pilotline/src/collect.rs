//! The collector role: polls the tools described in the equipment profiles and stores what
//! they report. `pilotline serve` runs it beside the API when profiles are configured;
//! `pilotline collect` runs it alone.

use anyhow::{Result, bail};
use pilotline_collector::{Event, modbus, mqtt};
use pilotline_equipment::profile::{Codec, Device, DeviceType, Protocol, Transport};
use pilotline_equipment::{Decoded, load_dir};
use pilotline_store::{NewSample, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Samples written per database transaction at most.
pub const BATCH: usize = 1000;
/// Longest a sample waits in the batch.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Samples kept in memory while the database refuses writes; the oldest go beyond this.
pub const BUFFER_LIMIT: usize = 200_000;

/// Loads the profiles at `profiles` (refusing to start on any error), starts one task per
/// Modbus tool and a writer that stores their events, until `stop` turns true.
pub fn start(store: Store, profiles: &Path, stop: watch::Receiver<bool>) -> Result<JoinHandle<()>> {
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
    let (tx, rx) = mpsc::channel(10_000);
    let mut pollers = Vec::new();
    let mut brokers: BTreeMap<String, Vec<(Device, Arc<DeviceType>)>> = BTreeMap::new();
    for device in catalogue.devices.values() {
        let Some(ty) = catalogue.types.get(&device.device_type) else {
            continue;
        };
        match (ty.device_type.protocol, &device.transport) {
            (Protocol::Modbus, Transport::Tcp { .. } | Transport::RtuOverTcp { .. }) => {
                let task = modbus::run(
                    device.clone(),
                    Arc::new(ty.clone()),
                    tx.clone(),
                    stop.clone(),
                );
                pollers.push(tokio::spawn(task));
            }
            (Protocol::Modbus, _) => {
                tracing::warn!(equipment = %device.id, "serial Modbus RTU is not collected yet; skipped")
            }
            (Protocol::Mqtt, Transport::Mqtt { broker, .. }) => {
                if ty.point.iter().any(|p| p.codec == Some(Codec::Sparkplug)) {
                    tracing::warn!(equipment = %device.id, "Sparkplug B points are not collected yet; skipped");
                }
                brokers
                    .entry(broker.clone())
                    .or_default()
                    .push((device.clone(), Arc::new(ty.clone())));
            }
            (Protocol::Mqtt, _) => {}
        }
    }
    for (broker, devices) in brokers {
        // A stable client id keeps the broker-side session (QoS 1 queue) across restarts.
        let task = mqtt::run(
            broker,
            "pilotline-collector".into(),
            devices,
            tx.clone(),
            stop.clone(),
        );
        pollers.push(tokio::spawn(task));
    }
    drop(tx);
    tracing::info!(tools = pollers.len(), "collector started");
    Ok(tokio::spawn(async move {
        write_events(store, rx).await;
        for p in pollers {
            let _ = p.await;
        }
    }))
}

fn to_sample(s: pilotline_collector::Sample) -> NewSample {
    let (number, text) = match s.value {
        Decoded::Number(n) => (Some(n), None),
        Decoded::Bool(b) => (Some(if b { 1.0 } else { 0.0 }), None),
        Decoded::Text(t) => (None, Some(t)),
    };
    NewSample {
        equipment: s.equipment,
        point: s.point,
        at: s.at,
        number,
        text,
    }
}

/// Stores events in batches until every poller has stopped.
async fn write_events(store: Store, mut rx: mpsc::Receiver<Event>) {
    let mut batch: Vec<NewSample> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(Event::Sample(s)) => {
                    batch.push(to_sample(s));
                    if batch.len() >= BATCH {
                        flush(&store, &mut batch).await;
                    }
                }
                Some(Event::Stale { equipment, at, reason }) => {
                    tracing::warn!(%equipment, %reason, "tool communication lost; marked stale");
                    if let Err(e) = store.set_comm_state(&equipment, true, at).await {
                        tracing::error!(%equipment, error = %e, "cannot record stale state");
                    }
                }
                Some(Event::Recovered { equipment, at }) => {
                    tracing::info!(%equipment, "tool communication restored");
                    if let Err(e) = store.set_comm_state(&equipment, false, at).await {
                        tracing::error!(%equipment, error = %e, "cannot record recovery");
                    }
                }
                Some(Event::Rejected { .. }) => {}
                None => {
                    flush(&store, &mut batch).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&store, &mut batch).await,
        }
    }
}

async fn flush(store: &Store, batch: &mut Vec<NewSample>) {
    if batch.is_empty() {
        return;
    }
    match store.insert_samples(batch).await {
        Ok(_) => batch.clear(),
        Err(e) => {
            // Keep the samples and try again at the next flush.
            tracing::error!(error = %e, pending = batch.len(), "cannot store samples; will retry");
            if batch.len() > BUFFER_LIMIT {
                let excess = batch.len() - BUFFER_LIMIT;
                tracing::error!(
                    dropped = excess,
                    "sample buffer full; oldest samples dropped"
                );
                batch.drain(..excess);
            }
        }
    }
}
