//! Authentication: `Authorization: Bearer <token>` resolved to an [`Actor`].

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use pilotline_domain::{Action, Actor};
use pilotline_store::hash_token;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::{ApiError, AppState};

/// How long a resolved token is trusted without asking the store again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

/// Recently resolved tokens, keyed by their hash (the clear token is never kept).
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<String, (Actor, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Actor> {
        let map = self.entries.read().ok()?;
        let (actor, at) = map.get(hash)?;
        (at.elapsed() < TOKEN_CACHE_TTL).then(|| actor.clone())
    }

    fn put(&self, hash: String, actor: Actor) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() > 10_000 {
                map.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
            }
            map.insert(hash, (actor, Instant::now()));
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl Caller {
    /// Fails with 403 unless the caller's role may perform `action`.
    pub fn require(&self, action: Action, what: &str) -> Result<(), ApiError> {
        if self.0.role.may(action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role {} may not {what}",
                self.0.role
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer <token> header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("Authorization header must be 'Bearer <token>'")
            })?;
        let hash = hash_token(token);
        if let Some(actor) = state.tokens.get(&hash) {
            return Ok(Caller(actor));
        }
        match state.store.authenticate(token).await? {
            Some(actor) => {
                state.tokens.put(hash, actor.clone());
                Ok(Caller(actor))
            }
            None => Err(ApiError::unauthorized("unknown or revoked token")),
        }
    }
}
