//! Health, metrics, the OpenAPI document and the fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilotline_domain::{Action, Code};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Liveness and database reachability. Public: it reveals nothing but "up".
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "Up, database reachable"), (status = 503, description = "Database unreachable")))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.app.ping().await {
        Ok(_) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            ApiError::from(Code::Unavailable).into_response()
        }
    }
}

/// Liveness: the process answers (it does not ask the database, so an orchestrator does not
/// restart healthy replicas while the database is away; `/healthz` is the readiness check).
#[utoipa::path(get, path = "/livez", tag = "system",
    responses((status = 200, description = "The process is alive")))]
pub async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "alive"}))
}

/// Prometheus metrics (any staff role).
#[utoipa::path(get, path = "/metrics", tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::ReadMasterData, "read metrics")?;
    state.metrics.observe_pool(state.app.pool_status());
    let mut res = state.metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(res)
}

/// The OpenAPI 3.1 description of this API. Public, like any published API description.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

/// 404 for every path the API does not have.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    Code::PathNotFound.refusal().with("path", uri.path()).into()
}

/// 405 for a known path with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    Code::MethodNotAllowed
        .refusal()
        .with("method", method)
        .with("path", uri.path())
        .into()
}
