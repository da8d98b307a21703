//! The JSON body extractor: strict parsing with clear errors, and the request fingerprint used
//! by idempotency keys.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// A JSON request body of type `T`, plus the fingerprint of the whole request.
///
/// Malformed JSON, unknown fields and wrong types are refused with 422 and a detail naming the
/// field and position; a non-JSON content type with 415. An empty body reads as `{}`.
#[derive(Debug)]
pub struct Body<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 of method, path and body bytes.
    pub fingerprint: String,
}

/// The fingerprint of a request: what an `Idempotency-Key` is bound to.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}")))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        if !bytes.is_empty()
            && !content_type.as_deref().is_some_and(|ct| {
                let ct = ct.split(';').next().unwrap_or("").trim();
                ct == "application/json" || ct.ends_with("+json")
            })
        {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            if at == "." || at.is_empty() {
                ApiError::invalid(format!("invalid JSON body: {inner}"))
            } else {
                ApiError::invalid(format!("invalid JSON body at `{at}`: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        Ok(Body {
            value,
            fingerprint: fingerprint(&method, &path, &bytes),
        })
    }
}

/// Query-string parameters of type `T`; bad ones are refused with 422 problem+json.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::invalid(format!("invalid query parameters: {}", e.body_text())))
    }
}
