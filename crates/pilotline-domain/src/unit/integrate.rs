//! Integration: a module route's bill-of-materials step builds modules from tracked parts and
//! bought components, and each consumption is recorded against the module it went into.
//!
//! One request builds a batch: for each tracked item of the bill, one serialised part per
//! module (the `i`th part of every item goes into the `i`th module); for each bought item, a
//! supplier lot that holds enough. The modules form a new unit lot that has done the BOM step
//! (its count: `n` in, `n` out) and waits at the next step of the module route, or is
//! complete when that step was the last.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

use super::bom::{BomItem, BomSource, ComponentLot, check_supply};
use super::{
    MAX_BATCH, StepCount, UnitKind, UnitLot, UnitLotEvent, UnitLotEventKind, UnitLotState,
    UnitState,
};
use crate::equipment::Equipment;
use crate::identity::{Action, Actor};
use crate::refusal::{Code, Refusal};
use crate::route::Route;

/// A part a request names for a tracked item, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    /// The part's unit id (its die's `wafer:x:y`).
    pub uid: String,
    /// Its serial, once packaging gave it one.
    pub serial: Option<String>,
    /// Its unit lot.
    pub lot: String,
    /// Its state.
    pub state: UnitState,
    /// Its product.
    pub product: String,
    /// Its tenant.
    pub tenant: Option<String>,
}

/// What a module build asks for.
#[derive(Debug, Clone)]
pub struct ModuleBuild<'a> {
    /// The new module lot's id.
    pub lot_id: String,
    /// The module product.
    pub product: &'a str,
    /// The module route.
    pub route: &'a Route,
    /// The tool that assembles them (of the BOM step's type).
    pub tool: &'a Equipment,
    /// Per tracked item, the parts, one per module.
    pub parts: &'a [(String, Vec<PartRef>)],
    /// Per bought item, the supplier lot.
    pub components: &'a [(String, ComponentLot)],
    /// The unit lots the parts are in, as they stand.
    pub sources: &'a [UnitLot],
    /// The serials the new modules get, one per module.
    pub serials: &'a [String],
}

/// One module built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltModule {
    /// Its serial.
    pub serial: String,
    /// Per tracked item, the part's unit id.
    pub parts: Vec<(String, String)>,
    /// Per bought item, the supplier lot and quantity.
    pub components: Vec<(String, String, u32)>,
}

/// What a module build decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The new module lot (version 1), then the parts' unit lots in their new state.
    pub lots: Vec<UnitLot>,
    /// The modules, in serial order.
    pub modules: Vec<BuiltModule>,
    /// Units consumed.
    pub consumed: Vec<String>,
    /// Components taken, per supplier lot.
    pub taken: Vec<(String, u32)>,
    /// The BOM step's count on the module lot.
    pub step: StepCount,
    /// Events to append.
    pub events: Vec<UnitLotEvent>,
}

/// The index of the first step of `route` with a bill of materials.
pub fn bom_step(route: &Route) -> Option<usize> {
    route.steps.iter().position(|s| !s.bom.is_empty())
}

/// Builds the modules `b` asks for at the first BOM step of its route.
pub fn integrate(b: &ModuleBuild<'_>, actor: &Actor, now: DateTime<Utc>) -> Result<Built, Refusal> {
    actor.require(Action::MoveLots, "build modules")?;
    let Some(step_index) = bom_step(b.route) else {
        return Err(Code::StepHasNoBom
            .refusal()
            .with("step", b.route.steps.first().map_or("", |s| s.id.as_str()))
            .with("lot", &b.lot_id));
    };
    let step = &b.route.steps[step_index];
    if b.tool.equipment_type != step.equipment_type {
        return Err(Code::EquipmentWrongType
            .refusal()
            .with("equipment", &b.tool.id)
            .with("equipment_type", &b.tool.equipment_type)
            .with("step", format!("{} ({})", step.id, step.name))
            .with("step_type", &step.equipment_type));
    }
    b.tool.check_available()?;
    let n = b.serials.len();
    check_parts(&step.id, &step.bom, b, n)?;
    let mut taken = Vec::new();
    for item in step.bom.iter().filter(|i| i.source == BomSource::Component) {
        let lot = b
            .components
            .iter()
            .find(|(name, _)| name == &item.item)
            .map(|(_, l)| l)
            .ok_or_else(|| missing(item, n))?;
        taken.push((
            item.item.clone(),
            lot.id.clone(),
            check_supply(item, lot, n as u32)?,
        ));
    }
    for (name, _) in b.components {
        if !step
            .bom
            .iter()
            .any(|i| &i.item == name && i.source == BomSource::Component)
        {
            return Err(not_in_bom(&step.id, name));
        }
    }
    // The module lot's tenant is its parts'.
    let tenant = b
        .parts
        .first()
        .and_then(|(_, p)| p.first())
        .and_then(|p| p.tenant.clone());
    let mut modules = Vec::with_capacity(n);
    for (i, serial) in b.serials.iter().enumerate() {
        modules.push(BuiltModule {
            serial: serial.clone(),
            parts: b
                .parts
                .iter()
                .map(|(item, parts)| (item.clone(), parts[i].uid.clone()))
                .collect(),
            components: step
                .bom
                .iter()
                .filter(|it| it.source == BomSource::Component)
                .filter_map(|it| {
                    let (_, lot, _) = taken.iter().find(|(name, _, _)| name == &it.item)?;
                    Some((it.item.clone(), lot.clone(), it.quantity))
                })
                .collect(),
        });
    }
    let done = step_index + 1 >= b.route.steps.len();
    let module_lot = UnitLot {
        id: b.lot_id.clone(),
        kind: UnitKind::Module,
        product: b.product.to_string(),
        tenant,
        route_id: b.route.id.clone(),
        route_version: b.route.version,
        step_index: if done { step_index } else { step_index + 1 },
        state: if done {
            UnitLotState::Completed
        } else {
            UnitLotState::Waiting
        },
        equipment: None,
        recipe: None,
        source_lot: None,
        parent: None,
        children: 0,
        units: n as u32,
        scrapped: 0,
        consumed: 0,
        units_at_track_in: n as u32,
        arrived_at: now,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut events = vec![UnitLotEvent {
        lot: module_lot.id.clone(),
        kind: UnitLotEventKind::Created,
        at: now,
        user: actor.user.clone(),
        step_index,
        units: n as u32,
        detail: format!(
            "{n} modules built at step {} on {}: {} to {}",
            step.id,
            b.tool.id,
            b.serials.first().map_or("", String::as_str),
            b.serials.last().map_or("", String::as_str)
        ),
    }];
    // The parts leave their lots.
    let mut per_lot: HashMap<&str, u32> = HashMap::new();
    for (_, parts) in b.parts {
        for p in parts {
            *per_lot.entry(p.lot.as_str()).or_default() += 1;
        }
    }
    let mut lots = vec![module_lot];
    for src in b.sources {
        let Some(&k) = per_lot.get(src.id.as_str()) else {
            continue;
        };
        let mut after = UnitLot {
            updated_at: now,
            version: src.version + 1,
            ..src.clone()
        };
        after.units = src.units.saturating_sub(k);
        after.consumed = src.consumed + k;
        if after.units == 0 {
            after.state = UnitLotState::Consumed;
        }
        events.push(UnitLotEvent {
            lot: src.id.clone(),
            kind: UnitLotEventKind::Consumed,
            at: now,
            user: actor.user.clone(),
            step_index: src.step_index,
            units: after.units,
            detail: format!("{k} parts built into modules of lot {}", b.lot_id),
        });
        lots.push(after);
    }
    let step_count = StepCount {
        lot: b.lot_id.clone(),
        step_index,
        step: step.id.clone(),
        equipment: b.tool.id.clone(),
        recipe: step.recipe.clone(),
        units_in: n as u32,
        units_out: n as u32,
        scrapped: 0,
        started_at: now,
        ended_at: now,
    };
    Ok(Built {
        lots,
        modules,
        consumed: b
            .parts
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| p.uid.clone()))
            .collect(),
        taken: taken.into_iter().map(|(_, lot, q)| (lot, q)).collect(),
        step: step_count,
        events,
    })
}

fn missing(item: &BomItem, n: usize) -> Refusal {
    Code::BomShort
        .refusal()
        .with("item", &item.item)
        .with("part", &item.part)
        .with("needed", item.quantity as usize * n)
        .with("available", 0)
}

fn not_in_bom(step: &str, item: &str) -> Refusal {
    Code::BomInvalid
        .refusal()
        .with("step", step)
        .with("reason", format!("it has no item {item}"))
}

/// Checks the parts named for the tracked items: one per module for each, none twice, each a
/// serialised active part of the item's product in a completed unit lot, all of one tenant.
fn check_parts(step: &str, bom: &[BomItem], b: &ModuleBuild<'_>, n: usize) -> Result<(), Refusal> {
    if n == 0 {
        return Err(Code::UnitsEmpty.refusal().with("field", "modules"));
    }
    if n > MAX_BATCH {
        return Err(Code::TooManyUnits
            .refusal()
            .with("field", "modules")
            .with("count", n)
            .with("max", MAX_BATCH));
    }
    for (name, _) in b.parts {
        if !bom
            .iter()
            .any(|i| &i.item == name && i.source == BomSource::Unit)
        {
            return Err(not_in_bom(step, name));
        }
    }
    let lots: HashMap<&str, &UnitLot> = b.sources.iter().map(|l| (l.id.as_str(), l)).collect();
    let mut seen = HashSet::new();
    let tenant = b
        .parts
        .first()
        .and_then(|(_, p)| p.first())
        .map(|p| p.tenant.clone());
    for item in bom.iter().filter(|i| i.source == BomSource::Unit) {
        let parts = b
            .parts
            .iter()
            .find(|(name, _)| name == &item.item)
            .map(|(_, p)| p)
            .ok_or_else(|| missing(item, n))?;
        if parts.len() != n {
            return Err(Code::BomShort
                .refusal()
                .with("item", &item.item)
                .with("part", &item.part)
                .with("needed", n)
                .with("available", parts.len()));
        }
        let field = format!("parts.{}", item.item);
        for p in parts {
            if !seen.insert(p.uid.as_str()) {
                return Err(Code::UnitNamedTwice
                    .refusal()
                    .with("field", &field)
                    .with("unit", p.serial.as_deref().unwrap_or(&p.uid)));
            }
            if p.state != UnitState::Active {
                return Err(Code::UnitNotActive
                    .refusal()
                    .with("field", &field)
                    .with("unit", p.serial.as_deref().unwrap_or(&p.uid))
                    .with("state", p.state.as_str()));
            }
            if p.serial.is_none() {
                return Err(Code::PartNotSerialised
                    .refusal()
                    .with("field", &field)
                    .with("unit", &p.uid));
            }
            if p.product != item.part {
                return Err(Code::BomPartMismatch
                    .refusal()
                    .with("item", &item.item)
                    .with("part", &item.part)
                    .with("given", format!("{} ({})", p.uid, p.product)));
            }
            if tenant.as_ref().is_some_and(|t| t != &p.tenant) {
                return Err(Code::ModuleTenantsMixed
                    .refusal()
                    .with("field", &field)
                    .with("unit", p.serial.as_deref().unwrap_or(&p.uid)));
            }
            match lots.get(p.lot.as_str()) {
                Some(l) if l.state == UnitLotState::Completed => {}
                Some(l) => {
                    return Err(Code::LotStateForbids
                        .refusal()
                        .with("lot", &l.id)
                        .with("state", l.state.as_str())
                        .with(
                            "allowed",
                            "parts are built into modules once their lot has completed its route",
                        ));
                }
                None => {
                    return Err(Code::UnitLotNotFound.refusal().with("lot", &p.lot));
                }
            }
        }
    }
    Ok(())
}
