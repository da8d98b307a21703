//! Pilotline's HTTP API.
//!
//! JSON over HTTP with axum. Every request under `/api/v1` carries `Authorization: Bearer …`;
//! the caller's role decides what it may do and a customer sees only its own tenant's lots.
//! Errors are `application/problem+json`. Every mutating request honours `Idempotency-Key`.
//! The OpenAPI 3.1 description is generated from this code and served at `/api/openapi.json`.

mod auth;
mod body;
mod error;
mod handlers;
mod metrics;
mod openapi;
pub mod request_id;
mod write;

pub use error::ApiError;
pub use metrics::Metrics;
pub use openapi::{ApiDoc, document as openapi_document};

use axum::Router;
use axum::routing::{get, post, put};
use pilotline_app::App;
use std::sync::Arc;

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    /// The application layer: every handler calls it, and nothing else.
    pub app: App,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over `app` with a fresh metrics registry (holding the application's metrics).
    pub fn new(app: App) -> Self {
        let metrics = Metrics::new();
        if let Err(e) = app.metrics().register(metrics.registry()) {
            tracing::warn!(error = %e, "application metrics not registered");
        }
        Self {
            app,
            metrics: Arc::new(metrics),
        }
    }
}

/// The longest request URI the API reads (a longer one is refused with 414).
pub const MAX_URI: usize = 8192;

/// Makes every error answer problem+json with a code, whoever produced it (axum's own
/// rejections of a bad path or body, the body limit), and refuses over-long URIs with 414.
async fn problem_guard(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use pilotline_domain::Code;
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI {
        return ApiError::from(Code::UriTooLong.refusal().with("limit", MAX_URI)).into_response();
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let res = next.run(req).await;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == error::PROBLEM_JSON.as_bytes());
    if status.as_u16() < 400 || is_problem {
        return res;
    }
    let text = axum::body::to_bytes(res.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let refusal = match status {
        StatusCode::PAYLOAD_TOO_LARGE => Code::BodyTooLarge
            .refusal()
            .with("limit", "this route's limit"),
        StatusCode::URI_TOO_LONG => Code::UriTooLong.refusal().with("limit", MAX_URI),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Code::UnsupportedMedia.refusal().with("expected", text)
        }
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed
            .refusal()
            .with("method", method)
            .with("path", path),
        StatusCode::NOT_FOUND => Code::PathNotFound.refusal().with("path", path),
        s if s.is_client_error() => Code::BadRequest.refusal().with("reason", text),
        _ => {
            tracing::error!(%status, body = %text, "an error answer without a problem body");
            Code::Internal.refusal()
        }
    };
    ApiError::from(refusal).into_response()
}

/// Refuses (422 `query_invalid`) a query parameter the operation does not document, and a
/// control character in any query value — for every route alike, before its handler runs.
async fn query_guard(
    matched: Option<axum::extract::MatchedPath>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOCUMENTED: std::sync::OnceLock<
        std::collections::HashMap<(String, String), Vec<String>>,
    > = std::sync::OnceLock::new();
    let documented = DOCUMENTED.get_or_init(openapi::query_parameters);
    if let (Some(matched), Some(query)) = (matched, req.uri().query()) {
        let key = (
            req.method().as_str().to_string(),
            matched.as_str().to_string(),
        );
        let allowed = documented.get(&key);
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if allowed.is_some_and(|a| !a.iter().any(|n| *n == name)) {
                return ApiError::query(&name, "this operation has no such parameter")
                    .into_response();
            }
            if value.chars().any(char::is_control) {
                return ApiError::query(&name, "must not contain control characters")
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// `routes` (another front end's, such as the web interface's) counted in the same request
/// metrics as the API's (`http_requests_total`, `http_request_duration_seconds`, by route
/// template, never by id).
pub fn observed(routes: Router, state: &AppState) -> Router {
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(request_id::tag))
}

/// `/metrics` and `/healthz` alone, for a listener of their own (`metrics_listen`) or for a
/// replica that serves no API (the collector and jobs roles). `/metrics` asks for a staff
/// token there too: Prometheus sends one with `authorization.credentials_file`.
pub fn system_router(state: AppState) -> Router {
    use handlers::system;
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/livez", get(system::livez))
        .route("/metrics", get(system::metrics))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::from_fn(problem_guard))
        .layer(axum::middleware::from_fn(request_id::tag))
        .with_state(state)
}

/// The whole API as an axum router.
pub fn router(state: AppState) -> Router {
    use handlers::{
        identity, lots, master, shuttles, spc, system, tenants, testdata, units, wafers,
    };
    let api = Router::new()
        .route(
            "/routes",
            post(master::create_route).get(master::list_routes),
        )
        .route("/routes/{id}", get(master::get_route))
        .route(
            "/products",
            post(master::create_product).get(master::list_products),
        )
        .route(
            "/equipment",
            post(master::create_equipment).get(master::list_equipment),
        )
        .route("/equipment/{id}", get(master::get_equipment))
        .route("/equipment/{id}/state", post(master::set_equipment_state))
        .route("/equipment/{id}/states", get(master::equipment_states))
        .route("/equipment/{id}/samples", get(master::equipment_samples))
        .route("/lots", post(lots::start).get(lots::list))
        .route("/lots/{id}", get(lots::get))
        .route("/lots/{id}/history", get(lots::history))
        .route("/lots/{id}/process-data", get(lots::process_data))
        .route("/lots/{id}/yield", get(lots::lot_yield))
        .route("/wafers/{id}/map", get(wafers::map))
        .route("/yield", get(wafers::rollup))
        .route("/lots/{id}/map", get(wafers::stacked))
        .route("/lots/{id}/parametrics", get(testdata::parametrics))
        .route("/test-files", post(testdata::upload).get(testdata::list))
        .route("/test-files/rejections", get(testdata::rejections))
        .route("/test-files/{id}", get(testdata::get))
        .route(
            "/products/{id}/bins",
            get(testdata::get_bins).put(testdata::put_bins),
        )
        .route("/bins/pareto", get(testdata::pareto))
        .route("/measurements", post(spc::record).get(spc::list))
        .route("/spc/charts", post(spc::create).get(spc::charts))
        .route("/spc/charts/{id}", get(spc::chart))
        .route("/spc/charts/{id}/limits", post(spc::recompute))
        .route("/lots/{id}/genealogy", get(lots::genealogy))
        .route("/lots/{id}/track-in", post(lots::track_in))
        .route("/lots/{id}/track-out", post(lots::track_out))
        .route("/lots/{id}/holds", post(lots::hold))
        .route("/lots/{id}/holds/{hold_id}/release", post(lots::release))
        .route("/lots/{id}/future-holds", post(lots::future_hold))
        .route("/lots/{id}/split", post(lots::split))
        .route("/lots/{id}/merge", post(lots::merge))
        .route("/lots/{id}/rework", post(lots::rework))
        .route("/lots/{id}/scrap", post(lots::scrap))
        .route("/lots/{id}/ship", post(lots::ship))
        .route("/wip", get(lots::wip))
        .route("/lots/{id}/pick-list", get(units::pick_list))
        .route("/lots/{id}/dice", post(units::dice))
        .route("/lots/{id}/unit-lots", get(units::lot_unit_lots))
        .route("/lots/{id}/where-used", get(units::lot_where_used))
        .route(
            "/equipment/{id}/runs/{run}/where-used",
            get(units::run_where_used),
        )
        .route("/unit-lots", get(units::unit_lots))
        .route("/unit-lots/{id}", get(units::unit_lot))
        .route("/unit-lots/{id}/units", get(units::unit_lot_units))
        .route(
            "/unit-lots/{id}/transactions",
            post(units::unit_transaction),
        )
        .route("/units/{serial}", get(units::unit))
        .route("/units/{serial}/genealogy", get(units::genealogy))
        .route("/units/{serial}/calibration", put(units::calibrate))
        .route(
            "/products/{id}/calibration-schema",
            get(units::get_schema).put(units::put_schema),
        )
        .route(
            "/component-lots",
            get(units::component_lots).post(units::receive_components),
        )
        .route("/modules", post(units::build_modules))
        .route("/tokens", get(identity::list))
        .route("/tokens/{id}/revoke", post(identity::revoke))
        .route("/users/{name}/status", post(identity::set_status))
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route("/tenants/{id}/status", post(tenants::set_status))
        .route(
            "/tenants/{id}/users",
            get(tenants::users).post(tenants::add_user),
        )
        .route(
            "/tenants/{id}/users/{name}/status",
            post(tenants::set_user_status),
        )
        .route("/line", get(shuttles::get_line).put(shuttles::put_line))
        .route(
            "/routes/{id}/layers",
            get(shuttles::get_layers).put(shuttles::put_layers),
        )
        .route("/shuttles", get(shuttles::list).post(shuttles::create))
        .route("/shuttles/calendar.ics", get(shuttles::calendar))
        .route("/shuttles/{id}", get(shuttles::get))
        .route("/shuttles/{id}/status", post(shuttles::set_status))
        .route("/shuttles/{id}/quote", post(shuttles::quote))
        .route(
            "/shuttles/{id}/bookings",
            get(shuttles::shuttle_bookings).post(shuttles::book),
        )
        .route("/shuttles/{id}/close", post(shuttles::close))
        .route("/shuttles/{id}/layout", get(shuttles::layout))
        .route("/shuttles/{id}/layout/approve", post(shuttles::approve))
        .route("/shuttles/{id}/start", post(shuttles::start))
        .route("/bookings", get(shuttles::bookings))
        .route("/bookings/{id}", get(shuttles::booking))
        .route("/bookings/{id}/quote", get(shuttles::booking_quote))
        .route("/bookings/{id}/forecast", get(shuttles::forecast))
        .route("/bookings/{id}/cancel", post(shuttles::cancel))
        .route(
            "/bookings/{id}/designs",
            get(shuttles::revisions).post(shuttles::upload),
        )
        .route("/bookings/{id}/submit", post(shuttles::submit))
        .route("/bookings/{id}/accept", post(shuttles::accept))
        .route("/designs/{id}", get(shuttles::design))
        .route("/designs/{id}/precheck", get(shuttles::precheck))
        .layer(axum::middleware::from_fn(query_guard));
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/livez", get(system::livez))
        .route("/metrics", get(system::metrics))
        .route("/api/openapi.json", get(system::openapi))
        .nest("/api/v1", api)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::from_fn(problem_guard))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(request_id::tag))
        .with_state(state)
}
