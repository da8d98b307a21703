//! The pick list: which dies of a probed wafer lot the die bonder takes.
//!
//! The list comes from the stored probe map — each die's final result judged by the product's
//! bin table — so no wafer needs inking. An engineer may pick a failed die or leave a good one
//! behind; each such override names its die and its reason, and is recorded with the list.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use crate::refusal::{Code, Refusal, check_text};

/// A die as the probe map has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeDie {
    /// Wafer id.
    pub wafer: String,
    /// Column.
    pub x: i16,
    /// Row.
    pub y: i16,
    /// Hard bin of its final probe result.
    pub hard_bin: u16,
    /// Soft bin of its final probe result.
    pub soft_bin: u16,
    /// Whether the product's bin table calls that result good.
    pub good: bool,
    /// The MPW design placed there (the booking), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<String>,
    /// The tenant that owns the die (its design's, or the lot's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// An engineer's decision on one die, against the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PickOverride {
    /// Wafer id.
    pub wafer: String,
    /// Column.
    pub x: i16,
    /// Row.
    pub y: i16,
    /// Pick it (a failed die) or leave it (a good one).
    pub pick: bool,
    /// Why.
    pub reason: String,
}

/// Why a die is picked or left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PickReason {
    /// Good on the probe map.
    Good,
    /// Failed on the probe map.
    Failed,
    /// Failed on the map, picked by an engineer's override.
    OverridePick,
    /// Good on the map, left by an engineer's override.
    OverrideLeave,
}

/// One die's entry in the pick list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pick {
    /// The die.
    #[serde(flatten)]
    pub die: ProbeDie,
    /// Whether the die bonder takes it.
    pub picked: bool,
    /// Why.
    pub reason: PickReason,
    /// The override's reason, if one decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One wafer's picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaferPicks {
    /// Wafer id.
    pub wafer: String,
    /// Dies probed.
    pub probed: u32,
    /// Dies good on the map.
    pub good: u32,
    /// Dies picked.
    pub picked: u32,
    /// Every probed die, by row then column.
    pub dies: Vec<Pick>,
}

/// A wafer lot's pick list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickList {
    /// The wafer lot.
    pub lot: String,
    /// Its product.
    pub product: String,
    /// Dies picked in all.
    pub picked: u32,
    /// Dies good on the map in all.
    pub good: u32,
    /// Per wafer, in wafer order.
    pub wafers: Vec<WaferPicks>,
}

impl PickList {
    /// The dies picked, wafer by wafer, row by row.
    pub fn picked_dies(&self) -> impl Iterator<Item = &Pick> {
        self.wafers
            .iter()
            .flat_map(|w| w.dies.iter())
            .filter(|p| p.picked)
    }
}

/// Builds the pick list of `lot` from its probe map `dies` and the engineer's `overrides`. An
/// override must name a probed die, once, with a reason, and must change the map's decision.
pub fn pick_list(
    lot: &str,
    product: &str,
    dies: Vec<ProbeDie>,
    overrides: &[PickOverride],
) -> Result<PickList, Refusal> {
    if dies.is_empty() {
        return Err(Code::LotNotProbed.refusal().with("lot", lot));
    }
    let mut decided: HashMap<(&str, i16, i16), &PickOverride> = HashMap::new();
    for (i, o) in overrides.iter().enumerate() {
        check_text(&format!("overrides[{i}].reason"), &o.reason, 500)?;
        if decided.insert((o.wafer.as_str(), o.x, o.y), o).is_some() {
            return Err(Code::PickOverrideTwice
                .refusal()
                .with("wafer", &o.wafer)
                .with("x", o.x)
                .with("y", o.y));
        }
    }
    let mut wafers: BTreeMap<String, Vec<Pick>> = BTreeMap::new();
    let mut used = 0usize;
    for die in dies {
        let over = decided.get(&(die.wafer.as_str(), die.x, die.y));
        let (picked, reason, note) = match over {
            Some(o) => {
                used += 1;
                if o.pick == die.good {
                    return Err(Code::PickOverrideMoot
                        .refusal()
                        .with("wafer", &o.wafer)
                        .with("x", o.x)
                        .with("y", o.y)
                        .with("decision", if die.good { "picked" } else { "left" }));
                }
                let reason = if o.pick {
                    PickReason::OverridePick
                } else {
                    PickReason::OverrideLeave
                };
                (o.pick, reason, Some(o.reason.clone()))
            }
            None if die.good => (true, PickReason::Good, None),
            None => (false, PickReason::Failed, None),
        };
        wafers.entry(die.wafer.clone()).or_default().push(Pick {
            die,
            picked,
            reason,
            note,
        });
    }
    if used < decided.len() {
        let o = overrides
            .iter()
            .find(|o| {
                !wafers
                    .get(&o.wafer)
                    .is_some_and(|d| d.iter().any(|p| p.die.x == o.x && p.die.y == o.y))
            })
            .expect("an unused override names no probed die");
        return Err(Code::PickOverrideUnknownDie
            .refusal()
            .with("wafer", &o.wafer)
            .with("x", o.x)
            .with("y", o.y)
            .with("lot", lot));
    }
    let wafers: Vec<WaferPicks> = wafers
        .into_iter()
        .map(|(wafer, mut dies)| {
            dies.sort_by_key(|p| (std::cmp::Reverse(p.die.y), p.die.x));
            WaferPicks {
                wafer,
                probed: dies.len() as u32,
                good: dies.iter().filter(|p| p.die.good).count() as u32,
                picked: dies.iter().filter(|p| p.picked).count() as u32,
                dies,
            }
        })
        .collect();
    let picked = wafers.iter().map(|w| w.picked).sum();
    if picked == 0 {
        return Err(Code::NothingPicked.refusal().with("lot", lot));
    }
    Ok(PickList {
        lot: lot.to_string(),
        product: product.to_string(),
        picked,
        good: wafers.iter().map(|w| w.good).sum(),
        wafers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn die(wafer: &str, x: i16, y: i16, good: bool) -> ProbeDie {
        ProbeDie {
            wafer: wafer.into(),
            x,
            y,
            hard_bin: if good { 1 } else { 7 },
            soft_bin: if good { 1 } else { 70 },
            good,
            booking: None,
            tenant: None,
        }
    }

    fn over(x: i16, y: i16, pick: bool) -> PickOverride {
        PickOverride {
            wafer: "W1".into(),
            x,
            y,
            pick,
            reason: "visual inspection".into(),
        }
    }

    #[test]
    fn only_good_dies_are_picked_unless_an_engineer_overrides() {
        let dies = vec![
            die("W1", 0, 0, true),
            die("W1", 1, 0, false),
            die("W1", 2, 0, true),
        ];
        let list = pick_list("A1", "P", dies.clone(), &[]).unwrap();
        assert_eq!((list.picked, list.good), (2, 2));
        let list = pick_list("A1", "P", dies, &[over(1, 0, true), over(2, 0, false)]).unwrap();
        let w = &list.wafers[0];
        assert_eq!(w.picked, 2);
        let reasons: Vec<_> = w
            .dies
            .iter()
            .map(|p| (p.die.x, p.picked, p.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (0, true, PickReason::Good),
                (1, true, PickReason::OverridePick),
                (2, false, PickReason::OverrideLeave)
            ]
        );
    }

    #[test]
    fn an_override_must_name_a_probed_die_once_and_change_its_decision() {
        let dies = || vec![die("W1", 0, 0, true), die("W1", 1, 0, false)];
        let code = |o: &[PickOverride]| pick_list("A1", "P", dies(), o).unwrap_err().code();
        assert_eq!(code(&[over(5, 5, true)]), Code::PickOverrideUnknownDie);
        assert_eq!(
            code(&[over(1, 0, true), over(1, 0, true)]),
            Code::PickOverrideTwice
        );
        assert_eq!(code(&[over(0, 0, true)]), Code::PickOverrideMoot);
        assert_eq!(code(&[over(0, 0, false)]), Code::NothingPicked);
        assert_eq!(
            pick_list("A1", "P", vec![], &[]).unwrap_err().code(),
            Code::LotNotProbed
        );
    }
}
