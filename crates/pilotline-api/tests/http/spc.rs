//! Metrology at track-out over HTTP: an implausible reading is refused for re-measure; an
//! out-of-spec reading puts the lot on hold automatically, and the lot cannot move until an
//! engineer releases it with a disposition and a comment.

use crate::harness::Server;
use pilotline_domain::Code;
use reqwest::StatusCode;
use serde_json::json;

fn reading(wafer: &str, site: u32, value: f64) -> serde_json::Value {
    json!({"parameter": "oxide_thickness", "wafer": wafer, "site": site, "value": value})
}

#[tokio::test]
async fn an_out_of_spec_reading_holds_the_lot_until_an_engineer_disposes_of_it() {
    for s in Server::all("spc_hold").await {
        s.seed().await;
        s.start_lot("S1", "MHP-GS200", 3).await;
        // To FB050, thermal oxidation, whose plan measures oxide_thickness (480-520 nm).
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
        let out = "/api/v1/lots/S1/track-out";

        // Implausible: refused, measure again; the lot is still running.
        s.post(
            "operator",
            out,
            json!({"readings": [reading("S1-W01", 1, 99999.0)]}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::ReadingImplausible);
        s.post(
            "operator",
            out,
            json!({"readings": [{"parameter": "sheet_resistance", "value": 1.0}]}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::ParameterNotPlanned);
        assert_eq!(
            s.get("operator", "/api/v1/lots/S1").await.body["state"],
            "running"
        );

        // One reading out of spec: tracked out and held automatically.
        let readings =
            json!({"readings": [reading("S1-W01", 1, 501.0), reading("S1-W02", 3, 541.5)]});
        let a = s.post("operator", out, readings).await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", s.label, a.body);
        assert_eq!(a.body["step"]["id"], "FB060");
        let holds = a.body["holds"].as_array().unwrap();
        assert_eq!(holds.len(), 1, "{:?}", a.body);
        assert_eq!(holds[0]["reason_code"], "SPC-OOS");
        let comment = holds[0]["comment"].as_str().unwrap();
        for part in [
            "oxide_thickness = 541.5",
            "S1-W02",
            "site 3",
            "FB050",
            "[480, 520]",
        ] {
            assert!(comment.contains(part), "{comment:?} lacks {part:?}");
        }
        let hold = holds[0]["id"].as_u64().unwrap();

        // It cannot move.
        s.post(
            "operator",
            "/api/v1/lots/S1/track-in",
            json!({"equipment": "LPCVD-01"}),
        )
        .await
        .problem(StatusCode::CONFLICT, Code::LotHeld);
        // Operators do not release; engineers need a disposition.
        let release = format!("/api/v1/lots/S1/holds/{hold}/release");
        s.post(
            "operator",
            &release,
            json!({"comment": "looks fine", "disposition": "use-as-is"}),
        )
        .await
        .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        s.post(
            "engineer",
            &release,
            json!({"comment": "checked the ellipsometer"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::DispositionRequired);
        let a = s
            .post(
                "engineer",
                &release,
                json!({"comment": "wafer 2 within 5 % of target; MEMS stress OK", "disposition": "use-as-is"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", s.label, a.body);
        assert!(a.body["holds"].as_array().unwrap().is_empty());
        let a = s
            .post(
                "operator",
                "/api/v1/lots/S1/track-in",
                json!({"equipment": "LPCVD-01"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", s.label, a.body);

        // The audit trail keeps the readings, the automatic hold and the disposition.
        let history = s.get("manager", "/api/v1/lots/S1/history").await.body;
        let text = history.to_string();
        for part in [
            "\"value\":541.5",
            "SPC-OOS",
            "reading out of spec at track-out",
        ] {
            assert!(text.contains(part), "history lacks {part}: {text}");
        }
        assert!(history.to_string().contains("use-as-is"));
        s.stop().await;
    }
}

/// Posts `csv` as `text/csv` to the measurements route.
async fn post_csv(s: &Server, who: &str, csv: &str) -> (StatusCode, serde_json::Value) {
    let res = s
        .client
        .post(format!("{}/api/v1/measurements", s.base))
        .bearer_auth(&s.tokens[who])
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn an_out_of_control_point_holds_the_lot_and_inhibits_the_tool_by_frozen_limits() {
    for s in Server::all("spc_chart").await {
        s.seed().await;
        s.start_lot("S2", "MHP-GS200", 3).await;
        s.start_lot("S3", "MHP-GS200", 3).await;
        let chart = json!({
            "id": "OX-FB050", "parameter": "oxide_thickness", "step": "FB050",
            "chart_type": "imr", "rules": ["nelson1", "nelson2"],
            "action": "hold_and_inhibit", "lsl": 480.0, "usl": 520.0, "baseline_points": 5
        });
        let a = s
            .post("engineer", "/api/v1/spc/charts", chart.clone())
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}: {:?}", s.label, a.body);
        assert_eq!(a.body["version"], 0);
        s.post("operator", "/api/v1/spc/charts", chart)
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);

        // Baseline: three wafers through the API, two through a CSV upload.
        let a = s
            .post(
                "operator",
                "/api/v1/measurements",
                json!({"lot": "S2", "step": "FB050", "equipment": "FURNACE-01", "readings": [
                    reading("S2-W01", 1, 500.0), reading("S2-W02", 1, 501.0),
                    reading("S2-W03", 1, 499.0)]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}: {:?}", s.label, a.body);
        assert_eq!(a.body["stored"], 3);
        let csv = "lot,step,parameter,wafer,site,value\n\
                   S3,FB050,oxide_thickness,S3-W01,1,500.5\n\
                   S3,FB050,oxide_thickness,S3-W02,1,499.5\n";
        let (status, body) = post_csv(&s, "operator", csv).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["signals"].as_array().unwrap().is_empty(), "{body}");

        // The first five points froze version 1's limits.
        let c = s.get("engineer", "/api/v1/spc/charts/OX-FB050").await.body;
        assert_eq!(c["version"], 1, "{c}");
        assert_eq!(c["points"].as_array().unwrap().len(), 5);
        assert!((c["limits"]["limits"]["center"].as_f64().unwrap() - 500.0).abs() < 1e-9);
        assert!(c["capability"]["cpk"].as_f64().unwrap() > 1.0, "{c}");

        // A bad CSV line rejects the whole file; an implausible reading is refused.
        let bad = "lot,step,parameter,wafer,site,value\n\
                   S3,FB050,oxide_thickness,S3-W03,1,500\nS3,FB050,oxide_thickness,S3-W03,2,abc\n";
        let (status, body) = post_csv(&s, "operator", bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["code"] == "csv_invalid" && body["params"]["line"] == "3",
            "{body}"
        );
        s.post(
            "operator",
            "/api/v1/measurements",
            json!({"lot": "S3", "step": "FB050", "readings": [reading("S3-W03", 1, 99999.0)]}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::ReadingImplausible);
        let stored = s.get("engineer", "/api/v1/measurements?lot=S3").await.body;
        assert_eq!(stored.as_array().unwrap().len(), 2, "{stored}");

        // In spec but beyond 3 sigma: out of control.
        let a = s
            .post(
                "operator",
                "/api/v1/measurements",
                json!({"lot": "S3", "step": "FB050", "equipment": "FURNACE-01",
                       "readings": [reading("S3-W03", 1, 510.0)]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}: {:?}", s.label, a.body);
        assert!(a.body["out_of_spec"].as_array().unwrap().is_empty());
        let signal = &a.body["signals"][0];
        assert_eq!(signal["rule"], "nelson1", "{:?}", a.body);
        assert_eq!(
            (signal["held"].as_bool(), signal["inhibited"].as_str()),
            (Some(true), Some("FURNACE-01"))
        );
        let lot = s.get("engineer", "/api/v1/lots/S3").await.body;
        let hold = &lot["holds"][0];
        assert_eq!(hold["reason_code"], "SPC-OOC", "{lot}");
        let comment = hold["comment"].as_str().unwrap();
        assert!(
            comment.contains("OX-FB050")
                && comment.contains("nelson1")
                && comment.contains("S3-W03"),
            "{comment}"
        );
        let tool = s.get("engineer", "/api/v1/equipment/FURNACE-01").await.body;
        assert_eq!(tool["state"], "unscheduled_down", "{tool}");
        let c = s.get("engineer", "/api/v1/spc/charts/OX-FB050").await.body;
        assert_eq!(c["violations"][0]["index"], 5, "{c}");

        // Release needs an engineer's disposition and comment.
        let id = hold["id"].as_u64().unwrap();
        let release = format!("/api/v1/lots/S3/holds/{id}/release");
        s.post("engineer", &release, json!({"comment": "checked"}))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::DispositionRequired);
        let a = s
            .post(
                "engineer",
                &release,
                json!({"comment": "checked", "disposition": "use-as-is"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);

        // Limits change only on request, as a new version.
        let a = s
            .post("engineer", "/api/v1/spc/charts/OX-FB050/limits", json!({}))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(a.body["version"], 2);
        assert_eq!(a.body["limits"]["baseline"], 5);
        let sources: Vec<&str> = stored
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["source"].as_str().unwrap())
            .collect();
        assert_eq!(sources, ["csv", "csv"]);
        s.stop().await;
    }
}
