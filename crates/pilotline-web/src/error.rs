//! A page that could not be shown: the refusal rendered in the viewer's language, with the
//! refusal's HTTP status (and its code in the page, for people who report it and for tests);
//! an ended session goes back to the sign-in page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use pilotline_app::AppError;
use pilotline_domain::Refusal;

use crate::i18n::Tr;
use crate::layout;

/// A refused page or form.
pub struct PageError {
    tr: Tr,
    refusal: Refusal,
    /// Where to sign in again before returning (an ended session).
    sign_in_to: Option<String>,
}

impl PageError {
    /// The refusal of `e`, in `tr`'s words.
    pub fn new(tr: Tr, e: impl Into<AppError>) -> Self {
        let e = e.into();
        match &e {
            AppError::Refused(_) => {}
            AppError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            AppError::Internal(cause) => tracing::error!(%cause, "internal error"),
        }
        Self {
            tr,
            refusal: e.refusal(),
            sign_in_to: None,
        }
    }

    /// No (live) session: sign in, then come back to `path`.
    pub fn sign_in(tr: Tr, path: &str, refusal: Refusal) -> Self {
        Self {
            tr,
            refusal,
            sign_in_to: Some(path.to_string()),
        }
    }

    /// The refusal.
    pub fn refusal(&self) -> &Refusal {
        &self.refusal
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Some(path) = &self.sign_in_to {
            let next: String = form_encode(path);
            let mut res = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/ui/login?next={next}"))],
            )
                .into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return res;
        }
        let status = StatusCode::from_u16(self.refusal.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let tr = &self.tr;
        let body = html! {
            div.problem role="alert" data-code=(self.refusal.code().as_str()) {
                h2 { (tr.t("error-title")) }
                p { (tr.refusal(&self.refusal)) }
                p.code { (tr.t("error-code")) " " code { (self.refusal.code().as_str()) } }
            }
            p { a href="/ui/" { (tr.t("error-back")) } }
        };
        let page = layout::bare(tr, &tr.t("error-title"), body);
        (status, page).into_response()
    }
}

/// `text` as one application/x-www-form-urlencoded value.
pub fn form_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// Turns an application result into a page result in the viewer's words.
pub trait OrPage<T> {
    /// The value, or the refusal as a page.
    fn or_page(self, tr: &Tr) -> Result<T, PageError>;
}

impl<T, E: Into<AppError>> OrPage<T> for Result<T, E> {
    fn or_page(self, tr: &Tr) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(tr.clone(), e))
    }
}
