//! Metrology at track-out over HTTP: an implausible reading is refused for re-measure; an
//! out-of-spec reading puts the lot on hold automatically, and the lot cannot move until an
//! engineer releases it with a disposition and a comment.

use crate::harness::Server;
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
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "measure again");
        s.post(
            "operator",
            out,
            json!({"readings": [{"parameter": "sheet_resistance", "value": 1.0}]}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "oxide_thickness");
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
        .problem(StatusCode::CONFLICT, "hold");
        // Operators do not release; engineers need a disposition.
        let release = format!("/api/v1/lots/S1/holds/{hold}/release");
        s.post(
            "operator",
            &release,
            json!({"comment": "looks fine", "disposition": "use-as-is"}),
        )
        .await
        .problem(StatusCode::FORBIDDEN, "release");
        s.post(
            "engineer",
            &release,
            json!({"comment": "checked the ellipsometer"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "disposition");
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
