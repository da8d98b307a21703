//! Bills of materials: what a module route's integration step consumes for each module.

use serde::{Deserialize, Serialize};

use crate::refusal::{Code, Refusal, check_text};

/// Where an item of a bill of materials comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BomSource {
    /// A part tracked by Pilotline (a packaged die with a serial), of product `part`.
    Unit,
    /// A bought component from a supplier lot, of part number `part`.
    Component,
}

/// One line of a bill of materials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BomItem {
    /// The item's name in the module (`sensor`, `asic`, `housing`).
    pub item: String,
    /// Tracked part or bought component.
    pub source: BomSource,
    /// The product (for a unit) or part number (for a component).
    pub part: String,
    /// How many go into one module (a tracked part: exactly 1).
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

/// Checks a step's bill of materials: named items, each once, at least one tracked part (a
/// module's genealogy runs through it), quantities of at least 1 and tracked parts one each.
pub fn check(step: &str, bom: &[BomItem]) -> Result<(), Refusal> {
    let bad = |why: String| {
        Code::BomInvalid
            .refusal()
            .with("step", step)
            .with("reason", why)
    };
    let mut seen = std::collections::HashSet::new();
    for (i, item) in bom.iter().enumerate() {
        check_text(&format!("bom[{i}].item"), &item.item, 64)?;
        check_text(&format!("bom[{i}].part"), &item.part, 128)?;
        if !seen.insert(item.item.as_str()) {
            return Err(bad(format!("item {} is listed twice", item.item)));
        }
        if item.quantity == 0 || item.quantity > 1000 {
            return Err(bad(format!(
                "item {}: quantity {} is not 1 to 1000",
                item.item, item.quantity
            )));
        }
        if item.source == BomSource::Unit && item.quantity != 1 {
            return Err(bad(format!(
                "item {}: a tracked part goes into a module once (quantity 1)",
                item.item
            )));
        }
    }
    if !bom.iter().any(|i| i.source == BomSource::Unit) {
        return Err(bad("no tracked part: a module needs at least one".into()));
    }
    Ok(())
}

/// A supplier lot of bought components, as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentLot {
    /// Id in Pilotline.
    pub id: String,
    /// Part number.
    pub part_number: String,
    /// Supplier.
    pub supplier: String,
    /// The supplier's own lot number.
    pub supplier_lot: String,
    /// Received.
    pub quantity: u32,
    /// Still there.
    pub remaining: u32,
}

/// The refusal for a component lot that cannot supply `needed` of `item`.
pub fn check_supply(item: &BomItem, lot: &ComponentLot, modules: u32) -> Result<u32, Refusal> {
    if lot.part_number != item.part {
        return Err(Code::BomPartMismatch
            .refusal()
            .with("item", &item.item)
            .with("part", &item.part)
            .with("given", format!("{} ({})", lot.id, lot.part_number)));
    }
    let needed = item.quantity * modules;
    if lot.remaining < needed {
        return Err(Code::BomShort
            .refusal()
            .with("item", &item.item)
            .with("part", &item.part)
            .with("needed", needed)
            .with("available", lot.remaining));
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, source: BomSource, quantity: u32) -> BomItem {
        BomItem {
            item: name.into(),
            source,
            part: "X".into(),
            quantity,
        }
    }

    #[test]
    fn a_bill_of_materials_names_each_item_once_and_holds_a_tracked_part() {
        let ok = [
            item("sensor", BomSource::Unit, 1),
            item("asic", BomSource::Component, 1),
        ];
        assert!(check("S1", &ok).is_ok());
        for bad in [
            vec![item("asic", BomSource::Component, 1)],
            vec![
                item("s", BomSource::Unit, 1),
                item("s", BomSource::Component, 1),
            ],
            vec![item("s", BomSource::Unit, 2)],
            vec![
                item("s", BomSource::Unit, 1),
                item("a", BomSource::Component, 0),
            ],
        ] {
            assert_eq!(check("S1", &bad).unwrap_err().code(), Code::BomInvalid);
        }
    }

    #[test]
    fn a_component_lot_supplies_only_its_part_and_what_it_holds() {
        let lot = ComponentLot {
            id: "C1".into(),
            part_number: "X".into(),
            supplier: "S".into(),
            supplier_lot: "L".into(),
            quantity: 10,
            remaining: 4,
        };
        let asic = item("asic", BomSource::Component, 2);
        assert_eq!(check_supply(&asic, &lot, 2).unwrap(), 4);
        assert_eq!(
            check_supply(&asic, &lot, 3).unwrap_err().code(),
            Code::BomShort
        );
        let other = BomItem {
            part: "Y".into(),
            ..asic
        };
        assert_eq!(
            check_supply(&other, &lot, 1).unwrap_err().code(),
            Code::BomPartMismatch
        );
    }
}
