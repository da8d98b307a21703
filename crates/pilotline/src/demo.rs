//! `pilotline demo`: a ready-to-explore instance on a fresh SQLite file.

use anyhow::{Context, Result};
use pilotline_app::{App, LotCommand, NewLotRequest, Outcome, WriteOp};
use pilotline_domain::{Actor, E10State, LotType, Product, Role, RouteSpec};
use std::path::PathBuf;

/// The example route shipped with Pilotline (a MEMS micro-hotplate gas sensor).
pub const EXAMPLE_ROUTE: &str = include_str!("../../../ops/routes/mhp-gas-sensor.toml");

/// Port of the demo's embedded MQTT broker: 0, a port the system has free (so two demos run
/// side by side and neither meets a real broker on 1883).
pub const MQTT_PORT: u16 = 0;

/// The simulated tools of the demo.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Equipment profiles; no tools when `None`.
    pub profiles: Option<PathBuf>,
    /// Port of the embedded broker.
    pub mqtt_port: u16,
}

/// `equipment-profiles` in the working directory, else the source tree's.
pub fn default_profiles() -> Option<PathBuf> {
    [
        PathBuf::from("equipment-profiles"),
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../equipment-profiles"
        )),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// Seeds a fresh store and serves it on `listen` until interrupted; with `tools`, also runs
/// an embedded MQTT broker, every profile's tool as a simulated tool, and the collector.
pub async fn run(listen: &str, data_dir: Option<PathBuf>, tools: Option<Tools>) -> Result<()> {
    let dir = match data_dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("pilotline-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("pilotline-demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut store = App::open(
        &format!("sqlite://{}", db.display()),
        &pilotline_app::OpenOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let tokens = seed(&store, &dir).await.context("cannot seed the demo")?;
    let people = sign_ins(&store)
        .await
        .context("cannot give the demo's people passwords")?;
    let mut options = crate::serve::Options::default();
    let (sim_stop_tx, sim_stop) = tokio::sync::watch::channel(false);
    let mut simulated = 0;
    if let Some(Tools {
        profiles: Some(profiles),
        mqtt_port,
    }) = &tools
    {
        let catalogue = crate::collect::load_profiles(profiles)?;
        register_tools(&store, &catalogue).await?;
        // Device types that keep their telemetry otherwise than the line.
        let line = pilotline_app::RetentionPolicy::default();
        store = store
            .clone()
            .with_tool_retention(crate::collect::tool_retention(&catalogue, line))?;
        let listen_mqtt: std::net::SocketAddr = ([127, 0, 0, 1], free_port(*mqtt_port)?).into();
        crate::broker::start_embedded(listen_mqtt)?;
        let url = format!("mqtt://{listen_mqtt}");
        let admin = actor("demo-admin", Role::Admin);
        let registered: Vec<(String, String)> = store
            .equipment_list(None, &admin)
            .await?
            .into_iter()
            .map(|e| (e.id, e.equipment_type))
            .collect();
        let (demo, bound) = demo_catalogue(&catalogue, &registered, &url)?;
        // The collector (the Sparkplug host) first, so the edge nodes' births find it
        // listening.
        options.collector = Some(crate::collect::Options {
            profiles: profiles.clone(),
            catalogue: Some(demo.clone()),
            spool_dir: dir.join("spool"),
            mqtt_broker: Some(url.clone()),
            client_id: "pilotline-demo".into(),
            share_group: None,
            holder: None,
            lease: pilotline_app::DEFAULT_LEASE,
        });
        crate::simulate::start_bound(&demo, Some(&url), Some("pilotline-demo"), sim_stop, bound)
            .await?;
        simulated = demo.devices.len();
        println!(
            "Simulated tools: {simulated} (every registered tool; types from {}), MQTT broker {url}",
            profiles.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "Pilotline demo: a simulated MEMS pilot line on {}",
        db.display()
    );
    println!("Try:");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/api/v1/wip");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/api/v1/lots");
    println!("  curl http://{addr}/api/openapi.json");
    if simulated > 0 {
        println!(
            "  curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/api/v1/equipment/FURNACE-01"
        );
        println!(
            "  curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/api/v1/equipment/DRIE-01/states"
        );
    }
    for (role, token) in &tokens[1..] {
        println!("{role:>9} token: {token}");
    }
    println!("Web interface: http://{addr}/ui/ — sign in as one of:");
    for (user, role, password) in &people {
        println!("  {role:>12}  user {user:<11} password {password}");
    }
    println!("URL: http://{addr}");
    println!("token: {}", tokens[0].1);
    let served = crate::serve::run(store, listener, crate::serve::shutdown_signal(), options).await;
    let _ = sim_stop_tx.send(true);
    served
}

/// `port`, or when it is 0 a port the system has free on 127.0.0.1.
fn free_port(port: u16) -> Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    let probe = std::net::TcpListener::bind(("127.0.0.1", 0)).context("no free port")?;
    Ok(probe.local_addr()?.port())
}

/// The demo's simulated line: one simulated tool for every registered tool. A tool keeps its
/// own profile where one exists (`FURNACE-01`), else takes the profile of another tool of its
/// equipment type (`FURNACE-03` like `FURNACE-01`), else the `generic-tool` type with its own
/// equipment type. Modbus tools (serial ones included, as RTU over TCP) each get a port the
/// system chooses — so two demos run side by side — bound here and handed to the simulator;
/// MQTT tools use the embedded broker.
fn demo_catalogue(
    profiles: &pilotline_equipment::Catalogue,
    registered: &[(String, String)],
    broker: &str,
) -> Result<(
    pilotline_equipment::Catalogue,
    std::collections::BTreeMap<u16, std::net::TcpListener>,
)> {
    use pilotline_equipment::profile::{Device, Transport};
    let mut demo = pilotline_equipment::Catalogue::default();
    let mut bound = std::collections::BTreeMap::new();
    let generic = profiles.types.get("generic-tool");
    for (id, equipment_type) in registered {
        let type_of = |d: &Device| {
            profiles
                .types
                .get(&d.device_type)
                .is_some_and(|t| &t.device_type.equipment_type == equipment_type)
        };
        let template = profiles
            .devices
            .get(id)
            .or_else(|| profiles.devices.values().find(|d| type_of(d)));
        let mut device = match template {
            Some(t) => {
                let mut d = t.clone();
                if &d.id != id {
                    d.id = id.clone();
                    d.mqtt_device = None;
                    d.location = format!("{} (demo)", d.location);
                }
                d
            }
            None => {
                let Some(g) = generic else { continue };
                let mut ty = g.clone();
                ty.device_type.id = format!("generic-{}", equipment_type.to_lowercase());
                ty.device_type.equipment_type = equipment_type.clone();
                let device = Device {
                    id: id.clone(),
                    device_type: ty.device_type.id.clone(),
                    location: "demo line".into(),
                    transport: Transport::Tcp {
                        host: "127.0.0.1".into(),
                        port: 0,
                    },
                    unit_id: Some(1),
                    timeout_ms: 500,
                    retries: 2,
                    pause_between_requests_ms: 0,
                    max_registers_per_request: 125,
                    close_after_cycle: false,
                    mqtt_device: None,
                };
                demo.types.insert(ty.device_type.id.clone(), ty);
                device
            }
        };
        if let Some(ty) = profiles.types.get(&device.device_type) {
            demo.types.insert(ty.device_type.id.clone(), ty.clone());
        }
        device.transport = match device.transport {
            Transport::Mqtt { group, node, .. } => Transport::Mqtt {
                broker: broker.to_string(),
                group,
                node,
            },
            other => {
                let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
                    .context("cannot bind a port for a simulated tool")?;
                let port = listener.local_addr()?.port();
                bound.insert(port, listener);
                let host = "127.0.0.1".to_string();
                match other {
                    Transport::Tcp { .. } => Transport::Tcp { host, port },
                    _ => Transport::RtuOverTcp { host, port },
                }
            }
        };
        demo.devices.insert(device.id.clone(), device);
    }
    Ok((demo, bound))
}

/// Registers every profiled tool the seed did not (environment monitors, bonders, …).
async fn register_tools(store: &App, catalogue: &pilotline_equipment::Catalogue) -> Result<()> {
    let admin = actor("demo-admin", Role::Admin);
    for device in catalogue.devices.values() {
        let Some(ty) = catalogue.types.get(&device.device_type) else {
            continue;
        };
        if store.comm_state(&device.id, &admin).await?.is_some() {
            continue;
        }
        let put = WriteOp::PutEquipment {
            id: device.id.clone(),
            equipment_type: ty.device_type.equipment_type.clone(),
            description: format!("{} ({})", ty.device_type.description, device.location),
        };
        store.execute(&put, &admin).await?;
    }
    Ok(())
}

fn actor(user: &str, role: Role) -> Actor {
    Actor {
        user: user.into(),
        role,
        tenant: None,
    }
}

/// Fills `store` with the example route, products, tools, lots in every state and MPW
/// shuttles (files it writes go to `dir`); returns tokens for each role (admin first).
pub async fn seed(store: &App, dir: &std::path::Path) -> Result<Vec<(String, String)>> {
    let eng = actor("demo-engineer", Role::Engineer);
    let op = actor("demo-operator", Role::Operator);
    let spec: RouteSpec = toml::from_str(EXAMPLE_ROUTE)?;
    let admin = actor("demo-admin", Role::Admin);
    for (id, name) in [("acme", "Acme Sensing"), ("nova", "Nova MEMS")] {
        let t = pilotline_domain::Tenant {
            id: id.into(),
            name: name.into(),
            status: pilotline_domain::TenantStatus::Active,
        };
        store.create_tenant(&t, &admin).await?;
    }
    store
        .execute(&WriteOp::PutRoute(spec.clone()), &eng)
        .await?;
    let products = [
        (
            "MHP-GS200",
            "Micro-hotplate MOX gas sensor, platform product",
            None,
        ),
        (
            "ACME-NO2",
            "Acme Sensing NO2 sensor (start-up, MPW)",
            Some("acme"),
        ),
        (
            "NOVA-CO",
            "Nova MEMS CO sensor (start-up, MPW)",
            Some("nova"),
        ),
    ];
    for (id, description, tenant) in products {
        let p = Product {
            id: id.into(),
            description: description.into(),
            default_route: spec.id.clone(),
            tenant: tenant.map(Into::into),
        };
        store.execute(&WriteOp::PutProduct(p), &eng).await?;
    }
    let mut types: Vec<&str> = spec
        .steps
        .iter()
        .map(|s| s.equipment_type.as_str())
        .collect();
    types.sort_unstable();
    types.dedup();
    for ty in &types {
        for n in 1..=2 {
            let id = format!("{ty}-{n:02}");
            let put = WriteOp::PutEquipment {
                id,
                equipment_type: ty.to_string(),
                description: format!("{ty} #{n}"),
            };
            store.execute(&put, &eng).await?;
        }
    }
    let down = WriteOp::SetEquipmentState {
        id: "DRIE-02".into(),
        state: E10State::UnscheduledDown,
        reason: "RF generator fault, waiting for service".into(),
    };
    store.execute(&down, &eng).await?;

    let lots: [(&str, &str, LotType, usize, usize); 8] = [
        (
            "A26001",
            "MHP-GS200",
            LotType::Production,
            25,
            spec.steps.len(),
        ),
        ("A26002", "MHP-GS200", LotType::Production, 25, 9),
        ("A26003", "MHP-GS200", LotType::Production, 24, 15),
        ("A26004", "MHP-GS200", LotType::Production, 25, 7),
        ("E26001", "MHP-GS200", LotType::Engineering, 6, 4),
        ("M26001", "ACME-NO2", LotType::Mpw, 12, 11),
        ("M26002", "NOVA-CO", LotType::Mpw, 12, 19),
        ("A26005", "MHP-GS200", LotType::Production, 25, 2),
    ];
    for (id, product, lot_type, wafers, steps) in lots {
        let req = NewLotRequest {
            id: Some(id.into()),
            product: product.into(),
            route: None,
            route_version: None,
            lot_type,
            priority: if lot_type == LotType::Mpw { 2 } else { 3 },
            tenant: None,
            due_date: None,
            wafer_count: wafers,
            wafer_ids: None,
        };
        store.execute(&WriteOp::StartLot(req), &op).await?;
        for _ in 0..steps {
            move_one_step(store, &spec, id, &op).await?;
        }
    }
    let lot = |id: &str, command| WriteOp::Lot {
        lot_id: id.into(),
        command,
        if_version: None,
    };
    store.execute(&lot("A26001", LotCommand::Ship), &op).await?;
    let hold = LotCommand::Hold {
        reason_code: "ENG-REVIEW".into(),
        comment: "Heater sheet resistance at the upper limit; engineer to review".into(),
    };
    store.execute(&lot("A26004", hold), &op).await?;
    let split = LotCommand::Split {
        wafers: vec!["A26005-W01".into(), "A26005-W02".into()],
    };
    store.execute(&lot("A26005", split), &op).await?;
    let future = LotCommand::FutureHold {
        step: spec.steps[20].id.clone(),
        reason_code: "CUST-INSPECT".into(),
        comment: "Acme wants to inspect wafers before dicing".into(),
    };
    store.execute(&lot("M26001", future), &eng).await?;
    oxide_chart(store, &eng, &op).await?;
    crate::demo_back_end::seed(store, &spec, dir, &eng, &op)
        .await
        .context("cannot seed the demo's back end of the line")?;
    let tenant_admin = crate::demo_mpw::seed(store, &spec, dir)
        .await
        .context("cannot seed the demo's MPW shuttles")?;
    // One lot left running on its tool.
    let a26002 = store.lot("A26002", &op).await?;
    let tool = format!("{}-01", a26002.step.equipment_type);
    let tin = LotCommand::TrackIn {
        equipment: tool,
        recipe: None,
    };
    store.execute(&lot("A26002", tin), &op).await?;

    let mut tokens = Vec::new();
    for (user, role, tenant) in [
        ("admin", Role::Admin, None),
        ("erin", Role::Engineer, None),
        ("otto", Role::Operator, None),
        ("maya", Role::Manager, None),
        ("acme", Role::Customer, Some("acme")),
    ] {
        let token = store.create_token(user, role, tenant).await?;
        tokens.push((role.to_string(), token));
    }
    tokens.push((Role::TenantAdmin.to_string(), tenant_admin));
    Ok(tokens)
}

/// A control chart of the oxidation step's ellipsometer readings (X-bar/S over the 5 sites of
/// each wafer) with a baseline of four lots and one drifting wafer, so the SPC pages have a
/// chart with limits and a signal; its action is `none` (signals are shown, no lot is held), so the demo stays as seeded.
async fn oxide_chart(store: &App, eng: &Actor, op: &Actor) -> Result<()> {
    let spec: pilotline_app::ChartSpec = serde_json::from_value(serde_json::json!({
        "id": "OX-THK",
        "parameter": "oxide_thickness",
        "step": "FB050",
        "chart_type": "xbar_s",
        "action": "none",
        "lsl": 480.0,
        "usl": 520.0
    }))?;
    store.create_chart(spec, eng).await?;
    let lots = ["A26001", "A26002", "A26003", "A26005", "E26001"];
    for (n, lot) in lots.iter().enumerate() {
        let view = store.lot(lot, eng).await?;
        let mut readings = Vec::new();
        for (w, wafer) in view.wafers.iter().take(3).enumerate() {
            for site in 1..=5u32 {
                // A steady process, the last lot's last wafer drifting thick.
                let drift = if n == lots.len() - 1 && w == 2 {
                    9.0
                } else {
                    0.0
                };
                let wobble = f64::from(((n * 7 + w * 3) as u32 + site * 5) % 11) * 0.45 - 2.2;
                readings.push(pilotline_domain::measure::Reading {
                    parameter: "oxide_thickness".into(),
                    wafer: Some(wafer.id.clone()),
                    site: Some(site),
                    value: 500.0 + wobble + drift,
                });
            }
        }
        let req = pilotline_app::NewMeasurements {
            lot: lot.to_string(),
            step: Some("FB050".into()),
            equipment: Some("FURNACE-01".into()),
            readings,
            source: "demo ellipsometer".into(),
        };
        store.record_measurements(&[req], op).await?;
        if n == lots.len() - 2 {
            store.recompute_limits("OX-THK", eng).await?;
        }
    }
    Ok(())
}

/// Gives each of the demo's people (one per persona) a fresh random password for the web
/// interface: `(user, role, password)`.
async fn sign_ins(store: &App) -> Result<Vec<(String, String, String)>> {
    use rand::Rng;
    let mut people = Vec::new();
    for (user, role, tenant) in [
        ("otto", Role::Operator, None),
        ("erin", Role::Engineer, None),
        ("maya", Role::Manager, None),
        ("acme", Role::Customer, Some("acme")),
        ("acme-admin", Role::TenantAdmin, Some("acme")),
        ("admin", Role::Admin, None),
    ] {
        let password: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(14)
            .map(char::from)
            .collect();
        store.set_password(user, role, tenant, &password).await?;
        people.push((user.to_string(), role.to_string(), password));
    }
    Ok(people)
}

/// Tracks lot `id` in and out of its current step on the step's first tool.
pub(crate) async fn move_one_step(
    store: &App,
    spec: &RouteSpec,
    id: &str,
    op: &Actor,
) -> Result<()> {
    let lot = |command| WriteOp::Lot {
        lot_id: id.into(),
        command,
        if_version: None,
    };
    let view = store.lot(id, op).await?;
    let ty = &spec.steps[view.step.index].equipment_type;
    let tool = if ty == "DRIE" {
        "DRIE-01".to_string()
    } else {
        format!("{ty}-01")
    };
    store
        .execute(
            &lot(LotCommand::TrackIn {
                equipment: tool,
                recipe: None,
            }),
            op,
        )
        .await?;
    let out = LotCommand::TrackOut {
        scrap_wafers: vec![],
        scrap_reason: None,
        readings: vec![],
    };
    match store.execute(&lot(out), op).await? {
        Outcome::Lot(_) => Ok(()),
        other => anyhow::bail!("unexpected outcome {other:?}"),
    }
}
