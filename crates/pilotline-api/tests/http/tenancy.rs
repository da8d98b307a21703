//! A customer sees and touches only its own tenant's lots — checked for every route the API has.

use crate::harness::Server;
use pilotline_domain::Code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Every operation of the API with the request a customer of tenant `acme` tries against
/// lot `B1` of tenant `beta`, and the statuses that count as refused.
type Attempt = (Method, &'static str, String, Option<Value>, &'static [u16]);

fn attempts(b1_file: &str) -> Vec<Attempt> {
    let deny: &'static [u16] = &[403, 404];
    vec![
        (
            Method::GET,
            "/api/v1/lots/{id}",
            "/api/v1/lots/B1".into(),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/lots/{id}/history",
            "/api/v1/lots/B1/history".into(),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/lots/{id}/yield",
            "/api/v1/lots/B1/yield".into(),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/wafers/{id}/map",
            "/api/v1/wafers/B1-W01/map?format=svg".into(),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/lots/{id}/process-data",
            "/api/v1/lots/B1/process-data".into(),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/lots/{id}/genealogy",
            "/api/v1/lots/B1/genealogy".into(),
            None,
            &[404],
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/track-in",
            "/api/v1/lots/B1/track-in".into(),
            Some(json!({"equipment": "DESIGN-SIGNOFF-01"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/track-out",
            "/api/v1/lots/B1/track-out".into(),
            Some(json!({})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/holds",
            "/api/v1/lots/B1/holds".into(),
            Some(json!({"reason_code": "X", "comment": "x"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/holds/{hold_id}/release",
            "/api/v1/lots/B1/holds/1/release".into(),
            Some(json!({"comment": "x"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/future-holds",
            "/api/v1/lots/B1/future-holds".into(),
            Some(json!({"step": "FB050", "reason_code": "X", "comment": "x"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/split",
            "/api/v1/lots/B1/split".into(),
            Some(json!({"wafers": ["B1-W01"]})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/merge",
            "/api/v1/lots/B1/merge".into(),
            Some(json!({"from_lot": "B2"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/rework",
            "/api/v1/lots/B1/rework".into(),
            Some(json!({"to_step": "DR010", "reason": "x"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/scrap",
            "/api/v1/lots/B1/scrap".into(),
            Some(json!({"reason": "x"})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots/{id}/ship",
            "/api/v1/lots/B1/ship".into(),
            Some(json!({})),
            deny,
        ),
        (
            Method::POST,
            "/api/v1/lots",
            "/api/v1/lots".into(),
            Some(json!({"product": "BETA-GS1", "wafer_count": 1})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/routes",
            "/api/v1/routes".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/routes",
            "/api/v1/routes".into(),
            Some(json!({"id": "R", "name": "r", "steps": []})),
            &[403, 422],
        ),
        (
            Method::GET,
            "/api/v1/routes/{id}",
            "/api/v1/routes/MHP-GAS".into(),
            None,
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/products",
            "/api/v1/products".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/products",
            "/api/v1/products".into(),
            Some(json!({"id": "P", "default_route": "MHP-GAS"})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/equipment",
            "/api/v1/equipment".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/equipment",
            "/api/v1/equipment".into(),
            Some(json!({"id": "T", "equipment_type": "X"})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/equipment/{id}",
            "/api/v1/equipment/DRIE-01".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/equipment/{id}/state",
            "/api/v1/equipment/DRIE-01/state".into(),
            Some(json!({"state": "non_scheduled", "reason": "x"})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/equipment/{id}/states",
            "/api/v1/equipment/DRIE-01/states".into(),
            None,
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/equipment/{id}/samples",
            "/api/v1/equipment/DRIE-01/samples".into(),
            None,
            &[403],
        ),
        (Method::GET, "/metrics", "/metrics".into(), None, &[403]),
        (
            Method::GET,
            "/api/v1/lots/{id}/map",
            "/api/v1/lots/B1/map?format=svg".into(),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/lots/{id}/parametrics",
            "/api/v1/lots/B1/parametrics".into(),
            None,
            &[404],
        ),
        (
            Method::POST,
            "/api/v1/test-files",
            "/api/v1/test-files?lot=B1".into(),
            None,
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/test-files/{id}",
            format!("/api/v1/test-files/{b1_file}"),
            None,
            &[404],
        ),
        (
            Method::GET,
            "/api/v1/test-files/rejections",
            "/api/v1/test-files/rejections".into(),
            None,
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/products/{id}/bins",
            "/api/v1/products/BETA-GS1/bins".into(),
            None,
            &[404],
        ),
        (
            Method::PUT,
            "/api/v1/products/{id}/bins",
            "/api/v1/products/BETA-GS1/bins".into(),
            Some(json!([{"bin": 1, "name": "PASS", "pass": true}])),
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/measurements",
            "/api/v1/measurements".into(),
            Some(json!({"lot": "B1", "readings": [{"parameter": "x", "value": 1.0}]})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/spc/charts",
            "/api/v1/spc/charts".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/spc/charts",
            "/api/v1/spc/charts".into(),
            Some(json!({"id": "C", "parameter": "x", "chart_type": "imr"})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/spc/charts/{id}",
            "/api/v1/spc/charts/C".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/spc/charts/{id}/limits",
            "/api/v1/spc/charts/C/limits".into(),
            None,
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/tenants",
            "/api/v1/tenants".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            "/api/v1/tenants".into(),
            Some(json!({"id": "evil", "name": "Evil"})),
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/tenants/{id}/status",
            "/api/v1/tenants/beta/status".into(),
            Some(json!({"status": "suspended"})),
            &[403],
        ),
        (
            Method::GET,
            "/api/v1/tokens",
            "/api/v1/tokens?user=beta".into(),
            None,
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/tokens/{id}/revoke",
            "/api/v1/tokens/1/revoke".into(),
            Some(json!({})),
            &[403],
        ),
        (
            Method::POST,
            "/api/v1/users/{name}/status",
            "/api/v1/users/beta/status".into(),
            Some(json!({"disabled": true})),
            &[403],
        ),
    ]
}

/// Routes a customer may call and whose answers must be filtered to its tenant.
const FILTERED: [&str; 6] = [
    "/api/v1/lots",
    "/api/v1/wip",
    "/api/v1/yield",
    "/api/v1/test-files",
    "/api/v1/bins/pareto",
    "/api/v1/measurements",
];
/// Public routes that carry no lot data.
const PUBLIC: [&str; 2] = ["/healthz", "/livez"];

#[tokio::test]
async fn a_customer_cannot_read_or_act_on_another_tenants_lot_through_any_route() {
    for s in Server::all("a_customer_cannot_read_or_act_on_another_tenants_lot").await {
        s.seed().await;
        s.start_lot("A1", "ACME-GS1", 3).await;
        s.start_lot("B1", "BETA-GS1", 3).await;
        s.start_lot("B2", "BETA-GS1", 3).await;
        s.start_lot("P1", "MHP-GS200", 3).await;
        // Test data on both tenants' lots, so the yield route has something to hide.
        s.import_test_data("A1").await;
        let b1_file = s.import_test_data("B1").await;
        let seen = s
            .get("engineer", &format!("/api/v1/test-files/{b1_file}"))
            .await;
        assert_eq!(seen.status, 200, "{}: {:?}", s.label, seen.body);
        s.post(
            "operator",
            "/api/v1/lots/B1/holds",
            json!({"reason_code": "X", "comment": "x"}),
        )
        .await;
        let b1_before = s.get("engineer", "/api/v1/lots/B1").await.body;

        // Every documented operation is in the table (or is a filtered list, or public).
        let doc = s.get("", "/api/openapi.json").await.body;
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        let mut covered: BTreeSet<String> = attempts(&b1_file)
            .iter()
            .map(|(m, t, ..)| format!("{m} {t}"))
            .collect();
        covered.extend(FILTERED.iter().map(|p| format!("GET {p}")));
        covered.extend(PUBLIC.iter().map(|p| format!("GET {p}")));
        // The MPW routes have their own tenant test (`mpw::a_tenant_sees_nothing_of_…`).
        covered.extend(crate::mpw::MPW_OPERATIONS.iter().map(|o| o.to_string()));
        // So have the back end's (`units::a_customer_sees_and_touches_only_its_own_…`).
        covered.extend(crate::units::UNIT_OPERATIONS.iter().map(|o| o.to_string()));
        let missing: Vec<_> = documented.difference(&covered).collect();
        assert!(
            missing.is_empty(),
            "operations without a tenant test: {missing:?}"
        );

        for (method, template, path, body, refused) in attempts(&b1_file) {
            let a = s.call("acme", method.clone(), &path, body).await;
            assert!(
                refused.contains(&a.status.as_u16()),
                "{}: {method} {template} answered {} {:?}",
                s.label,
                a.status,
                a.body
            );
            assert_eq!(
                a.content_type, "application/problem+json",
                "{method} {template}"
            );
            // The answer may echo what the caller sent (the path), nothing else of beta's.
            let text = a.body.to_string();
            let leaked = ["BETA-GS1", "beta"]
                .iter()
                .any(|w| text.contains(w) && !path.contains(w));
            assert!(!leaked, "{template} leaked {text}");
        }
        assert_eq!(
            s.get("engineer", "/api/v1/lots/B1").await.body,
            b1_before,
            "{}: B1 changed",
            s.label
        );

        // Filtered lists show only acme's lot; the customer reads its own lot, history, genealogy.
        let page = s.get("acme", "/api/v1/lots").await.body;
        let ids: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["A1"]);
        let page = s.get("acme", "/api/v1/lots?product=BETA-GS1").await.body;
        assert!(page["items"].as_array().unwrap().is_empty());
        let wip = s.get("acme", "/api/v1/wip").await.body;
        let total: u64 = wip
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["lots"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 1);
        assert_eq!(
            s.get("acme", "/api/v1/lots/A1").await.status,
            StatusCode::OK
        );
        assert_eq!(
            s.get("acme", "/api/v1/lots/A1/history").await.status,
            StatusCode::OK
        );
        assert_eq!(
            s.get("acme", "/api/v1/lots/A1/genealogy").await.status,
            StatusCode::OK
        );
        assert_eq!(
            s.get("acme", "/api/v1/lots/A1/process-data").await.status,
            StatusCode::OK
        );
        // Test files, Pareto and measurements: its own lots' only.
        let files = s.get("acme", "/api/v1/test-files").await.body;
        let lots: Vec<&str> = files
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["lot"].as_str().unwrap())
            .collect();
        assert_eq!(lots, ["A1"], "{}", s.label);
        assert_eq!(
            s.get("engineer", "/api/v1/test-files")
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let pareto = s.get("acme", "/api/v1/bins/pareto").await.body;
        assert_eq!(pareto["dies"], 2, "{pareto}");
        assert_eq!(
            s.get("engineer", "/api/v1/bins/pareto").await.body["dies"],
            4
        );
        let m = s.get("acme", "/api/v1/measurements").await;
        assert_eq!(m.status, StatusCode::OK);
        assert!(m.body.as_array().unwrap().iter().all(|r| r["lot"] == "A1"));
        // Its own lot's yield, from its own dies only; beta's is another tenant's.
        let own = s.get("acme", "/api/v1/lots/A1/yield").await;
        assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);
        assert_eq!(own.body["summary"]["part_results"], 3);
        assert_eq!(own.body["summary"]["dies"], 2);
        assert_eq!(
            s.get("beta", "/api/v1/lots/B1/yield").await.status,
            StatusCode::OK
        );
        s.get("beta", "/api/v1/lots/A1/yield")
            .await
            .problem(StatusCode::NOT_FOUND, Code::NoTestData);
        // Roll-ups: the customer's own designs only; staff see both tenants.
        let keys = |who: &'static str| {
            let s = &s;
            async move {
                let a = s.get(who, "/api/v1/yield?group_by=lot").await;
                assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
                a.body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["key"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(keys("acme").await, ["A1"]);
        assert_eq!(keys("beta").await, ["B1"]);
        assert_eq!(keys("manager").await, ["A1", "B1"]);
        let by_tenant = s.get("acme", "/api/v1/yield?group_by=tenant").await.body;
        assert_eq!(by_tenant.as_array().unwrap().len(), 1);
        assert_eq!(by_tenant[0]["key"], "acme");
        assert_eq!(by_tenant[0]["summary"]["part_results"], 3);
        let map = s.get("acme", "/api/v1/wafers/A1-W01/map").await;
        assert_eq!(map.status, StatusCode::OK, "{:?}", map.body);
        assert_eq!(map.body["dies"].as_array().unwrap().len(), 2);
        // Customers read; they never move lots, not even their own.
        s.post("acme", "/api/v1/lots/A1/ship", json!({}))
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        // And the other tenant sees acme's lot as absent.
        s.get("beta", "/api/v1/lots/A1")
            .await
            .problem(StatusCode::NOT_FOUND, Code::LotNotFound);
        s.stop().await;
    }
}
