//! SEMI E10 time accounting: how long a tool spent in each state over a window, and the
//! figures managers read from it (utilisation, availability, MTBF, MTTR).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::equipment::{E10State, StateChange};

/// E10 figures for one tool over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Utilisation {
    /// Window start.
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// Seconds spent in each state within the window (every state listed, zeros included).
    pub seconds: BTreeMap<String, f64>,
    /// Productive time / total time.
    pub utilisation: f64,
    /// Uptime (productive + standby + engineering) / total time.
    pub availability: f64,
    /// Entries into unscheduled down within the window (failures).
    pub failures: u32,
    /// Mean productive time between failures, seconds (`None` without failures).
    pub mtbf_s: Option<f64>,
    /// Mean time to repair: unscheduled-down time / failures, seconds (`None` without failures).
    pub mttr_s: Option<f64>,
}

/// Accounts the window `[from, to)` for a tool that was in `initial` at `from` (or at its first
/// change) and then went through `changes` (in time order; changes outside the window only set
/// the state they leave behind).
pub fn utilisation(
    initial: E10State,
    changes: &[StateChange],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Utilisation {
    let mut seconds: BTreeMap<E10State, f64> = E10State::ALL.iter().map(|s| (*s, 0.0)).collect();
    let mut state = initial;
    let mut cursor = from;
    let mut failures = 0;
    for c in changes {
        if c.at <= from {
            state = c.to;
            continue;
        }
        if c.at >= to {
            break;
        }
        *seconds.entry(state).or_default() += (c.at - cursor).as_seconds_f64();
        if c.to == E10State::UnscheduledDown && state != E10State::UnscheduledDown {
            failures += 1;
        }
        state = c.to;
        cursor = c.at;
    }
    if to > cursor {
        *seconds.entry(state).or_default() += (to - cursor).as_seconds_f64();
    }
    let total: f64 = seconds.values().sum();
    let of = |s: E10State| seconds.get(&s).copied().unwrap_or(0.0);
    let ratio = |x: f64| if total > 0.0 { x / total } else { 0.0 };
    let uptime = of(E10State::Productive) + of(E10State::Standby) + of(E10State::Engineering);
    Utilisation {
        from,
        to,
        utilisation: ratio(of(E10State::Productive)),
        availability: ratio(uptime),
        failures,
        mtbf_s: (failures > 0).then(|| of(E10State::Productive) / f64::from(failures)),
        mttr_s: (failures > 0).then(|| of(E10State::UnscheduledDown) / f64::from(failures)),
        seconds: seconds
            .into_iter()
            .map(|(s, v)| (s.as_str().to_string(), v))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(h)
    }

    fn change(h: i64, from: E10State, to: E10State) -> StateChange {
        StateChange {
            equipment: "T".into(),
            from,
            to,
            at: t(h),
            lot: None,
            actor: "x".into(),
            reason: None,
        }
    }

    #[test]
    fn a_day_of_a_tool() {
        use E10State::*;
        // 0-2 standby, 2-8 productive, 8-10 down (failure), 10-11 standby, 11-20 productive,
        // 20-22 scheduled down, 22-24 standby.
        let changes = [
            change(2, Standby, Productive),
            change(8, Productive, UnscheduledDown),
            change(10, UnscheduledDown, Standby),
            change(11, Standby, Productive),
            change(20, Productive, ScheduledDown),
            change(22, ScheduledDown, Standby),
        ];
        let u = utilisation(Standby, &changes, t(0), t(24));
        assert_eq!(u.seconds["productive"], 15.0 * 3600.0);
        assert_eq!(u.seconds["standby"], 5.0 * 3600.0);
        assert_eq!(u.seconds["unscheduled_down"], 2.0 * 3600.0);
        assert_eq!(u.seconds["scheduled_down"], 2.0 * 3600.0);
        assert_eq!(u.seconds["non_scheduled"], 0.0);
        assert!((u.utilisation - 15.0 / 24.0).abs() < 1e-9);
        assert!((u.availability - 20.0 / 24.0).abs() < 1e-9);
        assert_eq!(u.failures, 1);
        assert_eq!(u.mtbf_s, Some(15.0 * 3600.0));
        assert_eq!(u.mttr_s, Some(2.0 * 3600.0));
    }

    #[test]
    fn changes_before_the_window_set_the_initial_state_and_later_ones_are_ignored() {
        use E10State::*;
        let changes = [
            change(1, Standby, Productive),
            change(30, Productive, Standby),
        ];
        let u = utilisation(Standby, &changes, t(5), t(10));
        assert_eq!(u.seconds["productive"], 5.0 * 3600.0);
        assert_eq!(u.utilisation, 1.0);
        assert_eq!((u.failures, u.mtbf_s, u.mttr_s), (0, None, None));
        let empty = utilisation(Standby, &[], t(0), t(0));
        assert_eq!(empty.utilisation, 0.0);
    }
}
