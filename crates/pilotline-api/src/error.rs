//! One error type for every handler, rendered as `application/problem+json` (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilotline_domain::Refusal;
use pilotline_store::StoreError;
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, a short title and a detail that tells the caller what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Problem type slug (`illegal-transition`, `invalid-body`, …).
    pub kind: &'static str,
    /// What went wrong, for a person.
    pub detail: String,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl ApiError {
    /// An error with the given status, problem type and detail.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
        }
    }

    /// 401: no or bad token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403: the role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404: unknown, or not visible to the caller.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 422: the request body or parameters are invalid.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", detail)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> String {
        let title = self.status.canonical_reason().unwrap_or("Error");
        serde_json::to_string(&Problem {
            kind: format!("https://pilotline.dev/problems/{}", self.kind),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
        })
        .unwrap_or_default()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.body()).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(Refusal::Illegal(m)) => {
                ApiError::new(StatusCode::CONFLICT, "illegal-transition", m)
            }
            StoreError::Refused(Refusal::Invalid(m)) => ApiError::invalid(m),
            StoreError::Refused(Refusal::Forbidden(m)) => ApiError::forbidden(m),
            StoreError::Refused(Refusal::NotFound(m)) | StoreError::NotFound(m) => {
                ApiError::not_found(m)
            }
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::IdempotencyInFlight(_) => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency-key-in-flight",
                e.to_string(),
            ),
            StoreError::IdempotencyMismatch(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                e.to_string(),
            ),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; retry with the same Idempotency-Key",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the cause is in the server log",
                )
            }
        }
    }
}
