//! The expected delivery date of an MPW lot: its remaining steps at the line's measured cycle
//! time per step (from the event log), beside the date the calendar promised.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A step still ahead of the lot, with the line's measured time for it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAhead {
    /// The step.
    pub step: String,
    /// The line's mean time from arriving at this step to leaving it, over recent lots
    /// (`None`: never measured).
    pub measured_s: Option<f64>,
}

/// A forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forecast {
    /// When the lot is expected to finish its route.
    pub expected: DateTime<Utc>,
    /// The date the shuttle's calendar promised.
    pub promised: DateTime<Utc>,
    /// Days later (positive) or earlier (negative) than promised.
    pub late_days: f64,
    /// Steps left, the current one included.
    pub steps_left: usize,
    /// Of those, how many had no measured cycle time (counted at the line's mean step time).
    pub unmeasured_steps: usize,
    /// Whether the lot is on hold now (the forecast assumes release now; it moves every day
    /// the hold lasts).
    pub held: bool,
}

/// The forecast at `now` for a lot with `ahead` steps left (the current first), `in_step_s`
/// seconds already spent in the current one, on hold or not. A step never measured counts at
/// `line_mean_s`, the mean of the route's measured steps (one day when none is measured).
pub fn forecast(
    ahead: &[StepAhead],
    line_mean_s: Option<f64>,
    in_step_s: f64,
    held: bool,
    promised: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Forecast {
    let fallback = line_mean_s.unwrap_or(86_400.0);
    let mut total = 0.0;
    for (i, s) in ahead.iter().enumerate() {
        let t = s.measured_s.unwrap_or(fallback);
        total += if i == 0 { (t - in_step_s).max(0.0) } else { t };
    }
    let expected = now + Duration::milliseconds((total * 1000.0) as i64);
    Forecast {
        expected,
        promised,
        late_days: (expected - promised).num_seconds() as f64 / 86_400.0,
        steps_left: ahead.len(),
        unmeasured_steps: ahead.iter().filter(|s| s.measured_s.is_none()).count(),
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_sums_what_is_left() {
        let now = Utc::now();
        let day = 86_400.0;
        let ahead = [
            StepAhead {
                step: "A".into(),
                measured_s: Some(2.0 * day),
            },
            StepAhead {
                step: "B".into(),
                measured_s: Some(day),
            },
            StepAhead {
                step: "C".into(),
                measured_s: None,
            },
        ];
        // Half a day spent in A: 1.5 + 1 + 1.5 (the route's mean) = 4 days.
        let f = forecast(
            &ahead,
            Some(1.5 * day),
            0.5 * day,
            false,
            now + Duration::days(3),
            now,
        );
        assert_eq!(f.expected, now + Duration::days(4));
        assert!((f.late_days - 1.0).abs() < 1e-9);
        assert_eq!((f.steps_left, f.unmeasured_steps), (3, 1));
        // Moving on: one step fewer, the forecast comes earlier.
        let g = forecast(
            &ahead[1..],
            Some(1.5 * day),
            0.0,
            false,
            now + Duration::days(3),
            now,
        );
        assert!(g.expected < f.expected);
        // Nothing measured on the route: a day a step.
        let h = forecast(&ahead[2..], None, 0.0, true, now, now);
        assert_eq!(h.expected, now + Duration::days(1));
        assert!(h.held);
    }
}
