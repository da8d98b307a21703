//! Genealogy of one module and where-used of one lot, with a 25-wafer lot diced into 1,000 and
//! into 100,000 units, every one packaged, serialised and built into a module (so 100,000
//! modules), on SQLite and PostgreSQL — beside a plain lot read, the reference, in the same
//! run. Each figure is the application layer's call, in process (the HTTP layer adds the same
//! fraction of a millisecond to each; `scale` measures it).
//!
//! The line is built through the application layer as a fab would build it: the lot oxidised
//! (60 furnace samples and a reading) and probed (an STDF file of every die, all good), diced
//! into trays of 10,000, each tray tracked through packaging and serialised, then modules built
//! 1,000 per request, each from one part and a housing from a supplier lot. The set-up's own
//! rates are printed too.
//!
//! Run: `cargo bench -p pilotline-tests --bench genealogy`
//! Env: `BENCH_UNITS` (comma-separated unit counts, default `1000,100000`), `BENCH_REQUESTS`
//! (timed calls per figure, default 200), `BENCH_BACKENDS` (default `sqlite,postgres`),
//! `PILOTLINE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

use chrono::Duration;
use pilotline_app::{
    App, BuildRequest, ComponentReceipt, DiceRequest, LotCommand, NewLotRequest, NewSample,
    ProcessDataQuery, StdfUpload, UnitCommand, WriteOp,
};
use pilotline_domain::measure::Reading;
use pilotline_domain::{Actor, LotType, Product, Role, RouteSpec};
use pilotline_store::testing::TestDb;
use std::collections::BTreeMap;
use std::time::Instant;

const WAFERS: usize = 25;
const TRAY: u32 = 10_000;
const WARM_UP: usize = 5;

const ROUTES: [&str; 3] = [
    r#"
id = "G-FE"
name = "front end"
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
wafers_per_lot = 1
sites_per_wafer = 1
[[steps]]
id = "WP"
name = "Wafer probe"
stage = "test"
equipment_type = "PROBER"
recipe = "CP1"
"#,
    r#"
id = "G-BE"
name = "packaging"
[[steps]]
id = "PKG"
name = "Package"
stage = "packaging"
equipment_type = "DIEBOND"
recipe = "PKG-1"
"#,
    r#"
id = "G-MOD"
name = "module"
[[steps]]
id = "BUILD"
name = "Assemble"
stage = "integration"
equipment_type = "ASSEMBLY"
recipe = "ASM-1"
[[steps.bom]]
item = "sensor"
source = "unit"
part = "G-SENSOR"
[[steps.bom]]
item = "housing"
source = "component"
part = "HSG"
"#,
];

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn eng() -> Actor {
    Actor {
        user: "bench".into(),
        role: Role::Engineer,
        tenant: None,
    }
}

fn percentiles(mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(f64::total_cmp);
    let at = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn time<F, Fut>(requests: usize, mut f: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..WARM_UP {
        f(i).await;
    }
    let mut lat = Vec::with_capacity(requests);
    for i in 0..requests {
        let t = Instant::now();
        f(i).await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    percentiles(lat)
}

fn line(label: &str, what: &str, (p50, p99): (f64, f64)) {
    println!("{label:>9} {what:<52} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms");
}

/// Builds the line for `units` dies; returns the modules' serials.
async fn build(app: &App, units: usize, dir: &std::path::Path, label: &str) -> Vec<String> {
    let eng = eng();
    for text in ROUTES {
        let spec: RouteSpec = toml::from_str(text).unwrap();
        app.execute(&WriteOp::PutRoute(spec), &eng).await.unwrap();
    }
    for (id, route) in [("G-SENSOR", "G-FE"), ("G-MODULE", "G-MOD")] {
        let p = Product {
            id: id.into(),
            description: String::new(),
            default_route: route.into(),
            tenant: None,
        };
        app.execute(&WriteOp::PutProduct(p), &eng).await.unwrap();
    }
    for ty in ["FURNACE", "PROBER", "DIEBOND", "ASSEMBLY"] {
        let op = WriteOp::PutEquipment {
            id: format!("{ty}-01"),
            equipment_type: ty.into(),
            description: String::new(),
        };
        app.execute(&op, &eng).await.unwrap();
    }
    let start = NewLotRequest {
        id: Some("G1".into()),
        product: "G-SENSOR".into(),
        route: None,
        route_version: None,
        lot_type: LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count: WAFERS,
        wafer_ids: None,
    };
    app.execute(&WriteOp::StartLot(start), &eng).await.unwrap();
    let wafers: Vec<String> = app
        .lot("G1", &eng)
        .await
        .unwrap()
        .wafers
        .iter()
        .map(|w| w.id.clone())
        .collect();
    let lot = |command| WriteOp::Lot {
        lot_id: "G1".into(),
        command,
        if_version: None,
    };
    for (n, tool) in ["FURNACE-01", "PROBER-01"].into_iter().enumerate() {
        let tin = LotCommand::TrackIn {
            equipment: tool.into(),
            recipe: None,
        };
        app.execute(&lot(tin), &eng).await.unwrap();
        let mut readings = vec![];
        if n == 0 {
            let runs = app
                .process_data("G1", ProcessDataQuery::default(), &eng)
                .await
                .unwrap();
            let t0 = runs[0].tracked_in;
            let samples: Vec<NewSample> = (0..60)
                .map(|s| NewSample {
                    equipment: tool.into(),
                    point: "tube_temp_c".into(),
                    at: t0 + Duration::microseconds(s),
                    number: Some(1050.0),
                    text: None,
                })
                .collect();
            app.record_samples(&samples).await.unwrap();
            readings.push(Reading {
                parameter: "oxide_thickness".into(),
                wafer: Some(wafers[0].clone()),
                site: Some(1),
                value: 501.0,
            });
        }
        let tout = LotCommand::TrackOut {
            scrap_wafers: vec![],
            scrap_reason: None,
            readings,
        };
        app.execute(&lot(tout), &eng).await.unwrap();
    }
    // Every die good: the pick list takes them all.
    let per_wafer = units / WAFERS;
    let mut parts = Vec::with_capacity(units);
    for w in &wafers {
        for d in 0..per_wafer {
            parts.push(pilotline_yield::PartResult {
                wafer: w.clone(),
                x: (d % 64) as i16,
                y: (d / 64) as i16,
                site: 0,
                hard_bin: 1,
                soft_bin: 1,
                failed_flag: false,
                flag_invalid: false,
                test_time_ms: 1,
                part_id: String::new(),
            });
        }
    }
    let path = dir.join(format!("{label}-{units}.stdf"));
    let mut bytes = Vec::new();
    pilotline_yield::write_parts(&mut bytes, "G1", "G-SENSOR", "WS1", &parts).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let upload = StdfUpload {
        name: "g1.stdf",
        path: &path,
        sha256: None,
        lot: None,
        create_lot: false,
        source: "bench",
    };
    app.import_stdf(upload, &eng).await.unwrap();

    let t = Instant::now();
    let req = DiceRequest {
        route: "G-BE".into(),
        tray: Some(TRAY),
        overrides: vec![],
    };
    let trays = app.dice("G1", &req, &eng).await.unwrap();
    let diced = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut serials = Vec::with_capacity(units);
    for tray in &trays {
        for c in [
            UnitCommand::TrackIn {
                equipment: "DIEBOND-01".into(),
            },
            UnitCommand::TrackOut {
                scrap: vec![],
                scrap_reason: None,
            },
            UnitCommand::Serialise { prefix: "S".into() },
        ] {
            app.unit_command(&tray.id, &c, &eng).await.unwrap();
        }
        let mut after: Option<String> = None;
        loop {
            let page = app
                .unit_lot_units(&tray.id, after.as_deref(), 1000, &eng)
                .await
                .unwrap();
            serials.extend(page.items.iter().filter_map(|u| u.serial.clone()));
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => break,
            }
        }
    }
    let packaged = t.elapsed().as_secs_f64();
    let r = ComponentReceipt {
        id: "HSG-LOT".into(),
        part_number: "HSG".into(),
        supplier: "Mould Co".into(),
        supplier_lot: "MC-1".into(),
        quantity: units as u32,
    };
    app.receive_components(&r, &eng).await.unwrap();
    let t = Instant::now();
    let mut modules = Vec::with_capacity(units);
    for chunk in serials.chunks(1000) {
        let b = BuildRequest {
            route: "G-MOD".into(),
            product: "G-MODULE".into(),
            equipment: "ASSEMBLY-01".into(),
            parts: BTreeMap::from([("sensor".to_string(), chunk.to_vec())]),
            components: BTreeMap::from([("housing".to_string(), "HSG-LOT".to_string())]),
            prefix: None,
        };
        modules.extend(app.build_modules(&b, &eng).await.unwrap().modules);
    }
    let built = t.elapsed().as_secs_f64();
    println!(
        "{label:>9} set-up of {units} units: dicing {diced:.1} s ({:.0} units/s), packaging and serials {packaged:.1} s, \
         {} modules built in {built:.1} s ({:.0} modules/s)",
        units as f64 / diced,
        modules.len(),
        modules.len() as f64 / built
    );
    modules
}

async fn run_backend(db: TestDb, units: usize, requests: usize) {
    let label = db.label;
    let app = App::new(db.store().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let modules = build(&app, units, dir.path(), label).await;
    let eng = eng();
    let middle = modules[modules.len() / 2].clone();
    let probe = app.unit_genealogy(&middle, &eng).await.unwrap();
    assert!(
        probe
            .wafer_lots
            .iter()
            .any(|w| w.runs.iter().any(|r| r.run.equipment == "FURNACE-01")),
        "the genealogy reaches the furnace run"
    );
    line(
        label,
        &format!("reference: GET lot G1 ({units} units)"),
        time(requests, |_| async {
            app.lot("G1", &eng).await.unwrap();
        })
        .await,
    );
    line(
        label,
        &format!("genealogy of one module ({units} modules)"),
        time(requests, |i| {
            let m = modules[(i * 7919) % modules.len()].clone();
            let (app, eng) = (&app, &eng);
            async move {
                app.unit_genealogy(&m, eng).await.unwrap();
            }
        })
        .await,
    );
    line(
        label,
        &format!("where-used of lot G1, first 1,000 ({units} units)"),
        time(requests, |_| async {
            let w = app.where_used_lot("G1", None, 1000, &eng).await.unwrap();
            assert_eq!(w.modules as usize, units);
        })
        .await,
    );
    let deep = format!("G1|{}", units * 9 / 10);
    line(
        label,
        &format!("where-used of lot G1, page at 90% ({units} units)"),
        time(requests, |_| async {
            app.where_used_lot("G1", Some(&deep), 1000, &eng)
                .await
                .unwrap();
        })
        .await,
    );
    app.close().await;
    db.cleanup().await;
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_UNITS")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let requests = env_or("BENCH_REQUESTS", 200usize);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!("Pilotline genealogy and where-used: {requests} calls per figure, 2 cores");
    for &units in &sizes {
        if backends.contains("sqlite") {
            run_backend(TestDb::sqlite(), units, requests).await;
        }
        if backends.contains("postgres") {
            match TestDb::postgres(&format!("genealogy_bench_{units}")).await {
                Some(db) => run_backend(db, units, requests).await,
                None => println!("*** SKIPPED PostgreSQL: set PILOTLINE_TEST_POSTGRES_URL ***"),
            }
        }
    }
}
