//! Master data: routes, products, equipment.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use pilotline_app::{Resolution, SampleCursor, SamplePage, SampleRecord};
use pilotline_domain::equipment::StateChange;
use pilotline_domain::utilisation::Utilisation;
use pilotline_domain::{E10State, Equipment, Product, Route, RouteSpec};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::write::{IdemKey, created, created_or_ok, ok, perform};
use crate::{ApiError, AppState};
use pilotline_app::WriteOp;

/// Store a route. Unchanged content answers 200 with the existing version; changed content
/// stores a new version (201). Versions never change once stored.
#[utoipa::path(post, path = "/api/v1/routes", tag = "routes", request_body = RouteSpec,
    security(("bearer" = [])),
    responses((status = 201, body = Route), (status = 200, body = Route), (status = 422), (status = 403)))]
pub async fn create_route(
    State(state): State<AppState>,
    caller: Caller,
    key: IdemKey,
    body: Body<RouteSpec>,
) -> Result<Response, ApiError> {
    perform(
        &state,
        &caller,
        WriteOp::PutRoute(body.value),
        key,
        body.fingerprint,
        created_or_ok,
    )
    .await
}

/// The latest version of every route.
#[utoipa::path(get, path = "/api/v1/routes", tag = "routes", security(("bearer" = [])),
    responses((status = 200, body = Vec<Route>)))]
pub async fn list_routes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Route>>, ApiError> {
    let routes = state.app.routes(&caller.0).await?;
    Ok(Json(routes.iter().map(|r| (**r).clone()).collect()))
}

/// Query of a route read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RouteQuery {
    /// Version; the latest when absent.
    pub version: Option<u32>,
}

/// One route version.
#[utoipa::path(get, path = "/api/v1/routes/{id}", tag = "routes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Route id"), RouteQuery),
    responses((status = 200, body = Route), (status = 404)))]
pub async fn get_route(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<RouteQuery>,
) -> Result<Json<Route>, ApiError> {
    let route = state.app.route(&id, q.version, &caller.0).await?;
    Ok(Json((*route).clone()))
}

/// Create a product (201); the same content again answers 201 with it, other content 409.
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = Product,
    security(("bearer" = [])), responses((status = 201, body = Product), (status = 409), (status = 422)))]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    key: IdemKey,
    body: Body<Product>,
) -> Result<Response, ApiError> {
    perform(
        &state,
        &caller,
        WriteOp::PutProduct(body.value),
        key,
        body.fingerprint,
        created,
    )
    .await
}

/// Every product.
#[utoipa::path(get, path = "/api/v1/products", tag = "products", security(("bearer" = [])),
    responses((status = 200, body = Vec<Product>)))]
pub async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Product>>, ApiError> {
    Ok(Json(state.app.products(&caller.0).await?))
}

/// A tool to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEquipment {
    /// Tool id.
    pub id: String,
    /// Equipment type, matched against route steps.
    pub equipment_type: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// Register a tool; it starts in E10 `standby`.
#[utoipa::path(post, path = "/api/v1/equipment", tag = "equipment", request_body = NewEquipment,
    security(("bearer" = [])), responses((status = 201, body = Equipment), (status = 409), (status = 422)))]
pub async fn create_equipment(
    State(state): State<AppState>,
    caller: Caller,
    key: IdemKey,
    body: Body<NewEquipment>,
) -> Result<Response, ApiError> {
    let NewEquipment {
        id,
        equipment_type,
        description,
    } = body.value;
    let op = WriteOp::PutEquipment {
        id,
        equipment_type,
        description,
    };
    perform(&state, &caller, op, key, body.fingerprint, created).await
}

/// Filter of the equipment list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EquipmentQuery {
    /// Only tools of this type.
    pub equipment_type: Option<String>,
}

/// Every tool with its E10 state.
#[utoipa::path(get, path = "/api/v1/equipment", tag = "equipment", security(("bearer" = [])),
    params(EquipmentQuery), responses((status = 200, body = Vec<Equipment>)))]
pub async fn list_equipment(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<EquipmentQuery>,
) -> Result<Json<Vec<Equipment>>, ApiError> {
    Ok(Json(
        state
            .app
            .equipment_list(q.equipment_type.as_deref(), &caller.0)
            .await?,
    ))
}

/// A tool with its communication state and the latest value of every point.
#[derive(Debug, Serialize, ToSchema)]
pub struct EquipmentDetail {
    /// The tool.
    #[serde(flatten)]
    pub equipment: Equipment,
    /// Communication lost: `state` is the last known E10 state.
    pub stale: bool,
    /// Since when the communication state holds.
    pub comm_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Latest value of every point the collector reported.
    pub latest: Vec<SampleRecord>,
}

/// One tool, with its communication state and latest values.
#[utoipa::path(get, path = "/api/v1/equipment/{id}", tag = "equipment", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tool id")),
    responses((status = 200, body = EquipmentDetail), (status = 404)))]
pub async fn get_equipment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EquipmentDetail>, ApiError> {
    let s = state.app.tool_status(&id, &caller.0).await?;
    Ok(Json(EquipmentDetail {
        equipment: s.equipment,
        stale: s.stale,
        comm_since: s.comm_since,
        latest: s.latest,
    }))
}

/// Filters of a sample query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    /// Only this point.
    pub point: Option<String>,
    /// From this time (inclusive, RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Until this time (exclusive, RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Continue after this cursor (`next` of an earlier answer).
    #[param(value_type = Option<String>)]
    pub after: Option<SampleCursor>,
    /// At most this many samples or buckets (default 10,000, at most 100,000).
    pub limit: Option<u32>,
    /// `raw` samples, `1m` or `1h` buckets (count, min, max, mean, first, last), or `auto`
    /// (default): raw up to 2 hours, 1-minute buckets up to 3 days, 1-hour buckets beyond.
    pub resolution: Option<Resolution>,
}

/// A tool's samples, oldest first (by time, then point), raw or rolled up into buckets. When
/// more match than `limit`, the answer says `truncated` and gives `next`: ask again with
/// `after=next` for the rest.
#[utoipa::path(get, path = "/api/v1/equipment/{id}/samples", tag = "equipment", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tool id"), SampleQuery),
    responses((status = 200, body = SamplePage), (status = 404)))]
pub async fn equipment_samples(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<SampleQuery>,
) -> Result<Json<SamplePage>, ApiError> {
    let query = pilotline_app::SampleQuery {
        point: q.point.as_deref(),
        from: q.from,
        to: q.to,
        after: q.after.as_ref(),
        limit: q.limit.unwrap_or(10_000),
        resolution: q.resolution.unwrap_or(Resolution::Auto),
    };
    Ok(Json(state.app.samples(&id, &query, &caller.0).await?))
}

/// A manual E10 state change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetState {
    /// New state: standby, scheduled_down, unscheduled_down or non_scheduled.
    pub state: E10State,
    /// Why (work order, failure, calendar).
    pub reason: String,
}

/// Change a tool's E10 state by hand (maintenance, repair, calendar).
#[utoipa::path(post, path = "/api/v1/equipment/{id}/state", tag = "equipment", request_body = SetState,
    security(("bearer" = [])), params(("id" = String, Path, description = "Tool id")),
    responses((status = 200, body = Equipment), (status = 409), (status = 404)))]
pub async fn set_equipment_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    key: IdemKey,
    body: Body<SetState>,
) -> Result<Response, ApiError> {
    let SetState { state: to, reason } = body.value;
    pilotline_domain::refusal::check_text("reason", &reason, 4000)?;
    let op = WriteOp::SetEquipmentState {
        id,
        state: to,
        reason,
    };
    perform(&state, &caller, op, key, body.fingerprint, ok).await
}

/// Window of an E10 query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatesQuery {
    /// Window start (RFC 3339); default 24 hours before `to`.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Window end (RFC 3339); default now.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// A tool's E10 history over a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateHistory {
    /// State changes within the window, oldest first.
    pub changes: Vec<StateChange>,
    /// Time in each state and the figures derived from it.
    pub utilisation: Utilisation,
}

/// A tool's E10 state changes over a window, with time per state, utilisation, availability,
/// MTBF and MTTR.
#[utoipa::path(get, path = "/api/v1/equipment/{id}/states", tag = "equipment", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tool id"), StatesQuery),
    responses((status = 200, body = StateHistory), (status = 404), (status = 422)))]
pub async fn equipment_states(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<StatesQuery>,
) -> Result<Json<StateHistory>, ApiError> {
    let h = state
        .app
        .state_history(&id, q.from, q.to, &caller.0)
        .await?;
    Ok(Json(StateHistory {
        changes: h.changes,
        utilisation: h.utilisation,
    }))
}
