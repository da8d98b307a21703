//! Cross-site request forgery: a form is accepted only from Pilotline's own pages. Browsers
//! say where a request comes from (`Sec-Fetch-Site`, and `Origin` on every POST); a request
//! that changes something must say `same-origin`, or carry an `Origin` equal to the host it
//! was sent to. Session cookies are `SameSite=Strict` besides.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pilotline_domain::Code;

use crate::WebState;
use crate::error::PageError;
use crate::i18n::Tr;

/// Whether a request with these headers comes from the site it was sent to.
pub fn same_origin(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<(), String> {
    if let Some(site) = sec_fetch_site {
        return if site == "same-origin" {
            Ok(())
        } else {
            Err(origin.unwrap_or(site).to_string())
        };
    }
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or("");
            if bare.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(origin.to_string())
            }
        }
        (Some(origin), None) => Err(origin.to_string()),
        (None, _) => Err("an unknown origin".to_string()),
    }
}

/// Refuses (403 `cross_origin_refused`) a state-changing request from another site.
pub async fn guard(State(state): State<WebState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    match same_origin(
        text("sec-fetch-site"),
        text(header::ORIGIN.as_str()),
        text(header::HOST.as_str()),
    ) {
        Ok(()) => next.run(req).await,
        Err(origin) => {
            let (parts, _) = req.into_parts();
            let tr = Tr::new(
                crate::session::lang_of(&parts),
                chrono::FixedOffset::east_opt(0).expect("UTC"),
                state.catalogues.clone(),
            );
            tracing::warn!(%origin, path = %parts.uri.path(), "cross-origin form refused");
            PageError::new(
                tr,
                Code::CrossOriginRefused.refusal().with("origin", origin),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn only_the_site_itself_may_post() {
        assert!(same_origin(Some("same-origin"), None, None).is_ok());
        assert!(same_origin(Some("cross-site"), Some("https://evil.example"), None).is_err());
        assert!(same_origin(Some("same-site"), None, None).is_err());
        assert!(same_origin(None, Some("http://fab:8080"), Some("fab:8080")).is_ok());
        assert!(same_origin(None, Some("http://evil:8080"), Some("fab:8080")).is_err());
        assert!(same_origin(None, Some("null"), Some("fab:8080")).is_err());
        assert!(same_origin(None, None, Some("fab:8080")).is_err());
    }
}
