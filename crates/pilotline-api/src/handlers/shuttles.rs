//! MPW shuttles: the line's configuration, process layer tables, shuttles, bookings, design
//! uploads with their prechecks, layouts and the calendar feed. Each handler parses, calls
//! the application layer and renders.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use pilotline_app::{
    Booking, BookingRequest, BookingView, DesignRevision, LayoutView, ShuttleView,
};
use pilotline_domain::Code;
use pilotline_mpw::precheck::{LayerKey, Verdict};
use pilotline_mpw::{LineConfig, Quote, Shuttle, ShuttleSpec, ShuttleStatus, Space};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::{ApiError, AppState};

fn typed(body: String, mime: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    res
}

/// The line's configuration for shuttles: stepper field, wafer, test structures.
#[utoipa::path(get, path = "/api/v1/line", tag = "mpw", security(("bearer" = [])),
    responses((status = 200, body = LineConfig), (status = 409, description = "not set yet")))]
pub async fn get_line(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LineConfig>, ApiError> {
    Ok(Json(state.app.line_config(&caller.0).await?))
}

/// Sets the line's configuration (engineers, admins).
#[utoipa::path(put, path = "/api/v1/line", tag = "mpw", security(("bearer" = [])), request_body = LineConfig,
    responses((status = 200, body = LineConfig)))]
pub async fn put_line(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<LineConfig>,
) -> Result<Json<LineConfig>, ApiError> {
    Ok(Json(
        state.app.put_line_config(&body.value, &caller.0).await?,
    ))
}

/// A layer of a process's layer table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// GDSII layer number.
    pub layer: i16,
    /// GDSII datatype.
    pub datatype: i16,
    /// Name (`POLY1`).
    pub name: String,
}

fn layers_out(v: Vec<(LayerKey, String)>) -> Vec<Layer> {
    v.into_iter()
        .map(|(k, name)| Layer {
            layer: k.layer,
            datatype: k.datatype,
            name,
        })
        .collect()
}

/// A process's layer table (staff): the layers a design on this route may use.
#[utoipa::path(get, path = "/api/v1/routes/{id}/layers", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Route (process) id")), responses((status = 200, body = Vec<Layer>)))]
pub async fn get_layers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Layer>>, ApiError> {
    Ok(Json(layers_out(
        state.app.process_layers(&id, &caller.0).await?,
    )))
}

/// Replaces a process's layer table (engineers).
#[utoipa::path(put, path = "/api/v1/routes/{id}/layers", tag = "mpw", security(("bearer" = [])), request_body = Vec<Layer>,
    params(("id" = String, Path, description = "Route (process) id")), responses((status = 200, body = Vec<Layer>)))]
pub async fn put_layers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<Vec<Layer>>,
) -> Result<Json<Vec<Layer>>, ApiError> {
    let layers: Vec<(LayerKey, String)> = body
        .value
        .into_iter()
        .map(|l| {
            (
                LayerKey {
                    layer: l.layer,
                    datatype: l.datatype,
                },
                l.name,
            )
        })
        .collect();
    Ok(Json(layers_out(
        state
            .app
            .put_process_layers(&id, &layers, &caller.0)
            .await?,
    )))
}

/// Which shuttles.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShuttlesQuery {
    /// Only those not yet in fab (the public list of upcoming shuttles).
    #[serde(default)]
    pub upcoming: bool,
}

/// Shuttles by fab start (everyone signed in).
#[utoipa::path(get, path = "/api/v1/shuttles", tag = "mpw", security(("bearer" = [])), params(ShuttlesQuery),
    responses((status = 200, body = Vec<Shuttle>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ShuttlesQuery>,
) -> Result<Json<Vec<Shuttle>>, ApiError> {
    Ok(Json(state.app.shuttles(q.upcoming, &caller.0).await?))
}

/// Creates a shuttle, planned (engineers).
#[utoipa::path(post, path = "/api/v1/shuttles", tag = "mpw", security(("bearer" = [])), request_body = ShuttleSpec,
    responses((status = 201, body = Shuttle)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<ShuttleSpec>,
) -> Result<(StatusCode, Json<Shuttle>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_shuttle(&body.value, &caller.0).await?),
    ))
}

/// The iCalendar feed (RFC 5545) of upcoming shuttles' deadlines.
#[utoipa::path(get, path = "/api/v1/shuttles/calendar.ics", tag = "mpw", security(("bearer" = [])),
    responses((status = 200, content_type = "text/calendar", body = String)))]
pub async fn calendar(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_string())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        })
        .unwrap_or_else(|| "pilotline".into());
    let text = state.app.shuttle_calendar(&host, &caller.0).await?;
    Ok(typed(text, "text/calendar; charset=utf-8"))
}

/// One shuttle with its calendar, offer and capacity left.
#[utoipa::path(get, path = "/api/v1/shuttles/{id}", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 200, body = ShuttleView)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ShuttleView>, ApiError> {
    Ok(Json(state.app.shuttle(&id, &caller.0).await?))
}

/// A shuttle's new status (open, cancelled or delivered; closing and starting are actions).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// The status.
    pub status: ShuttleStatus,
}

/// Opens a shuttle for booking, cancels it, or marks it delivered (engineers).
#[utoipa::path(post, path = "/api/v1/shuttles/{id}/status", tag = "mpw", security(("bearer" = [])), request_body = StatusChange,
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 200, body = Shuttle)))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<StatusChange>,
) -> Result<Json<Shuttle>, ApiError> {
    Ok(Json(
        state
            .app
            .set_shuttle_status(&id, body.value.status, &caller.0)
            .await?,
    ))
}

/// What a booking asks for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBody {
    /// A slot of the menu, or an area.
    pub space: Space,
    /// Options (`dicing`, `packaging`, `full_wafer`).
    #[serde(default)]
    pub options: Vec<String>,
    /// The tenant booked for (staff only).
    #[serde(default)]
    pub tenant: Option<String>,
    /// An engineer's reason for booking after booking closed.
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// Prices a booking without making it: the quote shown before confirming.
#[utoipa::path(post, path = "/api/v1/shuttles/{id}/quote", tag = "mpw", security(("bearer" = [])), request_body = BookingBody,
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 200, body = Quote)))]
pub async fn quote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<BookingBody>,
) -> Result<Json<Quote>, ApiError> {
    Ok(Json(
        state
            .app
            .quote(&id, &body.value.space, &body.value.options, &caller.0)
            .await?,
    ))
}

/// A shuttle's bookings (a tenant: its own).
#[utoipa::path(get, path = "/api/v1/shuttles/{id}/bookings", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 200, body = Vec<Booking>)))]
pub async fn shuttle_bookings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Booking>>, ApiError> {
    Ok(Json(state.app.shuttle_bookings(&id, &caller.0).await?))
}

/// Books space: 201 `confirmed` while the pool has room, else `waitlisted` — decided
/// atomically, however many book at once (tenant admins; staff naming a tenant).
#[utoipa::path(post, path = "/api/v1/shuttles/{id}/bookings", tag = "mpw", security(("bearer" = [])), request_body = BookingBody,
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 201, body = Booking)))]
pub async fn book(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<BookingBody>,
) -> Result<(StatusCode, Json<Booking>), ApiError> {
    let b = body.value;
    let req = BookingRequest {
        space: b.space,
        options: b.options,
        tenant: b.tenant,
        override_reason: b.override_reason,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.app.book(&id, &req, &caller.0).await?),
    ))
}

/// An action without fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {}

/// Closes booking and places the designs (engineers): the layout.
#[utoipa::path(post, path = "/api/v1/shuttles/{id}/close", tag = "mpw", security(("bearer" = [])), request_body = Action,
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 200, body = pilotline_mpw::Layout)))]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    _body: Body<Action>,
) -> Result<Json<pilotline_mpw::Layout>, ApiError> {
    Ok(Json(state.app.close_shuttle(&id, &caller.0).await?))
}

/// Approves the layout's area packing (engineers).
#[utoipa::path(post, path = "/api/v1/shuttles/{id}/layout/approve", tag = "mpw", security(("bearer" = [])), request_body = Action,
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 204, description = "Approved")))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    _body: Body<Action>,
) -> Result<StatusCode, ApiError> {
    state.app.approve_layout(&id, &caller.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts the shuttle: its MPW lot on the shuttle's route, carrying the layout (engineers).
#[utoipa::path(post, path = "/api/v1/shuttles/{id}/start", tag = "mpw", security(("bearer" = [])), request_body = Action,
    params(("id" = String, Path, description = "Shuttle id")), responses((status = 200, body = Shuttle)))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    _body: Body<Action>,
) -> Result<Json<Shuttle>, ApiError> {
    Ok(Json(state.app.start_shuttle(&id, &caller.0).await?))
}

/// How to return a layout.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayoutFormat {
    /// The layout as data.
    #[default]
    Json,
    /// A picture.
    Svg,
}

/// Which picture.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayoutPicture {
    /// The whole wafer.
    #[default]
    Wafer,
    /// One field (the reticle).
    Reticle,
}

/// How to return a layout.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LayoutQuery {
    /// `json` (default) or `svg`.
    pub format: Option<LayoutFormat>,
    /// With `svg`: `wafer` (default) or `reticle`.
    pub view: Option<LayoutPicture>,
}

/// A shuttle's layout: each die position's design, dies per design per wafer; a tenant sees
/// its own designs and every other die masked.
#[utoipa::path(get, path = "/api/v1/shuttles/{id}/layout", tag = "mpw", security(("bearer" = [])), params(("id" = String, Path, description = "Shuttle id"), LayoutQuery),
    responses((status = 200, body = LayoutView), (status = 200, content_type = "image/svg+xml", body = String)))]
pub async fn layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<LayoutQuery>,
) -> Result<Response, ApiError> {
    Ok(match q.format.unwrap_or_default() {
        LayoutFormat::Json => Json(state.app.shuttle_layout(&id, &caller.0).await?).into_response(),
        LayoutFormat::Svg => {
            let reticle = matches!(q.view.unwrap_or_default(), LayoutPicture::Reticle);
            let svg = state
                .app
                .shuttle_layout_svg(&id, reticle, &caller.0)
                .await?;
            typed(svg, "image/svg+xml")
        }
    })
}

/// The bookings the caller may see (a tenant: its own), newest first.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "mpw", security(("bearer" = [])),
    responses((status = 200, body = Vec<Booking>)))]
pub async fn bookings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Booking>>, ApiError> {
    Ok(Json(state.app.bookings(&caller.0).await?))
}

/// A booking with its timeline (who and when for every change) and its revisions.
#[utoipa::path(get, path = "/api/v1/bookings/{id}", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = BookingView)))]
pub async fn booking(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BookingView>, ApiError> {
    Ok(Json(state.app.booking(&id, &caller.0).await?))
}

/// The booking's delivery: its MPW lot's progress (current step, steps done and left) and the
/// expected delivery date, forecast from the remaining steps at the line's measured cycle time
/// per step, beside the date the calendar promised.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/forecast", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = pilotline_app::Delivery)))]
pub async fn forecast(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<pilotline_app::Delivery>, ApiError> {
    Ok(Json(state.app.delivery(&id, &caller.0).await?))
}

/// The quote kept with a booking.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/quote", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = Quote)))]
pub async fn booking_quote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Quote>, ApiError> {
    Ok(Json(state.app.booking_quote(&id, &caller.0).await?))
}

/// Why a booking is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    /// Said for the timeline.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancels a booking; space freed before booking closes goes to the first waitlisted.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", tag = "mpw", security(("bearer" = [])), request_body = Cancel,
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = Booking)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<Cancel>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(
        state
            .app
            .cancel_booking(&id, body.value.reason.as_deref(), &caller.0)
            .await?,
    ))
}

/// A booking's design revisions, oldest first, each with its SHA-256 and precheck verdict.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/designs", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = Vec<DesignRevision>)))]
pub async fn revisions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<DesignRevision>>, ApiError> {
    Ok(Json(state.app.revisions(&id, &caller.0).await?))
}

/// How an uploaded design is recorded.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DesignQuery {
    /// File name to record (default `design.gds`).
    pub name: Option<String>,
    /// An engineer's reason for an upload after the design deadline.
    pub override_reason: Option<String>,
}

/// Uploads a design revision: GDSII (optionally gzipped) as the body, streamed to the blob
/// store; the answer carries its SHA-256 and the precheck verdict (201 whether it passed or
/// not — a failed revision is recorded, never accepted).
#[utoipa::path(post, path = "/api/v1/bookings/{id}/designs", tag = "mpw", security(("bearer" = [])), params(("id" = String, Path, description = "Booking id"), DesignQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The GDSII file"),
    responses((status = 201, body = DesignRevision)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<DesignQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<DesignRevision>), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let reason = q.override_reason.as_deref();
    let mut upload = state
        .app
        .begin_design_upload(&id, declared, reason, &caller.0)
        .await?;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Code::BadRequest.refusal().with("reason", e))?;
        if let Ok(chunk) = frame.into_data() {
            upload.write(&chunk).await?;
        }
    }
    let name = q.name.unwrap_or_else(|| "design.gds".to_string());
    let rev = state
        .app
        .finish_design_upload(&id, upload, &name, reason, &caller.0)
        .await?;
    Ok((StatusCode::CREATED, Json(rev)))
}

/// Which revision to submit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// Revision number.
    pub revision: i64,
    /// An engineer's reason for a submission after the design deadline.
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// Designates a revision as the design to fabricate (tenant admins).
#[utoipa::path(post, path = "/api/v1/bookings/{id}/submit", tag = "mpw", security(("bearer" = [])), request_body = Submit,
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = Booking)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<Submit>,
) -> Result<Json<Booking>, ApiError> {
    let b = body.value;
    Ok(Json(
        state
            .app
            .submit_design(&id, b.revision, b.override_reason.as_deref(), &caller.0)
            .await?,
    ))
}

/// An engineer's acceptance.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// A reason for accepting after the DRC freeze.
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// Accepts the submitted design (engineers); the hash to fabricate is pinned.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/accept", tag = "mpw", security(("bearer" = [])), request_body = Accept,
    params(("id" = String, Path, description = "Booking id")), responses((status = 200, body = Booking)))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<Accept>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(
        state
            .app
            .accept_design(&id, body.value.override_reason.as_deref(), &caller.0)
            .await?,
    ))
}

/// One design revision (`{booking}-r{n}`).
#[utoipa::path(get, path = "/api/v1/designs/{id}", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Design revision id")), responses((status = 200, body = DesignRevision)))]
pub async fn design(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DesignRevision>, ApiError> {
    Ok(Json(state.app.revision(&id, &caller.0).await?))
}

/// A revision's precheck verdict: each check with pass/fail and the value measured.
#[utoipa::path(get, path = "/api/v1/designs/{id}/precheck", tag = "mpw", security(("bearer" = [])),
    params(("id" = String, Path, description = "Design revision id")), responses((status = 200, body = Verdict)))]
pub async fn precheck(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Verdict>, ApiError> {
    Ok(Json(state.app.revision(&id, &caller.0).await?.verdict))
}
