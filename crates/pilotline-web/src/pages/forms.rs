//! Reading forms: a body already bounded by the router's limit, decoded into a typed form, or
//! refused (`body_invalid`) naming the field.

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::error::PageError;
use crate::i18n::Tr;
use pilotline_domain::Code;

/// Decodes an `application/x-www-form-urlencoded` body.
pub fn decode<T: DeserializeOwned>(body: &Bytes, tr: &Tr) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        PageError::new(
            tr.clone(),
            Code::BodyInvalid
                .refusal()
                .with("field", "form")
                .with("reason", e),
        )
    })
}

/// An optional text field: blank means absent.
pub fn filled(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A return path inside the web interface (never another site: no open redirect).
pub fn local_path(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with("/ui/") && !p.starts_with("//") && !p.contains('\\') => {
            p.to_string()
        }
        _ => "/ui/".to_string(),
    }
}

/// A 303 to `to` (after a form).
pub fn see_other(to: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, to.to_string())],
    )
        .into_response()
}

/// The `?done=` a page is sent back with after a form, naming what was done.
#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

impl Done {
    /// What was done, when it is one of `known` (anything else is ignored).
    pub fn among(self, known: &[&str]) -> Option<String> {
        self.done.filter(|d| known.contains(&d.as_str()))
    }
}
