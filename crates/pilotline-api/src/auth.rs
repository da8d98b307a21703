//! Authentication: `Authorization: Bearer <token>` resolved to an [`Actor`] on every request
//! (no cache: a revoked token or a changed role applies on the very next request).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use pilotline_domain::{Action, Actor, Code};

use crate::{ApiError, AppState};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl Caller {
    /// Fails with 403 (`role_forbidden`) unless the caller's role may perform `action`.
    pub fn require(&self, action: Action, what: &str) -> Result<(), ApiError> {
        Ok(self.0.require(action, what)?)
    }
}

/// The token of an `Authorization` header value: the scheme `Bearer` in any case (RFC 9110
/// makes auth schemes case-insensitive), then the token.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(Code::AuthMissing)?;
        let token = header
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or(Code::AuthMissing)?;
        Ok(Caller(state.app.authenticate(token).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer plt_x"), Some("plt_x"));
        assert_eq!(bearer_token("bearer plt_x"), Some("plt_x"));
        assert_eq!(bearer_token("BEARER  plt_x "), Some("plt_x"));
        assert_eq!(bearer_token("Basic plt_x"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
