//! The JSON body extractor: strict parsing with clear errors, and the request fingerprint used
//! by idempotency keys.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use pilotline_domain::Code;

use crate::{ApiError, AppState};

/// The refusal for a body that could not be read: too large (413) or broken (400).
pub fn body_read_error(status: axum::http::StatusCode, text: String) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Code::BodyTooLarge
            .refusal()
            .with("limit", "2 MiB of JSON")
            .into()
    } else {
        Code::BadRequest.refusal().with("reason", text).into()
    }
}

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
            .map_err(|e| body_read_error(e.status(), e.body_text()))?;
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
            return Err(Code::UnsupportedMedia
                .refusal()
                .with("expected", "JSON with Content-Type: application/json")
                .into());
        }
        let mut de = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            let at = if at == "." || at.is_empty() {
                "body".to_string()
            } else {
                at
            };
            ApiError::body_invalid(&at, inner)
        })?;
        de.end().map_err(|e| ApiError::body_invalid("body", e))?;
        Ok(Body {
            value,
            fingerprint: fingerprint(&method, &path, &bytes),
        })
    }
}

/// Query-string parameters of type `T`. An unknown parameter, a malformed value (a
/// non-number `limit`, an unknown enum value, a bad time) or a control character in any value
/// is refused with 422 `query_invalid`, naming the parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

/// The parameter a serde error names: the path where it failed, else the field in backticks
/// of "unknown field `x`" / "missing field `x`".
fn parameter_of(path: &str, message: &str) -> String {
    if !path.is_empty() && path != "." {
        return path.to_string();
    }
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field `"))
        .unwrap_or("query")
        .to_string()
}

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("").as_bytes();
        for (name, value) in form_urlencoded::parse(query) {
            if value.chars().any(char::is_control) {
                return Err(ApiError::query(
                    &name,
                    "must not contain control characters",
                ));
            }
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                ApiError::query(&parameter_of(&path, &message), message)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::parameter_of;

    #[test]
    fn the_parameter_is_named_from_the_path_or_the_message() {
        assert_eq!(parameter_of("limit", "invalid digit"), "limit");
        assert_eq!(
            parameter_of(".", "unknown field `stat`, expected one of `state`"),
            "stat"
        );
        assert_eq!(parameter_of("", "missing field `group_by`"), "group_by");
        assert_eq!(parameter_of(".", "something else"), "query");
    }
}
