//! The README's first command: the demo starts and answers on its URL — twice on one
//! machine, each with every one of its tools simulated and live.

use pilotline_tests::{get_json, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_run_side_by_side_with_every_tool_live() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    // The second takes its address from the environment, as the README says.
    let first_args = ["demo", "--listen", "127.0.0.1:0", "--data-dir", a];
    let second_args = ["demo", "--data-dir", b];
    let second_env = [("PILOTLINE_LISTEN", "127.0.0.1:0")];
    let first = start(&first_args, &[]);
    let second = start(&second_args, &second_env);
    let (first, second) = tokio::join!(first, second);
    assert_ne!(first.url, second.url);
    let (one, two) = tokio::join!(demo_answers(first), demo_answers(second));
    assert_eq!(one, two, "both demos simulate the same line");
}

/// Checks one running demo; returns how many tools it simulates.
async fn demo_answers(mut demo: pilotline_tests::Running) -> usize {
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

    mpw_answers(&client, &demo, &token).await;

    // Every registered tool is simulated and reaches the API through the embedded broker and
    // the collector: Modbus TCP, RTU over TCP (the serial wet bench too), MQTT JSON and
    // Sparkplug B, and the tools without a profile of their own on the generic one.
    let tools = get_json(&client, &format!("{}/api/v1/equipment", demo.url), &token).await;
    let tools: Vec<String> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(tools.len() >= 48, "{tools:?}");
    let simulated = demo
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("Simulated tools: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("the demo says how many tools it simulates");
    assert_eq!(simulated, tools.len(), "every tool is simulated");
    for tool in &tools {
        let url = format!("{}/api/v1/equipment/{tool}", demo.url);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
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
    simulated
}

/// The demo's MPW side: two open shuttles and one in fab, three start-ups with bookings (one
/// waitlisted), the in-fab shuttle's designs placed and probed, and a tenant admin who sees
/// its own design's yield only.
async fn mpw_answers(client: &reqwest::Client, demo: &pilotline_tests::Running, admin: &str) {
    let tenant_admin = demo
        .printed
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("tenant_admin token: "))
        .expect("the demo prints a tenant admin token")
        .trim()
        .to_string();
    let shuttles = get_json(client, &format!("{}/api/v1/shuttles", demo.url), admin).await;
    let status = |s: &str| {
        shuttles
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == s)
            .count()
    };
    assert_eq!((status("open"), status("in_fab")), (2, 1), "{shuttles}");
    let bookings = get_json(client, &format!("{}/api/v1/bookings", demo.url), admin).await;
    let bookings = bookings.as_array().unwrap();
    let tenants: std::collections::BTreeSet<&str> = bookings
        .iter()
        .map(|b| b["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants.len(), 3, "{bookings:?}");
    assert!(bookings.iter().any(|b| b["status"] == "waitlisted"));
    let fab = shuttles
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == "in_fab")
        .unwrap();
    let lot = fab["lot"].as_str().unwrap();
    let per_design = get_json(
        client,
        &format!("{}/api/v1/yield?group_by=design&lot={lot}", demo.url),
        admin,
    )
    .await;
    assert_eq!(
        per_design.as_array().unwrap().len(),
        4,
        "three designs and test structures: {per_design}"
    );
    let own = get_json(
        client,
        &format!("{}/api/v1/yield?group_by=design&lot={lot}", demo.url),
        &tenant_admin,
    )
    .await;
    let own = own.as_array().unwrap();
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(own[0]["summary"]["dies"].as_u64().unwrap() > 0);
    let mine = get_json(
        client,
        &format!("{}/api/v1/bookings", demo.url),
        &tenant_admin,
    )
    .await;
    let in_fab = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["status"] == "in_fab")
        .expect("the tenant admin's booking in fab");
    let f = get_json(
        client,
        &format!(
            "{}/api/v1/bookings/{}/forecast",
            demo.url,
            in_fab["id"].as_str().unwrap()
        ),
        &tenant_admin,
    )
    .await;
    assert!(f["forecast"]["expected"].is_string(), "{f}");
    assert!(f["progress"]["steps_done"].as_u64().unwrap() > 0, "{f}");
}
