//! Identity takes effect on the very next request: a revoked token, a changed role, a disabled
//! user, an expired token.

use crate::harness::Server;
use pilotline_domain::{Code, Role};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn revocations_role_changes_and_disabled_users_apply_on_the_next_request() {
    for s in Server::all("identity").await {
        s.seed().await;
        s.start_lot("I1", "MHP-GS200", 2).await;
        let dave = s.issue("dave", Role::Operator, None).await;
        let track_in = json!({"equipment": "DESIGN-SIGNOFF-01"});
        let hold = json!({"reason_code": "QA", "comment": "check"});
        assert_eq!(s.get(&dave, "/api/v1/lots/I1").await.status, StatusCode::OK);

        // A role change (dave becomes a manager) applies on the next request.
        s.issue("dave", Role::Manager, None).await;
        s.post(&dave, "/api/v1/lots/I1/holds", hold.clone())
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        s.issue("dave", Role::Operator, None).await;
        let a = s.post(&dave, "/api/v1/lots/I1/track-in", track_in).await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", s.label, a.body);

        // The admin lists dave's tokens by id and first characters, never the secret.
        let list = s.get("admin", "/api/v1/tokens?user=dave").await;
        assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
        let tokens = list.body.as_array().unwrap();
        assert_eq!(tokens.len(), 3, "{:?}", list.body);
        assert!(!list.body.to_string().contains(&dave), "the secret leaked");
        let first = tokens
            .iter()
            .find(|t| dave.starts_with(t["prefix"].as_str().unwrap()))
            .expect("dave's first token by its prefix");
        s.get("operator", "/api/v1/tokens")
            .await
            .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);

        // Revoked: refused on the very next request.
        let id = first["id"].as_i64().unwrap();
        let a = s
            .post("admin", &format!("/api/v1/tokens/{id}/revoke"), json!({}))
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{:?}", a.body);
        s.get(&dave, "/api/v1/lots/I1")
            .await
            .problem(StatusCode::UNAUTHORIZED, Code::AuthInvalid);
        s.post("admin", &format!("/api/v1/tokens/{id}/revoke"), json!({}))
            .await
            .problem(StatusCode::NOT_FOUND, Code::TokenNotFound);

        // A disabled user's every token is refused, until enabled again.
        let again = s.issue("dave", Role::Operator, None).await;
        assert_eq!(s.get(&again, "/api/v1/wip").await.status, StatusCode::OK);
        let status = "/api/v1/users/dave/status";
        let a = s.post("admin", status, json!({"disabled": true})).await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{:?}", a.body);
        s.get(&again, "/api/v1/wip")
            .await
            .problem(StatusCode::UNAUTHORIZED, Code::AuthInvalid);
        s.post("admin", status, json!({"disabled": false})).await;
        assert_eq!(s.get(&again, "/api/v1/wip").await.status, StatusCode::OK);
        s.post(
            "admin",
            "/api/v1/users/nobody/status",
            json!({"disabled": true}),
        )
        .await
        .problem(StatusCode::NOT_FOUND, Code::UserNotFound);

        // An expired token is refused.
        let past = chrono::Utc::now() - chrono::Duration::minutes(1);
        let expired = s.issue("erin", Role::Operator, Some(past)).await;
        s.get(&expired, "/api/v1/wip")
            .await
            .problem(StatusCode::UNAUTHORIZED, Code::AuthInvalid);

        // Tenants are master data: listed for staff, and a suspended tenant's people are
        // refused from their next request until it is active again.
        let tenants = s.get("manager", "/api/v1/tenants").await;
        assert_eq!(tenants.status, StatusCode::OK);
        let ids: Vec<&str> = tenants
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["acme", "beta"]);
        assert_eq!(s.get("acme", "/api/v1/lots").await.status, StatusCode::OK);
        let suspend = json!({"status": "suspended"});
        let a = s
            .post("admin", "/api/v1/tenants/acme/status", suspend)
            .await;
        assert_eq!(a.body["status"], "suspended", "{:?}", a.body);
        s.get("acme", "/api/v1/lots")
            .await
            .problem(StatusCode::UNAUTHORIZED, Code::AuthInvalid);
        let active = json!({"status": "active"});
        s.post("admin", "/api/v1/tenants/acme/status", active).await;
        assert_eq!(s.get("acme", "/api/v1/lots").await.status, StatusCode::OK);
        s.post(
            "engineer",
            "/api/v1/tenants",
            json!({"id": "gamma", "name": "G"}),
        )
        .await
        .problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        let a = s
            .post(
                "admin",
                "/api/v1/tenants",
                json!({"id": "gamma", "name": "Gamma"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        s.post(
            "admin",
            "/api/v1/tenants",
            json!({"id": "gamma", "name": "Other"}),
        )
        .await
        .problem(StatusCode::CONFLICT, Code::AlreadyExists);
        // Products and lots may only name a tenant that exists.
        s.post(
            "engineer",
            "/api/v1/products",
            json!({"id": "X-1", "default_route": "MHP-GAS", "tenant": "nobody"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, Code::TenantUnknown);

        // The scheme's case does not matter.
        let a = s
            .client
            .get(format!("{}/api/v1/wip", s.base))
            .header("authorization", format!("bearer {again}"))
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), StatusCode::OK);
        s.stop().await;
    }
}
