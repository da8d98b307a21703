//! Parametric test results (STDF PTR) summarised per wafer and test: limits, units, count,
//! failures, mean, standard deviation, minimum and maximum.
//!
//! The first PTR of a test sets its defaults (name, limits, units); later PTRs of the test may
//! leave them out, as STDF V4 allows. Results the tester marks as not valid (not executed,
//! aborted, unreliable) are counted apart and never enter the statistics.

use rust_stdf::PTR;
use serde::Serialize;

/// A test's name, limits and units, from its first PTR.
#[derive(Debug, Clone, PartialEq)]
pub struct TestLimits {
    /// TEST_TXT.
    pub name: String,
    /// Units (e.g. `V`, `Ohm`).
    pub units: String,
    /// Low limit, when the test has a valid one.
    pub low: Option<f64>,
    /// High limit, when the test has a valid one.
    pub high: Option<f64>,
}

impl TestLimits {
    /// The defaults a test's first PTR sets. OPT_FLAG bits 4 and 6 (bits 5 and 7) mark the low
    /// (high) limit invalid or absent; without OPT_FLAG the limits are not given.
    pub fn from_first(p: &PTR) -> TestLimits {
        let flag = p.opt_flag.map(|f| f[0]);
        let limit = |value: Option<f32>, invalid_bits: u8| match (flag, value) {
            (Some(f), Some(v)) if f & invalid_bits == 0 && v.is_finite() => {
                Some(shortest_decimal(v))
            }
            _ => None,
        };
        TestLimits {
            name: p.test_txt.clone(),
            units: p.units.clone().unwrap_or_default(),
            low: limit(p.lo_limit, 0x50),
            high: limit(p.hi_limit, 0xA0),
        }
    }
}

/// An f32 limit as the decimal the tester wrote (0.4, not 0.4000000059604645).
fn shortest_decimal(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// One test's results on one wafer (or over a final-test file, whose wafer is empty).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParametricStats {
    /// Wafer id (empty for final test).
    pub wafer: String,
    /// Test number.
    pub test_num: u32,
    /// Test name.
    pub name: String,
    /// Units.
    pub units: String,
    /// Low limit.
    pub low_limit: Option<f64>,
    /// High limit.
    pub high_limit: Option<f64>,
    /// Valid results.
    pub count: u64,
    /// Results flagged failing (TEST_FLG bit 7 with a valid pass/fail indication).
    pub fails: u64,
    /// Results the tester marked not valid (not executed, aborted, unreliable).
    pub invalid: u64,
    /// Mean of the valid results.
    pub mean: Option<f64>,
    /// Sample standard deviation of the valid results (n − 1).
    pub stdev: Option<f64>,
    /// Smallest valid result.
    pub min: Option<f64>,
    /// Largest valid result.
    pub max: Option<f64>,
}

/// Accumulates one test's results on one wafer into [`ParametricStats`] (Welford's running
/// mean and variance: one pass, no stored values).
#[derive(Debug, Clone, PartialEq)]
pub struct ParametricAccumulator {
    stats: ParametricStats,
    /// Running sum of squared deviations from the mean.
    m2: f64,
}

/// TEST_FLG bits that make a result unusable: result not valid (1), unreliable (2), timeout (3),
/// not executed (4), aborted (5).
const INVALID_RESULT: u8 = 0b0011_1110;
/// TEST_FLG bit 6: no pass/fail indication; bit 7: the test failed.
const NO_PASS_FAIL: u8 = 0x40;
const FAILED: u8 = 0x80;

impl ParametricAccumulator {
    /// Empty statistics of `test` on `wafer`.
    pub fn new(wafer: &str, test_num: u32, test: &TestLimits) -> ParametricAccumulator {
        ParametricAccumulator {
            stats: ParametricStats {
                wafer: wafer.to_string(),
                test_num,
                name: test.name.clone(),
                units: test.units.clone(),
                low_limit: test.low,
                high_limit: test.high,
                count: 0,
                fails: 0,
                invalid: 0,
                mean: None,
                stdev: None,
                min: None,
                max: None,
            },
            m2: 0.0,
        }
    }

    /// The statistics so far.
    pub fn finish(self) -> ParametricStats {
        self.stats
    }

    /// Adds one result with its TEST_FLG.
    pub fn add(&mut self, test_flg: u8, result: f32) {
        let s = &mut self.stats;
        if test_flg & FAILED != 0 && test_flg & NO_PASS_FAIL == 0 {
            s.fails += 1;
        }
        if test_flg & INVALID_RESULT != 0 || !result.is_finite() {
            s.invalid += 1;
            return;
        }
        // Exact widening: fast, and the statistics do not need the shortest decimal.
        let x = f64::from(result);
        s.count += 1;
        let mean = s.mean.unwrap_or(0.0);
        let delta = x - mean;
        let mean = mean + delta / s.count as f64;
        self.m2 += delta * (x - mean);
        s.mean = Some(mean);
        s.stdev = (s.count > 1).then(|| (self.m2 / (s.count - 1) as f64).sqrt());
        s.min = Some(s.min.map_or(x, |m| m.min(x)));
        s.max = Some(s.max.map_or(x, |m| m.max(x)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(flag: Option<u8>, lo: f32, hi: f32) -> PTR {
        PTR {
            test_num: 7,
            test_txt: "vth".into(),
            opt_flag: flag.map(|f| [f]),
            lo_limit: Some(lo),
            hi_limit: Some(hi),
            units: Some("V".into()),
            ..PTR::default()
        }
    }

    #[test]
    fn limits_come_from_the_first_ptr_and_respect_opt_flag() {
        let t = TestLimits::from_first(&ptr(Some(0x02), 0.4, 0.9));
        assert_eq!((t.low, t.high), (Some(0.4), Some(0.9)));
        assert_eq!(t.units, "V");
        // Bit 6: no low limit; bit 5: high limit invalid.
        let t = TestLimits::from_first(&ptr(Some(0x40 | 0x20), 0.4, 0.9));
        assert_eq!((t.low, t.high), (None, None));
        assert_eq!(TestLimits::from_first(&ptr(None, 0.4, 0.9)).low, None);
    }

    #[test]
    fn statistics_skip_invalid_results_and_count_failures() {
        let t = TestLimits::from_first(&ptr(Some(0x02), 0.4, 0.9));
        let mut acc = ParametricAccumulator::new("W1", 7, &t);
        for (flag, v) in [
            (0, 0.5),
            (0, 0.7),
            (FAILED, 1.2),
            (0x10, 99.0),
            (FAILED | 0x40, 0.6),
        ] {
            acc.add(flag, v);
        }
        let s = acc.finish();
        assert_eq!((s.count, s.fails, s.invalid), (4, 1, 1));
        assert!((s.mean.unwrap() - 0.75).abs() < 1e-6);
        // Sample stdev of 0.5, 0.7, 1.2, 0.6.
        let expected = ((0.0625 + 0.0025 + 0.2025 + 0.0225) / 3.0f64).sqrt();
        assert!((s.stdev.unwrap() - expected).abs() < 1e-6);
        assert_eq!(s.min, Some(0.5));
        assert!((s.max.unwrap() - 1.2).abs() < 1e-6);
    }
}
