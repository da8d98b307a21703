//! Products and routes (process flows): ordered, versioned, immutable steps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// The stage of the product chain a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Design release, mask making, sign-off.
    Design,
    /// Front-end wafer processing.
    Fabrication,
    /// Dicing, die attach, wire bond, encapsulation.
    Packaging,
    /// Wafer probe (CP) and final test (FT), calibration.
    Test,
    /// Sensor die + ASIC + package assembled into a module.
    Integration,
}

impl Stage {
    /// The stage's name as written in route files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Design => "design",
            Stage::Fabrication => "fabrication",
            Stage::Packaging => "packaging",
            Stage::Test => "test",
            Stage::Integration => "integration",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens when a Q-time window is exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QTimeAction {
    /// The lot is held (reason `QTIME`) and cannot be tracked in until an engineer releases it.
    #[default]
    Hold,
    /// The track-in is allowed and its event records the violation.
    Warn,
}

/// One step of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Step id, unique within the route (e.g. `S0100`).
    pub id: String,
    /// Human-readable name (e.g. `Thermal oxidation`).
    pub name: String,
    /// Stage of the product chain.
    pub stage: Stage,
    /// Equipment type that may run this step (e.g. `FURNACE`).
    pub equipment_type: String,
    /// Recipe run on the equipment.
    pub recipe: String,
    /// Maximum minutes from track-out of this step to track-in at the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qtime_max_minutes: Option<u32>,
    /// What a Q-time violation does.
    #[serde(default)]
    pub qtime_action: QTimeAction,
    /// Data-collection plan: parameters measured at track-out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<crate::measure::Parameter>,
    /// Bill of materials an integration step consumes for each module it builds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bom: Vec<crate::unit::bom::BomItem>,
}

/// Alias kept for readability where a step is input rather than stored.
pub type StepSpec = Step;

/// A route as written in a route file or posted to the API, before it is given a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Route id (e.g. `MHP-GAS`); each import of changed content creates a new version.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How many times a lot may be reworked on this route.
    #[serde(default = "default_rework_limit")]
    pub rework_limit: u32,
    /// Ordered steps.
    pub steps: Vec<Step>,
}

fn default_rework_limit() -> u32 {
    3
}

/// A stored, immutable version of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Route {
    /// Route id.
    pub id: String,
    /// Version, starting at 1; a version never changes once stored.
    pub version: u32,
    /// Human-readable name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How many times a lot may be reworked on this route.
    pub rework_limit: u32,
    /// Ordered steps.
    pub steps: Vec<Step>,
    /// When this version was stored.
    pub created_at: DateTime<Utc>,
    /// Who stored it.
    pub created_by: String,
}

/// Whether an id is made of the characters Pilotline allows in ids.
///
/// `.` is reserved for split children (`A1234.1`), so it is not allowed in ids users choose.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

impl RouteSpec {
    /// Checks the spec and returns every problem found, each naming the field at fault.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if !valid_id(&self.id) {
            errors.push(format!(
                "id: {:?} must be 1-64 characters of letters, digits, '-' or '_'",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            errors.push("name: must not be empty".to_string());
        }
        if self.steps.is_empty() {
            errors.push("steps: a route needs at least one step".to_string());
        }
        let mut seen = HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let at = format!("steps[{i}]");
            if !valid_id(&step.id) {
                errors.push(format!(
                    "{at}.id: {:?} must be 1-64 characters of letters, digits, '-' or '_'",
                    step.id
                ));
            }
            if !seen.insert(step.id.as_str()) {
                errors.push(format!("{at}.id: duplicate step id {:?}", step.id));
            }
            if step.name.trim().is_empty() {
                errors.push(format!("{at}.name: must not be empty"));
            }
            let mut names = HashSet::new();
            for (k, p) in step.measurements.iter().enumerate() {
                let pat = format!("{at}.measurements[{k}]");
                errors.extend(p.problems(&pat));
                if !names.insert(p.name.as_str()) {
                    errors.push(format!("{pat}.name: duplicate parameter {:?}", p.name));
                }
            }
            if !valid_id(&step.equipment_type) {
                errors.push(format!(
                    "{at}.equipment_type: {:?} must be 1-64 characters of letters, digits, '-' or '_'",
                    step.equipment_type
                ));
            }
            if step.recipe.trim().is_empty() {
                errors.push(format!("{at}.recipe: must not be empty"));
            }
            if step.qtime_max_minutes == Some(0) {
                errors.push(format!("{at}.qtime_max_minutes: must be at least 1"));
            }
            if step.qtime_max_minutes.is_some() && i + 1 == self.steps.len() {
                errors.push(format!(
                    "{at}.qtime_max_minutes: the last step has no next step to time"
                ));
            }
            if !step.bom.is_empty()
                && let Err(r) = crate::unit::bom::check(&step.id, &step.bom)
            {
                errors.push(format!("{at}.bom: {}", r.message()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Whether this spec describes exactly the content of `route` (ignoring version metadata).
    pub fn same_content_as(&self, route: &Route) -> bool {
        self.id == route.id
            && self.name == route.name
            && self.description == route.description
            && self.rework_limit == route.rework_limit
            && self.steps == route.steps
    }

    /// Turns a validated spec into a stored route version.
    pub fn into_route(self, version: u32, created_by: &str, now: DateTime<Utc>) -> Route {
        Route {
            id: self.id,
            version,
            name: self.name,
            description: self.description,
            rework_limit: self.rework_limit,
            steps: self.steps,
            created_at: now,
            created_by: created_by.to_string(),
        }
    }
}

impl Route {
    /// The index of the step with id `step_id`.
    pub fn step_index(&self, step_id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == step_id)
    }
}

/// A product: what a lot makes, owned by the platform or by a tenant (start-up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Product id (e.g. `MHP-GS-200`).
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Route new lots of this product follow when none is named.
    pub default_route: String,
    /// Owning tenant for a start-up's product; lots of it belong to that tenant by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Product {
    /// Checks the product and returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if !valid_id(&self.id) {
            errors.push(format!(
                "id: {:?} must be 1-64 characters of letters, digits, '-' or '_'",
                self.id
            ));
        }
        if !valid_id(&self.default_route) {
            errors.push(format!(
                "default_route: {:?} is not a valid route id",
                self.default_route
            ));
        }
        if let Some(t) = &self.tenant
            && !valid_id(t)
        {
            errors.push(format!("tenant: {t:?} is not a valid tenant id"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str) -> Step {
        Step {
            id: id.into(),
            name: format!("step {id}"),
            stage: Stage::Fabrication,
            equipment_type: "FURNACE".into(),
            recipe: "OX-1000".into(),
            qtime_max_minutes: None,
            qtime_action: QTimeAction::Hold,
            measurements: vec![],
            bom: vec![],
        }
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut last = step("S2");
        last.qtime_max_minutes = Some(30);
        let spec = RouteSpec {
            id: "bad id".into(),
            name: " ".into(),
            description: None,
            rework_limit: 3,
            steps: vec![step("S1"), step("S1"), last],
        };
        let errors = spec.validate().unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("id:"));
        assert!(errors[1].starts_with("name:"));
        assert!(errors[2].contains("duplicate step id"));
        assert!(errors[3].contains("last step"));
    }

    #[test]
    fn dots_are_reserved_for_split_children() {
        assert!(valid_id("A1234"));
        assert!(!valid_id("A1234.1"));
        assert!(!valid_id(""));
    }

    #[test]
    fn route_files_parse_with_unknown_keys_refused() {
        let text = r#"
            id = "R1"
            name = "Route"
            [[steps]]
            id = "S1"
            name = "Oxidation"
            stage = "fabrication"
            equipment_type = "FURNACE"
            recipe = "WET-OX"
            colour = "red"
        "#;
        let err = toml::from_str::<RouteSpec>(text).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
