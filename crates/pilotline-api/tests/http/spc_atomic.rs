//! A track-out whose readings break an SPC rule is one unit: the readings, the move, the
//! chart's hold and tool inhibit are committed together — or, when the chart step fails,
//! nothing is.

use crate::harness::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn reading(wafer: &str, value: f64) -> Value {
    json!({"parameter": "oxide_thickness", "wafer": wafer, "site": 1, "value": value})
}

/// A chart on oxide thickness at FB050 with frozen limits around 500 nm (five baseline wafers
/// of lot B1), and lot S1 running on FURNACE-01 at FB050.
async fn running_at_the_charted_step(s: &Server) {
    s.seed().await;
    s.start_lot("B1", "MHP-GS200", 5).await;
    s.start_lot("S1", "MHP-GS200", 3).await;
    let chart = json!({
        "id": "OX-FB050", "parameter": "oxide_thickness", "step": "FB050",
        "chart_type": "imr", "rules": ["nelson1"], "action": "hold_and_inhibit",
        "baseline_points": 5
    });
    let a = s.post("engineer", "/api/v1/spc/charts", chart).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}: {:?}", s.label, a.body);
    let baseline: Vec<Value> = [500.0, 501.0, 499.0, 500.5, 499.5]
        .iter()
        .enumerate()
        .map(|(i, v)| reading(&format!("B1-W0{}", i + 1), *v))
        .collect();
    let a = s
        .post(
            "operator",
            "/api/v1/measurements",
            json!({"lot": "B1", "step": "FB050", "equipment": "FURNACE-02", "readings": baseline}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}: {:?}", s.label, a.body);
    let c = s.get("engineer", "/api/v1/spc/charts/OX-FB050").await.body;
    assert_eq!(c["version"], 1, "{c}");
    while s.get("operator", "/api/v1/lots/S1").await.body["step"]["id"] != "FB050" {
        s.move_step("S1").await;
    }
    let a = s
        .post(
            "operator",
            "/api/v1/lots/S1/track-in",
            json!({"equipment": "FURNACE-01"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}: {:?}", s.label, a.body);
}

/// In spec (480-520) but far beyond 3 sigma of the baseline: out of control.
fn out_of_control() -> Value {
    json!({"readings": [reading("S1-W01", 515.0)]})
}

#[tokio::test]
async fn an_out_of_control_track_out_holds_the_lot_and_downs_the_tool_in_the_same_answer() {
    for s in Server::all("spc_atomic_ok").await {
        running_at_the_charted_step(&s).await;
        let a = s
            .post("operator", "/api/v1/lots/S1/track-out", out_of_control())
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", s.label, a.body);
        // The answer already shows the hold the chart placed.
        assert_eq!(a.body["step"]["id"], "FB060", "{:?}", a.body);
        let holds = a.body["holds"].as_array().unwrap();
        assert_eq!(holds.len(), 1, "{:?}", a.body);
        assert_eq!(holds[0]["reason_code"], "SPC-OOC");
        let tool = s.get("engineer", "/api/v1/equipment/FURNACE-01").await.body;
        assert_eq!(tool["state"], "unscheduled_down", "{tool}");
        s.stop().await;
    }
}

#[tokio::test]
async fn a_failing_chart_step_leaves_the_track_out_wholly_undone() {
    for s in Server::all("spc_atomic_fail").await {
        running_at_the_charted_step(&s).await;
        let before = s.get("operator", "/api/v1/lots/S1").await.body;
        let events_before = s.get("operator", "/api/v1/lots/S1/history").await.body;
        // Damage the chart's definition: loading it in the track-out's chart step fails.
        s.sql("UPDATE spc_charts SET doc = '{\"damaged\": true}' WHERE id = 'OX-FB050'")
            .await;
        let a = s
            .post("operator", "/api/v1/lots/S1/track-out", out_of_control())
            .await;
        assert_eq!(
            a.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}: {:?}",
            s.label,
            a.body
        );
        assert_eq!(a.body["code"], "internal", "{:?}", a.body);
        // Nothing of the track-out is left: not the move, not the readings, not an event,
        // and the tool still runs the lot.
        let after = s.get("operator", "/api/v1/lots/S1").await.body;
        assert_eq!(after, before, "{}", s.label);
        let events = s.get("operator", "/api/v1/lots/S1/history").await.body;
        assert_eq!(events, events_before, "{}", s.label);
        let stored = s.get("engineer", "/api/v1/measurements?lot=S1").await.body;
        assert_eq!(stored.as_array().unwrap().len(), 0, "{stored}");
        let tool = s.get("engineer", "/api/v1/equipment/FURNACE-01").await.body;
        assert_eq!(
            (tool["state"].as_str(), tool["current_lot"].as_str()),
            (Some("productive"), Some("S1")),
            "{tool}"
        );
        s.stop().await;
    }
}
