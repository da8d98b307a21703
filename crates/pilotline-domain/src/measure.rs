//! Metrology at a route step: the step's data-collection plan (parameters with valid and spec
//! limits) and the readings taken at track-out.
//!
//! A reading outside a parameter's *valid* limits is implausible (a mis-measure): the
//! track-out is refused so the wafer is measured again. A reading outside the *spec* limits is
//! real and out of spec: the lot is held automatically, and only an engineer's disposition
//! releases it.

use serde::{Deserialize, Serialize};

use crate::refusal::{Code, Refusal};

/// Reason code of the hold placed for an out-of-spec reading.
pub const OOS_REASON: &str = "SPC-OOS";

/// Reason code of the hold an SPC chart places for an out-of-control point.
pub const OOC_REASON: &str = "SPC-OOC";

/// Whether releasing a hold of `reason_code` needs an engineer's disposition (SPC holds).
pub fn needs_disposition(reason_code: &str) -> bool {
    reason_code == OOS_REASON || reason_code == OOC_REASON
}

/// A parameter measured at a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Parameter name (e.g. `oxide_thickness`).
    pub name: String,
    /// Unit (e.g. `nm`).
    #[serde(default)]
    pub unit: String,
    /// Lower plausible value; below it a reading is refused for re-measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_min: Option<f64>,
    /// Upper plausible value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_max: Option<f64>,
    /// Lower spec limit; below it the lot is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsl: Option<f64>,
    /// Upper spec limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<f64>,
    /// Wafers measured per lot (sample plan).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub wafers_per_lot: u32,
    /// Sites measured per wafer (sample plan).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub sites_per_wafer: u32,
}

// Limits are checked finite when the route is validated, so equality is reflexive.
impl Eq for Parameter {}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Parameter {
    /// Problems with the parameter's definition, each prefixed with `at`.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(format!("{at}.name: must not be empty"));
        }
        let limits = [self.valid_min, self.valid_max, self.lsl, self.usl];
        if limits.iter().flatten().any(|v| !v.is_finite()) {
            out.push(format!("{at}: limits must be finite numbers"));
        }
        for (lo, hi, what) in [
            (
                self.valid_min,
                self.valid_max,
                "valid_min must be below valid_max",
            ),
            (self.lsl, self.usl, "lsl must be below usl"),
        ] {
            if let (Some(lo), Some(hi)) = (lo, hi)
                && lo >= hi
            {
                out.push(format!("{at}: {what}"));
            }
        }
        out
    }
}

/// One reading taken at track-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// Parameter name, from the step's plan.
    pub parameter: String,
    /// Wafer measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wafer: Option<String>,
    /// Site on the wafer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<u32>,
    /// Value, in the parameter's unit.
    pub value: f64,
}

// Readings are checked finite before they are accepted.
impl Eq for Reading {}

/// A reading outside its spec limits.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfSpec {
    /// The reading.
    pub reading: Reading,
    /// Its parameter.
    pub parameter: Parameter,
}

impl OutOfSpec {
    /// The hold comment: parameter, value, where, and the limits it broke.
    pub fn describe(&self, step: &str) -> String {
        let r = &self.reading;
        let p = &self.parameter;
        let mut at = String::new();
        if let Some(w) = &r.wafer {
            at.push_str(&format!(" on wafer {w}"));
        }
        if let Some(s) = r.site {
            at.push_str(&format!(" site {s}"));
        }
        let limit = |v: Option<f64>| v.map_or("-".to_string(), |v| v.to_string());
        format!(
            "{} = {} {}{at} at step {step} is outside spec [{}, {}]",
            p.name,
            r.value,
            p.unit,
            limit(p.lsl),
            limit(p.usl)
        )
        .replace("  ", " ")
    }
}

/// Checks `readings` against the step's plan: refuses unknown parameters and implausible
/// values (to be measured again); returns the readings out of spec.
pub fn check_readings(
    step: &str,
    plan: &[Parameter],
    readings: &[Reading],
) -> Result<Vec<OutOfSpec>, Refusal> {
    let mut oos = Vec::new();
    for (i, r) in readings.iter().enumerate() {
        let at = format!("readings[{i}]");
        let Some(p) = plan.iter().find(|p| p.name == r.parameter) else {
            let names: Vec<&str> = plan.iter().map(|p| p.name.as_str()).collect();
            return Err(Code::ParameterNotPlanned
                .refusal()
                .with("at", &at)
                .with("step", step)
                .with("parameter", format!("{:?}", r.parameter))
                .with(
                    "plan",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    },
                ));
        };
        if !r.value.is_finite() {
            return Err(Code::ReadingNotFinite.refusal().with("at", &at));
        }
        if p.valid_min.is_some_and(|lo| r.value < lo) || p.valid_max.is_some_and(|hi| r.value > hi)
        {
            return Err(Code::ReadingImplausible
                .refusal()
                .with("at", &at)
                .with("value", r.value)
                .with("unit", &p.unit)
                .with("parameter", &p.name)
                .with("min", p.valid_min.map_or("-".into(), |v| v.to_string()))
                .with("max", p.valid_max.map_or("-".into(), |v| v.to_string())));
        }
        if p.lsl.is_some_and(|lo| r.value < lo) || p.usl.is_some_and(|hi| r.value > hi) {
            oos.push(OutOfSpec {
                reading: r.clone(),
                parameter: p.clone(),
            });
        }
    }
    Ok(oos)
}

/// Refuses a reading that names a wafer which is not one of `active` (the lot's wafers that
/// are not scrapped): a reading must be traceable to a wafer that was measured.
pub fn check_reading_wafers<'a>(
    lot: &str,
    active: impl Iterator<Item = &'a str> + Clone,
    readings: &[Reading],
) -> Result<(), Refusal> {
    for (i, r) in readings.iter().enumerate() {
        if let Some(w) = &r.wafer
            && !active.clone().any(|a| a == w)
        {
            return Err(Code::ReadingWaferNotInLot
                .refusal()
                .with("at", format!("readings[{i}]"))
                .with("wafer", w)
                .with("lot", lot));
        }
    }
    Ok(())
}
