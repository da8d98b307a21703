//! The demo's back end of the line: lot A26006 runs the front end up to its dicing saw (route
//! `MHP-FE`, the sensor route's steps to `PK210`), is probed, and is diced into trays of its
//! good dies (one good die left by an engineer's override); the trays are packaged (die attach,
//! wire bond — one part lost —, cap seal), serialised, final-tested on the gas tester (STDF with
//! PART_IDs; the failures scrapped) and calibrated; the first tray's parts are built into
//! modules with an ASIC and two housings each from supplier lots, and the modules burned in.
//! A newcomer can open any module's genealogy and click down to its die and the furnace run.

use anyhow::{Context, Result};
use pilotline_app::{
    App, BuildRequest, ComponentReceipt, DiceRequest, NewLotRequest, StdfUpload, UnitCommand,
    WriteOp,
};
use pilotline_domain::unit::bom::{BomItem, BomSource};
use pilotline_domain::unit::calibration::{CalibrationSchema, Coefficient};
use pilotline_domain::unit::pick::PickOverride;
use pilotline_domain::{Actor, LotType, Product, RouteSpec};
use std::collections::BTreeMap;
use std::path::Path;

/// The wafer lot that goes all the way to modules.
pub const LOT: &str = "A26006";
/// The module product.
pub const MODULE_PRODUCT: &str = "MHP-MOD100";

const ASIC: &str = "ASIC-NOX-7";
const HOUSING: &str = "HSG-LGA-2";

/// The sensor route's steps named `ids`, as a route `id` of their own.
fn part_of(spec: &RouteSpec, id: &str, name: &str, ids: &[&str]) -> RouteSpec {
    RouteSpec {
        id: id.into(),
        name: name.into(),
        description: Some(format!("The {name} of {}", spec.id)),
        rework_limit: spec.rework_limit,
        steps: spec
            .steps
            .iter()
            .filter(|s| ids.contains(&s.id.as_str()))
            .cloned()
            .collect(),
    }
}

/// Seeds the back-end story (see the module's doc).
pub async fn seed(app: &App, spec: &RouteSpec, dir: &Path, eng: &Actor, op: &Actor) -> Result<()> {
    let to_dicing = spec
        .steps
        .iter()
        .position(|s| s.id == "PK210")
        .context("the sensor route has no dicing step PK210")?;
    let fe = RouteSpec {
        id: "MHP-FE".into(),
        name: "MHP sensor front end to dicing".into(),
        description: Some(format!("{} up to the dicing saw", spec.id)),
        rework_limit: spec.rework_limit,
        steps: spec.steps[..=to_dicing].to_vec(),
    };
    let be = part_of(
        spec,
        "MHP-BE",
        "packaging and final test",
        &["PK220", "PK230", "PK240", "TS250"],
    );
    let mut module = part_of(spec, "MHP-MOD", "module integration", &["IN260", "IN270"]);
    module.steps[0].bom = vec![
        BomItem {
            item: "sensor".into(),
            source: BomSource::Unit,
            part: "MHP-GS200".into(),
            quantity: 1,
        },
        BomItem {
            item: "asic".into(),
            source: BomSource::Component,
            part: ASIC.into(),
            quantity: 1,
        },
        BomItem {
            item: "housing".into(),
            source: BomSource::Component,
            part: HOUSING.into(),
            quantity: 2,
        },
    ];
    for r in [&fe, &be, &module] {
        app.execute(&WriteOp::PutRoute(r.clone()), eng).await?;
    }
    let product = Product {
        id: MODULE_PRODUCT.into(),
        description: "MHP gas sensor module (sensor, ASIC, LGA housing)".into(),
        default_route: module.id.clone(),
        tenant: None,
    };
    app.execute(&WriteOp::PutProduct(product), eng).await?;

    let start = NewLotRequest {
        id: Some(LOT.into()),
        product: "MHP-GS200".into(),
        route: Some(fe.id.clone()),
        route_version: None,
        lot_type: LotType::Production,
        priority: 2,
        tenant: None,
        due_date: None,
        wafer_count: 2,
        wafer_ids: None,
    };
    app.execute(&WriteOp::StartLot(start), op).await?;
    for _ in 0..fe.steps.len() {
        crate::demo::move_one_step(app, &fe, LOT, op).await?;
    }
    probe(app, dir, eng).await?;

    // Dicing: the good dies, but one an engineer saw chipped at the saw.
    let list = app.pick_list(LOT, &[], eng).await?;
    let chipped = list
        .picked_dies()
        .next()
        .context("the demo lot's probe map has no good die")?;
    let req = DiceRequest {
        route: be.id.clone(),
        tray: Some(40),
        overrides: vec![PickOverride {
            wafer: chipped.die.wafer.clone(),
            x: chipped.die.x,
            y: chipped.die.y,
            pick: false,
            reason: "chipped edge seen after the saw".into(),
        }],
    };
    let trays = app.dice(LOT, &req, eng).await?;
    let run = |lot: &str, command: UnitCommand| {
        let lot = lot.to_string();
        async move {
            app.unit_command(&lot, &command, op)
                .await
                .with_context(|| format!("demo unit lot {lot}: {command:?}"))
        }
    };
    for (n, t) in trays.iter().enumerate() {
        for tool in ["DIE-BONDER-01", "WIRE-BONDER-01", "CAP-SEALER-01"] {
            run(
                &t.id,
                UnitCommand::TrackIn {
                    equipment: tool.into(),
                },
            )
            .await?;
            let lost = if n == 0 && tool == "WIRE-BONDER-01" {
                let units = app.unit_lot_units(&t.id, None, 1, op).await?;
                units.items.iter().map(|u| u.uid.clone()).collect()
            } else {
                vec![]
            };
            let reason = (!lost.is_empty()).then(|| "wire bond lifted at pull test".to_string());
            run(
                &t.id,
                UnitCommand::TrackOut {
                    scrap: lost,
                    scrap_reason: reason,
                },
            )
            .await?;
        }
        run(
            &t.id,
            UnitCommand::Serialise {
                prefix: "GS".into(),
            },
        )
        .await?;
    }

    // Final test with gas, by PART_ID; the failures are scrapped at the tester.
    let schema = CalibrationSchema {
        coefficients: vec![
            coefficient("r0_kohm", "kΩ", 0.5, 50.0),
            coefficient("sensitivity", "ΔR/R per ppm", 0.1, 10.0),
            coefficient("t_coeff", "1/K", -0.05, 0.05),
        ],
    };
    app.put_calibration_schema("MHP-GS200", &schema, eng)
        .await?;
    let mut good = Vec::new();
    for t in &trays {
        let page = app.unit_lot_units(&t.id, None, 1000, op).await?;
        let serials: Vec<String> = page
            .items
            .iter()
            .filter(|u| u.state == pilotline_domain::unit::UnitState::Active)
            .filter_map(|u| u.serial.clone())
            .collect();
        let fails: Vec<String> = serials
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 13 == 5)
            .map(|(_, s)| s.clone())
            .collect();
        final_test(app, &t.id, &serials, &fails, dir, eng).await?;
        run(
            &t.id,
            UnitCommand::TrackIn {
                equipment: "GAS-TESTER-01".into(),
            },
        )
        .await?;
        let reason =
            (!fails.is_empty()).then(|| "final test: gas response out of limits".to_string());
        run(
            &t.id,
            UnitCommand::TrackOut {
                scrap: fails.clone(),
                scrap_reason: reason,
            },
        )
        .await?;
        for (i, s) in serials.iter().filter(|s| !fails.contains(s)).enumerate() {
            let k = i as f64;
            let doc = serde_json::json!({
                "r0_kohm": 12.0 + (k * 0.37) % 3.0,
                "sensitivity": 1.8 + (k * 0.11) % 0.4,
                "t_coeff": -0.012 + (k * 0.0007) % 0.004
            });
            app.calibrate(s, &doc, op).await?;
            if good.len() < 24 && t.id == trays[0].id {
                good.push(s.clone());
            }
        }
    }

    // Integration: 24 modules from the first tray's parts, then burn-in.
    for (id, part, supplier, lot, quantity) in [
        (
            "CL-ASIC-2611",
            ASIC,
            "Mixed Signal Foundry",
            "MSF-77821",
            500,
        ),
        ("CL-HSG-2611", HOUSING, "Precision Mould", "PM-4410", 1000),
    ] {
        let r = ComponentReceipt {
            id: id.into(),
            part_number: part.into(),
            supplier: supplier.into(),
            supplier_lot: lot.into(),
            quantity,
        };
        app.receive_components(&r, op).await?;
    }
    let build = BuildRequest {
        route: module.id.clone(),
        product: MODULE_PRODUCT.into(),
        equipment: "MODULE-ASSEMBLY-01".into(),
        parts: BTreeMap::from([("sensor".to_string(), good)]),
        components: BTreeMap::from([
            ("asic".to_string(), "CL-ASIC-2611".to_string()),
            ("housing".to_string(), "CL-HSG-2611".to_string()),
        ]),
        prefix: Some("M".into()),
    };
    let built = app.build_modules(&build, op).await?;
    run(
        &built.lot.id,
        UnitCommand::TrackIn {
            equipment: "BURN-IN-01".into(),
        },
    )
    .await?;
    run(
        &built.lot.id,
        UnitCommand::TrackOut {
            scrap: vec![],
            scrap_reason: None,
        },
    )
    .await?;
    Ok(())
}

fn coefficient(name: &str, unit: &str, min: f64, max: f64) -> Coefficient {
    Coefficient {
        name: name.into(),
        unit: unit.into(),
        min: Some(min),
        max: Some(max),
        required: true,
    }
}

fn part(wafer: &str, x: i16, y: i16, hard_bin: u16, part_id: &str) -> pilotline_yield::PartResult {
    pilotline_yield::PartResult {
        wafer: wafer.into(),
        x,
        y,
        site: 0,
        hard_bin,
        soft_bin: hard_bin,
        failed_flag: hard_bin != 1,
        flag_invalid: false,
        test_time_ms: 180,
        part_id: part_id.into(),
    }
}

async fn import(app: &App, name: &str, path: &Path, lot: &str, eng: &Actor) -> Result<()> {
    let upload = StdfUpload {
        name,
        path,
        sha256: None,
        lot: Some(lot),
        create_lot: false,
        source: "demo",
    };
    app.import_stdf(upload, eng).await?;
    Ok(())
}

/// Wafer probe of the lot's two wafers: a round wafer of 12 x 12 dies, a few failing (more
/// towards the edge).
async fn probe(app: &App, dir: &Path, eng: &Actor) -> Result<()> {
    let mut parts = Vec::new();
    for w in 1..=2 {
        let wafer = format!("{LOT}-W{w:02}");
        for y in -6i16..6 {
            for x in -6i16..6 {
                let r2 = i32::from(x) * i32::from(x) + i32::from(y) * i32::from(y);
                if r2 > 40 {
                    continue;
                }
                let hash = (i32::from(x) * 7 + i32::from(y) * 13 + w * 5).rem_euclid(17);
                let failed = hash == 0 || (r2 > 28 && hash < 4);
                parts.push(part(
                    &wafer,
                    x,
                    y,
                    if failed { 3 + (hash % 3) as u16 } else { 1 },
                    "",
                ));
            }
        }
    }
    let path = dir.join(format!("{LOT}-probe.stdf"));
    write(&path, LOT, "WS1", &parts)?;
    import(app, "a26006-ws1.stdf", &path, LOT, eng).await
}

/// Final test of tray `lot`: each serial once, `fails` in bin 7.
async fn final_test(
    app: &App,
    lot: &str,
    serials: &[String],
    fails: &[String],
    dir: &Path,
    eng: &Actor,
) -> Result<()> {
    let parts: Vec<_> = serials
        .iter()
        .map(|s| part("", 0, 0, if fails.contains(s) { 7 } else { 1 }, s))
        .collect();
    let path = dir.join(format!("{lot}-ft.stdf"));
    write(&path, lot, "FT", &parts)?;
    import(app, &format!("{lot}-ft.stdf"), &path, lot, eng).await
}

fn write(path: &Path, lot: &str, code: &str, parts: &[pilotline_yield::PartResult]) -> Result<()> {
    let mut bytes = Vec::new();
    pilotline_yield::write_parts(&mut bytes, lot, "MHP-GS200", code, parts)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e:?}", path.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
