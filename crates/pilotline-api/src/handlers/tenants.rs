//! Tenants (the start-ups and other customer organisations): admins create and suspend them,
//! staff read them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pilotline_domain::{Tenant, TenantStatus};
use serde::Deserialize;

use crate::auth::Caller;
use crate::body::Body;
use crate::{ApiError, AppState};

/// Every tenant.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Vec<Tenant>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    Ok(Json(state.app.tenants(&caller.0).await?))
}

/// Creates a tenant (201); the same id and name again answer it, another name is a 409.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "identity", request_body = Tenant,
    security(("bearer" = [])), responses((status = 201, body = Tenant)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<Tenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    let t = state.app.create_tenant(&body.value, &caller.0).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// A tenant's new status.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// active, suspended or closed.
    pub status: TenantStatus,
}

/// Suspends, closes or reactivates a tenant: its people are refused (or let in again) from
/// their next request on.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/status", tag = "identity", request_body = StatusChange,
    security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Tenant)))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<StatusChange>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(
        state
            .app
            .set_tenant_status(&id, body.value.status, &caller.0)
            .await?,
    ))
}
