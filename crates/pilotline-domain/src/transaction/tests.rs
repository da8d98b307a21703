//! Table tests of the lot transactions.

use super::*;
use crate::identity::Role;
use crate::route::{Stage, Step};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn actor(role: Role) -> Actor {
    Actor {
        user: format!("{role}-user"),
        role,
        tenant: None,
    }
}

fn op() -> Actor {
    actor(Role::Operator)
}

fn eng() -> Actor {
    actor(Role::Engineer)
}

fn route() -> Route {
    let step = |id: &str, ty: &str, q: Option<u32>| Step {
        id: id.into(),
        name: format!("{id} step"),
        stage: Stage::Fabrication,
        equipment_type: ty.into(),
        recipe: format!("{id}-RCP"),
        qtime_max_minutes: q,
        qtime_action: QTimeAction::Hold,
        bom: vec![],
        measurements: vec![],
    };
    Route {
        id: "R".into(),
        version: 1,
        name: "test route".into(),
        description: None,
        rework_limit: 1,
        steps: vec![
            step("CLEAN", "WETBENCH", Some(240)),
            step("OX", "FURNACE", None),
            step("LITHO", "STEPPER", None),
            step("ETCH", "DRIE", None),
        ],
        created_at: t0(),
        created_by: "eng".into(),
    }
}

fn product() -> Product {
    Product {
        id: "P".into(),
        description: String::new(),
        default_route: "R".into(),
        tenant: None,
    }
}

fn tool(id: &str, ty: &str) -> Equipment {
    Equipment {
        id: id.into(),
        equipment_type: ty.into(),
        description: String::new(),
        state: E10State::Standby,
        current_lot: None,
        state_since: t0(),
        version: 1,
    }
}

fn new_lot(id: &str, wafers: usize) -> NewLot {
    NewLot {
        id: id.into(),
        lot_type: LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count: wafers,
        wafer_ids: None,
    }
}

fn started(id: &str, wafers: usize) -> Lot {
    start(&new_lot(id, wafers), &product(), &route(), &op(), t0())
        .unwrap()
        .lots
        .remove(0)
}

fn held(lot: &Lot) -> Lot {
    hold(lot, &route(), "ENG", "look at it", &op(), t0())
        .unwrap()
        .0
        .lots
        .remove(0)
}

fn running(lot: &Lot, tool: &Equipment) -> (Lot, Equipment) {
    let a = track_in(lot, &route(), tool, None, &op(), t0()).unwrap();
    (a.lots[0].clone(), a.equipment.unwrap().0)
}

#[test]
fn start_checks_its_input() {
    let r = route();
    let p = product();
    let cases: [(NewLot, bool); 6] = [
        (new_lot("A1", 25), true),
        (new_lot("A1", 0), false),
        (new_lot("A1", 26), false),
        (new_lot("A1.1", 5), false),
        (
            NewLot {
                priority: 0,
                ..new_lot("A1", 5)
            },
            false,
        ),
        (
            NewLot {
                wafer_ids: Some(vec!["X".into(), "X".into()]),
                ..new_lot("A1", 2)
            },
            false,
        ),
    ];
    for (n, ok) in cases {
        assert_eq!(start(&n, &p, &r, &op(), t0()).is_ok(), ok, "{n:?}");
    }
    let a = start(&new_lot("A1", 3), &p, &r, &op(), t0()).unwrap();
    let lot = &a.lots[0];
    assert_eq!(
        (lot.state, lot.step_index, lot.version),
        (LotState::Waiting, 0, 1)
    );
    assert_eq!(lot.wafers[2].id, "A1-W03");
    assert_eq!(a.events[0].change.kind(), "started");
    assert!(matches!(
        start(&new_lot("A1", 3), &p, &r, &actor(Role::Manager), t0()),
        Err(e) if e.code() == Code::RoleForbidden
    ));
}

#[test]
fn a_lot_runs_every_step_to_completion() {
    let r = route();
    let mut lot = started("A1", 5);
    for (i, step) in r.steps.iter().enumerate() {
        let t = tool(&format!("{}-01", step.equipment_type), &step.equipment_type);
        let a = track_in(&lot, &r, &t, None, &op(), t0()).unwrap();
        let (running, busy) = (a.lots[0].clone(), a.equipment.unwrap().0);
        assert_eq!(running.state, LotState::Running);
        assert_eq!(busy.state, E10State::Productive);
        assert_eq!(busy.current_lot.as_deref(), Some("A1"));
        let a = track_out(&running, &r, &busy, &[], None, &op(), t0()).unwrap();
        lot = a.lots[0].clone();
        assert_eq!(a.equipment.unwrap().0.state, E10State::Standby);
        if i + 1 < r.steps.len() {
            assert_eq!((lot.state, lot.step_index), (LotState::Waiting, i + 1));
        }
    }
    assert_eq!(lot.state, LotState::Completed);
    assert_eq!(lot.version, 1 + 2 * r.steps.len() as u64);
    let shipped = ship(&lot, &r, &op(), t0()).unwrap().lots.remove(0);
    assert_eq!(shipped.state, LotState::Shipped);
}

#[test]
fn track_in_refusals() {
    let r = route();
    let lot = started("A1", 5);
    let wet = tool("WET-01", "WETBENCH");
    let (running_lot, busy) = running(&lot, &wet);
    let down = Equipment {
        state: E10State::UnscheduledDown,
        ..wet.clone()
    };
    let other = started("A2", 5);
    let cases: [(&Lot, &Equipment, Option<&str>, Code); 6] = [
        (&held(&lot), &wet, None, Code::LotHeld),
        (
            &lot,
            &tool("FUR-01", "FURNACE"),
            None,
            Code::EquipmentWrongType,
        ),
        (&lot, &down, None, Code::EquipmentUnavailable),
        (&other, &busy, None, Code::EquipmentBusy),
        (&running_lot, &busy, None, Code::LotRunning),
        (&lot, &wet, Some("OTHER"), Code::RecipeOverride),
    ];
    for (l, t, recipe, expected) in cases {
        let err = track_in(l, &r, t, recipe, &op(), t0()).unwrap_err();
        assert!(
            err.code() == expected && err.kind() == crate::refusal::Kind::Illegal,
            "{err:?} !~ {expected}"
        );
    }
    let eng_lot = Lot {
        lot_type: LotType::Engineering,
        ..lot.clone()
    };
    let a = track_in(&eng_lot, &r, &wet, Some("EXPERIMENT-7"), &op(), t0()).unwrap();
    assert_eq!(a.lots[0].recipe.as_deref(), Some("EXPERIMENT-7"));
    assert_eq!(a.equipment.unwrap().0.state, E10State::Engineering);
}

#[test]
fn holds_are_a_set_released_one_by_one_by_engineers() {
    let r = route();
    let lot = started("A1", 5);
    let once = held(&lot);
    let twice = held(&once);
    assert_eq!(
        twice.holds.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // Another operator may not release an operator's hold; a manager may release none.
    let other_operator = Actor {
        user: "someone-else".into(),
        ..op()
    };
    assert!(matches!(
        release(&twice, &r, 1, "ok", &other_operator, t0()),
        Err(e) if e.code() == Code::RoleForbidden
    ));
    assert!(matches!(
        release(&twice, &r, 1, "ok", &actor(Role::Manager), t0()),
        Err(e) if e.code() == Code::RoleForbidden
    ));
    assert!(matches!(
        release(&twice, &r, 9, "ok", &eng(), t0()),
        Err(e) if e.code() == Code::HoldNotFound
    ));
    assert!(matches!(
        release(&twice, &r, 1, " ", &eng(), t0()),
        Err(e) if e.code() == Code::FieldEmpty
    ));
    let one_left = release(&twice, &r, 1, "checked", &eng(), t0())
        .unwrap()
        .lots
        .remove(0);
    assert!(track_in(&one_left, &r, &tool("W", "WETBENCH"), None, &op(), t0()).is_err());
    let free = release(&one_left, &r, 2, "checked", &eng(), t0())
        .unwrap()
        .lots
        .remove(0);
    assert!(track_in(&free, &r, &tool("W", "WETBENCH"), None, &op(), t0()).is_ok());
}

#[test]
fn an_operator_takes_back_a_plain_hold_of_its_own_but_not_an_spc_or_qtime_hold() {
    let r = route();
    let lot = started("A1", 5);
    let own = held(&lot);
    let released = release(&own, &r, 1, "checked, fine", &op(), t0()).unwrap();
    assert!(released.lots[0].holds.is_empty());
    for reason in [
        crate::measure::OOS_REASON,
        crate::measure::OOC_REASON,
        QTIME_REASON,
    ] {
        let spc = hold(&lot, &r, reason, "judged", &op(), t0())
            .unwrap()
            .0
            .lots
            .remove(0);
        assert!(
            matches!(
                release_with(&spc, &r, 1, "ok", Some("use-as-is"), &op(), t0()),
                Err(e) if e.code() == Code::RoleForbidden
            ),
            "{reason}"
        );
        assert!(release_with(&spc, &r, 1, "ok", Some("use-as-is"), &eng(), t0()).is_ok());
    }
}

#[test]
fn track_out_scraps_wafers_and_scrapping_all_scraps_the_lot() {
    let r = route();
    let lot = started("A1", 3);
    let (run, busy) = running(&lot, &tool("W", "WETBENCH"));
    let one = vec!["A1-W01".to_string()];
    assert!(matches!(
        track_out(&run, &r, &busy, &one, None, &op(), t0()),
        Err(e) if e.code() == Code::FieldEmpty
    ));
    let a = track_out(&run, &r, &busy, &one, Some("broken"), &op(), t0()).unwrap();
    assert_eq!(a.lots[0].wafer_count(), 2);
    assert_eq!(a.lots[0].step_index, 1);
    let all: Vec<String> = run.wafers.iter().map(|w| w.id.clone()).collect();
    let a = track_out(&run, &r, &busy, &all, Some("dropped"), &op(), t0()).unwrap();
    assert_eq!(a.lots[0].state, LotState::Scrapped);
    let unknown = vec!["ZZZ".to_string()];
    assert!(track_out(&run, &r, &busy, &unknown, Some("x"), &op(), t0()).is_err());
    assert!(track_out(&run, &r, &tool("W2", "WETBENCH"), &[], None, &op(), t0()).is_err());
}

#[test]
fn future_hold_fires_on_arrival() {
    let r = route();
    let lot = started("A1", 3);
    assert!(
        future_hold(&lot, &r, "CLEAN", "X", "c", &op(), t0()).is_err(),
        "current step"
    );
    assert!(future_hold(&lot, &r, "NOPE", "X", "c", &op(), t0()).is_err());
    let (lot, _) = future_hold(&lot, &r, "OX", "PRE-OX", "check clean", &op(), t0()).unwrap();
    let lot = lot.lots[0].clone();
    let (run, busy) = running(&lot, &tool("W", "WETBENCH"));
    let a = track_out(&run, &r, &busy, &[], None, &op(), t0()).unwrap();
    let arrived = &a.lots[0];
    assert_eq!(arrived.holds.len(), 1);
    assert_eq!(arrived.holds[0].reason_code, "PRE-OX");
    assert!(arrived.future_holds.is_empty());
    assert_eq!(
        a.events.iter().map(|e| e.change.kind()).collect::<Vec<_>>(),
        ["tracked_out", "hold_placed"]
    );
}

#[test]
fn split_and_merge() {
    let r = route();
    let lot = started("A1", 5);
    let picked = vec!["A1-W02".to_string(), "A1-W04".to_string()];
    let a = split(&lot, &r, &picked, &op(), t0()).unwrap();
    let (parent, child) = (&a.lots[0], &a.lots[1]);
    assert_eq!(child.id, "A1.1");
    assert_eq!(child.parent.as_deref(), Some("A1"));
    assert_eq!((parent.wafer_count(), child.wafer_count()), (3, 2));
    assert_eq!(child.version, 1);
    let all: Vec<String> = parent.wafers.iter().map(|w| w.id.clone()).collect();
    assert!(
        split(parent, &r, &all, &op(), t0()).is_err(),
        "must leave one"
    );
    assert!(
        split(parent, &r, &picked, &op(), t0()).is_err(),
        "wafers not in lot"
    );
    let second = split(parent, &r, &all[..1], &op(), t0()).unwrap();
    assert_eq!(second.lots[1].id, "A1.2");

    let m = merge(parent, child, &r, &op(), t0()).unwrap();
    assert_eq!(m.lots[0].wafer_count(), 5);
    assert_eq!(m.lots[1].state, LotState::Merged);
    assert_eq!(m.lots[1].wafer_count(), 0);

    let other_product = Lot {
        product: "Q".into(),
        ..child.clone()
    };
    let other_step = Lot {
        step_index: 1,
        ..child.clone()
    };
    let refusals: [(Lot, Code, Option<&str>); 4] = [
        (held(child), Code::LotHeld, None),
        (other_product, Code::MergeMismatch, Some("product")),
        (other_step, Code::MergeMismatch, Some("step")),
        (started("B1", 23), Code::MergeTooMany, None),
    ];
    for (from, code, what) in refusals {
        let err = merge(parent, &from, &r, &op(), t0()).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!(err.param("what"), what, "{err}");
    }
    assert_eq!(
        merge(parent, parent, &r, &op(), t0()).unwrap_err().code(),
        Code::MergeSelf
    );
}

#[test]
fn rework_goes_back_within_its_limit() {
    let r = route();
    let lot = started("A1", 3);
    let (run, busy) = running(&lot, &tool("W", "WETBENCH"));
    let at_ox = track_out(&run, &r, &busy, &[], None, &op(), t0())
        .unwrap()
        .lots
        .remove(0);
    assert!(
        rework(&at_ox, &r, "OX", "redo", &op(), t0()).is_err(),
        "not backwards"
    );
    assert!(rework(&at_ox, &r, "NOPE", "redo", &op(), t0()).is_err());
    assert!(rework(&held(&at_ox), &r, "CLEAN", "redo", &op(), t0()).is_err());
    let back = rework(&at_ox, &r, "CLEAN", "particles", &op(), t0())
        .unwrap()
        .lots
        .remove(0);
    assert_eq!((back.step_index, back.rework_count), (0, 1));
    let (run, busy) = running(&back, &tool("W", "WETBENCH"));
    let again = track_out(&run, &r, &busy, &[], None, &op(), t0())
        .unwrap()
        .lots
        .remove(0);
    let err = rework(&again, &r, "CLEAN", "again", &op(), t0()).unwrap_err();
    assert_eq!(err.code(), Code::ReworkLimit);
    assert_eq!(err.param("count"), Some("1"));
}

#[test]
fn scrap_wafers_or_the_lot() {
    let r = route();
    let lot = started("A1", 3);
    let w = vec!["A1-W01".to_string()];
    let a = scrap(&lot, &r, Some(&w), "cracked", &op(), t0()).unwrap();
    assert_eq!(
        (a.lots[0].state, a.lots[0].wafer_count()),
        (LotState::Waiting, 2)
    );
    let whole = scrap(&lot, &r, None, "contaminated", &op(), t0()).unwrap();
    assert_eq!(whole.lots[0].state, LotState::Scrapped);
    assert!(scrap(&lot, &r, None, "", &op(), t0()).is_err());
    let (run, _) = running(&lot, &tool("W", "WETBENCH"));
    assert!(scrap(&run, &r, None, "x", &op(), t0()).is_err());
    assert!(scrap(&whole.lots[0], &r, None, "x", &op(), t0()).is_err());
}

#[test]
fn ship_needs_a_completed_unheld_lot() {
    let r = route();
    let lot = started("A1", 3);
    assert!(ship(&lot, &r, &op(), t0()).is_err());
    let done = Lot {
        state: LotState::Completed,
        ..lot.clone()
    };
    assert!(ship(&held(&done), &r, &op(), t0()).is_err());
    assert!(ship(&done, &r, &op(), t0()).is_ok());
}

#[test]
fn qtime_window_holds_late_lots() {
    let r = route();
    let lot = started("A1", 3);
    let (run, busy) = running(&lot, &tool("W", "WETBENCH"));
    let at_ox = track_out(&run, &r, &busy, &[], None, &op(), t0())
        .unwrap()
        .lots
        .remove(0);
    let window = at_ox.qtime.clone().unwrap();
    assert_eq!(window.deadline, t0() + Duration::minutes(240));
    let furnace = tool("F", "FURNACE");
    let in_time = window.deadline - Duration::minutes(1);
    assert!(track_in(&at_ox, &r, &furnace, None, &op(), in_time).is_ok());
    assert!(expire_qtime(&at_ox, &r, &op(), in_time).is_none());
    let late = window.deadline + Duration::minutes(1);
    assert!(track_in(&at_ox, &r, &furnace, None, &op(), late).is_err());
    let held = expire_qtime(&at_ox, &r, &op(), late)
        .unwrap()
        .lots
        .remove(0);
    assert_eq!(held.holds[0].reason_code, QTIME_REASON);
    assert!(expire_qtime(&held, &r, &op(), late).is_none(), "held once");
    let released = release(
        &held,
        &r,
        held.holds[0].id,
        "dispositioned: ok",
        &eng(),
        late,
    )
    .unwrap();
    assert!(track_in(&released.lots[0], &r, &furnace, None, &op(), late).is_ok());
}

#[test]
fn events_carry_before_and_after() {
    let r = route();
    let lot = started("A1", 3);
    let a = track_in(&lot, &r, &tool("W", "WETBENCH"), None, &op(), t0()).unwrap();
    let e = &a.events[0];
    assert_eq!(e.before.as_ref().unwrap().state, LotState::Waiting);
    assert_eq!(e.after.state, LotState::Running);
    assert_eq!(e.user, "operator-user");
}

#[test]
fn a_tool_that_faulted_mid_run_stays_down_after_the_track_out() {
    let r = route();
    let lot = started("A1", 3);
    let (run, busy) = running(&lot, &tool("W", "WETBENCH"));
    let faulted = Equipment {
        state: E10State::UnscheduledDown,
        ..busy.clone()
    };
    let a = track_out(&run, &r, &faulted, &[], None, &op(), t0()).unwrap();
    let (after, change) = a.equipment.unwrap();
    assert_eq!(after.state, E10State::UnscheduledDown);
    assert_eq!(after.current_lot, None);
    assert_eq!(after.state_since, faulted.state_since);
    assert_eq!(change.to, E10State::UnscheduledDown);
    let a = track_out(&run, &r, &busy, &[], None, &op(), t0()).unwrap();
    assert_eq!(a.equipment.unwrap().0.state, E10State::Standby);
}
