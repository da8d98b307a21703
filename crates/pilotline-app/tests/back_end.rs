//! The back end of the line, end to end on both backends: a wafer lot is oxidised (with the
//! furnace's process data and an ellipsometer reading) and probed (STDF), diced — only the dies
//! the map calls good, as many as it counts — packaged with a scrap, final-tested (STDF with
//! PART_IDs), calibrated and built into modules. The genealogy of one module names its die's
//! wafer and position, the furnace and recipe of its oxidation, that run's samples and reading,
//! and the die's probe bins; where-used of the wafer lot returns every module; every back-end
//! step counted units in = out + scrapped; another tenant sees none of it.

use chrono::Duration;
use pilotline_app::{
    App, BuildRequest, ComponentReceipt, DiceRequest, LotCommand, NewLotRequest, NewSample,
    StdfUpload, UnitCommand, WriteOp,
};
use pilotline_domain::measure::Reading;
use pilotline_domain::unit::calibration::{CalibrationSchema, Coefficient};
use pilotline_domain::{Actor, Code, LotType, Product, Role, RouteSpec};
use pilotline_store::testing::TestDb;
use pilotline_yield::{PartResult, write_parts};
use std::collections::BTreeMap;

mod common;

use common::engineer;

const FRONT_END: &str = r#"
id = "SENSOR-FE"
name = "sensor front end"
[[steps]]
id = "OX"
name = "Thermal oxidation"
stage = "fabrication"
equipment_type = "FURNACE"
recipe = "WETOX-1050C"
[[steps.measurements]]
name = "oxide_thickness"
unit = "nm"
valid_min = 0.0
valid_max = 2000.0
lsl = 480.0
usl = 520.0
wafers_per_lot = 1
sites_per_wafer = 1
[[steps]]
id = "WP"
name = "Wafer probe"
stage = "test"
equipment_type = "PROBER"
recipe = "CP1"
"#;

const BACK_END: &str = r#"
id = "SENSOR-BE"
name = "sensor packaging and final test"
[[steps]]
id = "ATTACH"
name = "Die attach"
stage = "packaging"
equipment_type = "DIEBOND"
recipe = "DA-1"
[[steps]]
id = "SEAL"
name = "Cap seal"
stage = "packaging"
equipment_type = "SEAL"
recipe = "CAP-1"
[[steps]]
id = "FT"
name = "Final test"
stage = "test"
equipment_type = "TESTER"
recipe = "FT-1"
"#;

const MODULE: &str = r#"
id = "SENSOR-MOD"
name = "sensor module"
[[steps]]
id = "BUILD"
name = "Module assembly"
stage = "integration"
equipment_type = "ASSEMBLY"
recipe = "ASM-1"
[[steps.bom]]
item = "sensor"
source = "unit"
part = "SENSOR-1"
[[steps.bom]]
item = "asic"
source = "component"
part = "ASIC-7"
[[steps.bom]]
item = "housing"
source = "component"
part = "HSG-2"
quantity = 2
[[steps]]
id = "EOL"
name = "End-of-line test"
stage = "test"
equipment_type = "TESTER"
recipe = "EOL-1"
"#;

/// The probe map: a 5 x 4 grid per wafer; a die fails where (x + 2y) is a multiple of 7.
fn probe_parts(wafers: &[String]) -> Vec<PartResult> {
    let mut out = Vec::new();
    for w in wafers {
        for y in 0..4i16 {
            for x in 0..5i16 {
                let failed = (x + 2 * y) % 7 == 0;
                out.push(PartResult {
                    wafer: w.clone(),
                    x,
                    y,
                    site: 0,
                    hard_bin: if failed { 5 } else { 1 },
                    soft_bin: if failed { 50 } else { 1 },
                    failed_flag: failed,
                    flag_invalid: false,
                    test_time_ms: 10,
                    part_id: String::new(),
                });
            }
        }
    }
    out
}

async fn seed(app: &App) {
    let eng = engineer();
    for text in [FRONT_END, BACK_END, MODULE] {
        let spec: RouteSpec = toml::from_str(text).unwrap();
        app.execute(&WriteOp::PutRoute(spec), &eng).await.unwrap();
    }
    for (id, route) in [("SENSOR-1", "SENSOR-FE"), ("MODULE-1", "SENSOR-MOD")] {
        let product = Product {
            id: id.into(),
            description: String::new(),
            default_route: route.into(),
            tenant: None,
        };
        app.execute(&WriteOp::PutProduct(product), &eng)
            .await
            .unwrap();
    }
    for ty in ["FURNACE", "PROBER", "DIEBOND", "SEAL", "TESTER", "ASSEMBLY"] {
        let tool = WriteOp::PutEquipment {
            id: format!("{ty}-01"),
            equipment_type: ty.into(),
            description: String::new(),
        };
        app.execute(&tool, &eng).await.unwrap();
    }
}

async fn step(app: &App, lot: &str, tool: &str, readings: Vec<Reading>) {
    let eng = engineer();
    let track_in = WriteOp::Lot {
        lot_id: lot.into(),
        command: LotCommand::TrackIn {
            equipment: tool.into(),
            recipe: None,
        },
        if_version: None,
    };
    app.execute(&track_in, &eng).await.unwrap();
    if tool == "FURNACE-01" {
        // The furnace reports its tube temperature while the lot is in (from its track-in,
        // a microsecond apart, so all fall inside the run).
        let runs = app
            .process_data(lot, pilotline_app::ProcessDataQuery::default(), &eng)
            .await
            .unwrap();
        let t0 = runs.last().unwrap().tracked_in;
        let samples: Vec<NewSample> = (0..5)
            .map(|s| NewSample {
                equipment: tool.into(),
                point: "tube_temp_c".into(),
                at: t0 + Duration::microseconds(s),
                number: Some(1050.0 + s as f64),
                text: None,
            })
            .collect();
        app.record_samples(&samples).await.unwrap();
    }
    let track_out = WriteOp::Lot {
        lot_id: lot.into(),
        command: LotCommand::TrackOut {
            scrap_wafers: vec![],
            scrap_reason: None,
            readings,
        },
        if_version: None,
    };
    app.execute(&track_out, &eng).await.unwrap();
}

async fn unit(app: &App, lot: &str, command: UnitCommand) -> pilotline_app::UnitLotView {
    app.unit_command(lot, &command, &engineer())
        .await
        .unwrap_or_else(|e| panic!("{lot} {command:?}: {e}"))
}

fn upload<'a>(name: &'a str, path: &'a std::path::Path) -> StdfUpload<'a> {
    StdfUpload {
        name,
        path,
        sha256: None,
        lot: None,
        create_lot: false,
        source: "cli",
    }
}

#[tokio::test]
async fn a_wafer_lot_goes_to_modules_and_each_module_traces_back_to_its_die_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    for db in TestDb::all("back_end_flow").await {
        let app = App::new(db.store().await.unwrap());
        let eng = engineer();
        let label = db.label;
        seed(&app).await;

        // Front end: oxidation with a reading, then wafer probe.
        let start = NewLotRequest {
            id: Some("L1".into()),
            product: "SENSOR-1".into(),
            route: None,
            route_version: None,
            lot_type: LotType::Production,
            priority: 3,
            tenant: None,
            due_date: None,
            wafer_count: 2,
            wafer_ids: None,
        };
        app.execute(&WriteOp::StartLot(start), &eng).await.unwrap();
        let wafers: Vec<String> = app
            .lot("L1", &eng)
            .await
            .unwrap()
            .wafers
            .iter()
            .map(|w| w.id.clone())
            .collect();
        let reading = Reading {
            parameter: "oxide_thickness".into(),
            wafer: Some(wafers[0].clone()),
            site: Some(1),
            value: 502.5,
        };
        step(&app, "L1", "FURNACE-01", vec![reading]).await;
        step(&app, "L1", "PROBER-01", vec![]).await;

        // Dicing before probe data is refused by code.
        let req = DiceRequest {
            route: "SENSOR-BE".into(),
            tray: Some(10),
            overrides: vec![],
        };
        let early = app.dice("L1", &req, &eng).await.unwrap_err();
        assert_eq!(early.code(), Some(Code::LotNotProbed), "{label}");

        let probe = probe_parts(&wafers);
        let good: usize = probe.iter().filter(|p| !p.failed_flag).count();
        let path = dir.path().join(format!("{label}-probe.stdf"));
        let mut bytes = Vec::new();
        write_parts(&mut bytes, "L1", "SENSOR-1", "WS1", &probe).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        app.import_stdf(upload("probe.stdf", &path), &eng)
            .await
            .unwrap();

        // The pick list takes the good dies only, and reads back as an E142 map.
        let list = app.pick_list("L1", &[], &eng).await.unwrap();
        assert_eq!(list.picked as usize, good, "{label}");
        let e142 = app.pick_list_e142("L1", &eng).await.unwrap();
        assert!(e142.contains("MapData"), "{label}");

        let trays = app.dice("L1", &req, &eng).await.unwrap();
        let diced: u32 = trays.iter().map(|t| t.units).sum();
        assert_eq!(
            diced as usize, good,
            "{label}: units equal the map's good dies"
        );
        assert_eq!(trays.len(), good.div_ceil(10), "{label}");
        assert_eq!(
            app.dice("L1", &req, &eng).await.unwrap_err().code(),
            Some(Code::LotAlreadyDiced),
            "{label}"
        );
        let first = trays[0].id.clone();
        let page = app.unit_lot_units(&first, None, 1000, &eng).await.unwrap();
        assert!(
            page.items
                .iter()
                .all(|u| u.origin.as_ref().is_some_and(|o| o.probe_hard_bin == 1)),
            "{label}: only good dies picked"
        );

        // Packaging: every tray through attach and seal; one die scrapped at seal; a split
        // and merge on the way.
        for t in &trays {
            unit(
                &app,
                &t.id,
                UnitCommand::TrackIn {
                    equipment: "DIEBOND-01".into(),
                },
            )
            .await;
            unit(
                &app,
                &t.id,
                UnitCommand::TrackOut {
                    scrap: vec![],
                    scrap_reason: None,
                },
            )
            .await;
        }
        let split_off = vec![page.items[1].uid.clone(), page.items[2].uid.clone()];
        let after_split = unit(&app, &first, UnitCommand::Split { units: split_off }).await;
        let child = format!("{first}.1");
        assert_eq!(
            after_split.lot.units,
            page.items.len() as u32 - 2,
            "{label}"
        );
        unit(
            &app,
            &first,
            UnitCommand::Merge {
                from_lot: child.clone(),
            },
        )
        .await;
        let scrapped = page.items[0].uid.clone();
        for t in &trays {
            unit(
                &app,
                &t.id,
                UnitCommand::TrackIn {
                    equipment: "SEAL-01".into(),
                },
            )
            .await;
            let scrap = if t.id == first {
                vec![scrapped.clone()]
            } else {
                vec![]
            };
            let reason = (t.id == first).then(|| "cap misaligned".to_string());
            unit(
                &app,
                &t.id,
                UnitCommand::TrackOut {
                    scrap,
                    scrap_reason: reason,
                },
            )
            .await;
            unit(&app, &t.id, UnitCommand::Serialise { prefix: "S".into() }).await;
        }

        // Final test of the first tray, by PART_ID; the failing part is scrapped at FT.
        let parts = app.unit_lot_units(&first, None, 1000, &eng).await.unwrap();
        let serials: Vec<String> = parts
            .items
            .iter()
            .filter(|u| u.state == pilotline_domain::unit::UnitState::Active)
            .map(|u| u.serial.clone().unwrap())
            .collect();
        let failing = serials[1].clone();
        let ft: Vec<PartResult> = serials
            .iter()
            .map(|s| PartResult {
                wafer: String::new(),
                x: 0,
                y: 0,
                site: 0,
                hard_bin: if *s == failing { 7 } else { 1 },
                soft_bin: if *s == failing { 70 } else { 1 },
                failed_flag: *s == failing,
                flag_invalid: false,
                test_time_ms: 40,
                part_id: s.clone(),
            })
            .collect();
        let path = dir.path().join(format!("{label}-ft.stdf"));
        let mut bytes = Vec::new();
        write_parts(&mut bytes, &first, "SENSOR-1", "FT", &ft).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        app.import_stdf(upload("ft.stdf", &path), &eng)
            .await
            .unwrap();
        let bad = app.unit(&failing, &eng).await.unwrap();
        let bad_ft = bad
            .final_test
            .clone()
            .expect("final test linked by PART_ID");
        assert_eq!((bad_ft.hard_bin, bad_ft.pass), (7, false), "{label}");
        unit(
            &app,
            &first,
            UnitCommand::TrackIn {
                equipment: "TESTER-01".into(),
            },
        )
        .await;
        let done = unit(
            &app,
            &first,
            UnitCommand::TrackOut {
                scrap: vec![failing.clone()],
                scrap_reason: Some("FT bin 7".into()),
            },
        )
        .await;
        assert_eq!(
            done.lot.state,
            pilotline_domain::unit::UnitLotState::Completed,
            "{label}"
        );

        // Units in = units out + scrapped at every step of the tray.
        for c in &done.counts {
            assert_eq!(c.units_in, c.units_out + c.scrapped, "{label}: {c:?}");
        }
        let seal = done.counts.iter().find(|c| c.step == "SEAL").unwrap();
        assert_eq!(seal.scrapped, 1, "{label}");

        // Calibration by the product's schema.
        let schema = CalibrationSchema {
            coefficients: vec![
                Coefficient {
                    name: "offset".into(),
                    unit: "ppm".into(),
                    min: Some(-50.0),
                    max: Some(50.0),
                    required: true,
                },
                Coefficient {
                    name: "gain".into(),
                    unit: String::new(),
                    min: Some(0.5),
                    max: Some(2.0),
                    required: true,
                },
            ],
        };
        app.put_calibration_schema("SENSOR-1", &schema, &eng)
            .await
            .unwrap();
        let good_parts: Vec<String> = serials.iter().filter(|s| **s != failing).cloned().collect();
        let out_of_range = serde_json::json!({"offset": 80.0, "gain": 1.0});
        assert_eq!(
            app.calibrate(&good_parts[0], &out_of_range, &eng)
                .await
                .unwrap_err()
                .code(),
            Some(Code::CalibrationInvalid),
            "{label}"
        );
        for (i, s) in good_parts.iter().enumerate() {
            let doc = serde_json::json!({"offset": i as f64, "gain": 1.01});
            let p = app.calibrate(s, &doc, &eng).await.unwrap();
            assert_eq!(p.calibration.unwrap().coefficients, doc, "{label}");
        }

        // Integration: one sensor, one ASIC, two housings per module.
        for (id, part, qty) in [("ASIC-LOT-1", "ASIC-7", 100), ("HSG-LOT-1", "HSG-2", 100)] {
            let r = ComponentReceipt {
                id: id.into(),
                part_number: part.into(),
                supplier: "Supplier".into(),
                supplier_lot: format!("{id}-S"),
                quantity: qty,
            };
            app.receive_components(&r, &eng).await.unwrap();
        }
        let build = BuildRequest {
            route: "SENSOR-MOD".into(),
            product: "MODULE-1".into(),
            equipment: "ASSEMBLY-01".into(),
            parts: BTreeMap::from([("sensor".to_string(), good_parts.clone())]),
            components: BTreeMap::from([
                ("asic".to_string(), "ASIC-LOT-1".to_string()),
                ("housing".to_string(), "HSG-LOT-1".to_string()),
            ]),
            prefix: None,
        };
        let built = app.build_modules(&build, &eng).await.unwrap();
        assert_eq!(built.modules.len(), good_parts.len(), "{label}");
        assert_eq!(
            app.build_modules(&build, &eng).await.unwrap_err().code(),
            Some(Code::UnitNotActive),
            "{label}: a part goes into one module"
        );
        let housings = app.component_lots(&eng).await.unwrap();
        let hsg = housings.iter().find(|c| c.id == "HSG-LOT-1").unwrap();
        assert_eq!(hsg.remaining, 100 - 2 * good_parts.len() as u32, "{label}");

        // Genealogy of one module: down to the die's wafer, the furnace run and the probe bins.
        let m = &built.modules[0];
        let g = app.unit_genealogy(m, &eng).await.unwrap();
        let sensor = g.parts.iter().find(|p| p.item == "sensor").unwrap();
        let die = sensor.unit.as_ref().unwrap();
        assert_eq!(
            die.serial.as_deref(),
            Some(good_parts[0].as_str()),
            "{label}"
        );
        let origin = die.origin.as_ref().unwrap();
        assert!(wafers.contains(&origin.wafer), "{label}");
        let on_map = probe
            .iter()
            .find(|p| p.wafer == origin.wafer && p.x == origin.x && p.y == origin.y)
            .unwrap();
        assert_eq!(
            (origin.probe_hard_bin, origin.probe_soft_bin),
            (on_map.hard_bin, on_map.soft_bin),
            "{label}"
        );
        assert_eq!(origin.wafer_lot, "L1", "{label}");
        assert!(
            die.calibration.is_some() && die.final_test.as_ref().is_some_and(|f| f.pass),
            "{label}"
        );
        let asic = g.parts.iter().find(|p| p.item == "asic").unwrap();
        assert_eq!(
            asic.component.as_ref().unwrap().supplier_lot,
            "ASIC-LOT-1-S",
            "{label}"
        );
        let l1 = g.wafer_lots.iter().find(|w| w.lot == "L1").unwrap();
        let ox = l1.runs.iter().find(|r| r.run.step == "OX").unwrap();
        assert_eq!(
            (ox.run.equipment.as_str(), ox.run.recipe.as_str()),
            ("FURNACE-01", "WETOX-1050C"),
            "{label}"
        );
        assert_eq!(ox.run.samples.len(), 5, "{label}: the run's process data");
        assert!(
            ox.run.samples.iter().all(|s| s.point == "tube_temp_c"),
            "{label}"
        );
        assert_eq!(ox.measurements.len(), 1, "{label}: the oxidation's reading");
        assert!(
            g.unit_lots
                .iter()
                .any(|t| t.lot.id == first && t.steps.iter().any(|s| s.step == "SEAL")),
            "{label}"
        );
        assert!(
            g.unit_lots
                .iter()
                .any(|t| t.lot.id == built.lot.id && t.steps[0].step == "BUILD"),
            "{label}"
        );

        // Where-used of the wafer lot: every module.
        let w = app.where_used_lot("L1", None, 1000, &eng).await.unwrap();
        assert_eq!(w.units as usize, good, "{label}");
        assert_eq!(w.modules as usize, built.modules.len(), "{label}");
        let modules: Vec<&str> = w.items.iter().filter_map(|i| i.module.as_deref()).collect();
        for m in &built.modules {
            assert!(modules.contains(&m.as_str()), "{label}: {m} in where-used");
        }
        // Paged: two at a time, the same units in the same order.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let p = app
                .where_used_lot("L1", after.as_deref(), 2, &eng)
                .await
                .unwrap();
            paged.extend(p.items.iter().map(|i| i.unit.clone()));
            match p.next_cursor {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let all: Vec<String> = w.items.iter().map(|i| i.unit.clone()).collect();
        assert_eq!(paged, all, "{label}");

        // Where-used of the furnace run: the same units.
        let run_start = ox.run.tracked_in.timestamp_micros();
        let r = app
            .where_used_run("FURNACE-01", run_start, None, 1000, &eng)
            .await
            .unwrap();
        assert_eq!(r.modules as usize, built.modules.len(), "{label}");

        // A start-up's customer sees none of the platform's units.
        let other = Actor {
            user: "cora".into(),
            role: Role::Customer,
            tenant: Some("acme".into()),
        };
        assert_eq!(
            app.unit(m, &other).await.unwrap_err().code(),
            Some(Code::UnitNotFound),
            "{label}"
        );
        assert_eq!(
            app.unit_genealogy(m, &other).await.unwrap_err().code(),
            Some(Code::UnitNotFound),
            "{label}"
        );
        assert_eq!(
            app.unit_lot(&first, &other).await.unwrap_err().code(),
            Some(Code::UnitLotNotFound),
            "{label}"
        );
        assert_eq!(
            app.where_used_lot("L1", None, 10, &other)
                .await
                .unwrap_err()
                .code(),
            Some(Code::LotNotFound),
            "{label}"
        );
        assert_eq!(
            app.unit_command(
                &first,
                &UnitCommand::Serialise { prefix: "X".into() },
                &other
            )
            .await
            .unwrap_err()
            .code(),
            Some(Code::RoleForbidden),
            "{label}"
        );
        app.close().await;
        db.cleanup().await;
    }
}
