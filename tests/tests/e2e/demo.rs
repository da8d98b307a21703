//! The README's first command: the demo starts and answers on its URL.

use pilotline_tests::{get_json, start};

#[tokio::test]
async fn demo_starts_and_answers_on_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut demo = start(
        &["demo", "--listen", "127.0.0.1:0", "--data-dir", data],
        &[],
    )
    .await;
    let token = demo
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the demo prints an admin token")
        .trim()
        .to_string();
    assert!(
        demo.printed
            .iter()
            .any(|l| l == &format!("URL: {}", demo.url)),
        "{:?}",
        demo.printed
    );
    let client = reqwest::Client::new();
    let wip = get_json(&client, &format!("{}/api/v1/wip", demo.url), &token).await;
    assert!(wip.as_array().unwrap().len() >= 5, "{wip}");
    let lots = get_json(
        &client,
        &format!("{}/api/v1/lots?limit=500", demo.url),
        &token,
    )
    .await;
    let states: Vec<&str> = lots["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].as_str().unwrap())
        .collect();
    for s in ["waiting", "running", "shipped"] {
        assert!(states.contains(&s), "no {s} lot in the demo: {states:?}");
    }
    let held = lots["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !l["holds"].as_array().unwrap().is_empty())
        .count();
    assert!(held >= 1, "the demo has a held lot");

    // The simulated tools reach the API through the embedded broker and the collector: Modbus
    // TCP, RTU over TCP (two units behind one gateway), MQTT JSON and Sparkplug B.
    for tool in [
        "FURNACE-01",
        "ENV-FURNACE-BAY",
        "ENV-YELLOW-ROOM",
        "STEPPER-01",
        "DRIE-01",
    ] {
        let url = format!("{}/api/v1/equipment/{tool}", demo.url);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let v = get_json(&client, &url, &token).await;
            if v["latest"].as_array().is_some_and(|l| !l.is_empty()) {
                assert_eq!(v["stale"], false, "{tool}: {v}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{tool} shows no simulated values: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    demo.child.kill().await.unwrap();
}
