//! The demo's MPW shuttles, seeded through the application layer as the platform's people
//! would: the line's configuration and the route's layer table; one shuttle in fab whose three
//! start-ups' designs are placed, whose MPW lot is well along its route and has wafer-probe
//! data; and two open shuttles taking bookings, one with a start-up on its waitlist.
//!
//! The shuttle in fab was booked before the demo's clock starts, so its bookings, uploads and
//! acceptances are entered by the engineer with an override reason, as a fab moving from a
//! booking spreadsheet would enter them; they show on each booking's timeline.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use pilotline_app::{App, BookingRequest, LotCommand, StdfUpload, WriteOp};
use pilotline_domain::{Actor, Role, RouteSpec, Tenant, TenantStatus};
use pilotline_mpw::precheck::{LayerKey, sample};
use pilotline_mpw::{LineConfig, ShuttleSpec, ShuttleStatus, Space};
use serde_json::json;
use std::path::Path;

/// The shuttle in fab.
pub const IN_FAB: &str = "MPW-2701";
/// Steps of the route the in-fab shuttle's lot still has ahead in the demo.
const STEPS_LEFT: usize = 5;

const BOOKED_BEFORE: &str = "entered from the booking sheet kept before Pilotline";

fn actor(user: &str, role: Role) -> Actor {
    Actor {
        user: user.into(),
        role,
        tenant: None,
    }
}

/// The demo's stepper field, wafer and test structures.
fn line() -> Result<LineConfig> {
    Ok(serde_json::from_value(json!({
        "stepper_field": {"width_um": 20000, "height_um": 20000},
        "wafer": {"diameter_um": 200000, "edge_exclusion_um": 3000, "orientation": {"kind": "notch"}},
        "time_zone": "Asia/Shanghai",
        "test_structures": [{"name": "PCM", "width_um": 4000, "height_um": 4000}]
    }))?)
}

/// A shuttle on the example route selling 2 × 2 and 1 × 1 slots of a 4 × 4 grid (`big`
/// and `small` of them) and, with `area`, area bookings.
fn shuttle(
    id: &str,
    name: &str,
    route: &str,
    opens: DateTime<Utc>,
    big: u32,
    small: u32,
    area: bool,
) -> Result<ShuttleSpec> {
    let d = |days: i64| (opens + Duration::days(days)).to_rfc3339();
    let area = area.then(|| {
        json!({"price_per_mm2_minor": 150000, "min_area_um2": 4000000,
               "capacity_um2": 60000000, "dies_delivered": 25})
    });
    Ok(serde_json::from_value(json!({
        "id": id, "name": name, "route": route, "product": "MPW-MHP", "wafer_count": 6,
        "calendar": {"booking_opens": d(0), "booking_closes": d(35), "design_deadline": d(42),
                     "drc_freeze": d(45), "fab_start": d(49), "expected_delivery": d(150)},
        "offer": {"currency": "CNY", "seal_ring_um": 20, "scribe_um": 80,
                  "slots": {"columns": 4, "rows": 4, "shapes": [
                      {"id": "2x2", "columns": 2, "rows": 2, "count": big, "price_minor": 8000000, "dies_delivered": 40},
                      {"id": "1x1", "columns": 1, "rows": 1, "count": small, "price_minor": 2500000, "dies_delivered": 40}]},
                  "area": area,
                  "options": [{"id": "dicing", "name": "Dicing and die sort", "price_minor": 300000},
                              {"id": "packaging", "name": "Packaging in LGA", "price_minor": 900000},
                              {"id": "full-wafer", "name": "One undiced wafer", "price_minor": 1500000}]}
    }))?)
}

fn slot(
    shape: &str,
    tenant: &str,
    options: &[&str],
    override_reason: Option<&str>,
) -> BookingRequest {
    BookingRequest {
        space: Space::Slot { slot: shape.into() },
        options: options.iter().map(|o| o.to_string()).collect(),
        tenant: Some(tenant.into()),
        override_reason: override_reason.map(Into::into),
    }
}

/// Uploads `bytes` as a revision of booking `id`.
async fn upload(
    app: &App,
    id: &str,
    bytes: &[u8],
    override_reason: Option<&str>,
    who: &Actor,
) -> Result<i64> {
    let mut up = app
        .begin_design_upload(id, Some(bytes.len() as u64), override_reason, who)
        .await?;
    up.write(bytes).await?;
    let rev = app
        .finish_design_upload(id, up, "top.gds", override_reason, who)
        .await?;
    Ok(rev.revision)
}

/// Seeds the MPW part of the demo (after the route, products and tenants `acme` and `nova`);
/// `dir` holds the probe file it imports. Returns a token of acme's tenant admin.
pub async fn seed(app: &App, spec: &RouteSpec, dir: &Path) -> Result<String> {
    let admin = actor("demo-admin", Role::Admin);
    let eng = actor("demo-engineer", Role::Engineer);
    let op = actor("demo-operator", Role::Operator);
    let orbit = Tenant {
        id: "orbit".into(),
        name: "Orbit Microsystems".into(),
        status: TenantStatus::Active,
    };
    app.create_tenant(&orbit, &admin).await?;
    let product = pilotline_domain::Product {
        id: "MPW-MHP".into(),
        description: "Multi-project wafer on the MHP process (shuttle lots)".into(),
        default_route: spec.id.clone(),
        tenant: None,
    };
    app.execute(&WriteOp::PutProduct(product), &eng).await?;
    app.put_line_config(&line()?, &eng).await?;
    let layers = [
        (
            LayerKey {
                layer: 1,
                datatype: 0,
            },
            "HEATER".to_string(),
        ),
        (
            LayerKey {
                layer: 2,
                datatype: 0,
            },
            "ELECTRODE".to_string(),
        ),
        (
            LayerKey {
                layer: 3,
                datatype: 0,
            },
            "MEMBRANE-OPEN".to_string(),
        ),
        (
            LayerKey {
                layer: 4,
                datatype: 0,
            },
            "PAD".to_string(),
        ),
    ];
    app.put_process_layers(&spec.id, &layers, &eng).await?;
    let now = pilotline_app::now();

    // The shuttle in fab: booked, designed and accepted before the demo's clock starts.
    let past = shuttle(
        IN_FAB,
        "Spring 2027 MEMS shuttle",
        &spec.id,
        now - Duration::days(80),
        2,
        4,
        false,
    )?;
    app.create_shuttle(&past, &eng).await?;
    app.set_shuttle_status(IN_FAB, ShuttleStatus::Open, &eng)
        .await?;
    let why = Some(BOOKED_BEFORE);
    for (tenant, shape, options, (w, h)) in [
        ("acme", "2x2", &["dicing", "packaging"][..], (4_500, 4_200)),
        ("nova", "1x1", &["dicing"][..], (2_100, 1_900)),
        ("orbit", "1x1", &["full-wafer"][..], (2_300, 2_300)),
    ] {
        let b = app
            .book(IN_FAB, &slot(shape, tenant, options, why), &eng)
            .await?;
        let rev = upload(app, &b.id, &sample::design(w, h, &[1, 2, 4]), why, &eng).await?;
        app.submit_design(&b.id, rev, why, &eng).await?;
        app.accept_design(&b.id, why, &eng).await?;
    }
    app.close_shuttle(IN_FAB, &eng).await?;
    let started = app.start_shuttle(IN_FAB, &eng).await?;
    let lot = started.lot.context("the started shuttle has its lot")?;
    for _ in 0..spec.steps.len() - STEPS_LEFT {
        crate::demo::move_one_step(app, spec, &lot, &op).await?;
    }
    probe(app, &lot, dir, &eng).await?;

    // Two open shuttles: the summer one has its 2 × 2 slots taken and a start-up waiting.
    let summer = shuttle(
        "MPW-2702",
        "Summer 2027 MEMS shuttle",
        &spec.id,
        now - Duration::days(5),
        2,
        6,
        false,
    )?;
    app.create_shuttle(&summer, &eng).await?;
    app.set_shuttle_status("MPW-2702", ShuttleStatus::Open, &eng)
        .await?;
    for tenant in ["acme", "nova", "orbit"] {
        app.book("MPW-2702", &slot("2x2", tenant, &["dicing"], None), &eng)
            .await?;
    }
    let b = app
        .book("MPW-2702", &slot("1x1", "nova", &[], None), &eng)
        .await?;
    upload(
        app,
        &b.id,
        &sample::design(2_000, 2_000, &[1, 2]),
        None,
        &eng,
    )
    .await?;
    let autumn = shuttle(
        "MPW-2703",
        "Autumn 2027 MEMS shuttle",
        &spec.id,
        now - Duration::days(1),
        2,
        4,
        true,
    )?;
    app.create_shuttle(&autumn, &eng).await?;
    app.set_shuttle_status("MPW-2703", ShuttleStatus::Open, &eng)
        .await?;
    let area = BookingRequest {
        space: Space::Area {
            width_um: 3_000,
            height_um: 2_500,
        },
        options: vec![],
        tenant: Some("orbit".into()),
        override_reason: None,
    };
    app.book("MPW-2703", &area, &eng).await?;
    Ok(app
        .create_token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await?)
}

/// Writes and imports a wafer-probe file for the MPW lot: every die the layout placed on two
/// wafers, a few failing (more towards the edge), some failures retested.
async fn probe(app: &App, lot: &str, dir: &Path, eng: &Actor) -> Result<()> {
    let layout = app.shuttle_layout(IN_FAB, eng).await?.layout;
    let (cx, cy) = {
        let (xs, ys): (Vec<i32>, Vec<i32>) = layout.dies.iter().map(|d| (d.x, d.y)).unzip();
        let mid = |v: &[i32]| (v.iter().min().unwrap_or(&0) + v.iter().max().unwrap_or(&0)) / 2;
        (mid(&xs), mid(&ys))
    };
    let mut parts = Vec::new();
    let mut retests = Vec::new();
    for w in 1..=2 {
        let wafer = format!("{lot}-W{w:02}");
        for d in &layout.dies {
            let (x, y) = (d.x as i16, d.y as i16);
            let r2 = (d.x - cx).pow(2) + (d.y - cy).pow(2);
            let hash = (d.x * 7 + d.y * 13 + w * 5).rem_euclid(17);
            let failed = hash == 0 || (r2 > 110 && hash < 4);
            let bin = if failed { 3 + (hash % 3) as u16 } else { 1 };
            parts.push(part(&wafer, x, y, bin));
            if failed && hash % 2 == 0 {
                retests.push(part(&wafer, x, y, 1));
            }
        }
    }
    parts.extend(retests);
    let path = dir.join(format!("{lot}-probe.stdf"));
    let mut bytes = Vec::new();
    pilotline_yield::write_parts(&mut bytes, lot, "MPW-MHP", "WS1", &parts)
        .map_err(|e| anyhow::anyhow!("cannot write the probe file: {e:?}"))?;
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let upload = StdfUpload {
        name: "probe-ws1.stdf",
        path: &path,
        sha256: None,
        lot: Some(lot),
        create_lot: false,
        source: "demo",
    };
    app.import_stdf(upload, eng).await?;
    // The lot moves on after probe; one hold shows in the start-ups' forecasts.
    let hold = LotCommand::Hold {
        reason_code: "PROBE-REVIEW".into(),
        comment: "Edge dies below spec on W02; engineer to review the probe card".into(),
    };
    app.execute(
        &WriteOp::Lot {
            lot_id: lot.into(),
            command: hold,
            if_version: None,
        },
        eng,
    )
    .await?;
    Ok(())
}

fn part(wafer: &str, x: i16, y: i16, bin: u16) -> pilotline_yield::PartResult {
    pilotline_yield::PartResult {
        wafer: wafer.into(),
        x,
        y,
        site: 0,
        hard_bin: bin,
        soft_bin: bin,
        failed_flag: bin != 1,
        flag_invalid: false,
        test_time_ms: 180,
        part_id: String::new(),
    }
}
