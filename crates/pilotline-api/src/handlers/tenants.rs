//! Tenants (the start-ups and other customer organisations): admins create and suspend them,
//! staff read them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pilotline_app::TenantUser;
use pilotline_domain::{Role, Tenant, TenantStatus};
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

/// A tenant's users (platform admins, and the tenant's own admins).
#[utoipa::path(get, path = "/api/v1/tenants/{id}/users", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Vec<TenantUser>)))]
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<TenantUser>>, ApiError> {
    Ok(Json(state.app.tenant_users(&id, &caller.0).await?))
}

/// A user to add to a tenant (or whose role to change), with a new token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenantUser {
    /// User name (unique across the platform).
    pub name: String,
    /// `tenant_admin` or `customer` (a member: reads and uploads designs).
    #[schema(value_type = String)]
    pub role: Role,
    /// When the token stops working (RFC 3339), if it should.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The token issued: shown once, stored nowhere.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The user.
    pub user: String,
    /// The clear token.
    pub token: String,
}

/// Adds a user to the tenant (or changes the role of its own user) and issues a token (201).
#[utoipa::path(post, path = "/api/v1/tenants/{id}/users", tag = "identity", request_body = NewTenantUser,
    security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id")),
    responses((status = 201, body = IssuedToken), (status = 409, description = "the name belongs to someone outside the tenant")))]
pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<NewTenantUser>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let u = body.value;
    let token = state
        .app
        .add_tenant_user(&id, &u.name, u.role, u.expires_at, &caller.0)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            user: u.name,
            token,
        }),
    ))
}

/// A tenant user's new status.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUserStatus {
    /// Disabled users' tokens are refused from the next request on.
    pub disabled: bool,
    /// Also revoke every live token of the user.
    #[serde(default)]
    pub revoke_tokens: bool,
}

/// Disables (or enables) one of the tenant's users, optionally revoking its tokens (204).
#[utoipa::path(post, path = "/api/v1/tenants/{id}/users/{name}/status", tag = "identity",
    request_body = TenantUserStatus, security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "User name")),
    responses((status = 204)))]
pub async fn set_user_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    body: Body<TenantUserStatus>,
) -> Result<StatusCode, ApiError> {
    let b = body.value;
    state
        .app
        .set_tenant_user(&id, &name, b.disabled, b.revoke_tokens, &caller.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
