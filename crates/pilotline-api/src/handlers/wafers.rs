//! Yield roll-ups and wafer maps from test data (JSON, SVG, SEMI E142 XML).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pilotline_app::{GroupBy, Stage, YieldFilter, YieldGroup};
use pilotline_domain::Code;
use pilotline_yield::{StackedMap, WaferMap};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::body::Params;
use crate::{ApiError, AppState};

/// How to return a wafer map.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MapFormat {
    /// Every die's final result, bin counts and orientation.
    #[default]
    Json,
    /// A bin map picture with a legend, notch down.
    Svg,
    /// SEMI E142 substrate map XML.
    E142,
}

/// Which map.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MapQuery {
    /// `json` (default), `svg` or `e142`.
    pub format: Option<MapFormat>,
    /// The lot, when several lots' test data name this wafer.
    pub lot: Option<String>,
    /// One MPW design's dies only (its booking id).
    pub design: Option<String>,
}

/// A wafer's bin map from its final results (retests resolved to the last test), normalised
/// to notch down.
#[utoipa::path(get, path = "/api/v1/wafers/{id}/map", tag = "yield", security(("bearer" = [])),
    params(("id" = String, Path, description = "Wafer id as in the test data"), MapQuery),
    responses((status = 200, body = WaferMap, description = "JSON, or SVG / E142 XML by format"),
        (status = 404), (status = 409, description = "several lots have this wafer id: give lot")))]
pub async fn map(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<MapQuery>,
) -> Result<Response, ApiError> {
    let map = state
        .app
        .wafer_map(&id, q.lot.as_deref(), q.design.as_deref(), &caller.0)
        .await?;
    Ok(match q.format.unwrap_or_default() {
        MapFormat::Json => Json(map).into_response(),
        MapFormat::Svg => typed(map.to_svg(), "image/svg+xml"),
        MapFormat::E142 => typed(map.to_e142(), "application/xml"),
    })
}

/// Which test data (roll-ups and Paretos).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FilterQuery {
    /// Tested (else imported) from this time (inclusive, RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Until this time (exclusive).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `probe` or `final` only.
    pub stage: Option<Stage>,
    /// One lot only.
    pub lot: Option<String>,
    /// One product only.
    pub product: Option<String>,
    /// One MPW design only (its booking id).
    pub design: Option<String>,
}

impl FilterQuery {
    /// The store's filter.
    pub fn filter(&self) -> YieldFilter {
        YieldFilter {
            from: self.from,
            to: self.to,
            stage: self.stage,
            lot: self.lot.clone(),
            product: self.product.clone(),
            design: self.design.clone(),
        }
    }
}

/// Which roll-up.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct YieldQuery {
    /// `lot`, `wafer`, `product`, `design`, `tenant`, `stage`, `step`, `tool`, `day`, `week`
    /// or `month` (on an MPW lot, `design` is per design the layout placed).
    pub group_by: GroupBy,
    /// Tested (else imported) from this time (inclusive, RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Until this time (exclusive).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `probe` or `final` only.
    pub stage: Option<Stage>,
    /// One lot only.
    pub lot: Option<String>,
    /// One product only.
    pub product: Option<String>,
    /// One MPW design only (its booking id).
    pub design: Option<String>,
}

/// Yields (all results, first pass, final) grouped by lot, wafer, product, design, tenant,
/// test stage, route step, tool used at any step, or period — from per-die data judged by each
/// product's bin table. A customer sees only its own designs' dies.
#[utoipa::path(get, path = "/api/v1/yield", tag = "yield", security(("bearer" = [])),
    params(YieldQuery), responses((status = 200, body = Vec<YieldGroup>)))]
pub async fn rollup(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<YieldQuery>,
) -> Result<Json<Vec<YieldGroup>>, ApiError> {
    Ok(Json(
        state
            .app
            .yield_rollup(
                q.group_by,
                &YieldFilter {
                    from: q.from,
                    to: q.to,
                    stage: q.stage,
                    lot: q.lot,
                    product: q.product,
                    design: q.design,
                },
                &caller.0,
            )
            .await?,
    ))
}

/// How to return a stacked map.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StackedQuery {
    /// `json` (default) or `svg`.
    pub format: Option<MapFormat>,
    /// One MPW design's dies only (its booking id).
    pub design: Option<String>,
}

/// The lot's stacked (composite) map: per die position, how many of its probed wafers passed
/// there at final result, notch down.
#[utoipa::path(get, path = "/api/v1/lots/{id}/map", tag = "yield", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id"), StackedQuery),
    responses((status = 200, body = StackedMap, description = "JSON, or SVG by format"), (status = 404),
        (status = 422, description = "E142 is per wafer")))]
pub async fn stacked(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<StackedQuery>,
) -> Result<Response, ApiError> {
    let map = state
        .app
        .stacked_map(&id, q.design.as_deref(), &caller.0)
        .await?;
    Ok(match q.format.unwrap_or_default() {
        MapFormat::Json => Json(map).into_response(),
        MapFormat::Svg => typed(map.to_svg(), "image/svg+xml"),
        MapFormat::E142 => {
            return Err(Code::FormatUnsupported
                .refusal()
                .with("format", "e142")
                .with(
                    "reason",
                    "a stacked map is JSON or SVG; E142 maps are per wafer (/wafers/{id}/map)",
                )
                .into());
        }
    })
}

/// `body` with content type `mime`.
fn typed(body: String, mime: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    res
}
