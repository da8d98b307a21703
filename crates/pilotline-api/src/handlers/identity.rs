//! Token and user administration (admins): list tokens by id and first characters, revoke
//! one, disable or enable a user. Each takes effect on the very next request.

use axum::Json;
use axum::extract::{Path, State};
use pilotline_app::TokenInfo;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::{ApiError, AppState};

/// Which tokens.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokensQuery {
    /// Only this user's.
    pub user: Option<String>,
}

/// Tokens, newest first: id, first characters, user, role, expiry, revocation (never the
/// secret).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "identity", security(("bearer" = [])),
    params(TokensQuery), responses((status = 200, body = Vec<TokenInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<TokensQuery>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(state.app.tokens(q.user.as_deref(), &caller.0).await?))
}

/// A revocation (no fields).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {}

/// Revokes one token; it is refused from the next request on.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "identity", request_body = Revoke,
    security(("bearer" = [])), params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    _body: Body<Revoke>,
) -> Result<axum::http::StatusCode, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        pilotline_domain::Code::TokenNotFound
            .refusal()
            .with("token", &id)
    })?;
    state.app.revoke_token_id(id, &caller.0).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Whether a user may act.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserStatus {
    /// `true`: every token of the user is refused from the next request on.
    pub disabled: bool,
}

/// Disables a user (all its tokens stop at once) or enables it again.
#[utoipa::path(post, path = "/api/v1/users/{name}/status", tag = "identity", request_body = UserStatus,
    security(("bearer" = [])), params(("name" = String, Path, description = "User name")),
    responses((status = 204, description = "Done")))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body<UserStatus>,
) -> Result<axum::http::StatusCode, ApiError> {
    state
        .app
        .set_user_disabled(&name, body.value.disabled, &caller.0)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
