//! A small line for the application layer's tests: the gas-sensor route, its product, tools
//! for its first steps, and a lot on it. Each test binary uses what it needs of it.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use pilotline_app::{App, NewLotRequest, SampleCursor, SampleQuery, WriteOp};
use pilotline_domain::{Actor, LotType, Product, Role, RouteSpec};
use std::collections::BTreeMap;

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

/// A value at its time.
pub type Timed = (DateTime<Utc>, f64);

/// (count, min, max, sum, first, last) of a point's bucket, computed plainly.
pub type Expected = (u64, f64, f64, f64, f64, f64);

pub fn expected(
    stored: &[(String, DateTime<Utc>, f64)],
    width: i64,
) -> BTreeMap<(String, i64), Expected> {
    let mut by: BTreeMap<(String, i64), Vec<Timed>> = BTreeMap::new();
    for (p, at, v) in stored {
        let start = at.timestamp().div_euclid(width) * width;
        by.entry((p.clone(), start)).or_default().push((*at, *v));
    }
    by.into_iter()
        .map(|(k, mut vs)| {
            vs.sort_by_key(|(t, _)| *t);
            let values: Vec<f64> = vs.iter().map(|(_, v)| *v).collect();
            let e = (
                values.len() as u64,
                values.iter().copied().fold(f64::INFINITY, f64::min),
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                values.iter().sum(),
                values[0],
                values[values.len() - 1],
            );
            (k, e)
        })
        .collect()
}

/// Every page of a read, followed to its end.
pub async fn read_all(app: &App, tool: &str, q: SampleQuery<'_>) -> pilotline_app::SamplePage {
    let mut cursor: Option<SampleCursor> = None;
    let mut all = app.samples(tool, &q, &engineer()).await.unwrap();
    let mut next = all.next.clone();
    while let Some(n) = next {
        cursor = Some(n.parse().unwrap());
        let q = SampleQuery {
            after: cursor.as_ref(),
            ..q
        };
        let page = app.samples(tool, &q, &engineer()).await.unwrap();
        all.samples.extend(page.samples);
        all.buckets.extend(page.buckets);
        next = page.next;
    }
    let _ = cursor;
    all
}
