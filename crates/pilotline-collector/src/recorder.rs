//! What every collector does with a fresh reading: check it is plausible, drop it inside the
//! deadband, report it, and report the E10 state the tool's signals now call for.

use chrono::{DateTime, Utc};
use pilotline_domain::E10State;
use pilotline_equipment::Decoded;
use pilotline_equipment::e10::signalled_state;
use pilotline_equipment::profile::{DeviceType, Point};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::{Event, Sample};

/// Last recorded value per point of one tool, and the E10 state its signals last called for.
#[derive(Debug, Default)]
pub struct Recorder {
    last: HashMap<String, Decoded>,
    state: Option<E10State>,
}

impl Recorder {
    /// Reports `value` of `point` (already scaled) unless it is implausible (then a
    /// [`Event::Rejected`]) or within the deadband of the last recorded value; when the point
    /// feeds an E10 rule of `ty` and the signalled state changes, reports an [`Event::State`].
    /// Returns `false` when the receiver is gone.
    pub async fn record(
        &mut self,
        events: &mpsc::Sender<Event>,
        equipment: &str,
        ty: &DeviceType,
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
        if events.send(Event::Sample(sample)).await.is_err() {
            return false;
        }
        if !ty.e10_rule.iter().any(|r| r.point == point.name) {
            return true;
        }
        let Some((state, rule)) = signalled_state(ty, &self.last) else {
            return true;
        };
        if self.state == Some(state) {
            return true;
        }
        self.state = Some(state);
        let reason = match rule {
            Some(r) => match self.last.get(&r.point) {
                Some(v) => format!("signal {} = {v}", r.point),
                None => format!("signal {}", r.point),
            },
            None => "no state signal active".to_string(),
        };
        let event = Event::State {
            equipment: equipment.to_string(),
            state,
            at,
            reason,
        };
        events.send(event).await.is_ok()
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
