//! `serve`'s parts and observability: a replica that runs only the jobs serves no API but
//! `/healthz` and `/metrics`; the metrics listener of its own asks for a token like the API's
//! and reports the jobs' leases; two replicas on one store split nothing — one holds every
//! job — and a clean stop hands the jobs to the other; every answer carries a request id,
//! problem documents included.

use pilotline_app::{App, job};
use pilotline_domain::Role;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

struct Replica {
    base: String,
    metrics: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn replica(app: App, holder: &str, roles: pilotline::config::Roles) -> Replica {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let metrics_base = format!("http://{}", metrics.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = pilotline::serve::Options {
        roles,
        holder: Some(holder.to_string()),
        // Short leases, so the hand-over below is quick; heartbeats every second.
        lease: Duration::from_secs(3),
        metrics_listener: Some(metrics),
        ..Default::default()
    };
    let task = tokio::spawn(pilotline::serve::run(
        app,
        listener,
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    Replica {
        base,
        metrics: metrics_base,
        stop,
        task,
    }
}

/// The value of `pilotline_job_lease_held{task="…"}` in a Prometheus text exposition.
fn lease_held(text: &str, job: &str) -> Option<f64> {
    let prefix = format!("pilotline_job_lease_held{{task=\"{job}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(client: &reqwest::Client, base: &str, token: &str) -> String {
    let res = client
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// Scrapes `base` until `done` holds for the text (at most 20 s).
async fn scrape_until(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(client, base, token).await;
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never came true; last:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_replica_serves_health_and_metrics_and_hands_its_jobs_over_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let app = App::open(&url, &Default::default()).await.unwrap();
    app.migrate().await.unwrap();
    let token = app.create_token("eng", Role::Engineer, None).await.unwrap();
    let client = reqwest::Client::new();
    let jobs_only = pilotline::config::Roles::parse(&["jobs"]).unwrap();
    // Each replica has its own pools on the one store (and closes them when it stops).
    let open = || async { App::open(&url, &Default::default()).await.unwrap() };
    let a = replica(open().await, "replica-a", jobs_only).await;

    // No API on a jobs replica; health and metrics are there.
    let res = client
        .get(format!("{}/api/v1/lots", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "path_not_found");
    assert_eq!(problem["request_id"], id, "the problem names its request");
    let res = client
        .get(format!("{}/healthz", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A caller's own request id is kept.
    let res = client
        .get(format!("{}/healthz", a.metrics))
        .header("x-request-id", "scan-0042")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "scan-0042");

    // The metrics listener asks for a token, like the API's /metrics.
    let res = client
        .get(format!("{}/metrics", a.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let text = scrape_until(&client, &a.metrics, &token, |t| {
        lease_held(t, job::QTIME) == Some(1.0)
    })
    .await;
    assert_eq!(lease_held(&text, job::ROLLUPS), Some(1.0));

    // A second replica on the same store holds nothing while the first lives.
    let b = replica(open().await, "replica-b", jobs_only).await;
    let text = scrape_until(&client, &b.metrics, &token, |t| {
        lease_held(t, job::QTIME).is_some()
    })
    .await;
    assert_eq!(lease_held(&text, job::QTIME), Some(0.0), "{text}");
    let leases = app.leases().await.unwrap();
    assert!(leases.iter().all(|l| l.holder == "replica-a"), "{leases:?}");

    // The first stops cleanly: its leases are given back and the second takes every job.
    a.stop.send(()).unwrap();
    a.task.await.unwrap().unwrap();
    scrape_until(&client, &b.metrics, &token, |t| {
        [job::QTIME, job::ROLLUPS, job::RETENTION, job::EXPIRY]
            .iter()
            .all(|j| lease_held(t, j) == Some(1.0))
    })
    .await;
    let leases = app.leases().await.unwrap();
    assert!(leases.iter().all(|l| l.holder == "replica-b"), "{leases:?}");
    b.stop.send(()).unwrap();
    b.task.await.unwrap().unwrap();
}
