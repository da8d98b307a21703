//! Calibration coefficients: a part's trimming data, one JSON document per part, checked
//! against its product's schema.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::refusal::{Code, Refusal};

/// One coefficient of a product's calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Coefficient {
    /// Its key in the document (`offset_mv`).
    pub name: String,
    /// Unit, for people.
    #[serde(default)]
    pub unit: String,
    /// Lowest valid value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest valid value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Whether every part must have it.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A product's calibration schema: the coefficients each of its parts carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CalibrationSchema {
    /// The coefficients.
    pub coefficients: Vec<Coefficient>,
}

impl CalibrationSchema {
    /// Checks the schema itself: names unique and non-empty, ranges ordered.
    pub fn check(&self) -> Result<(), Refusal> {
        let bad = |reason: String| {
            Code::CalibrationSchemaInvalid
                .refusal()
                .with("reason", reason)
        };
        if self.coefficients.is_empty() || self.coefficients.len() > 256 {
            return Err(bad("name 1 to 256 coefficients".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.coefficients {
            crate::refusal::check_text("coefficients.name", &c.name, 64)?;
            if !seen.insert(c.name.as_str()) {
                return Err(bad(format!("coefficient {} is listed twice", c.name)));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && (lo.is_nan() || hi.is_nan() || lo > hi)
            {
                return Err(bad(format!(
                    "coefficient {}: min {lo} above max {hi}",
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// Checks one part's document `doc` (an object of numbers): every key a coefficient of
    /// the schema, every required one present, each a finite number within its range.
    pub fn validate(&self, part: &str, doc: &Value) -> Result<(), Refusal> {
        let bad = |field: String, reason: String| {
            Code::CalibrationInvalid
                .refusal()
                .with("part", part)
                .with("field", field)
                .with("reason", reason)
        };
        let Some(map) = doc.as_object() else {
            return Err(bad(
                "coefficients".into(),
                "must be an object of numbers".into(),
            ));
        };
        for key in map.keys() {
            if !self.coefficients.iter().any(|c| &c.name == key) {
                let known: Vec<&str> = self.coefficients.iter().map(|c| c.name.as_str()).collect();
                return Err(bad(
                    key.clone(),
                    format!(
                        "not a coefficient of the product (it has {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        for c in &self.coefficients {
            match map.get(&c.name) {
                None if c.required => {
                    return Err(bad(c.name.clone(), "is required".into()));
                }
                None => {}
                Some(v) => {
                    let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
                        return Err(bad(c.name.clone(), "must be a finite number".into()));
                    };
                    if c.min.is_some_and(|lo| x < lo) || c.max.is_some_and(|hi| x > hi) {
                        return Err(bad(
                            c.name.clone(),
                            format!(
                                "{x} {} is outside [{}, {}]",
                                c.unit,
                                c.min.map_or("-inf".into(), |v| v.to_string()),
                                c.max.map_or("inf".into(), |v| v.to_string())
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> CalibrationSchema {
        serde_json::from_value(json!({"coefficients": [
            {"name": "offset_mv", "unit": "mV", "min": -50.0, "max": 50.0},
            {"name": "gain", "min": 0.5, "max": 2.0},
            {"name": "tc1", "required": false}
        ]}))
        .unwrap()
    }

    #[test]
    fn a_part_document_must_follow_its_products_schema() {
        let s = schema();
        s.check().unwrap();
        assert!(
            s.validate("P-1", &json!({"offset_mv": 1.5, "gain": 1.01}))
                .is_ok()
        );
        for (doc, field) in [
            (json!({"gain": 1.0}), "offset_mv"),
            (json!({"offset_mv": 80.0, "gain": 1.0}), "offset_mv"),
            (json!({"offset_mv": 1.0, "gain": "x"}), "gain"),
            (json!({"offset_mv": 1.0, "gain": 1.0, "zz": 1}), "zz"),
            (json!([1, 2]), "coefficients"),
        ] {
            let r = s.validate("P-1", &doc).unwrap_err();
            assert_eq!(r.code(), Code::CalibrationInvalid);
            assert_eq!(r.param("field"), Some(field));
        }
    }
}
