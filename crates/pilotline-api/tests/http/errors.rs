//! Bad input gets a clear problem+json answer and writes nothing.

use crate::harness::Server;
use pilotline_domain::Code;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn bad_requests_get_clear_problems_and_change_nothing() {
    for s in Server::all("bad_requests_get_clear_problems").await {
        s.seed().await;
        s.start_lot("E1", "MHP-GS200", 5).await;
        let before = s.get("manager", "/api/v1/lots/E1/history").await.body;

        s.raw(
            "operator",
            "/api/v1/lots/E1/track-in",
            "application/json",
            "{\"equipment\": ",
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::BodyInvalid);
        s.raw(
            "operator",
            "/api/v1/lots/E1/track-in",
            "application/json",
            "{\"equipment\": \"DESIGN-SIGNOFF-01\"} trailing",
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::BodyInvalid);
        s.post(
            "operator",
            "/api/v1/lots/E1/track-in",
            json!({"equipment": "DESIGN-SIGNOFF-01", "speed": 3}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::BodyInvalid);
        s.post(
            "operator",
            "/api/v1/lots/E1/track-in",
            json!({"equipment": 42}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::BodyInvalid);
        s.post("operator", "/api/v1/lots/E1/track-in", json!({}))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::BodyInvalid);
        s.raw(
            "operator",
            "/api/v1/lots/E1/track-in",
            "text/plain",
            "equipment=x",
        )
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::UnsupportedMedia);
        s.post(
            "operator",
            "/api/v1/lots/E1/track-in",
            json!({"equipment": "NO-SUCH-TOOL"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::EquipmentUnknown);
        s.post(
            "operator",
            "/api/v1/lots/E1/track-in",
            json!({"equipment": "FURNACE-01"}),
        )
        .await
        .problem(StatusCode::CONFLICT, Code::EquipmentWrongType);
        s.post(
            "operator",
            "/api/v1/lots",
            json!({"product": "MHP-GS200", "wafer_count": 26}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::OutOfRange);
        s.post(
            "operator",
            "/api/v1/lots",
            json!({"product": "MHP-GS200", "wafer_count": 2, "lot_type": "hobby"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::BodyInvalid);
        s.post(
            "operator",
            "/api/v1/lots",
            json!({"product": "NOPE", "wafer_count": 2}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::ProductUnknown);
        s.post(
            "operator",
            "/api/v1/lots",
            json!({"id": "E1", "product": "MHP-GS200", "wafer_count": 2}),
        )
        .await
        .problem(StatusCode::CONFLICT, Code::LotExists);
        s.get("operator", "/api/v1/lots?state=flying")
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::QueryInvalid);
        s.get("operator", "/api/v1/lots/NOPE")
            .await
            .problem(StatusCode::NOT_FOUND, Code::LotNotFound);
        s.post(
            "operator",
            "/api/v1/lots/NOPE/track-in",
            json!({"equipment": "DESIGN-SIGNOFF-01"}),
        )
        .await
        .problem(StatusCode::NOT_FOUND, Code::LotNotFound);
        s.get("operator", "/api/v1/nothing-here")
            .await
            .problem(StatusCode::NOT_FOUND, Code::PathNotFound);
        s.call("operator", Method::DELETE, "/api/v1/lots/E1", None)
            .await
            .problem(StatusCode::METHOD_NOT_ALLOWED, Code::MethodNotAllowed);

        // Authentication: missing, malformed and unknown tokens.
        let anon = s
            .client
            .get(format!("{}/api/v1/lots", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(anon.headers()["www-authenticate"], "Bearer");
        s.get("plt_not-a-real-token", "/api/v1/lots")
            .await
            .problem(StatusCode::UNAUTHORIZED, Code::AuthInvalid);
        let basic = s
            .client
            .get(format!("{}/api/v1/lots", s.base))
            .header("authorization", "Basic eDp5")
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        s.call(
            "plt_bad",
            Method::POST,
            "/api/v1/lots/E1/track-in",
            Some(json!({"equipment": "DESIGN-SIGNOFF-01"})),
        )
        .await
        .problem(StatusCode::UNAUTHORIZED, Code::AuthInvalid);
        // Role: a manager reads but does not move.
        s.post(
            "manager",
            "/api/v1/lots/E1/track-in",
            json!({"equipment": "DESIGN-SIGNOFF-01"}),
        )
        .await
        .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        // If-Match on a stale version.
        s.call_with(
            "operator",
            Method::POST,
            "/api/v1/lots/E1/track-in",
            Some(json!({"equipment": "DESIGN-SIGNOFF-01"})),
            &[("If-Match", "99")],
        )
        .await
        .problem(StatusCode::CONFLICT, Code::LotVersionMismatch);

        // Role before state: a manager's track-out of a waiting lot is a 403, not a 409.
        s.post("manager", "/api/v1/lots/E1/track-out", json!({}))
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        // Control characters are refused in text fields.
        s.post(
            "operator",
            "/api/v1/lots/E1/holds",
            json!({"reason_code": "QA\u{0}", "comment": "nul"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::FieldControlChars);
        // A reading must name a wafer of its lot.
        s.post(
            "operator",
            "/api/v1/measurements",
            json!({"lot": "E1", "step": "FB050", "readings": [
                {"parameter": "oxide_thickness", "wafer": "OTHER-W01", "value": 500.0}]}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::ReadingWaferNotInLot);
        // A time window must not be reversed, on every route that takes one.
        for path in [
            "/api/v1/equipment/DESIGN-SIGNOFF-01/samples?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "/api/v1/equipment/DESIGN-SIGNOFF-01/states?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        ] {
            s.get("manager", path)
                .await
                .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::WindowReversed);
        }
        // A state history reads its window only, and a window is at most 400 days.
        s.get(
            "manager",
            "/api/v1/equipment/DESIGN-SIGNOFF-01/states?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::OutOfRange);
        // Too large, too long, not UTF-8: problem+json like every other refusal.
        let big = format!("{{\"equipment\": \"{}\"}}", "x".repeat(3 << 20));
        s.raw(
            "operator",
            "/api/v1/lots/E1/track-in",
            "application/json",
            big,
        )
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, Code::BodyTooLarge);
        s.get("operator", &format!("/api/v1/lots/{}", "L".repeat(9000)))
            .await
            .problem(StatusCode::URI_TOO_LONG, Code::UriTooLong);
        s.get("operator", "/api/v1/lots/%FF%FE")
            .await
            .problem(StatusCode::BAD_REQUEST, Code::BadRequest);

        // An STDF file that holds no part result is refused, not counted as a 0-die lot.
        let mut empty = vec![2, 0, 0, 10, 2, 4]; // FAR: CPU_TYPE 2, STDF V4
        let mir: Vec<u8> = [
            &[0u8; 8][..],                      // SETUP_T, START_T
            &[1, b' ', b' ', b' ', 0, 0, b' '], // STAT_NUM … CMOD_COD
            &[2, b'E', b'X'],                   // LOT_ID
            &[1, b'P'],                         // PART_TYP
        ]
        .concat();
        empty.extend([mir.len() as u8, 0, 1, 10]);
        empty.extend(mir);
        empty.extend([4, 0, 1, 20, 0, 0, 0, 0]); // MRR
        s.raw(
            "engineer",
            "/api/v1/test-files?create_lots=true",
            "application/octet-stream",
            empty,
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::TestFileEmpty);

        let after = s.get("manager", "/api/v1/lots/E1/history").await.body;
        assert_eq!(
            before, after,
            "{}: a refused request wrote something",
            s.label
        );
        let lots = s.get("manager", "/api/v1/lots").await.body;
        assert_eq!(lots["items"].as_array().unwrap().len(), 1);
        let tool = s
            .get("manager", "/api/v1/equipment/DESIGN-SIGNOFF-01")
            .await
            .body;
        assert_eq!(tool["state"], "standby");
        s.stop().await;
    }
}
