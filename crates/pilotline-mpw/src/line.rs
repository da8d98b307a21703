//! The line's configuration that shuttles are laid out on: the stepper's field, the wafer and
//! the line's own test structures. Master data set by an admin, never constants in code.

use pilotline_domain::{Code, Refusal, check_text};
use serde::{Deserialize, Serialize};

/// Lengths are integer micrometres throughout: exact, and what layout people read.
pub type Um = i64;

/// The stepper's exposure field: the reticle image on the wafer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Width (x) on the wafer, µm.
    pub width_um: Um,
    /// Height (y) on the wafer, µm.
    pub height_um: Um,
}

/// How the wafer's orientation is marked; a flat also removes the wafer area beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Orientation {
    /// A notch (200 mm wafers today): no area lost beyond the edge exclusion.
    Notch,
    /// A primary flat of this length at the bottom (y < 0).
    Flat {
        /// Length of the flat's chord, µm.
        length_um: Um,
    },
}

/// The wafer the line runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WaferSpec {
    /// Diameter, µm (200,000 on this line).
    pub diameter_um: Um,
    /// Ring at the edge where no die is good, µm.
    pub edge_exclusion_um: Um,
    /// Notch or flat.
    pub orientation: Orientation,
}

/// A structure the line places in every field for its own process control (PCM, alignment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TestStructure {
    /// Name shown on the reticle (`PCM-A`).
    pub name: String,
    /// Width, µm.
    pub width_um: Um,
    /// Height, µm.
    pub height_um: Um,
}

/// The line's configuration for shuttles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// The stepper's field.
    pub stepper_field: Field,
    /// The wafer.
    pub wafer: WaferSpec,
    /// The line's time zone (IANA name, `Asia/Shanghai`): shuttle dates are instants, shown
    /// in the viewer's zone; this is the zone the line's people plan in.
    pub time_zone: String,
    /// Reserved in every field before any design is placed.
    #[serde(default)]
    pub test_structures: Vec<TestStructure>,
}

fn positive(field: &str, v: Um, max: Um) -> Result<(), Refusal> {
    if v <= 0 || v > max {
        return Err(Code::OutOfRange
            .refusal()
            .with("field", field)
            .with("value", v)
            .with("range", format!("1..={max} µm")));
    }
    Ok(())
}

impl LineConfig {
    /// Refuses a configuration no line could have: a field larger than the wafer, an edge
    /// exclusion eating the wafer, a test structure that does not fit the field.
    pub fn validate(&self) -> Result<(), Refusal> {
        positive("wafer.diameter_um", self.wafer.diameter_um, 450_000)?;
        let d = self.wafer.diameter_um;
        positive("stepper_field.width_um", self.stepper_field.width_um, d)?;
        positive("stepper_field.height_um", self.stepper_field.height_um, d)?;
        if self.wafer.edge_exclusion_um < 0 || self.wafer.edge_exclusion_um * 4 >= d {
            return Err(Code::OutOfRange
                .refusal()
                .with("field", "wafer.edge_exclusion_um")
                .with("value", self.wafer.edge_exclusion_um)
                .with("range", format!("0..{} µm", d / 4)));
        }
        if let Orientation::Flat { length_um } = self.wafer.orientation {
            positive("wafer.orientation.length_um", length_um, d - 1)?;
        }
        check_text("time_zone", &self.time_zone, 64)?;
        if !self
            .time_zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
        {
            return Err(Code::BodyInvalid
                .refusal()
                .with("field", "time_zone")
                .with("reason", "an IANA time zone name such as Asia/Shanghai"));
        }
        for (i, t) in self.test_structures.iter().enumerate() {
            check_text(&format!("test_structures[{i}].name"), &t.name, 64)?;
            positive(
                &format!("test_structures[{i}].width_um"),
                t.width_um,
                self.stepper_field.width_um,
            )?;
            positive(
                &format!("test_structures[{i}].height_um"),
                t.height_um,
                self.stepper_field.height_um,
            )?;
        }
        Ok(())
    }

    /// The radius within which a die is whole and good, µm.
    pub fn usable_radius(&self) -> Um {
        self.wafer.diameter_um / 2 - self.wafer.edge_exclusion_um
    }
}

#[cfg(test)]
pub(crate) fn example() -> LineConfig {
    LineConfig {
        stepper_field: Field {
            width_um: 20_000,
            height_um: 20_000,
        },
        wafer: WaferSpec {
            diameter_um: 200_000,
            edge_exclusion_um: 3_000,
            orientation: Orientation::Notch,
        },
        time_zone: "Asia/Shanghai".into(),
        test_structures: vec![TestStructure {
            name: "PCM".into(),
            width_um: 2_000,
            height_um: 4_000,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_larger_than_the_wafer_is_refused() {
        let mut c = example();
        assert!(c.validate().is_ok());
        c.stepper_field.width_um = 300_000;
        assert_eq!(c.validate().unwrap_err().code(), Code::OutOfRange);
        let mut c = example();
        c.wafer.edge_exclusion_um = 60_000;
        assert_eq!(c.validate().unwrap_err().code(), Code::OutOfRange);
        let mut c = example();
        c.time_zone = "Asia Shanghai".into();
        assert_eq!(c.validate().unwrap_err().code(), Code::BodyInvalid);
    }
}
