//! The lot transactions: each a pure function from the current state to the new state and the
//! events that explain it, or a [`Refusal`]. Nothing is half-applied: a refusal changes nothing.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use crate::equipment::{E10State, Equipment, StateChange};
use crate::event::{Change, LotEvent, LotSnapshot};
use crate::identity::{Action, Actor};
use crate::lot::{
    FutureHold, Hold, Lot, LotState, LotType, MAX_WAFERS, QTimeWindow, Wafer, WaferState,
};
use crate::measure::{OOS_REASON, Reading, check_readings};
use crate::refusal::{Code, Refusal};
use crate::route::{Product, QTimeAction, Route, valid_id};

/// Reason code of the hold placed when a Q-time window closes.
pub const QTIME_REASON: &str = "QTIME";

/// The result of an accepted transaction: everything the store writes in one database transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Lots in their new state. A lot with `version == 1` is new; any other replaces the
    /// stored lot whose version is one less.
    pub lots: Vec<Lot>,
    /// Events to append, in order.
    pub events: Vec<LotEvent>,
    /// The tool in its new state and the E10 state change, for track-in and track-out.
    pub equipment: Option<(Equipment, StateChange)>,
}

/// What the caller asks for when starting a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLot {
    /// Lot id.
    pub id: String,
    /// Lot type.
    pub lot_type: LotType,
    /// Priority 1 (hot) to 5 (low).
    pub priority: u8,
    /// Owning tenant; defaults to the product's.
    pub tenant: Option<String>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// Number of wafers, 1 to 25.
    pub wafer_count: usize,
    /// Wafer ids (scribes); generated as `{lot}-W{slot:02}` when absent.
    pub wafer_ids: Option<Vec<String>>,
}

fn require(actor: &Actor, action: Action, what: &str) -> Result<(), Refusal> {
    actor.require(action, what)
}

fn required_text(field: &'static str, value: &str) -> Result<(), Refusal> {
    crate::refusal::check_text(field, value, 4000)
}

fn snapshot(lot: &Lot, route: &Route) -> LotSnapshot {
    let index = lot.step_index.min(route.steps.len().saturating_sub(1));
    LotSnapshot {
        state: lot.state,
        step: route.steps[index].id.clone(),
        wafer_count: lot.wafer_count(),
        holds: lot.holds.iter().map(|h| h.id).collect(),
        equipment: lot.equipment.clone(),
        version: lot.version,
    }
}

/// Builds events for one lot across one transaction, chaining before/after snapshots.
struct EventLog<'a> {
    route: &'a Route,
    actor: &'a Actor,
    now: DateTime<Utc>,
    events: Vec<LotEvent>,
}

impl<'a> EventLog<'a> {
    fn new(route: &'a Route, actor: &'a Actor, now: DateTime<Utc>) -> Self {
        Self {
            route,
            actor,
            now,
            events: Vec::new(),
        }
    }

    fn push(&mut self, before: Option<&Lot>, after: &Lot, why: Option<&str>, change: Change) {
        self.events.push(LotEvent {
            lot_id: after.id.clone(),
            seq: 0,
            at: self.now,
            user: self.actor.user.clone(),
            role: self.actor.role,
            why: why.map(str::to_string),
            change,
            before: before.map(|b| snapshot(b, self.route)),
            after: snapshot(after, self.route),
        });
    }
}

fn touch(lot: &Lot, now: DateTime<Utc>) -> Lot {
    Lot {
        updated_at: now,
        version: lot.version + 1,
        ..lot.clone()
    }
}

/// Refuses what the lot's state `state` does not allow (`allowed` says what does).
fn state_forbids(lot: &Lot, state: LotState, allowed: &str) -> Refusal {
    Code::LotStateForbids
        .refusal()
        .with("lot", &lot.id)
        .with("state", state)
        .with("allowed", allowed)
}

fn describe_holds(lot: &Lot) -> String {
    lot.holds
        .iter()
        .map(|h| format!("#{} {}", h.id, h.reason_code))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ensure_waiting(lot: &Lot) -> Result<(), Refusal> {
    match lot.state {
        LotState::Waiting => Ok(()),
        LotState::Running => Err(Code::LotRunning
            .refusal()
            .with("lot", &lot.id)
            .with("equipment", lot.equipment.as_deref().unwrap_or("a tool"))),
        other => Err(state_forbids(lot, other, "only a waiting lot can do this")),
    }
}

pub(crate) fn ensure_unheld(lot: &Lot) -> Result<(), Refusal> {
    if lot.is_held() {
        Err(Code::LotHeld
            .refusal()
            .with("lot", &lot.id)
            .with("holds", describe_holds(lot)))
    } else {
        Ok(())
    }
}

/// Checks a list of wafer ids: non-empty, no repeats, each an active wafer of `lot`.
fn active_wafer_set(
    lot: &Lot,
    wafers: &[String],
    field: &'static str,
) -> Result<HashSet<String>, Refusal> {
    if wafers.is_empty() {
        return Err(Code::WafersEmpty.refusal().with("field", field));
    }
    let mut set = HashSet::new();
    for w in wafers {
        if !set.insert(w.clone()) {
            return Err(Code::WaferTwice
                .refusal()
                .with("field", field)
                .with("wafer", w));
        }
        match lot.wafers.iter().find(|x| &x.id == w) {
            Some(x) if x.state == WaferState::Active => {}
            Some(_) => {
                return Err(Code::WaferScrapped
                    .refusal()
                    .with("field", field)
                    .with("wafer", w));
            }
            None => {
                return Err(Code::WaferNotInLot
                    .refusal()
                    .with("field", field)
                    .with("wafer", w)
                    .with("lot", &lot.id));
            }
        }
    }
    Ok(set)
}

/// Marks `set` scrapped in `lot`, returning the ids in carrier order.
fn scrap_wafers(lot: &mut Lot, set: &HashSet<String>, reason: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for w in lot.wafers.iter_mut().filter(|w| set.contains(&w.id)) {
        w.state = WaferState::Scrapped;
        w.scrap_reason = Some(reason.to_string());
        ids.push(w.id.clone());
    }
    ids
}

/// Moves `lot` to step `index` (arrival), firing the future holds set for that step.
fn arrive(lot: &mut Lot, route: &Route, index: usize, now: DateTime<Utc>) -> Vec<Hold> {
    lot.step_index = index;
    lot.state = LotState::Waiting;
    lot.arrived_at = now;
    let step_id = &route.steps[index].id;
    let (firing, keep): (Vec<_>, Vec<_>) =
        lot.future_holds.drain(..).partition(|f| &f.step == step_id);
    lot.future_holds = keep;
    let mut placed = Vec::new();
    for f in firing {
        let hold = Hold {
            id: f.id,
            reason_code: f.reason_code,
            comment: f.comment,
            placed_by: f.placed_by,
            placed_at: now,
        };
        lot.holds.push(hold.clone());
        placed.push(hold);
    }
    placed
}

/// Starts a lot of `product` on `route` at its first step.
pub fn start(
    new: &NewLot,
    product: &Product,
    route: &Route,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "start lots")?;
    if !valid_id(&new.id) {
        return Err(Code::IdMalformed
            .refusal()
            .with("field", "id")
            .with("value", format!("{:?}", new.id)));
    }
    if !(1..=MAX_WAFERS).contains(&new.wafer_count) {
        return Err(Code::OutOfRange
            .refusal()
            .with("field", "wafer_count")
            .with("value", new.wafer_count)
            .with("range", format!("1..={MAX_WAFERS}")));
    }
    if !(1..=5).contains(&new.priority) {
        return Err(Code::OutOfRange
            .refusal()
            .with("field", "priority")
            .with("value", new.priority)
            .with("range", "1 (hot) ..= 5 (low)"));
    }
    if route.steps.is_empty() {
        return Err(Code::RouteEmpty.refusal().with("route", &route.id));
    }
    let tenant = match (&product.tenant, &new.tenant) {
        (Some(p), Some(t)) if p != t => {
            return Err(Code::TenantMismatch
                .refusal()
                .with("product", &product.id)
                .with("product_tenant", p)
                .with("tenant", t));
        }
        (Some(p), _) => Some(p.clone()),
        (None, t) => t.clone(),
    };
    if let Some(t) = &tenant
        && !valid_id(t)
    {
        return Err(Code::IdMalformed
            .refusal()
            .with("field", "tenant")
            .with("value", format!("{t:?}")));
    }
    let ids: Vec<String> = match &new.wafer_ids {
        Some(ids) => {
            if ids.len() != new.wafer_count {
                return Err(Code::WaferIdsCount
                    .refusal()
                    .with("given", ids.len())
                    .with("count", new.wafer_count));
            }
            let mut seen = HashSet::new();
            for id in ids {
                if !valid_id(id) {
                    return Err(Code::IdMalformed
                        .refusal()
                        .with("field", "wafer_ids")
                        .with("value", format!("{id:?}")));
                }
                if !seen.insert(id) {
                    return Err(Code::WaferTwice
                        .refusal()
                        .with("field", "wafer_ids")
                        .with("wafer", id));
                }
            }
            ids.clone()
        }
        None => (1..=new.wafer_count)
            .map(|slot| format!("{}-W{slot:02}", new.id))
            .collect(),
    };
    let wafers = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Wafer {
            id: id.clone(),
            slot: (i + 1) as u8,
            state: WaferState::Active,
            scrap_reason: None,
        })
        .collect();
    let mut lot = Lot {
        id: new.id.clone(),
        product: product.id.clone(),
        route_id: route.id.clone(),
        route_version: route.version,
        lot_type: new.lot_type,
        priority: new.priority,
        tenant,
        due_date: new.due_date,
        state: LotState::Waiting,
        step_index: 0,
        equipment: None,
        recipe: None,
        wafers,
        holds: Vec::new(),
        future_holds: Vec::new(),
        qtime: None,
        rework_count: 0,
        parent: None,
        children: 0,
        next_hold_id: 1,
        arrived_at: now,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    // A lot starts at step 0; future holds cannot exist yet, so arrival fires nothing.
    arrive(&mut lot, route, 0, now);
    let mut log = EventLog::new(route, actor, now);
    log.push(
        None,
        &lot,
        None,
        Change::Started {
            route: route.id.clone(),
            route_version: route.version,
            step: route.steps[0].id.clone(),
            wafers: ids,
        },
    );
    Ok(Applied {
        lots: vec![lot],
        events: log.events,
        equipment: None,
    })
}

/// Tracks a waiting, unheld lot in on an available tool of the step's equipment type.
pub fn track_in(
    lot: &Lot,
    route: &Route,
    tool: &Equipment,
    recipe: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "track lots in")?;
    ensure_waiting(lot)?;
    ensure_unheld(lot)?;
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
    let recipe = match recipe {
        None => step.recipe.clone(),
        Some(r) if r == step.recipe => step.recipe.clone(),
        Some(r) if lot.lot_type == LotType::Engineering && !r.trim().is_empty() => r.to_string(),
        Some(r) => {
            return Err(Code::RecipeOverride
                .refusal()
                .with("recipe", r)
                .with("step", &step.id)
                .with("step_recipe", &step.recipe));
        }
    };
    let mut qtime_exceeded = false;
    if let Some(window) = &lot.qtime
        && now > window.deadline
    {
        match window.action {
            QTimeAction::Hold => {
                return Err(Code::QTimeExpired
                    .refusal()
                    .with("step", &window.from_step)
                    .with("deadline", window.deadline.to_rfc3339()));
            }
            QTimeAction::Warn => qtime_exceeded = true,
        }
    }
    let mut after = touch(lot, now);
    after.state = LotState::Running;
    after.equipment = Some(tool.id.clone());
    after.recipe = Some(recipe.clone());
    after.qtime = None;
    let new_state = E10State::running(lot.lot_type);
    let new_tool = Equipment {
        state: new_state,
        current_lot: Some(lot.id.clone()),
        state_since: now,
        version: tool.version + 1,
        ..tool.clone()
    };
    let change = StateChange {
        equipment: tool.id.clone(),
        from: tool.state,
        to: new_state,
        at: now,
        lot: Some(lot.id.clone()),
        actor: actor.user.clone(),
        reason: Some(format!("track-in of lot {} at step {}", lot.id, step.id)),
    };
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        None,
        Change::TrackedIn {
            step: step.id.clone(),
            equipment: tool.id.clone(),
            recipe,
            qtime_exceeded,
        },
    );
    Ok(Applied {
        lots: vec![after],
        events: log.events,
        equipment: Some((new_tool, change)),
    })
}

/// Ends a lot's run on `tool`, scrapping `scrap` wafers, and advances it to the next step
/// (or completes it after the last step). A held lot may be tracked out; it stays held.
pub fn track_out(
    lot: &Lot,
    route: &Route,
    tool: &Equipment,
    scrap: &[String],
    scrap_reason: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    track_out_measured(lot, route, tool, scrap, scrap_reason, &[], actor, now)
}

/// Tracks a lot out with the readings of its step's data-collection plan. An implausible
/// reading (outside valid limits) refuses the track-out, to be measured again; readings out
/// of spec put the lot on an `SPC-OOS` hold naming the parameter, reading and limits, which
/// only an engineer's disposition releases.
#[allow(clippy::too_many_arguments)]
pub fn track_out_measured(
    lot: &Lot,
    route: &Route,
    tool: &Equipment,
    scrap: &[String],
    scrap_reason: Option<&str>,
    readings: &[Reading],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "track lots out")?;
    if lot.state != LotState::Running {
        return Err(Code::LotNotRunning
            .refusal()
            .with("lot", &lot.id)
            .with("state", lot.state));
    }
    if lot.equipment.as_deref() != Some(tool.id.as_str()) {
        return Err(Code::LotOnOtherTool
            .refusal()
            .with("lot", &lot.id)
            .with("equipment", &tool.id));
    }
    let mut after = touch(lot, now);
    let mut scrapped = Vec::new();
    if !scrap.is_empty() {
        let reason = scrap_reason.unwrap_or("").trim();
        required_text("scrap_reason", reason)?;
        let set = active_wafer_set(lot, scrap, "scrap_wafers")?;
        scrapped = scrap_wafers(&mut after, &set, reason);
    }
    let step = &route.steps[lot.step_index];
    let out_of_spec = check_readings(&step.id, &step.measurements, readings)?;
    crate::measure::check_reading_wafers(
        &lot.id,
        after
            .wafers
            .iter()
            .filter(|w| w.state == WaferState::Active)
            .map(|w| w.id.as_str()),
        readings,
    )?;
    after.equipment = None;
    after.recipe = None;
    let mut fired = Vec::new();
    let next_step = if after.wafer_count() == 0 {
        after.state = LotState::Scrapped;
        None
    } else if lot.step_index + 1 >= route.steps.len() {
        after.state = LotState::Completed;
        after.arrived_at = now;
        None
    } else {
        fired = arrive(&mut after, route, lot.step_index + 1, now);
        if let Some(minutes) = step.qtime_max_minutes {
            after.qtime = Some(QTimeWindow {
                from_step: step.id.clone(),
                deadline: now + Duration::minutes(i64::from(minutes)),
                action: step.qtime_action,
            });
        }
        Some(route.steps[lot.step_index + 1].id.clone())
    };
    let (new_tool, change) = tool.run_ended(
        &lot.id,
        &actor.user,
        format!("track-out of lot {} at step {}", lot.id, step.id),
        now,
    );
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        scrap_reason.filter(|_| !scrapped.is_empty()),
        Change::TrackedOut {
            step: step.id.clone(),
            equipment: tool.id.clone(),
            scrapped_wafers: scrapped,
            next_step,
            readings: readings.to_vec(),
        },
    );
    log_fired_holds(&mut log, &after, fired);
    if !out_of_spec.is_empty() && after.state.is_wip() {
        let comment = out_of_spec
            .iter()
            .map(|o| o.describe(&step.id))
            .collect::<Vec<_>>()
            .join("; ");
        let spc = Actor {
            user: "spc".into(),
            ..actor.clone()
        };
        let (mut held, hold) = with_hold(&after, OOS_REASON, &comment, &spc, now);
        // One transaction, one new version of the lot (as with holds fired on arrival).
        held.version = after.version;
        let why = "reading out of spec at track-out".to_string();
        log.push(Some(&after), &held, Some(&why), Change::HoldPlaced { hold });
        after = held;
    }
    Ok(Applied {
        lots: vec![after],
        events: log.events,
        equipment: Some((new_tool, change)),
    })
}

/// Records the holds placed by future holds that fired on arrival.
fn log_fired_holds(log: &mut EventLog<'_>, lot: &Lot, fired: Vec<Hold>) {
    for hold in fired {
        let why = format!("future hold #{} fired at arrival", hold.id);
        log.push(Some(lot), lot, Some(&why), Change::HoldPlaced { hold });
    }
}

/// Places a hold on a lot in process. A lot may carry several holds at once.
pub fn hold(
    lot: &Lot,
    route: &Route,
    reason_code: &str,
    comment: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Applied, Hold), Refusal> {
    require(actor, Action::PlaceHold, "place holds")?;
    required_text("reason_code", reason_code)?;
    required_text("comment", comment)?;
    if !lot.state.is_wip() && lot.state != LotState::Completed {
        return Err(state_forbids(
            lot,
            lot.state,
            "only lots in process or completed can be held",
        ));
    }
    let (after, hold) = with_hold(lot, reason_code.trim(), comment, actor, now);
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        Some(comment),
        Change::HoldPlaced { hold: hold.clone() },
    );
    Ok((
        Applied {
            lots: vec![after],
            events: log.events,
            equipment: None,
        },
        hold,
    ))
}

/// The lot with one more hold, and that hold.
fn with_hold(
    lot: &Lot,
    reason_code: &str,
    comment: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> (Lot, Hold) {
    let mut after = touch(lot, now);
    let hold = Hold {
        id: lot.next_hold_id,
        reason_code: reason_code.to_string(),
        comment: comment.to_string(),
        placed_by: actor.user.clone(),
        placed_at: now,
    };
    after.next_hold_id += 1;
    after.holds.push(hold.clone());
    (after, hold)
}

/// Releases one hold, with a comment; only engineers and admins may.
pub fn release(
    lot: &Lot,
    route: &Route,
    hold_id: u32,
    comment: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    release_with(lot, route, hold_id, comment, None, actor, now)
}

/// Releases a hold with an engineer's disposition (`use-as-is`, `rework`, `scrap`, …), which an
/// out-of-spec hold requires.
pub fn release_with(
    lot: &Lot,
    route: &Route,
    hold_id: u32,
    comment: &str,
    disposition: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::PlaceHold, "release holds")?;
    required_text("comment", comment)?;
    let Some(pos) = lot.holds.iter().position(|h| h.id == hold_id) else {
        return Err(Code::HoldNotFound
            .refusal()
            .with("lot", &lot.id)
            .with("hold", hold_id));
    };
    if !lot.holds[pos].own_plain_hold_of(actor) {
        require(
            actor,
            Action::ReleaseHold,
            "release holds placed by others or by SPC and Q-time",
        )?;
    }
    let disposition = disposition.map(str::trim).filter(|d| !d.is_empty());
    if crate::measure::needs_disposition(&lot.holds[pos].reason_code) && disposition.is_none() {
        return Err(Code::DispositionRequired
            .refusal()
            .with("hold", hold_id)
            .with("comment", &lot.holds[pos].comment));
    }
    let mut after = touch(lot, now);
    let hold = after.holds.remove(pos);
    if hold.reason_code == QTIME_REASON {
        // Releasing the Q-time hold is the engineer's disposition of the violation.
        after.qtime = None;
    }
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        Some(comment),
        Change::HoldReleased {
            hold,
            comment: comment.to_string(),
            disposition: disposition.map(str::to_string),
        },
    );
    Ok(Applied {
        lots: vec![after],
        events: log.events,
        equipment: None,
    })
}

/// Sets a hold to be placed when the lot reaches `step_id`, a step ahead of the current one.
pub fn future_hold(
    lot: &Lot,
    route: &Route,
    step_id: &str,
    reason_code: &str,
    comment: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Applied, FutureHold), Refusal> {
    require(actor, Action::PlaceHold, "place future holds")?;
    required_text("reason_code", reason_code)?;
    required_text("comment", comment)?;
    if !lot.state.is_wip() {
        return Err(state_forbids(
            lot,
            lot.state,
            "only a lot in process can be changed",
        ));
    }
    let Some(index) = route.step_index(step_id) else {
        return Err(Code::StepUnknown
            .refusal()
            .with("field", "step")
            .with("route", &route.id)
            .with("version", route.version)
            .with("step", step_id));
    };
    if index <= lot.step_index {
        return Err(Code::StepNotAhead
            .refusal()
            .with("step", step_id)
            .with("current", &route.steps[lot.step_index].id));
    }
    let mut after = touch(lot, now);
    let future = FutureHold {
        id: lot.next_hold_id,
        step: step_id.to_string(),
        reason_code: reason_code.trim().to_string(),
        comment: comment.to_string(),
        placed_by: actor.user.clone(),
        placed_at: now,
    };
    after.next_hold_id += 1;
    after.future_holds.push(future.clone());
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        Some(comment),
        Change::FutureHoldPlaced {
            future_hold: future.clone(),
        },
    );
    Ok((
        Applied {
            lots: vec![after],
            events: log.events,
            equipment: None,
        },
        future,
    ))
}

/// Splits `wafers` off a waiting lot into the child lot `{id}.{n}`. Holds, future holds and any
/// open Q-time window are carried into the child.
pub fn split(
    lot: &Lot,
    route: &Route,
    wafers: &[String],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "split lots")?;
    ensure_waiting(lot)?;
    let set = active_wafer_set(lot, wafers, "wafers")?;
    if set.len() == lot.wafer_count() {
        return Err(Code::SplitAll.refusal());
    }
    let child_id = format!("{}.{}", lot.id, lot.children + 1);
    let mut parent = touch(lot, now);
    parent.children += 1;
    let (moved, kept): (Vec<Wafer>, Vec<Wafer>) =
        parent.wafers.drain(..).partition(|w| set.contains(&w.id));
    parent.wafers = kept;
    let moved_ids: Vec<String> = moved.iter().map(|w| w.id.clone()).collect();
    let child = Lot {
        id: child_id.clone(),
        wafers: moved,
        parent: Some(lot.id.clone()),
        children: 0,
        created_at: now,
        updated_at: now,
        version: 1,
        ..lot.clone()
    };
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &parent,
        None,
        Change::SplitOut {
            child: child_id,
            wafers: moved_ids.clone(),
        },
    );
    log.push(
        None,
        &child,
        None,
        Change::SplitFrom {
            parent: lot.id.clone(),
            wafers: moved_ids,
        },
    );
    Ok(Applied {
        lots: vec![parent, child],
        events: log.events,
        equipment: None,
    })
}

/// Merges the active wafers of `from` into `into`: same product, route version and step,
/// same tenant and lot type, both waiting and neither held, at most 25 wafers together.
pub fn merge(
    into: &Lot,
    from: &Lot,
    route: &Route,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "merge lots")?;
    if into.id == from.id {
        return Err(Code::MergeSelf.refusal());
    }
    ensure_waiting(into)?;
    ensure_waiting(from)?;
    ensure_unheld(into)?;
    ensure_unheld(from)?;
    let mismatch = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        Code::MergeMismatch
            .refusal()
            .with("lot", &into.id)
            .with("other", &from.id)
            .with("what", what)
            .with("a", format!("{a:?}"))
            .with("b", format!("{b:?}"))
    };
    if into.product != from.product {
        return Err(mismatch("product", &into.product, &from.product));
    }
    if (&into.route_id, into.route_version) != (&from.route_id, from.route_version) {
        return Err(mismatch("route", &into.route_id, &from.route_id));
    }
    if into.step_index != from.step_index {
        let (a, b) = (
            &route.steps[into.step_index].id,
            &route.steps[from.step_index].id,
        );
        return Err(mismatch("step", a, b));
    }
    if into.tenant != from.tenant {
        return Err(mismatch("tenant", &into.tenant, &from.tenant));
    }
    if into.lot_type != from.lot_type {
        return Err(mismatch("lot type", &into.lot_type, &from.lot_type));
    }
    if into.wafer_count() + from.wafer_count() > MAX_WAFERS {
        return Err(Code::MergeTooMany
            .refusal()
            .with("lot", &into.id)
            .with("other", &from.id)
            .with("count", into.wafer_count() + from.wafer_count())
            .with("max", MAX_WAFERS));
    }
    let mut target = touch(into, now);
    let mut source = touch(from, now);
    let mut used: HashSet<u8> = target.active_wafers().map(|w| w.slot).collect();
    let (moving, staying): (Vec<Wafer>, Vec<Wafer>) = source
        .wafers
        .drain(..)
        .partition(|w| w.state == WaferState::Active);
    source.wafers = staying;
    source.state = LotState::Merged;
    let moved_ids: Vec<String> = moving.iter().map(|w| w.id.clone()).collect();
    for mut w in moving {
        if used.contains(&w.slot) {
            w.slot = (1..=MAX_WAFERS as u8)
                .find(|s| !used.contains(s))
                .unwrap_or(w.slot);
        }
        used.insert(w.slot);
        target.wafers.push(w);
    }
    target
        .wafers
        .sort_by_key(|w| (w.state == WaferState::Scrapped, w.slot));
    for f in source.future_holds.drain(..) {
        target.future_holds.push(FutureHold {
            id: target.next_hold_id,
            ..f
        });
        target.next_hold_id += 1;
    }
    target.priority = target.priority.min(from.priority);
    target.due_date = match (into.due_date, from.due_date) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(into),
        &target,
        None,
        Change::MergedIn {
            from: from.id.clone(),
            wafers: moved_ids.clone(),
        },
    );
    log.push(
        Some(from),
        &source,
        None,
        Change::MergedInto {
            into: into.id.clone(),
            wafers: moved_ids,
        },
    );
    Ok(Applied {
        lots: vec![target, source],
        events: log.events,
        equipment: None,
    })
}

/// Sends a waiting, unheld lot back to an earlier step, within the route's rework limit.
pub fn rework(
    lot: &Lot,
    route: &Route,
    to_step: &str,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "rework lots")?;
    required_text("reason", reason)?;
    ensure_waiting(lot)?;
    ensure_unheld(lot)?;
    let Some(index) = route.step_index(to_step) else {
        return Err(Code::StepUnknown
            .refusal()
            .with("field", "to_step")
            .with("route", &route.id)
            .with("version", route.version)
            .with("step", to_step));
    };
    let from = &route.steps[lot.step_index];
    if index >= lot.step_index {
        return Err(Code::ReworkNotBack
            .refusal()
            .with("step", to_step)
            .with("current", &from.id));
    }
    if lot.rework_count >= route.rework_limit {
        return Err(Code::ReworkLimit
            .refusal()
            .with("lot", &lot.id)
            .with("count", lot.rework_count)
            .with("route", &route.id));
    }
    let mut after = touch(lot, now);
    after.rework_count += 1;
    after.qtime = None;
    let fired = arrive(&mut after, route, index, now);
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        Some(reason),
        Change::Reworked {
            from_step: from.id.clone(),
            to_step: to_step.to_string(),
            rework_count: after.rework_count,
        },
    );
    log_fired_holds(&mut log, &after, fired);
    Ok(Applied {
        lots: vec![after],
        events: log.events,
        equipment: None,
    })
}

/// Scraps the named wafers, or the whole lot when `wafers` is `None`. A lot whose last wafer
/// goes is scrapped. A running lot must be tracked out first.
pub fn scrap(
    lot: &Lot,
    route: &Route,
    wafers: Option<&[String]>,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "scrap")?;
    required_text("reason", reason)?;
    match lot.state {
        LotState::Waiting | LotState::Completed => {}
        LotState::Running => ensure_waiting(lot)?,
        other => {
            return Err(state_forbids(
                lot,
                other,
                "only a waiting or completed lot can be scrapped",
            ));
        }
    }
    let set: HashSet<String> = match wafers {
        Some(list) => active_wafer_set(lot, list, "wafers")?,
        None => lot.active_wafers().map(|w| w.id.clone()).collect(),
    };
    let mut after = touch(lot, now);
    let ids = scrap_wafers(&mut after, &set, reason);
    let lot_scrapped = after.wafer_count() == 0;
    if lot_scrapped {
        after.state = LotState::Scrapped;
    }
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        Some(reason),
        Change::Scrapped {
            wafers: ids,
            lot_scrapped,
        },
    );
    Ok(Applied {
        lots: vec![after],
        events: log.events,
        equipment: None,
    })
}

/// Ships a completed, unheld lot.
pub fn ship(
    lot: &Lot,
    route: &Route,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    require(actor, Action::MoveLots, "ship lots")?;
    if lot.state != LotState::Completed {
        return Err(state_forbids(
            lot,
            lot.state,
            "only a completed lot can be shipped",
        ));
    }
    ensure_unheld(lot)?;
    let mut after = touch(lot, now);
    after.state = LotState::Shipped;
    let mut log = EventLog::new(route, actor, now);
    log.push(Some(lot), &after, None, Change::Shipped);
    Ok(Applied {
        lots: vec![after],
        events: log.events,
        equipment: None,
    })
}

/// Holds a waiting lot whose Q-time window (action `hold`) has closed; `None` when nothing is due.
pub fn expire_qtime(
    lot: &Lot,
    route: &Route,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Option<Applied> {
    let window = lot.qtime.as_ref()?;
    if lot.state != LotState::Waiting
        || now <= window.deadline
        || window.action != QTimeAction::Hold
    {
        return None;
    }
    if lot.holds.iter().any(|h| h.reason_code == QTIME_REASON) {
        return None;
    }
    let comment = format!(
        "Q-time after step {} expired at {}",
        window.from_step,
        window.deadline.to_rfc3339()
    );
    let (after, hold) = with_hold(lot, QTIME_REASON, &comment, actor, now);
    let mut log = EventLog::new(route, actor, now);
    log.push(
        Some(lot),
        &after,
        Some(&comment),
        Change::HoldPlaced { hold },
    );
    Some(Applied {
        lots: vec![after],
        events: log.events,
        equipment: None,
    })
}

#[cfg(test)]
mod tests;
