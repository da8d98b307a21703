//! Sixteen concurrent track-ins of one lot, and idempotent retries.

use crate::harness::Server;
use pilotline_domain::Code;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_track_ins_one_wins_and_retries_replay() {
    for s in Server::all("sixteen_concurrent_track_ins").await {
        s.seed().await;
        s.start_lot("R1", "MHP-GS200", 25).await;
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("race-{i}");
                let tool = format!("DESIGN-SIGNOFF-0{}", 1 + i % 2);
                let body = json!({"equipment": tool});
                let a = s
                    .call_with(
                        "operator",
                        Method::POST,
                        "/api/v1/lots/R1/track-in",
                        Some(body.clone()),
                        &[("Idempotency-Key", &key)],
                    )
                    .await;
                (key, body, a)
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let winners = answers
            .iter()
            .filter(|(_, _, a)| a.status.is_success())
            .count();
        assert_eq!(
            winners,
            1,
            "{}: {:?}",
            s.label,
            answers.iter().map(|a| a.2.status).collect::<Vec<_>>()
        );
        for (_, _, a) in &answers {
            if !a.status.is_success() {
                assert_eq!(a.status, StatusCode::CONFLICT, "{:?}", a.body);
                assert_eq!(a.content_type, "application/problem+json");
            }
        }
        let events_before = s
            .get("manager", "/api/v1/lots/R1/history")
            .await
            .body
            .as_array()
            .unwrap()
            .len();
        assert_eq!(events_before, 2);
        // Every retry with the same key returns the first answer and changes nothing.
        for (key, body, first) in &answers {
            let again = s
                .call_with(
                    "operator",
                    Method::POST,
                    "/api/v1/lots/R1/track-in",
                    Some(body.clone()),
                    &[("Idempotency-Key", key)],
                )
                .await;
            assert_eq!(again.status, first.status, "{key}");
            assert_eq!(again.body, first.body, "{key}");
            assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
        }
        let events_after = s
            .get("manager", "/api/v1/lots/R1/history")
            .await
            .body
            .as_array()
            .unwrap()
            .len();
        assert_eq!(
            events_after, events_before,
            "{}: retries changed the lot",
            s.label
        );
        // The same key with another body is refused.
        let (key, _, _) = &answers[0];
        let other = s
            .call_with(
                "operator",
                Method::POST,
                "/api/v1/lots/R1/track-in",
                Some(json!({"equipment": "X"})),
                &[("Idempotency-Key", key)],
            )
            .await;
        other.problem(StatusCode::UNPROCESSABLE_ENTITY, Code::IdempotencyKeyReused);
        // A key on a lot start: the retry answers 201 with the same lot, and no second lot exists.
        let start = json!({"product": "MHP-GS200", "wafer_count": 3});
        let first = s
            .call_with(
                "operator",
                Method::POST,
                "/api/v1/lots",
                Some(start.clone()),
                &[("Idempotency-Key", "start-1")],
            )
            .await;
        let again = s
            .call_with(
                "operator",
                Method::POST,
                "/api/v1/lots",
                Some(start),
                &[("Idempotency-Key", "start-1")],
            )
            .await;
        assert_eq!(
            (first.status, again.status),
            (StatusCode::CREATED, StatusCode::CREATED)
        );
        assert_eq!(first.body["id"], again.body["id"]);
        let page = s.get("manager", "/api/v1/lots").await.body;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        Arc::into_inner(s).unwrap().stop().await;
    }
}
