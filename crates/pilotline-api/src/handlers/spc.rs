//! Metrology readings (JSON or CSV) and SPC charts.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use pilotline_app::{ChartSpec, ChartView, Measurement, NewMeasurements, SpcOutcome};
use pilotline_domain::Code;
use pilotline_domain::measure::Reading;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::{ApiError, AppState};

/// Readings of one lot at one step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsBody {
    /// Lot measured.
    pub lot: String,
    /// Step whose plan they belong to (default: the lot's current step).
    pub step: Option<String>,
    /// Metrology tool (default: the lot's tool when running).
    pub equipment: Option<String>,
    /// The readings.
    pub readings: Vec<Reading>,
}

/// The columns a CSV upload must have, in any order (`step`, `wafer`, `site` may be empty).
const CSV_COLUMNS: [&str; 6] = ["lot", "step", "parameter", "wafer", "site", "value"];

/// A CSV fault at line `line` (numbered from 1, the header).
fn csv_error(line: usize, reason: impl std::fmt::Display) -> ApiError {
    Code::CsvInvalid
        .refusal()
        .with("line", line)
        .with("reason", reason)
        .into()
}

/// The line (from 1) of byte `offset` in `bytes`.
fn text_line(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// Reads a CSV upload into one request per (lot, step), refusing the whole file at the first
/// bad line (numbered from 1, the header).
fn parse_csv(text: &str) -> Result<Vec<NewMeasurements>, ApiError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(csv_error(1, "the CSV is empty"));
    };
    let names: Vec<String> = header.split(',').map(|h| h.trim().to_lowercase()).collect();
    let col = |name: &str| {
        names.iter().position(|n| n == name).ok_or_else(|| {
            csv_error(
                1,
                format!(
                    "no column {name:?}; the header needs {}",
                    CSV_COLUMNS.join(",")
                ),
            )
        })
    };
    let at: Vec<usize> = CSV_COLUMNS
        .iter()
        .map(|c| col(c))
        .collect::<Result<_, _>>()?;
    let mut groups: Vec<NewMeasurements> = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(csv_error(
                n,
                format!("{} fields, the header has {}", cells.len(), names.len()),
            ));
        }
        let cell = |k: usize| cells[at[k]];
        let opt = |k: usize| Some(cell(k).to_string()).filter(|s| !s.is_empty());
        let lot = cell(0).to_string();
        if lot.is_empty() || cell(2).is_empty() {
            return Err(csv_error(n, "lot and parameter must not be empty"));
        }
        let site = match opt(4) {
            None => None,
            Some(s) => Some(
                s.parse::<u32>()
                    .map_err(|_| csv_error(n, format!("site {s:?} is not a whole number")))?,
            ),
        };
        let value: f64 = cell(5)
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| csv_error(n, format!("value {:?} is not a number", cell(5))))?;
        let reading = Reading {
            parameter: cell(2).to_string(),
            wafer: opt(3),
            site,
            value,
        };
        let step = opt(1);
        match groups.iter_mut().find(|g| g.lot == lot && g.step == step) {
            Some(g) => g.readings.push(reading),
            None => groups.push(NewMeasurements {
                lot,
                step,
                equipment: None,
                readings: vec![reading],
                source: "csv".to_string(),
            }),
        }
    }
    if groups.is_empty() {
        return Err(csv_error(2, "the CSV has a header but no readings"));
    }
    Ok(groups)
}

/// Records readings outside a track-out, as JSON (one lot and step) or as CSV
/// (`text/csv`: columns lot, step, parameter, wafer, site, value). Each reading is checked
/// against the step's data-collection plan: one outside its valid range refuses the request
/// (measure again), one outside spec holds the lot (`SPC-OOS`); then the SPC charts judge the
/// new points (an out-of-control point holds the lot and/or takes the tool down, per chart).
/// A CSV is refused whole at its first bad line.
#[utoipa::path(post, path = "/api/v1/measurements", tag = "spc", security(("bearer" = [])),
    request_body(content = MeasurementsBody, description = "JSON, or text/csv with columns lot,step,parameter,wafer,site,value"),
    responses((status = 201, body = SpcOutcome), (status = 404), (status = 422)))]
pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<(StatusCode, Json<SpcOutcome>), ApiError> {
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let requests = if csv {
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| csv_error(text_line(&bytes, e.valid_up_to()), "not UTF-8 text"))?;
        parse_csv(text)?
    } else {
        let body: MeasurementsBody =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::body_invalid("body", e))?;
        vec![NewMeasurements {
            lot: body.lot,
            step: body.step,
            equipment: body.equipment,
            readings: body.readings,
            source: "api".to_string(),
        }]
    };
    // Every group is checked before any is stored, so a bad file stores nothing.
    let total = state.app.record_measurements(&requests, &caller.0).await?;
    Ok((StatusCode::CREATED, Json(total)))
}

/// Which readings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsQuery {
    /// One lot's.
    pub lot: Option<String>,
    /// One parameter's.
    pub parameter: Option<String>,
    /// At most this many, newest first (default 1000).
    pub limit: Option<u32>,
}

/// Stored readings, newest first (a customer: its own lots' only).
#[utoipa::path(get, path = "/api/v1/measurements", tag = "spc", security(("bearer" = [])),
    params(MeasurementsQuery), responses((status = 200, body = Vec<Measurement>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<MeasurementsQuery>,
) -> Result<Json<Vec<Measurement>>, ApiError> {
    Ok(Json(
        state
            .app
            .measurements(
                q.lot.as_deref(),
                q.parameter.as_deref(),
                q.limit.unwrap_or(1000),
                &caller.0,
            )
            .await?,
    ))
}

/// Every chart with its current limits and violations (points left out).
#[utoipa::path(get, path = "/api/v1/spc/charts", tag = "spc", security(("bearer" = [])),
    responses((status = 200, body = Vec<ChartView>)))]
pub async fn charts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ChartView>>, ApiError> {
    Ok(Json(state.app.charts(&caller.0).await?))
}

/// Creates a chart: parameter and keys (product, step, tool, recipe), I-MR or X̄-S, its rules
/// and what an out-of-control point does. Limits freeze from its first baseline points.
#[utoipa::path(post, path = "/api/v1/spc/charts", tag = "spc", security(("bearer" = [])),
    request_body = ChartSpec, responses((status = 201, body = ChartView), (status = 409), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<ChartSpec>,
) -> Result<(StatusCode, Json<ChartView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_chart(body.value, &caller.0).await?),
    ))
}

/// A chart: points (wafer means), frozen limits of its current version, violations and
/// Cp/Cpk/Pp/Ppk.
#[utoipa::path(get, path = "/api/v1/spc/charts/{id}", tag = "spc", security(("bearer" = [])),
    params(("id" = String, Path, description = "Chart id")),
    responses((status = 200, body = ChartView), (status = 404)))]
pub async fn chart(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ChartView>, ApiError> {
    Ok(Json(state.app.chart(&id, &caller.0).await?))
}

/// Recomputes a chart's limits from its latest baseline points, as a new version.
#[utoipa::path(post, path = "/api/v1/spc/charts/{id}/limits", tag = "spc", security(("bearer" = [])),
    params(("id" = String, Path, description = "Chart id")),
    responses((status = 200, body = ChartView), (status = 404), (status = 422)))]
pub async fn recompute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ChartView>, ApiError> {
    Ok(Json(state.app.recompute_limits(&id, &caller.0).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_groups_by_lot_and_step_and_names_the_bad_line() {
        let ok = "lot,step,parameter,wafer,site,value\nL1,FB050,oxide,W1,1,500.5\n\
                  L1,FB050,oxide,W1,2,501\nL2,,oxide,,,499\n";
        let g = parse_csv(ok).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].readings.len(), 2);
        assert_eq!(g[1].step, None);
        assert_eq!(g[1].readings[0].site, None);
        let bad = "lot,step,parameter,wafer,site,value\nL1,FB050,oxide,W1,1,500\nL1,FB050,oxide,W1,2,abc\n";
        let e = parse_csv(bad).unwrap_err();
        assert_eq!(e.refusal.code(), Code::CsvInvalid);
        assert_eq!(e.refusal.param("line"), Some("3"));
        let e = parse_csv("lot,parameter,value\nL1,oxide,1\n").unwrap_err();
        assert_eq!(e.refusal.param("line"), Some("1"));
    }
}
