//! SIGKILL while track-outs whose readings break an SPC rule are being answered: every lot
//! that moved on holds its `SPC-OOC` hold and its tool is down — the chart's effect is part of
//! the track-out, never a step after it that a crash could lose.

use pilotline_tests::{get_json, postgres_url, start, token};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ROUTE_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ops/routes/mhp-gas-sensor.toml"
);
const LOTS: usize = 12;
/// The steps before FB050 (thermal oxidation, whose plan measures oxide thickness).
const BEFORE: [&str; 4] = [
    "DESIGN-SIGNOFF",
    "MASK-INSPECT",
    "LASER-MARK",
    "WETBENCH-RCA",
];

async fn post(client: &reqwest::Client, url: &str, token: &str, body: Value) -> Option<Value> {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

fn reading(wafer: &str, value: f64) -> Value {
    json!({"parameter": "oxide_thickness", "wafer": wafer, "site": 1, "value": value})
}

async fn spc_crash_story(db_url: &str, label: &str) {
    let env = [
        ("PILOTLINE_DATABASE_URL", db_url),
        ("PILOTLINE_LISTEN", "127.0.0.1:0"),
    ];
    let (ok, out, err) = pilotline_tests::run(&["route", "import", ROUTE_FILE], &env).await;
    assert!(ok, "{label}: route import failed: {out}{err}");
    let eng = token(db_url, "erin", "engineer", None).await;
    let mut server = start(&["serve"], &env).await;
    let client = reqwest::Client::new();
    let base = server.url.clone();
    let api = |p: &str| format!("{base}/api/v1{p}");
    let product = json!({"id": "MHP-GS200", "default_route": "MHP-GAS"});
    post(&client, &api("/products"), &eng, product)
        .await
        .expect("product");
    let mut tools: Vec<String> = BEFORE.iter().map(|t| format!("{t}-01")).collect();
    tools.extend((0..LOTS).map(|i| format!("FURNACE-{i:02}")));
    for t in &tools {
        let ty = t.rsplit_once('-').unwrap().0;
        let body = json!({"id": t, "equipment_type": ty, "description": ""});
        post(&client, &api("/equipment"), &eng, body)
            .await
            .expect("tool");
    }
    let chart = json!({"id": "OX", "parameter": "oxide_thickness", "step": "FB050",
        "chart_type": "imr", "rules": ["nelson1"], "action": "hold_and_inhibit",
        "baseline_points": 5});
    post(&client, &api("/spc/charts"), &eng, chart)
        .await
        .expect("chart");
    let lot = json!({"id": "BASE", "product": "MHP-GS200", "wafer_count": 5});
    post(&client, &api("/lots"), &eng, lot).await.expect("lot");
    let baseline: Vec<Value> = [500.0, 501.0, 499.0, 500.5, 499.5]
        .iter()
        .enumerate()
        .map(|(i, v)| reading(&format!("BASE-W0{}", i + 1), *v))
        .collect();
    let body = json!({"lot": "BASE", "step": "FB050", "readings": baseline});
    post(&client, &api("/measurements"), &eng, body)
        .await
        .expect("baseline");
    for i in 0..LOTS {
        let id = format!("P{i:02}");
        let lot = json!({"id": id, "product": "MHP-GS200", "wafer_count": 2});
        post(&client, &api("/lots"), &eng, lot).await.expect("lot");
        for t in &tools[..BEFORE.len()] {
            post(
                &client,
                &api(&format!("/lots/{id}/track-in")),
                &eng,
                json!({"equipment": t}),
            )
            .await
            .expect("track-in");
            post(
                &client,
                &api(&format!("/lots/{id}/track-out")),
                &eng,
                json!({}),
            )
            .await
            .expect("track-out");
        }
        let furnace = json!({"equipment": format!("FURNACE-{i:02}")});
        post(
            &client,
            &api(&format!("/lots/{id}/track-in")),
            &eng,
            furnace,
        )
        .await
        .expect("furnace track-in");
    }

    // Every lot is tracked out at once with a reading far beyond 3 sigma; SIGKILL after four
    // have been answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut clients = Vec::new();
    for i in 0..LOTS {
        let (client, url, eng) = (
            client.clone(),
            api(&format!("/lots/P{i:02}/track-out")),
            eng.clone(),
        );
        let (answered, enough) = (answered.clone(), enough.clone());
        clients.push(tokio::spawn(async move {
            let body = json!({"readings": [reading(&format!("P{i:02}-W01"), 515.0)]});
            let acked = post(&client, &url, &eng, body).await.is_some();
            if acked && answered.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
                enough.notify_one();
            }
            (i, acked)
        }));
    }
    enough.notified().await;
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    let mut acked = Vec::new();
    for c in clients {
        let (i, ok) = c.await.unwrap();
        if ok {
            acked.push(i);
        }
    }
    assert!(acked.len() >= 4, "{label}");

    let server = start(&["serve"], &env).await;
    let mut moved = 0;
    for i in 0..LOTS {
        let id = format!("P{i:02}");
        let view = get_json(&client, &format!("{}/api/v1/lots/{id}", server.url), &eng).await;
        let tool = get_json(
            &client,
            &format!("{}/api/v1/equipment/FURNACE-{i:02}", server.url),
            &eng,
        )
        .await;
        let held = view["holds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["reason_code"] == "SPC-OOC");
        if view["step"]["id"] == "FB060" {
            moved += 1;
            assert!(held, "{label}: {id} moved on without its SPC hold: {view}");
            assert_eq!(tool["state"], "unscheduled_down", "{label}: {id}: {tool}");
        } else {
            assert!(!acked.contains(&i), "{label}: acknowledged {id} was undone");
            assert_eq!(view["state"], "running", "{label}: {view}");
            assert!(!held, "{label}: {id} held without its track-out: {view}");
            assert_eq!(tool["state"], "productive", "{label}: {id}: {tool}");
        }
    }
    assert!(moved >= acked.len(), "{label}");
    eprintln!(
        "{label}: {} acknowledged and {moved} committed out-of-control track-outs, each with its hold",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_never_separates_a_track_out_from_its_spc_hold_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("spc-crash.db").display());
    spc_crash_story(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_never_separates_a_track_out_from_its_spc_hold_postgres() {
    let Some((url, _guard)) =
        postgres_url("sigkill_never_separates_a_track_out_from_its_spc_hold_postgres").await
    else {
        return;
    };
    spc_crash_story(&url, "postgres").await;
}
