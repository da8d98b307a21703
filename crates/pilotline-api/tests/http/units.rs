//! The back end over HTTP: tenant `beta`'s wafer lot goes to a module; tenant `acme`'s
//! customer is refused every back-end operation on beta's lot, units, parts, modules and
//! calibration (404, or 403 where its role may not act at all) and learns nothing of them;
//! beta's customer reads its own part, its module's genealogy and its lot's where-used.

use crate::harness::Server;
use pilotline_app::{
    App, BuildRequest, DiceRequest, LotCommand, NewLotRequest, StdfUpload, UnitCommand, WriteOp,
};
use pilotline_domain::unit::calibration::{CalibrationSchema, Coefficient};
use pilotline_domain::{Actor, LotType, Role, RouteSpec};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Every back-end operation of the API (each has a tenant check below).
pub const UNIT_OPERATIONS: [&str; 17] = [
    "GET /api/v1/lots/{id}/pick-list",
    "POST /api/v1/lots/{id}/dice",
    "GET /api/v1/lots/{id}/unit-lots",
    "GET /api/v1/lots/{id}/where-used",
    "GET /api/v1/equipment/{id}/runs/{run}/where-used",
    "GET /api/v1/unit-lots",
    "GET /api/v1/unit-lots/{id}",
    "GET /api/v1/unit-lots/{id}/units",
    "POST /api/v1/unit-lots/{id}/transactions",
    "GET /api/v1/units/{serial}",
    "GET /api/v1/units/{serial}/genealogy",
    "PUT /api/v1/units/{serial}/calibration",
    "GET /api/v1/products/{id}/calibration-schema",
    "PUT /api/v1/products/{id}/calibration-schema",
    "GET /api/v1/component-lots",
    "POST /api/v1/component-lots",
    "POST /api/v1/modules",
];

const ROUTES: [&str; 3] = [
    r#"
id = "BE-FE"
name = "probe only"
[[steps]]
id = "WP"
name = "Wafer probe"
stage = "test"
equipment_type = "BE-PROBER"
recipe = "CP1"
"#,
    r#"
id = "BE-PKG"
name = "package"
[[steps]]
id = "PKG"
name = "Package"
stage = "packaging"
equipment_type = "BE-BOND"
recipe = "PKG-1"
"#,
    r#"
id = "BE-MOD"
name = "module"
[[steps]]
id = "BUILD"
name = "Assemble"
stage = "integration"
equipment_type = "BE-ASM"
recipe = "ASM-1"
[[steps.bom]]
item = "sensor"
source = "unit"
part = "BETA-GS1"
"#,
];

/// What beta's back end produced.
struct Beta {
    lot: String,
    unit_lot: String,
    part: String,
    module: String,
    run: i64,
}

/// Beta's lot `BX1`: probed (two good dies of three), diced, packaged, serialised, calibrated
/// and one part built into a module — through the application layer on the server's store.
async fn beta_back_end(s: &Server) -> Beta {
    let app = App::new(s.store().clone());
    let eng = Actor {
        user: "engineer".into(),
        role: Role::Engineer,
        tenant: None,
    };
    for text in ROUTES {
        let spec: RouteSpec = toml::from_str(text).unwrap();
        app.execute(&WriteOp::PutRoute(spec), &eng).await.unwrap();
    }
    for ty in ["BE-PROBER", "BE-BOND", "BE-ASM"] {
        let op = WriteOp::PutEquipment {
            id: format!("{ty}-01"),
            equipment_type: ty.into(),
            description: String::new(),
        };
        app.execute(&op, &eng).await.unwrap();
    }
    let start = NewLotRequest {
        id: Some("BX1".into()),
        product: "BETA-GS1".into(),
        route: Some("BE-FE".into()),
        route_version: None,
        lot_type: LotType::Production,
        priority: 3,
        tenant: Some("beta".into()),
        due_date: None,
        wafer_count: 1,
        wafer_ids: None,
    };
    app.execute(&WriteOp::StartLot(start), &eng).await.unwrap();
    let tool = |lot: &str, command| WriteOp::Lot {
        lot_id: lot.into(),
        command,
        if_version: None,
    };
    app.execute(
        &tool(
            "BX1",
            LotCommand::TrackIn {
                equipment: "BE-PROBER-01".into(),
                recipe: None,
            },
        ),
        &eng,
    )
    .await
    .unwrap();
    app.execute(
        &tool(
            "BX1",
            LotCommand::TrackOut {
                scrap_wafers: vec![],
                scrap_reason: None,
                readings: vec![],
            },
        ),
        &eng,
    )
    .await
    .unwrap();
    let wafer = app.lot("BX1", &eng).await.unwrap().wafers[0].id.clone();
    let parts: Vec<pilotline_yield::PartResult> = (0..3)
        .map(|x| pilotline_yield::PartResult {
            wafer: wafer.clone(),
            x,
            y: 0,
            site: 0,
            hard_bin: if x == 1 { 5 } else { 1 },
            soft_bin: 1,
            failed_flag: x == 1,
            flag_invalid: false,
            test_time_ms: 1,
            part_id: String::new(),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bx1.stdf");
    let mut bytes = Vec::new();
    pilotline_yield::write_parts(&mut bytes, "BX1", "BETA-GS1", "WS1", &parts).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let upload = StdfUpload {
        name: "bx1.stdf",
        path: &path,
        sha256: None,
        lot: None,
        create_lot: false,
        source: "cli",
    };
    app.import_stdf(upload, &eng).await.unwrap();
    let req = DiceRequest {
        route: "BE-PKG".into(),
        tray: None,
        overrides: vec![],
    };
    let trays = app.dice("BX1", &req, &eng).await.unwrap();
    assert_eq!((trays.len(), trays[0].units), (1, 2));
    let tray = trays[0].id.clone();
    for c in [
        UnitCommand::TrackIn {
            equipment: "BE-BOND-01".into(),
        },
        UnitCommand::TrackOut {
            scrap: vec![],
            scrap_reason: None,
        },
        UnitCommand::Serialise {
            prefix: "BX".into(),
        },
    ] {
        app.unit_command(&tray, &c, &eng).await.unwrap();
    }
    let units = app.unit_lot_units(&tray, None, 10, &eng).await.unwrap();
    let serials: Vec<String> = units
        .items
        .iter()
        .map(|u| u.serial.clone().unwrap())
        .collect();
    let schema = CalibrationSchema {
        coefficients: vec![Coefficient {
            name: "gain".into(),
            unit: String::new(),
            min: None,
            max: None,
            required: true,
        }],
    };
    app.put_calibration_schema("BETA-GS1", &schema, &eng)
        .await
        .unwrap();
    app.calibrate(&serials[0], &json!({"gain": 1.0}), &eng)
        .await
        .unwrap();
    let build = BuildRequest {
        route: "BE-MOD".into(),
        product: "BETA-MOD".into(),
        equipment: "BE-ASM-01".into(),
        parts: BTreeMap::from([("sensor".to_string(), vec![serials[0].clone()])]),
        components: BTreeMap::new(),
        prefix: Some("BM".into()),
    };
    let built = app.build_modules(&build, &eng).await.unwrap();
    let runs = app
        .process_data("BX1", Default::default(), &eng)
        .await
        .unwrap();
    Beta {
        lot: "BX1".into(),
        unit_lot: tray,
        part: serials[1].clone(),
        module: built.modules[0].clone(),
        run: runs[0].tracked_in.timestamp_micros(),
    }
}

type Attempt = (Method, &'static str, String, Option<Value>, &'static [u16]);

fn attempts(b: &Beta) -> Vec<Attempt> {
    let hidden: &'static [u16] = &[404];
    let deny: &'static [u16] = &[403, 404];
    vec![
        (
            Method::GET,
            UNIT_OPERATIONS[0],
            format!("/api/v1/lots/{}/pick-list", b.lot),
            None,
            deny,
        ),
        (
            Method::POST,
            UNIT_OPERATIONS[1],
            format!("/api/v1/lots/{}/dice", b.lot),
            Some(json!({"route": "BE-PKG"})),
            deny,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[2],
            format!("/api/v1/lots/{}/unit-lots", b.lot),
            None,
            &[200],
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[3],
            format!("/api/v1/lots/{}/where-used", b.lot),
            None,
            hidden,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[4],
            format!("/api/v1/equipment/BE-PROBER-01/runs/{}/where-used", b.run),
            None,
            hidden,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[5],
            "/api/v1/unit-lots".into(),
            None,
            &[200],
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[6],
            format!("/api/v1/unit-lots/{}", b.unit_lot),
            None,
            hidden,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[7],
            format!("/api/v1/unit-lots/{}/units", b.unit_lot),
            None,
            hidden,
        ),
        (
            Method::POST,
            UNIT_OPERATIONS[8],
            format!("/api/v1/unit-lots/{}/transactions", b.unit_lot),
            Some(json!({"action": "serialise", "prefix": "X"})),
            deny,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[9],
            format!("/api/v1/units/{}", b.part),
            None,
            hidden,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[10],
            format!("/api/v1/units/{}/genealogy", b.module),
            None,
            hidden,
        ),
        (
            Method::PUT,
            UNIT_OPERATIONS[11],
            format!("/api/v1/units/{}/calibration", b.part),
            Some(json!({"gain": 2.0})),
            deny,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[12],
            "/api/v1/products/BETA-GS1/calibration-schema".into(),
            None,
            deny,
        ),
        (
            Method::PUT,
            UNIT_OPERATIONS[13],
            "/api/v1/products/BETA-GS1/calibration-schema".into(),
            Some(json!({"coefficients": [{"name": "x"}]})),
            deny,
        ),
        (
            Method::GET,
            UNIT_OPERATIONS[14],
            "/api/v1/component-lots".into(),
            None,
            deny,
        ),
        (
            Method::POST,
            UNIT_OPERATIONS[15],
            "/api/v1/component-lots".into(),
            Some(
                json!({"id": "C", "part_number": "P", "supplier": "S", "supplier_lot": "L", "quantity": 1}),
            ),
            deny,
        ),
        (
            Method::POST,
            UNIT_OPERATIONS[16],
            "/api/v1/modules".into(),
            Some(
                json!({"route": "BE-MOD", "product": "X", "equipment": "BE-ASM-01", "parts": {"sensor": [b.part]}}),
            ),
            deny,
        ),
    ]
}

#[tokio::test]
async fn a_customer_sees_and_touches_only_its_own_units_parts_and_modules() {
    for s in Server::all("units_tenancy").await {
        s.seed().await;
        let b = beta_back_end(&s).await;
        let covered: BTreeSet<&str> = attempts(&b).iter().map(|a| a.1).collect();
        assert_eq!(
            covered,
            UNIT_OPERATIONS.iter().copied().collect(),
            "every operation tried"
        );
        let before = s
            .get("engineer", &format!("/api/v1/units/{}/genealogy", b.module))
            .await
            .body;
        for (method, template, path, body, refused) in attempts(&b) {
            let a = s.call("acme", method.clone(), &path, body).await;
            assert!(
                refused.contains(&a.status.as_u16()),
                "{}: {method} {template} answered {} {:?}",
                s.label,
                a.status,
                a.body
            );
            let text = a.body.to_string();
            for secret in [&b.part, &b.module, &b.unit_lot, &"beta".to_string()] {
                assert!(
                    !text.contains(secret.as_str()) || path.contains(secret.as_str()),
                    "{}: {template} leaked {secret}: {text}",
                    s.label
                );
            }
        }
        // Lists a customer may call are empty of beta's.
        assert_eq!(
            s.get("acme", &format!("/api/v1/lots/{}/unit-lots", b.lot))
                .await
                .body,
            json!([])
        );
        assert_eq!(s.get("acme", "/api/v1/unit-lots").await.body, json!([]));
        assert_eq!(
            s.get("engineer", &format!("/api/v1/units/{}/genealogy", b.module))
                .await
                .body,
            before,
            "{}: nothing changed",
            s.label
        );

        // Beta reads its own.
        let part = s.get("beta", &format!("/api/v1/units/{}", b.part)).await;
        assert_eq!(part.status, 200, "{}: {:?}", s.label, part.body);
        let g = s
            .get("beta", &format!("/api/v1/units/{}/genealogy", b.module))
            .await;
        assert_eq!(g.status, 200, "{}: {:?}", s.label, g.body);
        assert_eq!(
            g.body["parts"][0]["unit"]["origin"]["wafer_lot"], "BX1",
            "{}",
            s.label
        );
        assert!(g.body["parts"][0]["unit"]["calibration"]["coefficients"]["gain"].is_number());
        let w = s
            .get("beta", &format!("/api/v1/lots/{}/where-used", b.lot))
            .await;
        assert_eq!(
            (w.body["units"].as_u64(), w.body["modules"].as_u64()),
            (Some(2), Some(1)),
            "{}",
            s.label
        );
        let run = s
            .get(
                "beta",
                &format!("/api/v1/equipment/BE-PROBER-01/runs/{}/where-used", b.run),
            )
            .await;
        assert_eq!(run.body["modules"], 1, "{}: {:?}", s.label, run.body);
        let lots = s.get("beta", "/api/v1/unit-lots").await.body;
        assert_eq!(lots.as_array().map(Vec::len), Some(1), "{}", s.label);
        let e142 = s
            .get(
                "engineer",
                &format!("/api/v1/lots/{}/pick-list?format=e142", b.lot),
            )
            .await;
        assert_eq!(e142.content_type, "application/xml", "{}", s.label);
        s.stop().await;
    }
}
