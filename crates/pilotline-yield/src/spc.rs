//! Statistical process control: control limits for I-MR and X̄-S charts, the Western Electric
//! and Nelson run rules, and process capability. Pure arithmetic over the points of a chart.
//!
//! Limits are computed once from a baseline (a chart version freezes them) and the rules then
//! judge every point against them. A rule fires on the point that completes its pattern.

use serde::{Deserialize, Serialize};

/// A run rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Nelson 1 / WE 1: one point beyond 3σ.
    Nelson1,
    /// Nelson 2: nine points in a row on the same side of the centre line.
    Nelson2,
    /// Nelson 3: six points in a row steadily increasing or decreasing.
    Nelson3,
    /// Nelson 4: fourteen points in a row alternating up and down.
    Nelson4,
    /// Nelson 5 / WE 2: two of three points in a row beyond 2σ on the same side.
    Nelson5,
    /// Nelson 6 / WE 3: four of five points in a row beyond 1σ on the same side.
    Nelson6,
    /// Nelson 7: fifteen points in a row within 1σ (stratification).
    Nelson7,
    /// Nelson 8: eight points in a row beyond 1σ, on both sides (mixture).
    Nelson8,
    /// Western Electric 4: eight points in a row on the same side of the centre line.
    WesternElectric4,
}

impl Rule {
    /// Nelson's eight rules.
    pub const NELSON: [Rule; 8] = [
        Rule::Nelson1,
        Rule::Nelson2,
        Rule::Nelson3,
        Rule::Nelson4,
        Rule::Nelson5,
        Rule::Nelson6,
        Rule::Nelson7,
        Rule::Nelson8,
    ];
    /// The four Western Electric rules.
    pub const WESTERN_ELECTRIC: [Rule; 4] = [
        Rule::Nelson1,
        Rule::Nelson5,
        Rule::Nelson6,
        Rule::WesternElectric4,
    ];

    /// The rule's name as serialised (`nelson1`, `western_electric4`).
    pub fn code(self) -> &'static str {
        match self {
            Rule::Nelson1 => "nelson1",
            Rule::Nelson2 => "nelson2",
            Rule::Nelson3 => "nelson3",
            Rule::Nelson4 => "nelson4",
            Rule::Nelson5 => "nelson5",
            Rule::Nelson6 => "nelson6",
            Rule::Nelson7 => "nelson7",
            Rule::Nelson8 => "nelson8",
            Rule::WesternElectric4 => "western_electric4",
        }
    }

    /// What the rule looks for, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Nelson1 => "one point beyond 3 sigma",
            Rule::Nelson2 => "nine points in a row on one side of the centre line",
            Rule::Nelson3 => "six points in a row steadily increasing or decreasing",
            Rule::Nelson4 => "fourteen points in a row alternating up and down",
            Rule::Nelson5 => "two of three points beyond 2 sigma on the same side",
            Rule::Nelson6 => "four of five points beyond 1 sigma on the same side",
            Rule::Nelson7 => "fifteen points in a row within 1 sigma",
            Rule::Nelson8 => "eight points in a row beyond 1 sigma on both sides",
            Rule::WesternElectric4 => "eight points in a row on one side of the centre line",
        }
    }
}

/// Centre line and sigma a chart's points are judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Limits {
    /// Centre line.
    pub center: f64,
    /// One sigma of the plotted statistic.
    pub sigma: f64,
}

impl Limits {
    /// Upper control limit (centre + 3σ).
    pub fn ucl(&self) -> f64 {
        self.center + 3.0 * self.sigma
    }

    /// Lower control limit (centre − 3σ).
    pub fn lcl(&self) -> f64 {
        self.center - 3.0 * self.sigma
    }

    /// Distance from the centre in sigmas.
    fn z(&self, x: f64) -> f64 {
        (x - self.center) / self.sigma
    }
}

/// A rule that fired, at the point (index) completing its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Index of the point.
    pub index: usize,
}

/// Every violation of `rules` in `points` judged against `limits`, ordered by point then rule.
pub fn violations(points: &[f64], limits: Limits, rules: &[Rule]) -> Vec<Violation> {
    let mut out = Vec::new();
    if limits.sigma <= 0.0 || !limits.sigma.is_finite() {
        return out;
    }
    let z: Vec<f64> = points.iter().map(|&x| limits.z(x)).collect();
    for i in 0..points.len() {
        for &rule in rules {
            if fires(rule, &z, points, i) {
                out.push(Violation { rule, index: i });
            }
        }
    }
    out.sort_by_key(|v| (v.index, v.rule));
    out.dedup();
    out
}

/// The last `n` items ending at `i`, if there are that many.
fn window<T>(v: &[T], i: usize, n: usize) -> Option<&[T]> {
    (i + 1 >= n).then(|| &v[i + 1 - n..=i])
}

fn same_side_run(z: &[f64], i: usize, n: usize) -> bool {
    window(z, i, n).is_some_and(|w| w.iter().all(|&v| v > 0.0) || w.iter().all(|&v| v < 0.0))
}

fn fires(rule: Rule, z: &[f64], x: &[f64], i: usize) -> bool {
    match rule {
        Rule::Nelson1 => z[i].abs() > 3.0,
        Rule::Nelson2 => same_side_run(z, i, 9),
        Rule::WesternElectric4 => same_side_run(z, i, 8),
        Rule::Nelson3 => window(x, i, 6).is_some_and(|w| {
            w.windows(2).all(|p| p[1] > p[0]) || w.windows(2).all(|p| p[1] < p[0])
        }),
        Rule::Nelson4 => window(x, i, 14).is_some_and(|w| {
            let d: Vec<f64> = w.windows(2).map(|p| p[1] - p[0]).collect();
            d.iter().all(|v| *v != 0.0) && d.windows(2).all(|p| p[0].signum() != p[1].signum())
        }),
        Rule::Nelson5 => beyond_same_side(z, i, 3, 2, 2.0),
        Rule::Nelson6 => beyond_same_side(z, i, 5, 4, 1.0),
        Rule::Nelson7 => window(z, i, 15).is_some_and(|w| w.iter().all(|v| v.abs() < 1.0)),
        Rule::Nelson8 => window(z, i, 8).is_some_and(|w| {
            w.iter().all(|v| v.abs() > 1.0)
                && w.iter().any(|&v| v > 0.0)
                && w.iter().any(|&v| v < 0.0)
        }),
    }
}

/// At least `k` of the last `n` points beyond `s` sigma on one side; the point at `i` must be
/// one of them (so the rule fires where the pattern completes).
fn beyond_same_side(z: &[f64], i: usize, n: usize, k: usize, s: f64) -> bool {
    let Some(w) = window(z, i, n) else {
        return false;
    };
    let up = w.iter().filter(|&&v| v > s).count();
    let down = w.iter().filter(|&&v| v < -s).count();
    (up >= k && z[i] > s) || (down >= k && z[i] < -s)
}

/// Limits of an individuals chart from a baseline: centre = mean, σ = mean moving range / d2
/// (d2 = 1.128 for ranges of two). `None` with fewer than two points.
pub fn individuals_limits(baseline: &[f64]) -> Option<(Limits, f64)> {
    if baseline.len() < 2 {
        return None;
    }
    let center = mean(baseline);
    let mr = mean(
        &baseline
            .windows(2)
            .map(|p| (p[1] - p[0]).abs())
            .collect::<Vec<_>>(),
    );
    Some((
        Limits {
            center,
            sigma: mr / 1.128,
        },
        // The moving-range chart's upper limit, D4 · MR̄.
        3.267 * mr,
    ))
}

/// c4(n): the bias of the sample standard deviation of n normal values (E[s] = c4·σ).
pub fn c4(n: usize) -> f64 {
    if n < 2 {
        return f64::NAN;
    }
    // r(n) = Γ(n/2) / Γ((n−1)/2), with r(2) = 1/√π, r(3) = √π/2 and r(n+2) = n/(n−1) · r(n).
    let pi = std::f64::consts::PI;
    let mut r = if n.is_multiple_of(2) {
        1.0 / pi.sqrt()
    } else {
        pi.sqrt() / 2.0
    };
    let mut k = if n.is_multiple_of(2) { 2 } else { 3 };
    while k < n {
        r *= k as f64 / (k as f64 - 1.0);
        k += 2;
    }
    (2.0 / (n as f64 - 1.0)).sqrt() * r
}

/// Limits of an X̄ chart and an S chart from baseline subgroups (e.g. the sites of each wafer):
/// σ = s̄ / c4(n); X̄ limits x̿ ± 3σ/√n; the S chart's centre s̄ with B3/B4 limits. Subgroups
/// of another size than the first are left out. `None` without two subgroups of two or more.
pub fn xbar_s_limits(subgroups: &[Vec<f64>]) -> Option<XbarS> {
    let n = subgroups.first()?.len();
    let groups: Vec<&Vec<f64>> = subgroups.iter().filter(|g| g.len() == n).collect();
    if n < 2 || groups.len() < 2 {
        return None;
    }
    let means: Vec<f64> = groups.iter().map(|g| mean(g)).collect();
    let sds: Vec<f64> = groups.iter().map(|g| std_dev(g)).collect();
    let s_bar = mean(&sds);
    let c = c4(n);
    let sigma = s_bar / c;
    let spread = 3.0 * (1.0 - c * c).sqrt() / c;
    Some(XbarS {
        xbar: Limits {
            center: mean(&means),
            sigma: sigma / (n as f64).sqrt(),
        },
        s_center: s_bar,
        s_lcl: (s_bar * (1.0 - spread)).max(0.0),
        s_ucl: s_bar * (1.0 + spread),
        sigma_within: sigma,
        subgroup_size: n,
    })
}

/// X̄-S chart limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct XbarS {
    /// Limits of the subgroup means.
    pub xbar: Limits,
    /// S chart centre line (s̄).
    pub s_center: f64,
    /// S chart lower limit (B3 · s̄).
    pub s_lcl: f64,
    /// S chart upper limit (B4 · s̄).
    pub s_ucl: f64,
    /// Within-subgroup sigma of the individual values (s̄ / c4).
    pub sigma_within: f64,
    /// Subgroup size.
    pub subgroup_size: usize,
}

/// Process capability against spec limits (either may be absent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capability {
    /// Potential capability, within-subgroup sigma (needs both limits).
    pub cp: Option<f64>,
    /// Actual capability, within-subgroup sigma.
    pub cpk: Option<f64>,
    /// Potential performance, overall sigma (needs both limits).
    pub pp: Option<f64>,
    /// Actual performance, overall sigma.
    pub ppk: Option<f64>,
}

/// Cp, Cpk (with `sigma_within`) and Pp, Ppk (with the overall standard deviation of `values`).
pub fn capability(
    values: &[f64],
    sigma_within: f64,
    lsl: Option<f64>,
    usl: Option<f64>,
) -> Capability {
    let mu = mean(values);
    let overall = std_dev(values);
    let index = |sigma: f64| -> (Option<f64>, Option<f64>) {
        if sigma.is_nan() || sigma <= 0.0 || values.is_empty() {
            return (None, None);
        }
        let p = match (lsl, usl) {
            (Some(l), Some(u)) => Some((u - l) / (6.0 * sigma)),
            _ => None,
        };
        let k = [
            usl.map(|u| (u - mu) / (3.0 * sigma)),
            lsl.map(|l| (mu - l) / (3.0 * sigma)),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::min);
        (p, k)
    };
    let (cp, cpk) = index(sigma_within);
    let (pp, ppk) = index(overall);
    Capability { cp, cpk, pp, ppk }
}

/// Arithmetic mean (NaN for no values).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
pub fn std_dev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

#[cfg(test)]
mod tests;
