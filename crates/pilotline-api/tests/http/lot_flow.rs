//! A lot through the whole route, holds, split/merge/rework/scrap/future hold/ship, genealogy.

use crate::harness::Server;
use pilotline_domain::Code;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_lot_runs_every_step_to_completion_over_http() {
    for s in Server::all("a_lot_runs_every_step_to_completion_over_http").await {
        s.seed().await;
        let lot = s.start_lot("F1", "MHP-GS200", 25).await;
        assert_eq!(lot["state"], "waiting");
        assert_eq!(lot["step"]["equipment_type"], "DESIGN-SIGNOFF");
        assert_eq!(lot["wafers"].as_array().unwrap().len(), 25);
        assert_eq!(lot["version"], 1);
        let steps = s.route.steps.len();
        let mut last = lot;
        for _ in 0..steps {
            last = s.move_step("F1").await;
        }
        assert_eq!(last["state"], "completed", "{}", s.label);
        let history = s.get("manager", "/api/v1/lots/F1/history").await;
        assert_eq!(history.status, StatusCode::OK);
        let events = history.body.as_array().unwrap();
        assert_eq!(events.len(), 1 + 2 * steps);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["seq"], i + 1);
            assert_eq!(e["user"], "operator");
            assert!(e["at"].as_str().unwrap().starts_with("20"));
        }
        assert_eq!(events[0]["change"]["type"], "started");
        assert_eq!(events[1]["change"]["type"], "tracked_in");
        assert_eq!(events[2]["change"]["type"], "tracked_out");
        assert_eq!(events.last().unwrap()["after"]["state"], "completed");
        let shipped = s.post("operator", "/api/v1/lots/F1/ship", json!({})).await;
        assert_eq!(shipped.body["state"], "shipped");
        s.stop().await;
    }
}

#[tokio::test]
async fn holds_split_merge_rework_scrap_future_hold_and_genealogy() {
    for s in Server::all("holds_split_merge_rework_scrap").await {
        s.seed().await;
        s.start_lot("G1", "MHP-GS200", 10).await;
        s.move_step("G1").await;
        // Two holds: 201 with ids; the lot cannot move until both are released.
        let h1 = s
            .post(
                "operator",
                "/api/v1/lots/G1/holds",
                json!({"reason_code": "ENG", "comment": "look"}),
            )
            .await;
        assert_eq!(h1.status, StatusCode::CREATED);
        let h2 = s
            .post(
                "operator",
                "/api/v1/lots/G1/holds",
                json!({"reason_code": "QA", "comment": "look"}),
            )
            .await;
        let (id1, id2) = (
            h1.body["id"].as_u64().unwrap(),
            h2.body["id"].as_u64().unwrap(),
        );
        assert_ne!(id1, id2);
        let tin = json!({"equipment": "MASK-INSPECT-01"});
        s.post("operator", "/api/v1/lots/G1/track-in", tin.clone())
            .await
            .problem(StatusCode::CONFLICT, Code::LotHeld);
        let rel = |id: u64| format!("/api/v1/lots/G1/holds/{id}/release");
        // Another operator may not release the operator's hold (its own it may: see below).
        let other = s
            .issue("operator-2", pilotline_domain::Role::Operator, None)
            .await;
        s.post(&other, &rel(id1), json!({"comment": "ok"}))
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        s.post("manager", &rel(id1), json!({"comment": "ok"}))
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        assert_eq!(
            s.post("engineer", &rel(id1), json!({"comment": "ok"}))
                .await
                .status,
            StatusCode::OK
        );
        s.post("operator", "/api/v1/lots/G1/track-in", tin.clone())
            .await
            .problem(StatusCode::CONFLICT, Code::LotHeld);
        // The operator takes back its own plain hold.
        assert_eq!(
            s.post("operator", &rel(id2), json!({"comment": "ok"}))
                .await
                .status,
            StatusCode::OK
        );
        s.post("engineer", &rel(id2), json!({"comment": "ok"}))
            .await
            .problem(StatusCode::NOT_FOUND, Code::HoldNotFound);
        s.post("operator", "/api/v1/lots/G1/track-out", json!({}))
            .await
            .problem(StatusCode::CONFLICT, Code::LotNotRunning);
        assert_eq!(
            s.post("operator", "/api/v1/lots/G1/track-in", tin)
                .await
                .status,
            StatusCode::OK
        );
        s.post("operator", "/api/v1/lots/G1/track-out", json!({}))
            .await;

        // Split two wafers off, then merge them back.
        let split = s
            .post(
                "operator",
                "/api/v1/lots/G1/split",
                json!({"wafers": ["G1-W03", "G1-W07"]}),
            )
            .await;
        assert_eq!(split.status, StatusCode::CREATED, "{:?}", split.body);
        assert_eq!(split.body["child"]["id"], "G1.1");
        assert_eq!(split.body["child"]["wafer_count"], 2);
        assert_eq!(split.body["parent"]["wafer_count"], 8);
        let held_child = s
            .post(
                "operator",
                "/api/v1/lots/G1.1/holds",
                json!({"reason_code": "X", "comment": "c"}),
            )
            .await;
        s.post(
            "operator",
            "/api/v1/lots/G1/merge",
            json!({"from_lot": "G1.1"}),
        )
        .await
        .problem(StatusCode::CONFLICT, Code::LotHeld);
        let hid = held_child.body["id"].as_u64().unwrap();
        s.post(
            "engineer",
            &format!("/api/v1/lots/G1.1/holds/{hid}/release"),
            json!({"comment": "ok"}),
        )
        .await;
        let merged = s
            .post(
                "operator",
                "/api/v1/lots/G1/merge",
                json!({"from_lot": "G1.1"}),
            )
            .await;
        assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
        assert_eq!(merged.body["lot"]["wafer_count"], 10);
        assert_eq!(merged.body["merged"]["state"], "merged");
        let g = s.get("manager", "/api/v1/lots/G1.1/genealogy").await.body;
        assert_eq!(g["parents"], json!(["G1"]));
        assert_eq!(g["children"], json!(["G1"]));
        assert_eq!(g["links"].as_array().unwrap().len(), 2);
        assert_eq!(g["links"][0]["kind"], "split");
        assert_eq!(g["links"][0]["wafers"], json!(["G1-W03", "G1-W07"]));

        // Future hold at step index 4 fires on arrival.
        let target = s.route.steps[4].id.clone();
        let fh = s
            .post(
                "engineer",
                "/api/v1/lots/G1/future-holds",
                json!({"step": target, "reason_code": "PRE-OX", "comment": "check clean"}),
            )
            .await;
        assert_eq!(fh.status, StatusCode::CREATED, "{:?}", fh.body);
        s.move_step("G1").await;
        s.move_step("G1").await;
        let lot = s.get("operator", "/api/v1/lots/G1").await.body;
        assert_eq!(lot["step"]["id"], target.as_str());
        assert_eq!(lot["holds"][0]["reason_code"], "PRE-OX");
        let hid = lot["holds"][0]["id"].as_u64().unwrap();
        s.post(
            "engineer",
            &format!("/api/v1/lots/G1/holds/{hid}/release"),
            json!({"comment": "ok"}),
        )
        .await;

        // Rework back to the clean step, within the limit of 2.
        let back = s.route.steps[3].id.clone();
        let rw = s
            .post(
                "engineer",
                "/api/v1/lots/G1/rework",
                json!({"to_step": back, "reason": "particles"}),
            )
            .await;
        assert_eq!(rw.status, StatusCode::OK, "{:?}", rw.body);
        assert_eq!(rw.body["rework_count"], 1);
        s.post(
            "engineer",
            "/api/v1/lots/G1/rework",
            json!({"to_step": s.route.steps[9].id, "reason": "x"}),
        )
        .await
        .problem(StatusCode::CONFLICT, Code::ReworkNotBack);

        // Scrap wafers, then ship is refused for a lot that is not completed.
        let sc = s
            .post(
                "operator",
                "/api/v1/lots/G1/scrap",
                json!({"wafers": ["G1-W01"], "reason": "cracked"}),
            )
            .await;
        assert_eq!(sc.body["wafer_count"], 9);
        s.post("operator", "/api/v1/lots/G1/ship", json!({}))
            .await
            .problem(StatusCode::CONFLICT, Code::LotStateForbids);
        let sc = s
            .post(
                "operator",
                "/api/v1/lots/G1/scrap",
                json!({"reason": "contaminated"}),
            )
            .await;
        assert_eq!(sc.body["state"], "scrapped");
        let history = s.get("engineer", "/api/v1/lots/G1/history").await.body;
        let kinds: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["change"]["type"].as_str().unwrap())
            .collect();
        for k in [
            "hold_placed",
            "hold_released",
            "split_out",
            "merged_in",
            "future_hold_placed",
            "reworked",
            "scrapped",
        ] {
            assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn lists_wip_equipment_and_openapi() {
    for s in Server::all("lists_wip_equipment_and_openapi").await {
        s.seed().await;
        s.start_lot("W1", "MHP-GS200", 5).await;
        s.start_lot("W2", "MHP-GS200", 7).await;
        s.move_step("W2").await;
        let tool = "MASK-INSPECT-01";
        s.post(
            "operator",
            "/api/v1/lots/W2/track-in",
            json!({"equipment": tool}),
        )
        .await;
        let page = s.get("manager", "/api/v1/lots?state=running").await.body;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0]["id"], "W2");
        let page = s.get("manager", "/api/v1/lots?limit=1").await.body;
        assert_eq!(page["next_cursor"], "W1");
        let wip = s.get("manager", "/api/v1/wip").await.body;
        let rows = wip.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["state"], "waiting");
        assert_eq!(rows[1]["state"], "running");
        assert_eq!(rows[1]["wafers"], 7);
        let eq = s
            .get("operator", &format!("/api/v1/equipment/{tool}"))
            .await
            .body;
        assert_eq!(
            (eq["state"].as_str(), eq["current_lot"].as_str()),
            (Some("productive"), Some("W2"))
        );
        let list = s
            .get("operator", "/api/v1/equipment?equipment_type=DRIE")
            .await
            .body;
        assert_eq!(list.as_array().unwrap().len(), 2);
        let down = s
            .post(
                "engineer",
                "/api/v1/equipment/DRIE-02/state",
                json!({"state": "scheduled_down", "reason": "PM work order 4711"}),
            )
            .await;
        assert_eq!(down.body["state"], "scheduled_down");
        let states = s
            .get("engineer", "/api/v1/equipment/DRIE-02/states")
            .await
            .body;
        assert_eq!(states["changes"][0]["to"], "scheduled_down");
        assert_eq!(states["utilisation"]["failures"], 0);
        // A window before every change: no changes in it, and the whole window in the state
        // the first later change left.
        let before = s
            .get(
                "engineer",
                "/api/v1/equipment/DRIE-02/states?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
            )
            .await
            .body;
        assert_eq!(before["changes"].as_array().unwrap().len(), 0, "{before}");
        let initial = states["changes"][0]["from"].as_str().unwrap();
        assert_eq!(
            before["utilisation"]["seconds"][initial].as_f64(),
            Some(86_400.0),
            "{before}"
        );
        // The running tool: productive since its track-in, so its productive time is above zero.
        let busy = s
            .get("engineer", &format!("/api/v1/equipment/{tool}/states"))
            .await
            .body;
        assert_eq!(busy["changes"].as_array().unwrap().len(), 1);
        assert!(
            busy["utilisation"]["seconds"]["productive"]
                .as_f64()
                .unwrap()
                > 0.0,
            "{busy}"
        );
        assert_eq!(busy["utilisation"]["seconds"]["unscheduled_down"], 0.0);
        s.get(
            "engineer",
            "/api/v1/equipment/DRIE-02/states?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::WindowReversed);
        let doc = s.get("", "/api/openapi.json").await.body;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(doc["paths"]["/api/v1/lots/{id}/track-in"]["post"].is_object());
        assert_eq!(s.get("", "/healthz").await.status, StatusCode::OK);
        let metrics = s.get("manager", "/metrics").await;
        assert!(
            metrics
                .body
                .as_str()
                .unwrap()
                .contains("pilotline_http_requests_total")
        );
        s.stop().await;
    }
}
