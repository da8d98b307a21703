//! The back end of the line: pick lists, dicing, unit lot transactions in batches, parts and
//! modules with their genealogy, calibration, component lots and where-used. Each handler
//! parses, calls the application layer and renders.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilotline_app::{
    BuildRequest, BuiltModules, ComponentReceipt, DiceRequest, UnitCommand, UnitGenealogy,
    UnitLotView, UnitPage, UnitRecord, WhereUsed,
};
use pilotline_domain::Code;
use pilotline_domain::unit::UnitLot;
use pilotline_domain::unit::bom::ComponentLot;
use pilotline_domain::unit::calibration::CalibrationSchema;
use pilotline_domain::unit::pick::PickList;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::{ApiError, AppState};

/// How a pick list is rendered.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PickFormat {
    /// JSON: every probed die with its decision.
    #[default]
    Json,
    /// SEMI E142 map data (XML) for the die bonder.
    E142,
}

/// Pick list query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PickQuery {
    /// `json` (default) or `e142`.
    pub format: Option<PickFormat>,
}

/// The pick list of a probed wafer lot, from its stored probe map: only good dies are picked
/// (staff).
#[utoipa::path(get, path = "/api/v1/lots/{id}/pick-list", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Wafer lot id"), PickQuery),
    responses((status = 200, body = PickList), (status = 404, description = "no such lot")))]
pub async fn pick_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PickQuery>,
) -> Result<Response, ApiError> {
    Ok(match q.format.unwrap_or_default() {
        PickFormat::Json => Json(state.app.pick_list(&id, &[], &caller.0).await?).into_response(),
        PickFormat::E142 => {
            let xml = state.app.pick_list_e142(&id, &caller.0).await?;
            let mut res = xml.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            res
        }
    })
}

/// Dices a completed, probed wafer lot into unit lots (trays) of its picked dies, each die
/// keeping its wafer, position, probe bins and MPW design.
#[utoipa::path(post, path = "/api/v1/lots/{id}/dice", tag = "back end", security(("bearer" = [])),
    request_body = DiceRequest, params(("id" = String, Path, description = "Wafer lot id")),
    responses((status = 201, body = Vec<UnitLot>), (status = 409, description = "not completed, not probed, or diced already")))]
pub async fn dice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<DiceRequest>,
) -> Result<(StatusCode, Json<Vec<UnitLot>>), ApiError> {
    let lots = state.app.dice(&id, &body.value, &caller.0).await?;
    Ok((StatusCode::CREATED, Json(lots)))
}

/// The unit lots a wafer lot was diced into (a tenant: its own).
#[utoipa::path(get, path = "/api/v1/lots/{id}/unit-lots", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Wafer lot id")), responses((status = 200, body = Vec<UnitLot>)))]
pub async fn lot_unit_lots(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<UnitLot>>, ApiError> {
    Ok(Json(state.app.unit_lots_of(&id, &caller.0).await?))
}

/// A page query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1 to 1,000 (default 1,000).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Recall: every unit diced from the wafer lot (and its split children) and the module each
/// went into, a page at a time, with the totals.
#[utoipa::path(get, path = "/api/v1/lots/{id}/where-used", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Wafer lot id"), PageQuery), responses((status = 200, body = WhereUsed)))]
pub async fn lot_where_used(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<WhereUsed>, ApiError> {
    let limit = q.limit.unwrap_or(1000);
    Ok(Json(
        state
            .app
            .where_used_lot(&id, q.after.as_deref(), limit, &caller.0)
            .await?,
    ))
}

/// Recall of a tool run: every unit made from the lot the run processed and the module each
/// went into. `run` is the run's track-in, in microseconds since 1970 (the `tracked_in` of the
/// lot's process data).
#[utoipa::path(get, path = "/api/v1/equipment/{id}/runs/{run}/where-used", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tool id"), ("run" = i64, Path, description = "Track-in, µs since 1970"), PageQuery),
    responses((status = 200, body = WhereUsed)))]
pub async fn run_where_used(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, run)): Path<(String, String)>,
    Params(q): Params<PageQuery>,
) -> Result<Json<WhereUsed>, ApiError> {
    let started: i64 = run.parse().map_err(|_| {
        ApiError::from(Code::QueryInvalid.refusal().with("parameter", "run").with(
            "reason",
            format!("{run:?} is not a run's start in microseconds"),
        ))
    })?;
    let limit = q.limit.unwrap_or(1000);
    Ok(Json(
        state
            .app
            .where_used_run(&id, started, q.after.as_deref(), limit, &caller.0)
            .await?,
    ))
}

/// Unit lot list query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UnitLotsQuery {
    /// Module lots instead of trays of dies.
    pub modules: Option<bool>,
    /// At most this many, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// The newest unit lots (trays of dies and parts, or module lots); a tenant sees its own.
#[utoipa::path(get, path = "/api/v1/unit-lots", tag = "back end", security(("bearer" = [])),
    params(UnitLotsQuery), responses((status = 200, body = Vec<UnitLot>)))]
pub async fn unit_lots(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<UnitLotsQuery>,
) -> Result<Json<Vec<UnitLot>>, ApiError> {
    Ok(Json(
        state
            .app
            .unit_lots(
                q.modules.unwrap_or(false),
                q.limit.unwrap_or(100),
                &caller.0,
            )
            .await?,
    ))
}

/// A unit lot with each step's count (units in, out, scrapped; tool; recipe) and its log.
#[utoipa::path(get, path = "/api/v1/unit-lots/{id}", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Unit lot id")), responses((status = 200, body = UnitLotView)))]
pub async fn unit_lot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UnitLotView>, ApiError> {
    Ok(Json(state.app.unit_lot(&id, &caller.0).await?))
}

/// A page of a unit lot's units, in tray order.
#[utoipa::path(get, path = "/api/v1/unit-lots/{id}/units", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Unit lot id"), PageQuery), responses((status = 200, body = UnitPage)))]
pub async fn unit_lot_units(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<UnitPage>, ApiError> {
    Ok(Json(
        state
            .app
            .unit_lot_units(&id, q.after.as_deref(), q.limit.unwrap_or(1000), &caller.0)
            .await?,
    ))
}

/// One transaction on a unit lot, for up to 1,000 units at once: track-in, track-out (with
/// scrap), split, merge, scrap, serialise.
#[utoipa::path(post, path = "/api/v1/unit-lots/{id}/transactions", tag = "back end", security(("bearer" = [])),
    request_body = UnitCommand, params(("id" = String, Path, description = "Unit lot id")),
    responses((status = 200, body = UnitLotView)))]
pub async fn unit_transaction(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<UnitCommand>,
) -> Result<Json<UnitLotView>, ApiError> {
    Ok(Json(
        state.app.unit_command(&id, &body.value, &caller.0).await?,
    ))
}

/// A unit by serial (or die id): origin, final test, calibration.
#[utoipa::path(get, path = "/api/v1/units/{serial}", tag = "back end", security(("bearer" = [])),
    params(("serial" = String, Path, description = "Serial or die id (wafer:x:y)")), responses((status = 200, body = UnitRecord)))]
pub async fn unit(
    State(state): State<AppState>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<UnitRecord>, ApiError> {
    Ok(Json(state.app.unit(&serial, &caller.0).await?))
}

/// A unit's genealogy: a module's parts and components, each die's wafer and position, the
/// unit lots and their steps, and the wafer lots' runs (tool, recipe, process data, readings).
#[utoipa::path(get, path = "/api/v1/units/{serial}/genealogy", tag = "back end", security(("bearer" = [])),
    params(("serial" = String, Path, description = "Serial or die id")), responses((status = 200, body = UnitGenealogy)))]
pub async fn genealogy(
    State(state): State<AppState>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Json<UnitGenealogy>, ApiError> {
    Ok(Json(state.app.unit_genealogy(&serial, &caller.0).await?))
}

/// Stores a part's calibration coefficients (one JSON object, checked against its product's
/// schema).
#[utoipa::path(put, path = "/api/v1/units/{serial}/calibration", tag = "back end", security(("bearer" = [])),
    request_body = Object, params(("serial" = String, Path, description = "Part serial")),
    responses((status = 200, body = UnitRecord)))]
pub async fn calibrate(
    State(state): State<AppState>,
    caller: Caller,
    Path(serial): Path<String>,
    body: Body<serde_json::Value>,
) -> Result<Json<UnitRecord>, ApiError> {
    Ok(Json(
        state.app.calibrate(&serial, &body.value, &caller.0).await?,
    ))
}

/// A product's calibration schema.
#[utoipa::path(get, path = "/api/v1/products/{id}/calibration-schema", tag = "back end", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")), responses((status = 200, body = CalibrationSchema)))]
pub async fn get_schema(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CalibrationSchema>, ApiError> {
    Ok(Json(state.app.calibration_schema(&id, &caller.0).await?))
}

/// Sets a product's calibration schema (engineers).
#[utoipa::path(put, path = "/api/v1/products/{id}/calibration-schema", tag = "back end", security(("bearer" = [])),
    request_body = CalibrationSchema, params(("id" = String, Path, description = "Product id")),
    responses((status = 200, body = CalibrationSchema)))]
pub async fn put_schema(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<CalibrationSchema>,
) -> Result<Json<CalibrationSchema>, ApiError> {
    state
        .app
        .put_calibration_schema(&id, &body.value, &caller.0)
        .await?;
    Ok(Json(body.value))
}

/// Component lots received (staff).
#[utoipa::path(get, path = "/api/v1/component-lots", tag = "back end", security(("bearer" = [])),
    responses((status = 200, body = Vec<ComponentLot>)))]
pub async fn component_lots(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ComponentLot>>, ApiError> {
    Ok(Json(state.app.component_lots(&caller.0).await?))
}

/// Receives a supplier lot of bought components (ASICs, housings).
#[utoipa::path(post, path = "/api/v1/component-lots", tag = "back end", security(("bearer" = [])),
    request_body = ComponentReceipt, responses((status = 201, body = ComponentLot)))]
pub async fn receive_components(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<ComponentReceipt>,
) -> Result<(StatusCode, Json<ComponentLot>), ApiError> {
    let lot = state.app.receive_components(&body.value, &caller.0).await?;
    Ok((StatusCode::CREATED, Json(lot)))
}

/// Builds modules by the module route's bill of materials: one part per tracked item and the
/// components per bought item for each module; every consumption is recorded.
#[utoipa::path(post, path = "/api/v1/modules", tag = "back end", security(("bearer" = [])),
    request_body = BuildRequest, responses((status = 201, body = BuiltModules)))]
pub async fn build_modules(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<BuildRequest>,
) -> Result<(StatusCode, Json<BuiltModules>), ApiError> {
    let built = state.app.build_modules(&body.value, &caller.0).await?;
    Ok((StatusCode::CREATED, Json(built)))
}
