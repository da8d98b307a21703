//! Units in = units out + scrapped, over random flows of track-ins and -outs with scrap,
//! splits, scraps and merges.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

use super::*;
use crate::equipment::{E10State, Equipment};
use crate::identity::{Actor, Role};
use crate::refusal::Code;
use crate::route::{Route, Stage, Step};

fn route() -> Route {
    let step = |id: &str, t: &str| Step {
        id: id.into(),
        name: id.into(),
        stage: Stage::Packaging,
        equipment_type: t.into(),
        recipe: format!("{id}-R"),
        qtime_max_minutes: None,
        qtime_action: Default::default(),
        measurements: vec![],
        bom: vec![],
    };
    Route {
        id: "BE".into(),
        version: 1,
        name: "back end".into(),
        description: None,
        rework_limit: 0,
        steps: vec![
            step("ATTACH", "DIEBOND"),
            step("BOND", "WIREBOND"),
            step("SEAL", "SEAL"),
            step("FT", "TESTER"),
        ],
        created_at: t0(),
        created_by: "test".into(),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
}

fn tool(t: &str) -> Equipment {
    Equipment {
        id: format!("{t}-01"),
        equipment_type: t.into(),
        description: String::new(),
        state: E10State::Standby,
        current_lot: None,
        state_since: t0(),
        version: 1,
    }
}

/// A little fab: unit lots, the units' rows, the tools, and every step count recorded.
struct Line {
    lots: BTreeMap<String, UnitLot>,
    units: BTreeMap<String, UnitRef>,
    tools: BTreeMap<String, Equipment>,
    counts: Vec<StepCount>,
    diced: usize,
}

impl Line {
    fn new(units: usize, trays: usize) -> Self {
        let mut line = Line {
            lots: BTreeMap::new(),
            units: BTreeMap::new(),
            tools: route()
                .steps
                .iter()
                .map(|s| (s.equipment_type.clone(), tool(&s.equipment_type)))
                .collect(),
            counts: vec![],
            diced: units,
        };
        for t in 0..trays {
            let id = format!("A1-U{:03}", t + 1);
            let mine: Vec<usize> = (0..units).filter(|u| u % trays == t).collect();
            for u in &mine {
                let uid = die_uid("W01", *u as i16, 0);
                line.units.insert(
                    uid.clone(),
                    UnitRef {
                        uid,
                        lot: id.clone(),
                        state: UnitState::Active,
                    },
                );
            }
            line.lots.insert(
                id.clone(),
                UnitLot {
                    id,
                    kind: UnitKind::Die,
                    product: "P".into(),
                    tenant: None,
                    route_id: "BE".into(),
                    route_version: 1,
                    step_index: 0,
                    state: UnitLotState::Waiting,
                    equipment: None,
                    recipe: None,
                    source_lot: Some("A1".into()),
                    parent: None,
                    children: 0,
                    units: mine.len() as u32,
                    scrapped: 0,
                    consumed: 0,
                    units_at_track_in: 0,
                    arrived_at: t0(),
                    created_at: t0(),
                    updated_at: t0(),
                    version: 1,
                },
            );
        }
        line
    }

    /// The active units of `lot`, as the store would find them.
    fn members(&self, lot: &str) -> Vec<UnitRef> {
        self.units
            .values()
            .filter(|u| u.lot == lot && u.state == UnitState::Active)
            .cloned()
            .collect()
    }

    /// Carries out what a transaction decided, as the store does.
    fn apply(&mut self, a: UnitApplied) {
        for l in a.lots {
            self.lots.insert(l.id.clone(), l);
        }
        match a.moved {
            Some(UnitMove::Named { units, to }) => {
                for u in units {
                    self.units.get_mut(&u).unwrap().lot = to.clone();
                }
            }
            Some(UnitMove::All { from, to }) => {
                for u in self.units.values_mut() {
                    if u.lot == from && u.state == UnitState::Active {
                        u.lot = to.clone();
                    }
                }
            }
            None => {}
        }
        for u in a.scrapped {
            self.units.get_mut(&u).unwrap().state = UnitState::Scrapped;
        }
        if let Some(c) = a.step {
            self.counts.push(c);
        }
        if let Some((t, _)) = a.equipment {
            self.tools.insert(t.equipment_type.clone(), t);
        }
    }

    fn check(&self) {
        for c in &self.counts {
            assert_eq!(c.units_in, c.units_out + c.scrapped, "step count {c:?}");
        }
        for l in self.lots.values() {
            assert_eq!(
                l.units as usize,
                self.members(&l.id).len(),
                "lot {} counts its active units",
                l.id
            );
        }
        let active = self
            .units
            .values()
            .filter(|u| u.state == UnitState::Active)
            .count();
        let scrapped: u32 = self.lots.values().map(|l| l.scrapped).sum();
        assert_eq!(
            self.diced,
            active + scrapped as usize,
            "diced = active + scrapped"
        );
        assert_eq!(
            scrapped as usize,
            self.units
                .values()
                .filter(|u| u.state == UnitState::Scrapped)
                .count()
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Run { lot: usize, scrap: Vec<usize> },
    Split { lot: usize, take: Vec<usize> },
    Scrap { lot: usize, take: Vec<usize> },
    Merge { into: usize, from: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let picks = || prop::collection::vec(0usize..64, 0..6);
    prop_oneof![
        4 => (0usize..16, picks()).prop_map(|(lot, scrap)| Op::Run { lot, scrap }),
        2 => (0usize..16, picks()).prop_map(|(lot, take)| Op::Split { lot, take }),
        1 => (0usize..16, picks()).prop_map(|(lot, take)| Op::Scrap { lot, take }),
        2 => (0usize..16, 0usize..16).prop_map(|(into, from)| Op::Merge { into, from }),
    ]
}

/// The `i`-th lot (modulo the lots there are) and the picked members of it.
fn pick(line: &Line, i: usize, take: &[usize]) -> (UnitLot, Vec<UnitRef>) {
    let lot = line.lots.values().nth(i % line.lots.len()).unwrap().clone();
    let members = line.members(&lot.id);
    let mut chosen: Vec<UnitRef> = Vec::new();
    if !members.is_empty() {
        for t in take {
            let u = &members[t % members.len()];
            if !chosen.iter().any(|c| c.uid == u.uid) {
                chosen.push(u.clone());
            }
        }
    }
    (lot, chosen)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn units_in_equal_units_out_plus_scrapped_at_every_step(
        units in 1usize..60,
        trays in 1usize..5,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let actor = Actor { user: "op".into(), role: Role::Operator, tenant: None };
        let route = route();
        let mut line = Line::new(units, trays.min(units));
        let mut now = t0();
        for op in ops {
            now += Duration::minutes(5);
            let result = match op {
                Op::Run { lot, scrap } => {
                    let (lot, chosen) = pick(&line, lot, &scrap);
                    if lot.step_index >= route.steps.len() { continue; }
                    let kind = &route.steps[lot.step_index].equipment_type;
                    let t = line.tools[kind].clone();
                    match track_in(&lot, &route, &t, &actor, now) {
                        Ok(a) => {
                            line.apply(a);
                            let lot = line.lots[&lot.id].clone();
                            let t = line.tools[kind].clone();
                            track_out(&lot, &route, &t, &chosen, Some("cracked"), &actor, now)
                        }
                        Err(e) => Err(e),
                    }
                }
                Op::Split { lot, take } => {
                    let (lot, chosen) = pick(&line, lot, &take);
                    split(&lot, &chosen, &actor, now)
                }
                Op::Scrap { lot, take } => {
                    let (lot, chosen) = pick(&line, lot, &take);
                    scrap(&lot, &chosen, "dropped", &actor, now)
                }
                Op::Merge { into, from } => {
                    let (a, _) = pick(&line, into, &[]);
                    let (b, _) = pick(&line, from, &[]);
                    merge(&a, &b, &actor, now)
                }
            };
            if let Ok(a) = result {
                line.apply(a);
            }
            line.check();
        }
    }
}

#[test]
fn a_tray_moves_step_by_step_and_counts_what_it_scraps() {
    let actor = Actor {
        user: "op".into(),
        role: Role::Operator,
        tenant: None,
    };
    let route = route();
    let mut line = Line::new(10, 1);
    let lot = line.lots["A1-U001"].clone();
    let bonder = line.tools["DIEBOND"].clone();
    let a = track_in(&lot, &route, &bonder, &actor, t0()).unwrap();
    assert_eq!(a.equipment.as_ref().unwrap().0.state, E10State::Productive);
    line.apply(a);
    let lot = line.lots["A1-U001"].clone();
    let members = line.members("A1-U001");
    let bonder = line.tools["DIEBOND"].clone();
    let a = track_out(&lot, &route, &bonder, &members[..2], None, &actor, t0()).unwrap_err();
    assert_eq!(a.code(), Code::FieldEmpty, "scrap needs a reason");
    let a = track_out(
        &lot,
        &route,
        &bonder,
        &members[..2],
        Some("chipped"),
        &actor,
        t0(),
    );
    line.apply(a.unwrap());
    let lot = &line.lots["A1-U001"];
    assert_eq!((lot.step_index, lot.units, lot.scrapped), (1, 8, 2));
    assert_eq!(
        (
            line.counts[0].units_in,
            line.counts[0].units_out,
            line.counts[0].scrapped
        ),
        (10, 8, 2)
    );
    // A unit of another lot, or a scrapped one, cannot be named.
    let gone = line.units[&members[0].uid].clone();
    let err = split(lot, &[gone], &actor, t0()).unwrap_err();
    assert_eq!(err.code(), Code::UnitNotActive);
    let manager = Actor {
        role: Role::Manager,
        ..actor
    };
    let err = split(lot, &members[2..3], &manager, t0()).unwrap_err();
    assert_eq!(err.code(), Code::RoleForbidden);
}

/// A wafer lot that has completed its front-end route.
fn completed_lot(tenant: Option<&str>) -> crate::lot::Lot {
    use crate::lot::{LotState, LotType};
    use crate::route::Product;
    use crate::transaction::NewLot;

    let fe = Route {
        steps: vec![route().steps[0].clone()],
        id: "FE".into(),
        ..route()
    };
    let new = NewLot {
        id: "A1".into(),
        lot_type: LotType::Production,
        priority: 3,
        tenant: tenant.map(str::to_string),
        due_date: None,
        wafer_count: 2,
        wafer_ids: None,
    };
    let product = Product {
        id: "P".into(),
        description: String::new(),
        default_route: "FE".into(),
        tenant: None,
    };
    let engineer = Actor {
        user: "eng".into(),
        role: Role::Engineer,
        tenant: None,
    };
    let mut lot = crate::transaction::start(&new, &product, &fe, &engineer, t0())
        .unwrap()
        .lots
        .remove(0);
    lot.state = LotState::Completed;

    lot
}

fn probed(wafer: &str, x: i16, good: bool, tenant: Option<&str>) -> pick::ProbeDie {
    pick::ProbeDie {
        wafer: wafer.into(),
        x,
        y: 0,
        hard_bin: if good { 1 } else { 8 },
        soft_bin: 1,
        good,
        booking: tenant.map(|t| format!("B-{t}")),
        tenant: tenant.map(str::to_string),
    }
}

#[test]
fn dicing_fills_trays_per_owner_in_pick_order_with_only_good_dies() {
    let lot = completed_lot(None);
    let dies = vec![
        probed("W1", 0, true, Some("acme")),
        probed("W1", 1, false, Some("acme")),
        probed("W1", 2, true, Some("acme")),
        probed("W1", 3, true, None),
        probed("W2", 0, true, Some("acme")),
        probed("W2", 1, true, Some("bolt")),
    ];
    let list = pick::pick_list("A1", "P", dies, &[]).unwrap();
    let op = Actor {
        user: "op".into(),
        role: Role::Operator,
        tenant: None,
    };
    let d = dice::dice(&lot, &list, &route(), 2, &op, t0()).unwrap();
    let summary: Vec<(String, Option<String>, Vec<String>)> = d
        .lots
        .iter()
        .zip(&d.trays)
        .map(|(l, t)| {
            (
                l.id.clone(),
                l.tenant.clone(),
                t.iter()
                    .map(|p| die_uid(&p.die.wafer, p.die.x, p.die.y))
                    .collect(),
            )
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        summary,
        vec![
            (s("A1-U001"), None, vec![s("W1:3:0")]),
            (
                s("A1-U002"),
                Some(s("acme")),
                vec![s("W1:0:0"), s("W1:2:0")]
            ),
            (s("A1-U003"), Some(s("acme")), vec![s("W2:0:0")]),
            (s("A1-U004"), Some(s("bolt")), vec![s("W2:1:0")]),
        ]
    );
    assert_eq!(d.lots.iter().map(|l| l.units).sum::<u32>(), list.picked);
    assert!(
        d.lots
            .iter()
            .all(|l| l.state == UnitLotState::Waiting && l.version == 1)
    );
    assert_eq!(d.events.len(), 4);
}

#[test]
fn dicing_refusals() {
    let lot = completed_lot(Some("acme"));
    let dies = vec![probed("W1", 0, true, None), probed("W1", 1, false, None)];
    let plain = pick::pick_list("A1", "P", dies.clone(), &[]).unwrap();
    let over = pick::pick_list(
        "A1",
        "P",
        dies,
        &[pick::PickOverride {
            wafer: "W1".into(),
            x: 1,
            y: 0,
            pick: true,
            reason: "edge die, retest ok".into(),
        }],
    )
    .unwrap();
    let op = Actor {
        user: "op".into(),
        role: Role::Operator,
        tenant: None,
    };
    let eng = Actor {
        user: "eng".into(),
        role: Role::Engineer,
        tenant: None,
    };
    let code = |r: Result<dice::Diced, crate::Refusal>| r.unwrap_err().code();
    assert_eq!(
        code(dice::dice(&lot, &over, &route(), 10, &op, t0())),
        Code::RoleForbidden
    );
    let d = dice::dice(&lot, &over, &route(), 10, &eng, t0()).unwrap();
    assert_eq!(
        (d.lots.len(), d.lots[0].units, d.lots[0].tenant.as_deref()),
        (1, 2, Some("acme"))
    );
    assert_eq!(
        code(dice::dice(&lot, &plain, &route(), 0, &op, t0())),
        Code::TrayOutOfRange
    );
    assert_eq!(
        code(dice::dice(&lot, &plain, &route(), MAX_TRAY + 1, &op, t0())),
        Code::TrayOutOfRange
    );
    let mut waiting = lot.clone();
    waiting.state = crate::lot::LotState::Waiting;
    assert_eq!(
        code(dice::dice(&waiting, &plain, &route(), 10, &op, t0())),
        Code::LotStateForbids
    );
    let manager = Actor {
        user: "m".into(),
        role: Role::Manager,
        tenant: None,
    };
    assert_eq!(
        code(dice::dice(&lot, &plain, &route(), 10, &manager, t0())),
        Code::RoleForbidden
    );
}

fn module_route() -> Route {
    let mut build = route().steps[0].clone();
    build.id = "BUILD".into();
    build.equipment_type = "ASSEMBLY".into();
    build.bom = vec![
        bom::BomItem {
            item: "sensor".into(),
            source: bom::BomSource::Unit,
            part: "P".into(),
            quantity: 1,
        },
        bom::BomItem {
            item: "housing".into(),
            source: bom::BomSource::Component,
            part: "H-1".into(),
            quantity: 2,
        },
    ];
    let mut eol = route().steps[3].clone();
    eol.id = "EOL".into();
    Route {
        id: "MOD".into(),
        steps: vec![build, eol],
        ..route()
    }
}

#[test]
fn integration_consumes_parts_and_components_by_the_bill() {
    let mut line = Line::new(3, 1);
    let mut src = line.lots["A1-U001"].clone();
    src.state = UnitLotState::Completed;
    line.lots.insert(src.id.clone(), src.clone());
    let part = |u: &UnitRef, serial: Option<&str>, tenant: Option<&str>| integrate::PartRef {
        uid: u.uid.clone(),
        serial: serial.map(str::to_string),
        lot: u.lot.clone(),
        state: u.state,
        product: "P".into(),
        tenant: tenant.map(str::to_string),
    };
    let units = line.members("A1-U001");
    let housings = bom::ComponentLot {
        id: "C1".into(),
        part_number: "H-1".into(),
        supplier: "Acme".into(),
        supplier_lot: "S-9".into(),
        quantity: 10,
        remaining: 4,
    };
    let route = module_route();
    let asm = tool("ASSEMBLY");
    let op = Actor {
        user: "op".into(),
        role: Role::Operator,
        tenant: None,
    };
    let parts = vec![(
        "sensor".to_string(),
        vec![
            part(&units[0], Some("S-000001"), None),
            part(&units[1], Some("S-000002"), None),
        ],
    )];
    let comps = vec![("housing".to_string(), housings.clone())];
    let serials = vec!["M-000001".to_string(), "M-000002".to_string()];
    let sources = vec![src.clone()];
    let b = integrate::ModuleBuild {
        lot_id: "M1".into(),
        product: "MOD-1",
        route: &route,
        tool: &asm,
        parts: &parts,
        components: &comps,
        sources: &sources,
        serials: &serials,
    };
    let built = integrate::integrate(&b, &op, t0()).unwrap();
    assert_eq!(built.lots[0].units, 2);
    assert_eq!(
        (built.lots[0].step_index, built.lots[0].state),
        (1, UnitLotState::Waiting)
    );
    assert_eq!((built.lots[1].units, built.lots[1].consumed), (1, 2));
    assert_eq!(built.taken, vec![("C1".to_string(), 4)]);
    assert_eq!(
        built.modules[1].parts,
        vec![("sensor".to_string(), units[1].uid.clone())]
    );
    assert_eq!(
        built.modules[0].components,
        vec![("housing".into(), "C1".into(), 2)]
    );
    assert_eq!(
        (
            built.step.units_in,
            built.step.units_out,
            built.step.scrapped
        ),
        (2, 2, 0)
    );

    let code = |parts: Vec<(String, Vec<integrate::PartRef>)>, serials: Vec<String>| {
        let b = integrate::ModuleBuild {
            parts: &parts,
            serials: &serials,
            ..b.clone()
        };
        integrate::integrate(&b, &op, t0()).unwrap_err().code()
    };
    let three: Vec<String> = (1..=3).map(|i| format!("M-{i:06}")).collect();
    let all: Vec<_> = units
        .iter()
        .enumerate()
        .map(|(i, u)| part(u, Some(&format!("S-{i}")), None))
        .collect();
    // Three modules need six housings; the lot holds four.
    assert_eq!(code(vec![("sensor".into(), all)], three), Code::BomShort);
    assert_eq!(
        code(
            vec![("sensor".into(), vec![part(&units[0], None, None)])],
            vec!["M-1".into()]
        ),
        Code::PartNotSerialised
    );
    assert_eq!(
        code(
            vec![(
                "sensor".into(),
                vec![
                    part(&units[0], Some("a"), None),
                    part(&units[1], Some("b"), Some("acme"))
                ]
            )],
            serials.clone()
        ),
        Code::ModuleTenantsMixed
    );
    assert_eq!(
        code(
            vec![(
                "sensor".into(),
                vec![
                    part(&units[0], Some("a"), None),
                    part(&units[0], Some("a"), None)
                ]
            )],
            serials.clone()
        ),
        Code::UnitNamedTwice
    );
}
