//! Yield from per-die results, with retests handled explicitly.

use serde::Serialize;
use std::collections::HashMap;

/// One part result (an STDF PRR) in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartResult {
    /// Wafer the die is on (empty for final test of packaged parts).
    pub wafer: String,
    /// Die X coordinate as the tester reports it.
    pub x: i16,
    /// Die Y coordinate.
    pub y: i16,
    /// Test site.
    pub site: u8,
    /// Hardware bin.
    pub hard_bin: u16,
    /// Software bin (65535 when absent).
    pub soft_bin: u16,
    /// PART_FLG bit 3: the part failed.
    pub failed_flag: bool,
    /// PART_FLG bit 4: the pass/fail flag is not valid (the bin decides).
    pub flag_invalid: bool,
    /// Test time in milliseconds (0 when absent).
    pub test_time_ms: u32,
}

impl PartResult {
    /// Pass/fail from the part's own flag; `None` when the flag is marked invalid.
    pub fn flag_pass(&self) -> Option<bool> {
        (!self.flag_invalid).then_some(!self.failed_flag)
    }
}

/// Yields of a set of part results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct YieldSummary {
    /// Part results (every test of every die, retests included).
    pub part_results: u32,
    /// Distinct dies (wafer, X, Y).
    pub dies: u32,
    /// Results beyond the first for a die.
    pub retests: u32,
    /// Passing results / all results.
    pub all_results: f64,
    /// Dies passing at their first test / dies.
    pub first_pass: f64,
    /// Dies passing at their last test / dies.
    pub final_yield: f64,
}

/// Summarises `parts` (in test order); `pass` decides each result — the product's bin table
/// where there is one, else the part's flag.
pub fn summarise(parts: &[PartResult], pass: impl Fn(&PartResult) -> bool) -> YieldSummary {
    let mut dies: HashMap<(&str, i16, i16), (bool, bool)> = HashMap::new();
    let mut passing = 0u32;
    for p in parts {
        let ok = pass(p);
        passing += u32::from(ok);
        dies.entry((p.wafer.as_str(), p.x, p.y))
            .and_modify(|(_, last)| *last = ok)
            .or_insert((ok, ok));
    }
    let n = dies.len() as f64;
    let ratio = |a: usize, b: f64| if b > 0.0 { a as f64 / b } else { 0.0 };
    YieldSummary {
        part_results: parts.len() as u32,
        dies: dies.len() as u32,
        retests: (parts.len() - dies.len()) as u32,
        all_results: ratio(passing as usize, parts.len() as f64),
        first_pass: ratio(dies.values().filter(|d| d.0).count(), n),
        final_yield: ratio(dies.values().filter(|d| d.1).count(), n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(x: i16, y: i16, failed: bool) -> PartResult {
        PartResult {
            wafer: "W1".into(),
            x,
            y,
            site: 0,
            hard_bin: if failed { 5 } else { 1 },
            soft_bin: 65535,
            failed_flag: failed,
            flag_invalid: false,
            test_time_ms: 0,
        }
    }

    #[test]
    fn retests_are_counted_three_ways() {
        // Die (0,0) fails then passes on retest; (1,0) passes; (2,0) fails twice; (3,0) passes then fails.
        let parts = [
            part(0, 0, true),
            part(1, 0, false),
            part(2, 0, true),
            part(3, 0, false),
            part(0, 0, false),
            part(2, 0, true),
            part(3, 0, true),
        ];
        let y = summarise(&parts, |p| p.flag_pass().unwrap_or(false));
        assert_eq!((y.part_results, y.dies, y.retests), (7, 4, 3));
        assert!((y.all_results - 3.0 / 7.0).abs() < 1e-12);
        assert!((y.first_pass - 2.0 / 4.0).abs() < 1e-12);
        assert!((y.final_yield - 2.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn the_same_xy_on_another_wafer_is_another_die_and_bins_can_decide() {
        let mut other = part(0, 0, false);
        other.wafer = "W2".into();
        let mut invalid = part(1, 1, true);
        invalid.flag_invalid = true;
        let parts = [part(0, 0, false), other, invalid];
        assert_eq!(summarise(&parts, |_| true).dies, 3);
        assert_eq!(parts[2].flag_pass(), None);
        // A bin table saying hard bin 5 passes overrides the (invalid) flag.
        let y = summarise(&parts, |p| p.flag_pass().unwrap_or(p.hard_bin == 5));
        assert_eq!(y.final_yield, 1.0);
        assert_eq!(summarise(&[], |_| true).all_results, 0.0);
    }
}
