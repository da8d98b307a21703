//! Test data files (upload, list, status), products' bin tables, bin Paretos and parametric
//! statistics.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use http_body_util::BodyExt;
use pilotline_app::{BinPareto, ImportedFile, ParametricRow, ProductBins, Rejection, TestFileInfo};
use pilotline_domain::Code;
use pilotline_yield::BinDefinition;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::body::{Body, Params};
use crate::handlers::wafers::FilterQuery;
use crate::{ApiError, AppState};

/// How an uploaded file is linked.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// File name to record (default `upload.stdf`).
    pub name: Option<String>,
    /// The MES lot, when the file's own lot id (MIR LOT_ID) differs.
    pub lot: Option<String>,
    /// Record an external lot when the lot is unknown (data from outside the line).
    #[serde(default)]
    pub create_lots: bool,
}

/// Uploads one STDF V4 file (plain or gzipped, as the request body). It is read whole and
/// stored in one transaction, or refused whole with the record number and byte offset of the
/// fault; the same file twice is stored once (200, `duplicate`).
#[utoipa::path(post, path = "/api/v1/test-files", tag = "yield", security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The STDF file"),
    responses((status = 201, body = ImportedFile), (status = 200, body = ImportedFile, description = "already imported"),
        (status = 404, description = "unknown lot"), (status = 422, description = "unreadable file")))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<UploadQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<ImportedFile>), ApiError> {
    // The role, the declared size and a free upload place are checked before a byte of the
    // body is read; then the body streams to the blob store, never whole in memory.
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut upload = state.app.begin_upload(declared, &caller.0).await?;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Code::BadRequest.refusal().with("reason", e))?;
        if let Ok(chunk) = frame.into_data() {
            upload.write(&chunk).await?;
        }
    }
    let name = q.name.unwrap_or_else(|| "upload.stdf".to_string());
    let done = state
        .app
        .import_upload(upload, &name, q.lot.as_deref(), q.create_lots, &caller.0)
        .await?;
    let status = if done.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(done)))
}

/// Which files.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FilesQuery {
    /// One lot's files.
    pub lot: Option<String>,
    /// At most this many, newest first (default 100).
    pub limit: Option<u32>,
}

/// Imported test files, newest first (a customer: its own lots' only).
#[utoipa::path(get, path = "/api/v1/test-files", tag = "yield", security(("bearer" = [])),
    params(FilesQuery), responses((status = 200, body = Vec<TestFileInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<FilesQuery>,
) -> Result<Json<Vec<TestFileInfo>>, ApiError> {
    Ok(Json(
        state
            .app
            .test_files(q.lot.as_deref(), q.limit.unwrap_or(100), &caller.0)
            .await?,
    ))
}

/// One imported file: where it came from, its stage and step, what it holds.
#[utoipa::path(get, path = "/api/v1/test-files/{id}", tag = "yield", security(("bearer" = [])),
    params(("id" = String, Path, description = "File id (SHA-256 of its bytes)")),
    responses((status = 200, body = TestFileInfo), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TestFileInfo>, ApiError> {
    Ok(Json(state.app.test_file(&id, &caller.0).await?))
}

/// Files refused (unreadable, or no lot to link to), newest first, with the reason.
#[utoipa::path(get, path = "/api/v1/test-files/rejections", tag = "yield", security(("bearer" = [])),
    responses((status = 200, body = Vec<Rejection>)))]
pub async fn rejections(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Rejection>>, ApiError> {
    Ok(Json(state.app.rejections(100, &caller.0).await?))
}

/// A product's bin table (empty: the parts' own flags decide).
#[utoipa::path(get, path = "/api/v1/products/{id}/bins", tag = "yield", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product (or part type)")),
    responses((status = 200, body = ProductBins), (status = 404)))]
pub async fn get_bins(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProductBins>, ApiError> {
    Ok(Json(state.app.bin_table(&id, &caller.0).await?))
}

/// Replaces a product's bin table: from now on it alone decides pass/fail for the product's
/// yields, maps and Paretos (data imported before included).
#[utoipa::path(put, path = "/api/v1/products/{id}/bins", tag = "yield", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product (or part type)")),
    request_body = Vec<BinDefinition>,
    responses((status = 200, body = ProductBins), (status = 404), (status = 422)))]
pub async fn put_bins(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<Vec<BinDefinition>>,
) -> Result<Json<ProductBins>, ApiError> {
    Ok(Json(
        state.app.set_bin_table(&id, body.value, &caller.0).await?,
    ))
}

/// Failing dies by final hard bin, largest first, with shares and cumulative shares.
#[utoipa::path(get, path = "/api/v1/bins/pareto", tag = "yield", security(("bearer" = [])),
    params(FilterQuery), responses((status = 200, body = BinPareto)))]
pub async fn pareto(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<FilterQuery>,
) -> Result<Json<BinPareto>, ApiError> {
    Ok(Json(state.app.bin_pareto(&q.filter(), &caller.0).await?))
}

/// Parametric statistics (per wafer and test: limits, units, count, fails, mean, sigma, min,
/// max) of the lot's test files.
#[utoipa::path(get, path = "/api/v1/lots/{id}/parametrics", tag = "yield", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lot id")),
    responses((status = 200, body = Vec<ParametricRow>), (status = 404)))]
pub async fn parametrics(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ParametricRow>>, ApiError> {
    Ok(Json(state.app.lot_parametrics(&id, &caller.0).await?))
}
