//! Lots: start, read, list, every transaction, history, genealogy and WIP.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDate;
use pilotline_app::{
    Genealogy, LotCommand, LotFilter, LotPage, LotYield, NewLotRequest, ProcessRun, SampleCursor,
    WipRow, WriteOp,
};
use pilotline_domain::measure::Reading;
use pilotline_domain::{Code, LotEvent, LotState, LotType, LotView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::write::{IdemKey, created, ok, perform};
use crate::{ApiError, AppState};

/// A lot to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLot {
    /// Lot id; generated (`PLyymmddNNNN`) when absent. `.` is reserved for split children.
    pub id: Option<String>,
    /// Product id.
    pub product: String,
    /// Route id; the product's default route when absent.
    pub route: Option<String>,
    /// Route version; the latest when absent.
    pub route_version: Option<u32>,
    /// Number of wafers, 1 to 25.
    pub wafer_count: usize,
    /// 1 (hot) to 5 (low); default 3.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// production, engineering, mpw or qualification; default production.
    #[serde(default = "default_lot_type")]
    pub lot_type: LotType,
    /// Owning tenant; defaults to the product's.
    pub tenant: Option<String>,
    /// Due date (YYYY-MM-DD).
    pub due_date: Option<NaiveDate>,
    /// Wafer scribe ids, one per wafer; generated as `{lot}-Wnn` when absent.
    pub wafer_ids: Option<Vec<String>>,
}

fn default_priority() -> u8 {
    3
}

fn default_lot_type() -> LotType {
    LotType::Production
}

fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Code::HeaderInvalid
                .refusal()
                .with("header", "If-Match")
                .with("reason", "must be a lot version number")
                .into()
        })
}

/// Start a lot at the first step of its route.
#[utoipa::path(post, path = "/api/v1/lots", tag = "lots", request_body = StartLot, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, body = LotView), (status = 422), (status = 409), (status = 403)))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    key: IdemKey,
    body: Body<StartLot>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let req = NewLotRequest {
        id: b.id,
        product: b.product,
        route: b.route,
        route_version: b.route_version,
        lot_type: b.lot_type,
        priority: b.priority,
        tenant: b.tenant,
        due_date: b.due_date,
        wafer_count: b.wafer_count,
        wafer_ids: b.wafer_ids,
    };
    perform(
        &state,
        &caller,
        WriteOp::StartLot(req),
        key,
        body.fingerprint,
        created,
    )
    .await
}

/// Filters and paging of the lot list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only lots in this state.
    pub state: Option<LotState>,
    /// Only lots at this step id.
    pub step: Option<String>,
    /// Only lots of this product.
    pub product: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lots the caller may see, filtered and paged by id.
#[utoipa::path(get, path = "/api/v1/lots", tag = "lots", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = LotPage)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<LotPage>, ApiError> {
    let filter = LotFilter {
        state: q.state,
        step: q.step,
        product: q.product,
        limit: q.limit,
        after: q.cursor,
    };
    Ok(Json(state.app.lots(&filter, &caller.0).await?))
}

/// One lot. Another tenant's lot answers 404, as if it did not exist.
#[utoipa::path(get, path = "/api/v1/lots/{id}", tag = "lots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = LotView), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LotView>, ApiError> {
    Ok(Json(state.app.lot(&id, &caller.0).await?))
}

/// Every event of a lot, oldest first: who, when, what, why, before and after.
#[utoipa::path(get, path = "/api/v1/lots/{id}/history", tag = "lots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = Vec<LotEvent>), (status = 404)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<LotEvent>>, ApiError> {
    Ok(Json(state.app.history(&id, &caller.0).await?))
}

/// Which process data to return.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProcessDataQuery {
    /// Only this point.
    pub point: Option<String>,
    /// Only this run (its `run` number in an earlier answer).
    pub run: Option<usize>,
    /// Continue the run after this cursor (the run's `next` in an earlier answer; needs `run`).
    #[param(value_type = Option<String>)]
    pub after: Option<SampleCursor>,
    /// At most this many samples per run (default 10,000, at most 50,000).
    pub limit: Option<u32>,
}

/// The lot's process data: each run on a tool (track-in to track-out, with step and recipe) and
/// the tool's samples during it. A run with more samples than `limit` says `truncated` and
/// gives `next`: ask again with `run` and `after` for the rest.
#[utoipa::path(get, path = "/api/v1/lots/{id}/process-data", tag = "lots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id"), ProcessDataQuery),
    responses((status = 200, body = Vec<ProcessRun>), (status = 404)))]
pub async fn process_data(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<ProcessDataQuery>,
) -> Result<Json<Vec<ProcessRun>>, ApiError> {
    let query = pilotline_app::ProcessDataQuery {
        point: q.point.as_deref(),
        run: q.run,
        after: q.after.as_ref(),
        limit: q.limit.unwrap_or(10_000),
    };
    Ok(Json(state.app.process_data(&id, query, &caller.0).await?))
}

/// The lot's yield from its test data (every imported STDF file): all results, first pass and
/// final, over the lot and per wafer, with the files the figures come from.
#[utoipa::path(get, path = "/api/v1/lots/{id}/yield", tag = "lots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id (MES or external)")),
    responses((status = 200, body = LotYield), (status = 404)))]
pub async fn lot_yield(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LotYield>, ApiError> {
    Ok(Json(state.app.lot_yield(&id, &caller.0).await?))
}

/// The lot's split/merge family.
#[utoipa::path(get, path = "/api/v1/lots/{id}/genealogy", tag = "lots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = Genealogy), (status = 404)))]
pub async fn genealogy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Genealogy>, ApiError> {
    Ok(Json(state.app.genealogy(&id, &caller.0).await?))
}

/// Work in progress: lots and wafers by route step and state.
#[utoipa::path(get, path = "/api/v1/wip", tag = "lots", security(("bearer" = [])),
    responses((status = 200, body = Vec<WipRow>)))]
pub async fn wip(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WipRow>>, ApiError> {
    Ok(Json(state.app.wip(&caller.0).await?))
}

fn lot_op(id: String, headers: &HeaderMap, command: LotCommand) -> Result<WriteOp, ApiError> {
    Ok(WriteOp::Lot {
        lot_id: id,
        command,
        if_version: if_match(headers)?,
    })
}

/// Track-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackIn {
    /// Tool id; its type must match the step and it must be available.
    pub equipment: String,
    /// Recipe; must equal the step's unless the lot is an engineering lot.
    pub recipe: Option<String>,
}

/// Put a waiting, unheld lot on a tool.
#[utoipa::path(post, path = "/api/v1/lots/{id}/track-in", tag = "lot transactions", request_body = TrackIn,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key"),
        ("If-Match" = Option<String>, Header, description = "Act only at this lot version")),
    responses((status = 200, body = LotView), (status = 409), (status = 404), (status = 422)))]
pub async fn track_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<TrackIn>,
) -> Result<Response, ApiError> {
    let TrackIn { equipment, recipe } = body.value;
    let cmd = LotCommand::TrackIn { equipment, recipe };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}

/// Track-out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackOut {
    /// Wafers scrapped at this step.
    #[serde(default)]
    pub scrap_wafers: Vec<String>,
    /// Why (required with `scrap_wafers`).
    pub scrap_reason: Option<String>,
    /// Readings of the step's data-collection plan. One outside its valid range refuses the
    /// track-out (measure again); one outside spec puts the lot on an `SPC-OOS` hold.
    #[serde(default)]
    pub readings: Vec<Reading>,
}

/// End the run and advance the lot (completed after the last step).
#[utoipa::path(post, path = "/api/v1/lots/{id}/track-out", tag = "lot transactions", request_body = TrackOut,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = LotView), (status = 409), (status = 404), (status = 422)))]
pub async fn track_out(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<TrackOut>,
) -> Result<Response, ApiError> {
    let TrackOut {
        scrap_wafers,
        scrap_reason,
        readings,
    } = body.value;
    let cmd = LotCommand::TrackOut {
        scrap_wafers,
        scrap_reason,
        readings,
    };
    // The application layer stores the readings, moves the lot and carries out the SPC
    // charts' actions in one transaction.
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}

/// A hold to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceHold {
    /// Reason code.
    pub reason_code: String,
    /// Comment.
    pub comment: String,
}

/// Place a hold; answers 201 with the hold (its `id`) and the lot.
#[utoipa::path(post, path = "/api/v1/lots/{id}/holds", tag = "lot transactions", request_body = PlaceHold,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 201, description = "The hold, with the lot under `lot`"), (status = 409), (status = 404)))]
pub async fn hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<PlaceHold>,
) -> Result<Response, ApiError> {
    let PlaceHold {
        reason_code,
        comment,
    } = body.value;
    let cmd = LotCommand::Hold {
        reason_code,
        comment,
    };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        created,
    )
    .await
}

/// A release.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Comment.
    pub comment: String,
    /// Disposition (`use-as-is`, `rework`, `scrap`, …); required for out-of-spec holds.
    pub disposition: Option<String>,
}

/// Release one hold (engineers and admins).
#[utoipa::path(post, path = "/api/v1/lots/{id}/holds/{hold_id}/release", tag = "lot transactions",
    request_body = Release, security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id"), ("hold_id" = u32, Path, description = "Hold id")),
    responses((status = 200, body = LotView), (status = 403), (status = 404)))]
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, hold_id)): Path<(String, String)>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<Release>,
) -> Result<Response, ApiError> {
    let hold_id: u32 = hold_id.parse().map_err(|_| {
        Code::HoldNotFound
            .refusal()
            .with("lot", &id)
            .with("hold", &hold_id)
    })?;
    let cmd = LotCommand::Release {
        hold_id,
        comment: body.value.comment,
        disposition: body.value.disposition,
    };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}

/// A future hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FutureHoldReq {
    /// Step id ahead of the current step.
    pub step: String,
    /// Reason code of the hold it places.
    pub reason_code: String,
    /// Comment.
    pub comment: String,
}

/// Place a hold that fires when the lot reaches a later step.
#[utoipa::path(post, path = "/api/v1/lots/{id}/future-holds", tag = "lot transactions",
    request_body = FutureHoldReq, security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 201, description = "The future hold, with the lot under `lot`"), (status = 409), (status = 422)))]
pub async fn future_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<FutureHoldReq>,
) -> Result<Response, ApiError> {
    let FutureHoldReq {
        step,
        reason_code,
        comment,
    } = body.value;
    let cmd = LotCommand::FutureHold {
        step,
        reason_code,
        comment,
    };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        created,
    )
    .await
}

/// A split.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Wafer ids moved to the child lot `{id}.{n}`.
    pub wafers: Vec<String>,
}

/// Split wafers off into a child lot; answers 201 with `parent` and `child`.
#[utoipa::path(post, path = "/api/v1/lots/{id}/split", tag = "lot transactions", request_body = Split,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 201, description = "`{parent, child}` lots"), (status = 409), (status = 422)))]
pub async fn split(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<Split>,
) -> Result<Response, ApiError> {
    let cmd = LotCommand::Split {
        wafers: body.value.wafers,
    };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        created,
    )
    .await
}

/// A merge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// Lot whose wafers join this one.
    pub from_lot: String,
}

/// Merge another lot (same product, route, step; neither held) into this one.
#[utoipa::path(post, path = "/api/v1/lots/{id}/merge", tag = "lot transactions", request_body = Merge,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, description = "`{lot, merged}`"), (status = 409), (status = 422)))]
pub async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<Merge>,
) -> Result<Response, ApiError> {
    let cmd = LotCommand::Merge {
        from_lot: body.value.from_lot,
    };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}

/// A rework.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rework {
    /// Earlier step id to go back to.
    pub to_step: String,
    /// Reason.
    pub reason: String,
}

/// Send the lot back to an earlier step, within the route's rework limit.
#[utoipa::path(post, path = "/api/v1/lots/{id}/rework", tag = "lot transactions", request_body = Rework,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = LotView), (status = 409), (status = 422)))]
pub async fn rework(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<Rework>,
) -> Result<Response, ApiError> {
    let Rework { to_step, reason } = body.value;
    let cmd = LotCommand::Rework { to_step, reason };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}

/// A scrap.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scrap {
    /// Wafers to scrap; the whole lot when absent.
    pub wafers: Option<Vec<String>>,
    /// Reason.
    pub reason: String,
}

/// Scrap wafers or the whole lot.
#[utoipa::path(post, path = "/api/v1/lots/{id}/scrap", tag = "lot transactions", request_body = Scrap,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = LotView), (status = 409), (status = 422)))]
pub async fn scrap(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<Scrap>,
) -> Result<Response, ApiError> {
    let Scrap { wafers, reason } = body.value;
    let cmd = LotCommand::Scrap { wafers, reason };
    perform(
        &state,
        &caller,
        lot_op(id, &headers, cmd)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}

/// A ship (no fields).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ship {}

/// Ship a completed, unheld lot.
#[utoipa::path(post, path = "/api/v1/lots/{id}/ship", tag = "lot transactions", request_body = Ship,
    security(("bearer" = [])), params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = LotView), (status = 409)))]
pub async fn ship(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    key: IdemKey,
    body: Body<Ship>,
) -> Result<Response, ApiError> {
    perform(
        &state,
        &caller,
        lot_op(id, &headers, LotCommand::Ship)?,
        key,
        body.fingerprint,
        ok,
    )
    .await
}
