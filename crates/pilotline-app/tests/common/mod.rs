//! A small line for the application layer's tests: the gas-sensor route, its product, tools
//! for its first steps, and a lot on it. Each test binary uses what it needs of it.

#![allow(dead_code)]

use pilotline_app::{App, NewLotRequest, WriteOp};
use pilotline_domain::{Actor, LotType, Product, Role, RouteSpec};

const ROUTE: &str = include_str!("../../../../ops/routes/mhp-gas-sensor.toml");

/// The engineer every test acts as.
pub fn engineer() -> Actor {
    Actor {
        user: "erin".into(),
        role: Role::Engineer,
        tenant: None,
    }
}

/// Puts the route, its product and a `-01` tool for each of its first `tools` steps; returns
/// the route.
pub async fn seed_line(app: &App, tools: usize) -> RouteSpec {
    let eng = engineer();
    let spec: RouteSpec = toml::from_str(ROUTE).unwrap();
    app.execute(&WriteOp::PutRoute(spec.clone()), &eng)
        .await
        .unwrap();
    let product = Product {
        id: "MHP-GS200".into(),
        description: String::new(),
        default_route: "MHP-GAS".into(),
        tenant: None,
    };
    app.execute(&WriteOp::PutProduct(product), &eng)
        .await
        .unwrap();
    for ty in spec.steps.iter().take(tools).map(|s| &s.equipment_type) {
        let tool = WriteOp::PutEquipment {
            id: format!("{ty}-01"),
            equipment_type: ty.clone(),
            description: String::new(),
        };
        app.execute(&tool, &eng).await.unwrap();
    }
    spec
}

/// Starts lot `id` of two wafers on the route.
pub async fn start_lot(app: &App, id: &str) {
    let start = NewLotRequest {
        id: Some(id.into()),
        product: "MHP-GS200".into(),
        route: None,
        route_version: None,
        lot_type: LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count: 2,
        wafer_ids: None,
    };
    app.execute(&WriteOp::StartLot(start), &engineer())
        .await
        .unwrap();
}
