//! SIGKILL in the middle of a stream of acknowledged transactions loses none of them.

use pilotline_tests::{get_json, postgres_url, run, start, token};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Mutex;

const ROUTE_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ops/routes/mhp-gas-sensor.toml"
);
const LOTS: usize = 8;

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

async fn crash_story(db_url: &str, label: &str) {
    let env = [
        ("PILOTLINE_DATABASE_URL", db_url),
        ("PILOTLINE_LISTEN", "127.0.0.1:0"),
    ];
    let (ok, out, err) = run(&["route", "import", ROUTE_FILE], &env).await;
    assert!(ok, "{label}: route import failed: {out}{err}");
    let engineer = token(db_url, "erin", "engineer", None).await;
    let mut server = start(&["serve"], &env).await;
    let client = reqwest::Client::new();
    let base = server.url.clone();
    let product = json!({"id": "MHP-GS200", "default_route": "MHP-GAS"});
    post(
        &client,
        &format!("{base}/api/v1/products"),
        &engineer,
        product,
    )
    .await
    .expect("product");
    for i in 0..LOTS {
        let lot = json!({"id": format!("K{i}"), "product": "MHP-GS200", "wafer_count": 25});
        post(&client, &format!("{base}/api/v1/lots"), &engineer, lot)
            .await
            .expect("lot");
    }

    // Eight clients place holds as fast as they can; every acknowledged hold is remembered.
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut clients = Vec::new();
    for i in 0..LOTS {
        let (client, base, token) = (client.clone(), base.clone(), engineer.clone());
        let (acked, count, enough) = (acked.clone(), count.clone(), enough.clone());
        clients.push(tokio::spawn(async move {
            let lot = format!("K{i}");
            let url = format!("{base}/api/v1/lots/{lot}/holds");
            loop {
                let body = json!({"reason_code": "CRASH-TEST", "comment": "stream"});
                match post(&client, &url, &token, body).await {
                    Some(hold) => {
                        acked
                            .lock()
                            .await
                            .push((lot.clone(), hold["id"].as_u64().unwrap()));
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == 300 {
                            enough.notify_one();
                        }
                    }
                    None => return,
                }
            }
        }));
    }
    enough.notified().await;
    // SIGKILL while the clients are still sending.
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 300);

    let server = start(&["serve"], &env).await;
    for i in 0..LOTS {
        let lot = format!("K{i}");
        let view = get_json(
            &client,
            &format!("{}/api/v1/lots/{lot}", server.url),
            &engineer,
        )
        .await;
        let holds: Vec<u64> = view["holds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect();
        for (l, id) in acked.iter().filter(|(l, _)| l == &lot) {
            assert!(
                holds.contains(id),
                "{label}: acknowledged hold {l}#{id} was lost in the crash"
            );
        }
        let history = get_json(
            &client,
            &format!("{}/api/v1/lots/{lot}/history", server.url),
            &engineer,
        )
        .await;
        assert_eq!(
            history.as_array().unwrap().len(),
            holds.len() + 1,
            "{label}: history and state agree"
        );
    }
    eprintln!(
        "{label}: {} acknowledged transactions survived SIGKILL",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_transaction_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    crash_story(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_transaction_postgres() {
    let Some((url, _guard)) =
        postgres_url("sigkill_loses_no_acknowledged_transaction_postgres").await
    else {
        return;
    };
    crash_story(&url, "postgres").await;
}
