//! What every collector does with a fresh reading: check it is plausible, drop it inside the
//! deadband, and report it.

use chrono::{DateTime, Utc};
use pilotline_equipment::Decoded;
use pilotline_equipment::profile::Point;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::{Event, Sample};

/// Last recorded value per point of one tool.
#[derive(Debug, Default)]
pub struct Recorder {
    last: HashMap<String, Decoded>,
}

impl Recorder {
    /// Reports `value` of `point` (already scaled) unless it is implausible (then a
    /// [`Event::Rejected`]) or within the deadband of the last recorded value. Returns `false`
    /// when the receiver is gone.
    pub async fn record(
        &mut self,
        events: &mpsc::Sender<Event>,
        equipment: &str,
        point: &Point,
        at: DateTime<Utc>,
        value: Decoded,
    ) -> bool {
        if let Decoded::Number(n) = value
            && (point.valid_min.is_some_and(|lo| n < lo)
                || point.valid_max.is_some_and(|hi| n > hi))
        {
            return reject(
                events,
                equipment,
                &point.name,
                format!("{n} is outside the valid range"),
            )
            .await;
        }
        let changed = match (self.last.get(&point.name), &value) {
            (Some(Decoded::Number(old)), Decoded::Number(new)) => {
                point.deadband == 0.0 || (new - old).abs() > point.deadband
            }
            (Some(old), new) => old != new,
            (None, _) => true,
        };
        if !changed {
            return true;
        }
        self.last.insert(point.name.clone(), value.clone());
        let sample = Sample {
            equipment: equipment.to_string(),
            point: point.name.clone(),
            at,
            value,
        };
        events.send(Event::Sample(sample)).await.is_ok()
    }
}

/// Logs and reports a reading that cannot be used. Returns `false` when the receiver is gone.
pub async fn reject(
    events: &mpsc::Sender<Event>,
    equipment: &str,
    point: &str,
    reason: String,
) -> bool {
    tracing::warn!(%equipment, %point, %reason, "reading rejected");
    events
        .send(Event::Rejected {
            equipment: equipment.to_string(),
            point: point.to_string(),
            reason,
        })
        .await
        .is_ok()
}

/// First reconnect delay.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Reports every tool in `equipment` stale with `reason`, once: `stale` remembers that it was.
pub async fn mark_stale(
    events: &mpsc::Sender<Event>,
    stale: &mut bool,
    equipment: &[&str],
    reason: &str,
) {
    if *stale {
        return;
    }
    *stale = true;
    for id in equipment {
        let event = Event::Stale {
            equipment: id.to_string(),
            at: Utc::now(),
            reason: reason.to_string(),
        };
        let _ = events.send(event).await;
    }
}

/// Sleeps `backoff` (then doubles it, up to [`BACKOFF_MAX`]); `false` if `stop` fired first.
pub async fn back_off(backoff: &mut Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(*backoff) => false,
        _ = stop.changed() => true,
    };
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    !stopped
}
