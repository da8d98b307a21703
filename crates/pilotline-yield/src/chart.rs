//! SPC charts: definitions, frozen control limits, plotted points, and the judgement of new
//! points — which rule fired on which point, and what the chart's action calls for. Pure: the
//! store loads and saves, the application layer carries the actions out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spc::{self, Capability, Limits, Rule};

/// What a chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChartType {
    /// Individuals and moving range of wafer means.
    Imr,
    /// Wafer means (X̄) and standard deviations (S) of the sites of each wafer.
    XbarS,
}

/// What an out-of-control point does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OocAction {
    /// Only shown on the chart.
    None,
    /// Hold the lot (`SPC-OOC`; release needs a disposition).
    #[default]
    Hold,
    /// Take the tool that produced the point down (E10 unscheduled down).
    Inhibit,
    /// Both.
    HoldAndInhibit,
}

/// A chart's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// Chart id.
    pub id: String,
    /// Parameter plotted (as named in the steps' data-collection plans).
    pub parameter: String,
    /// Only this product's readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Only readings at this route step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Only readings from this tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment: Option<String>,
    /// Only readings of this recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// I-MR or X̄-S.
    pub chart_type: ChartType,
    /// Run rules that judge it (default: the Western Electric four).
    #[serde(default = "western_electric")]
    pub rules: Vec<Rule>,
    /// What an out-of-control point does (default: hold the lot).
    #[serde(default)]
    pub action: OocAction,
    /// Lower spec limit (capability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsl: Option<f64>,
    /// Upper spec limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<f64>,
    /// Points the limits are computed from: the first ones for the first version, the latest
    /// ones when recomputed (default 20).
    #[serde(default = "twenty")]
    pub baseline_points: u32,
}

fn western_electric() -> Vec<Rule> {
    Rule::WESTERN_ELECTRIC.to_vec()
}

fn twenty() -> u32 {
    20
}

/// Control limits of one chart version, frozen when computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartLimits {
    /// Chart version.
    pub version: u32,
    /// Centre line and sigma of the plotted wafer means.
    pub limits: Limits,
    /// Upper control limit.
    pub ucl: f64,
    /// Lower control limit.
    pub lcl: f64,
    /// Moving-range chart upper limit (I-MR).
    pub mr_ucl: Option<f64>,
    /// S chart centre, lower and upper limits (X̄-S).
    pub s_limits: Option<[f64; 3]>,
    /// Sigma of individual values used for Cp/Cpk.
    pub sigma_within: f64,
    /// Points the limits come from.
    pub baseline: u32,
    /// When computed.
    pub computed_at: DateTime<Utc>,
    /// By whom.
    pub computed_by: String,
}

/// One plotted point: a wafer's mean (or a lot's, for readings without a wafer).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartPoint {
    /// Lot.
    pub lot: String,
    /// Wafer (empty when the readings named none).
    pub wafer: String,
    /// Time of its last reading.
    pub at: DateTime<Utc>,
    /// Mean of its readings.
    pub value: f64,
    /// Readings (sites).
    pub n: u32,
    /// Standard deviation of its readings (two or more).
    pub stdev: Option<f64>,
    /// Tool that produced it.
    pub equipment: Option<String>,
    /// Its site values, in reading order.
    #[serde(skip)]
    pub sites: Vec<f64>,
}

/// A rule that fired on a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartViolation {
    /// The rule.
    pub rule: Rule,
    /// What it means.
    pub description: String,
    /// Index of the point.
    pub index: usize,
    /// Its lot.
    pub lot: String,
    /// Its wafer.
    pub wafer: String,
    /// Its value.
    pub value: f64,
}

/// A chart with its points judged against its frozen limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartView {
    /// Definition.
    pub spec: ChartSpec,
    /// Current version (0: no limits yet).
    pub version: u32,
    /// The current version's limits.
    pub limits: Option<ChartLimits>,
    /// Every point, oldest first.
    pub points: Vec<ChartPoint>,
    /// Rules that fired, by point.
    pub violations: Vec<ChartViolation>,
    /// Cp/Cpk (within sigma) and Pp/Ppk (overall) against the chart's spec limits, over the
    /// points shown.
    pub capability: Option<Capability>,
    /// Earlier points exist that are not shown (a chart shows its latest points).
    pub earlier_points_left_out: bool,
}

/// Limits from `points` (the baseline) for `spec`; `None` when too few.
pub fn compute_limits(
    spec: &ChartSpec,
    points: &[ChartPoint],
    version: u32,
    by: &str,
    at: DateTime<Utc>,
) -> Option<ChartLimits> {
    let (limits, mr_ucl, s_limits, sigma_within) = match spec.chart_type {
        ChartType::Imr => {
            let values: Vec<f64> = points.iter().map(|p| p.value).collect();
            let (l, mr) = spc::individuals_limits(&values)?;
            (l, Some(mr), None, l.sigma)
        }
        ChartType::XbarS => {
            let groups: Vec<Vec<f64>> = points.iter().map(|p| p.sites.clone()).collect();
            let x = spc::xbar_s_limits(&groups)?;
            (
                x.xbar,
                None,
                Some([x.s_lcl, x.s_center, x.s_ucl]),
                x.sigma_within,
            )
        }
    };
    Some(ChartLimits {
        version,
        limits,
        ucl: limits.ucl(),
        lcl: limits.lcl(),
        mr_ucl,
        s_limits,
        sigma_within,
        baseline: points.len() as u32,
        computed_at: at,
        computed_by: by.to_string(),
    })
}

/// The rules that fire on `points` against `limits` (none without limits).
pub fn judge(
    spec: &ChartSpec,
    points: &[ChartPoint],
    limits: Option<&ChartLimits>,
) -> Vec<ChartViolation> {
    let Some(l) = limits else {
        return Vec::new();
    };
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    spc::violations(&values, l.limits, &spec.rules)
        .into_iter()
        .map(|v| ChartViolation {
            rule: v.rule,
            description: v.rule.describe().to_string(),
            index: v.index,
            lot: points[v.index].lot.clone(),
            wafer: points[v.index].wafer.clone(),
            value: points[v.index].value,
        })
        .collect()
}

/// A chart's points judged against its frozen limits, with capability against its spec limits.
pub fn view(
    spec: ChartSpec,
    version: u32,
    limits: Option<ChartLimits>,
    points: Vec<ChartPoint>,
) -> ChartView {
    let violations = judge(&spec, &points, limits.as_ref());
    let capability = limits.as_ref().and_then(|l| {
        (spec.lsl.is_some() || spec.usl.is_some()).then(|| {
            let values: Vec<f64> = points.iter().flat_map(|p| p.sites.clone()).collect();
            spc::capability(&values, l.sigma_within, spec.lsl, spec.usl)
        })
    });
    ChartView {
        spec,
        version,
        limits,
        points,
        violations,
        capability,
        earlier_points_left_out: false,
    }
}

impl ChartView {
    /// Keeps only the latest `max` points (and the violations on them).
    pub fn keep_latest(&mut self, max: usize) {
        let cut = self.points.len().saturating_sub(max);
        if cut == 0 {
            return;
        }
        self.points.drain(..cut);
        self.violations.retain(|v| v.index >= cut);
        for v in &mut self.violations {
            v.index -= cut;
        }
        self.earlier_points_left_out = true;
    }
}

/// Every problem of a chart definition (empty when it is valid).
pub fn problems(spec: &ChartSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if spec.id.trim().is_empty() {
        problems.push("id: must not be empty".to_string());
    }
    if spec.parameter.trim().is_empty() {
        problems.push("parameter: must not be empty".to_string());
    }
    if spec.rules.is_empty() {
        problems.push("rules: choose at least one rule".to_string());
    }
    if spec.baseline_points < 2 {
        problems.push("baseline_points: at least 2".to_string());
    }
    if let (Some(l), Some(u)) = (spec.lsl, spec.usl)
        && l >= u
    {
        problems.push("lsl must be below usl".to_string());
    }
    problems
}

/// The first limits of a chart that has none yet (version 0), once it has its baseline:
/// computed from its first `baseline_points` points.
pub fn first_limits(
    spec: &ChartSpec,
    version: u32,
    points: &[ChartPoint],
    at: DateTime<Utc>,
) -> Option<ChartLimits> {
    let n = spec.baseline_points as usize;
    (version == 0 && points.len() >= n)
        .then(|| compute_limits(spec, &points[..n], 1, "spc", at))
        .flatten()
}

/// What the chart's action calls for on one out-of-control point.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfControl {
    /// The first rule that fired on the point.
    pub rule: Rule,
    /// The point.
    pub point: ChartPoint,
    /// Hold the lot (`SPC-OOC`).
    pub hold: bool,
    /// Take this tool down (E10 unscheduled down).
    pub inhibit: Option<String>,
    /// What the hold and the tool's state change say: chart, version, rule, wafer, mean,
    /// limits.
    pub comment: String,
}

/// The out-of-control points of lot `lot` recorded at or after `since`, one per point (the
/// first rule that fired on it names it), with what the chart's action calls for.
pub fn out_of_control(view: &ChartView, lot: &str, since: DateTime<Utc>) -> Vec<OutOfControl> {
    let mut fired: Vec<&ChartViolation> = view
        .violations
        .iter()
        .filter(|v| {
            let p = &view.points[v.index];
            p.lot == lot && p.at >= since
        })
        .collect();
    fired.dedup_by_key(|v| v.index);
    let hold = matches!(
        view.spec.action,
        OocAction::Hold | OocAction::HoldAndInhibit
    );
    let inhibit = matches!(
        view.spec.action,
        OocAction::Inhibit | OocAction::HoldAndInhibit
    );
    fired
        .into_iter()
        .map(|v| {
            let point = view.points[v.index].clone();
            let comment = format!(
                "chart {} v{}: {} ({}) at wafer {} mean {:.4} (centre {:.4}, limits {:.4}..{:.4})",
                view.spec.id,
                view.version,
                v.rule.code(),
                v.description,
                if point.wafer.is_empty() {
                    "-"
                } else {
                    &point.wafer
                },
                point.value,
                view.limits.as_ref().map_or(f64::NAN, |l| l.limits.center),
                view.limits.as_ref().map_or(f64::NAN, |l| l.lcl),
                view.limits.as_ref().map_or(f64::NAN, |l| l.ucl),
            );
            OutOfControl {
                rule: v.rule,
                inhibit: if inhibit {
                    point.equipment.clone()
                } else {
                    None
                },
                point,
                hold,
                comment,
            }
        })
        .collect()
}
