//! One error type for every handler, rendered as `application/problem+json` (RFC 9457) with
//! the refusal's stable `code` and its `params`; `detail` is the English text rendered from them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilotline_app::AppError;
use pilotline_domain::{Code, Refusal};
use serde::Serialize;
use std::collections::BTreeMap;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: a refusal with its code and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What was refused, and why.
    pub refusal: Refusal,
}

/// The problem document (RFC 9457) with Pilotline's extension members `code` and `params`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://pilotline.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, in English, rendered from `code` and `params`.
    pub detail: String,
    /// The stable refusal code (the list is in the OpenAPI document, `x-refusal-codes`).
    pub code: String,
    /// The refusal's parameters.
    pub params: BTreeMap<String, String>,
    /// The id of the request this answers (also in its `X-Request-Id` header), to find it in
    /// the server's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.refusal.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("https://pilotline.dev/problems/{}", self.refusal.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.refusal.message(),
            code: self.refusal.code().as_str().to_string(),
            params: self
                .refusal
                .params()
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
            request_id: crate::request_id::current(),
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> String {
        serde_json::to_string(&self.problem()).unwrap_or_default()
    }

    /// A malformed query parameter.
    pub fn query(parameter: &str, reason: impl std::fmt::Display) -> Self {
        Code::QueryInvalid
            .refusal()
            .with("parameter", parameter)
            .with("reason", reason)
            .into()
    }

    /// A malformed body.
    pub fn body_invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        Code::BodyInvalid
            .refusal()
            .with("field", field)
            .with("reason", reason)
            .into()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status(), self.refusal)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut res = (status, self.body()).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        Self { refusal }
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> Self {
        code.refusal().into()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match &e {
            AppError::Refused(_) => {}
            AppError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            AppError::Internal(cause) => tracing::error!(%cause, "internal error"),
        }
        e.refusal().into()
    }
}
