//! The transactions of unit lots: track-in and track-out of a tray at its step (scrapping
//! units at track-out), split, merge and scrap. Each returns the lots in their new state, the
//! units that moved or were scrapped, the step's count and the events — or a refusal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use super::{MAX_BATCH, StepCount, UnitLot, UnitLotState, UnitRef, UnitState};
use crate::equipment::{E10State, Equipment, StateChange};
use crate::identity::{Action, Actor};
use crate::lot::LotType;
use crate::refusal::{Code, Refusal, check_text};
use crate::route::Route;

/// What a unit lot event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitLotEventKind {
    /// Created at dicing (or by a split, or as a module lot by integration).
    Created,
    /// Tracked in at its step.
    TrackedIn,
    /// Tracked out of its step.
    TrackedOut,
    /// Units split off into a child lot (recorded on both).
    Split,
    /// Merged with another lot (recorded on both).
    Merged,
    /// Units scrapped between steps.
    Scrapped,
    /// Its parts were given serials.
    Serialised,
    /// Its parts were built into modules.
    Consumed,
}

impl UnitLotEventKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitLotEventKind::Created => "created",
            UnitLotEventKind::TrackedIn => "tracked_in",
            UnitLotEventKind::TrackedOut => "tracked_out",
            UnitLotEventKind::Split => "split",
            UnitLotEventKind::Merged => "merged",
            UnitLotEventKind::Scrapped => "scrapped",
            UnitLotEventKind::Serialised => "serialised",
            UnitLotEventKind::Consumed => "consumed",
        }
    }
}

/// An entry of a unit lot's append-only log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitLotEvent {
    /// The unit lot.
    pub lot: String,
    /// What happened.
    pub kind: UnitLotEventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub user: String,
    /// Step index when it happened.
    pub step_index: usize,
    /// Units in the lot after it.
    pub units: u32,
    /// What else it records (tool, recipe, units moved, reason …).
    pub detail: String,
}

/// Which units a transaction moves to another lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitMove {
    /// The named units, to lot `to`.
    Named {
        /// The units.
        units: Vec<String>,
        /// The lot they go to.
        to: String,
    },
    /// Every active unit of lot `from`, to lot `to`.
    All {
        /// The lot they leave.
        from: String,
        /// The lot they go to.
        to: String,
    },
}

/// What a unit lot transaction decided.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitApplied {
    /// The lots in their new state (a new lot has version 1).
    pub lots: Vec<UnitLot>,
    /// Units that moved to another lot.
    pub moved: Option<UnitMove>,
    /// Units scrapped.
    pub scrapped: Vec<String>,
    /// Why they were scrapped.
    pub scrap_reason: Option<String>,
    /// The count of the step a track-out ends.
    pub step: Option<StepCount>,
    /// Events to append.
    pub events: Vec<UnitLotEvent>,
    /// The tool's new state and its E10 change.
    pub equipment: Option<(Equipment, StateChange)>,
}

impl UnitApplied {
    fn new(lots: Vec<UnitLot>, events: Vec<UnitLotEvent>) -> Self {
        UnitApplied {
            lots,
            moved: None,
            scrapped: Vec::new(),
            scrap_reason: None,
            step: None,
            events,
            equipment: None,
        }
    }
}

fn touch(lot: &UnitLot, now: DateTime<Utc>) -> UnitLot {
    UnitLot {
        updated_at: now,
        version: lot.version + 1,
        ..lot.clone()
    }
}

fn event(
    lot: &UnitLot,
    kind: UnitLotEventKind,
    actor: &Actor,
    now: DateTime<Utc>,
    detail: String,
) -> UnitLotEvent {
    UnitLotEvent {
        lot: lot.id.clone(),
        kind,
        at: now,
        user: actor.user.clone(),
        step_index: lot.step_index,
        units: lot.units,
        detail,
    }
}

fn state_forbids(lot: &UnitLot, allowed: &str) -> Refusal {
    Code::LotStateForbids
        .refusal()
        .with("lot", &lot.id)
        .with("state", lot.state.as_str())
        .with("allowed", allowed)
}

fn ensure_waiting(lot: &UnitLot) -> Result<(), Refusal> {
    match lot.state {
        UnitLotState::Waiting => Ok(()),
        UnitLotState::Running => Err(Code::LotRunning
            .refusal()
            .with("lot", &lot.id)
            .with("equipment", lot.equipment.as_deref().unwrap_or("a tool"))),
        _ => Err(state_forbids(lot, "only a waiting lot can do this")),
    }
}

/// Checks the units a request names: some, at most [`MAX_BATCH`], none twice, each an active
/// unit of `lot`.
fn unit_set(lot: &UnitLot, named: &[UnitRef], field: &str) -> Result<Vec<String>, Refusal> {
    if named.is_empty() {
        return Err(Code::UnitsEmpty.refusal().with("field", field));
    }
    if named.len() > MAX_BATCH {
        return Err(Code::TooManyUnits
            .refusal()
            .with("field", field)
            .with("count", named.len())
            .with("max", MAX_BATCH));
    }
    let mut seen = HashSet::with_capacity(named.len());
    for u in named {
        if !seen.insert(u.uid.as_str()) {
            return Err(Code::UnitNamedTwice
                .refusal()
                .with("field", field)
                .with("unit", &u.uid));
        }
        if u.lot != lot.id {
            return Err(Code::UnitNotInLot
                .refusal()
                .with("field", field)
                .with("unit", &u.uid)
                .with("lot", &lot.id));
        }
        if u.state != UnitState::Active {
            return Err(Code::UnitNotActive
                .refusal()
                .with("field", field)
                .with("unit", &u.uid)
                .with("state", u.state.as_str()));
        }
    }
    Ok(named.iter().map(|u| u.uid.clone()).collect())
}

/// Starts the run of `lot` (a tray) on `tool` at its current step.
pub fn track_in(
    lot: &UnitLot,
    route: &Route,
    tool: &Equipment,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UnitApplied, Refusal> {
    actor.require(Action::MoveLots, "track lots in")?;
    ensure_waiting(lot)?;
    let step = &route.steps[lot.step_index];
    if tool.equipment_type != step.equipment_type {
        return Err(Code::EquipmentWrongType
            .refusal()
            .with("equipment", &tool.id)
            .with("equipment_type", &tool.equipment_type)
            .with("step", format!("{} ({})", step.id, step.name))
            .with("step_type", &step.equipment_type));
    }
    tool.check_available()?;
    let mut after = touch(lot, now);
    after.state = UnitLotState::Running;
    after.equipment = Some(tool.id.clone());
    after.recipe = Some(step.recipe.clone());
    after.units_at_track_in = lot.units;
    after.arrived_at = now;
    let to = E10State::running(LotType::Production);
    let new_tool = Equipment {
        state: to,
        current_lot: Some(lot.id.clone()),
        state_since: now,
        version: tool.version + 1,
        ..tool.clone()
    };
    let change = StateChange {
        equipment: tool.id.clone(),
        from: tool.state,
        to,
        at: now,
        lot: Some(lot.id.clone()),
        actor: actor.user.clone(),
        reason: Some(format!(
            "track-in of unit lot {} at step {}",
            lot.id, step.id
        )),
    };
    let detail = format!(
        "step {} on {} with recipe {}, {} units",
        step.id, tool.id, step.recipe, lot.units
    );
    let ev = event(&after, UnitLotEventKind::TrackedIn, actor, now, detail);
    let mut applied = UnitApplied::new(vec![after], vec![ev]);
    applied.equipment = Some((new_tool, change));
    Ok(applied)
}

/// Ends the run of `lot` on `tool`, scrapping the units `scrap` (with `reason`), and moves it
/// to its next step — or completes it after the last, or scraps it when no unit is left. The
/// step's count (in = out + scrapped) is recorded.
pub fn track_out(
    lot: &UnitLot,
    route: &Route,
    tool: &Equipment,
    scrap: &[UnitRef],
    reason: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UnitApplied, Refusal> {
    actor.require(Action::MoveLots, "track lots out")?;
    if lot.state != UnitLotState::Running {
        return Err(Code::LotNotRunning
            .refusal()
            .with("lot", &lot.id)
            .with("state", lot.state.as_str()));
    }
    if lot.equipment.as_deref() != Some(tool.id.as_str()) {
        return Err(Code::LotOnOtherTool
            .refusal()
            .with("lot", &lot.id)
            .with("equipment", &tool.id));
    }
    let scrapped = if scrap.is_empty() {
        Vec::new()
    } else {
        check_text("scrap_reason", reason.unwrap_or(""), 500)?;
        unit_set(lot, scrap, "scrap")?
    };
    let n = scrapped.len() as u32;
    let step = &route.steps[lot.step_index];
    let mut after = touch(lot, now);
    after.units = lot.units - n;
    after.scrapped = lot.scrapped + n;
    after.equipment = None;
    after.recipe = None;
    after.arrived_at = now;
    if after.units == 0 {
        after.state = UnitLotState::Scrapped;
    } else if lot.step_index + 1 >= route.steps.len() {
        after.state = UnitLotState::Completed;
    } else {
        after.state = UnitLotState::Waiting;
        after.step_index = lot.step_index + 1;
    }
    let count = StepCount {
        lot: lot.id.clone(),
        step_index: lot.step_index,
        step: step.id.clone(),
        equipment: tool.id.clone(),
        recipe: lot.recipe.clone().unwrap_or_else(|| step.recipe.clone()),
        units_in: lot.units,
        units_out: after.units,
        scrapped: n,
        started_at: lot.arrived_at,
        ended_at: now,
    };
    let (new_tool, change) = tool.run_ended(
        &lot.id,
        &actor.user,
        format!("track-out of unit lot {} at step {}", lot.id, step.id),
        now,
    );
    let detail = format!(
        "step {} on {}: {} in, {} out, {} scrapped",
        step.id, tool.id, count.units_in, count.units_out, n
    );
    let mut ev = event(&after, UnitLotEventKind::TrackedOut, actor, now, detail);
    ev.step_index = lot.step_index;
    let mut applied = UnitApplied::new(vec![after], vec![ev]);
    applied.scrapped = scrapped;
    applied.scrap_reason = (n > 0).then(|| reason.unwrap_or_default().to_string());
    applied.step = Some(count);
    applied.equipment = Some((new_tool, change));
    Ok(applied)
}

/// Splits the named units off waiting lot `lot` into the child lot `{id}.{n}`.
pub fn split(
    lot: &UnitLot,
    units: &[UnitRef],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UnitApplied, Refusal> {
    actor.require(Action::MoveLots, "split lots")?;
    ensure_waiting(lot)?;
    let moved = unit_set(lot, units, "units")?;
    let n = moved.len() as u32;
    if n >= lot.units {
        return Err(Code::UnitSplitTakesAll.refusal().with("lot", &lot.id));
    }
    let mut parent = touch(lot, now);
    parent.children += 1;
    parent.units -= n;
    let child = UnitLot {
        id: format!("{}.{}", lot.id, parent.children),
        parent: Some(lot.id.clone()),
        children: 0,
        units: n,
        scrapped: 0,
        consumed: 0,
        units_at_track_in: 0,
        created_at: now,
        updated_at: now,
        version: 1,
        ..lot.clone()
    };
    let events = vec![
        event(
            &parent,
            UnitLotEventKind::Split,
            actor,
            now,
            format!("{n} units split off into {}", child.id),
        ),
        event(
            &child,
            UnitLotEventKind::Created,
            actor,
            now,
            format!("split from {} with {n} units", lot.id),
        ),
    ];
    let to = child.id.clone();
    let mut applied = UnitApplied::new(vec![parent, child], events);
    applied.moved = Some(UnitMove::Named { units: moved, to });
    Ok(applied)
}

/// Merges waiting lot `from` into waiting lot `into`: same kind, product, route version,
/// step and tenant.
pub fn merge(
    into: &UnitLot,
    from: &UnitLot,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UnitApplied, Refusal> {
    actor.require(Action::MoveLots, "merge lots")?;
    if into.id == from.id {
        return Err(Code::MergeSelf.refusal());
    }
    ensure_waiting(into)?;
    ensure_waiting(from)?;
    let mismatch = |what: &str, a: String, b: String| {
        Code::MergeMismatch
            .refusal()
            .with("lot", &into.id)
            .with("other", &from.id)
            .with("what", what)
            .with("a", a)
            .with("b", b)
    };
    if into.product != from.product {
        return Err(mismatch(
            "product",
            into.product.clone(),
            from.product.clone(),
        ));
    }
    if (&into.route_id, into.route_version) != (&from.route_id, from.route_version) {
        return Err(mismatch(
            "route",
            format!("{} v{}", into.route_id, into.route_version),
            format!("{} v{}", from.route_id, from.route_version),
        ));
    }
    if into.step_index != from.step_index {
        return Err(mismatch(
            "step",
            into.step_index.to_string(),
            from.step_index.to_string(),
        ));
    }
    if into.tenant != from.tenant || into.kind != from.kind {
        return Err(mismatch(
            "owner or kind",
            format!("{:?} {}", into.tenant, into.kind.as_str()),
            format!("{:?} {}", from.tenant, from.kind.as_str()),
        ));
    }
    let mut target = touch(into, now);
    target.units += from.units;
    let mut source = touch(from, now);
    source.units = 0;
    source.state = UnitLotState::Merged;
    let events = vec![
        event(
            &target,
            UnitLotEventKind::Merged,
            actor,
            now,
            format!("{} units merged in from {}", from.units, from.id),
        ),
        event(
            &source,
            UnitLotEventKind::Merged,
            actor,
            now,
            format!("merged into {}", into.id),
        ),
    ];
    let mut applied = UnitApplied::new(vec![target, source], events);
    applied.moved = Some(UnitMove::All {
        from: from.id.clone(),
        to: into.id.clone(),
    });
    Ok(applied)
}

/// Scraps the named units of waiting lot `lot` (a lot left with none is scrapped).
pub fn scrap(
    lot: &UnitLot,
    units: &[UnitRef],
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UnitApplied, Refusal> {
    actor.require(Action::MoveLots, "scrap")?;
    ensure_waiting(lot)?;
    check_text("reason", reason, 500)?;
    let gone = unit_set(lot, units, "units")?;
    let n = gone.len() as u32;
    let mut after = touch(lot, now);
    after.units -= n;
    after.scrapped += n;
    if after.units == 0 {
        after.state = UnitLotState::Scrapped;
    }
    let ev = event(
        &after,
        UnitLotEventKind::Scrapped,
        actor,
        now,
        format!("{n} units scrapped: {reason}"),
    );
    let mut applied = UnitApplied::new(vec![after], vec![ev]);
    applied.scrapped = gone;
    applied.scrap_reason = Some(reason.to_string());
    Ok(applied)
}
