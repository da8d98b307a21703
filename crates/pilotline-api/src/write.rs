//! Running a mutation for a request: idempotency replay, the store transaction, the answer.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilotline_store::{IdempotencyKey, Outcome, StoreError, StoredResponse, WriteOp};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Header naming the key; a retry with the same key gets the first answer.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The optional `Idempotency-Key` header.
#[derive(Debug, Clone)]
pub struct IdemKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdemKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(IdemKey(None));
        };
        let key = v
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::invalid("Idempotency-Key must be 1-255 visible ASCII characters")
            })?;
        Ok(IdemKey(Some(key.to_string())))
    }
}

/// How a successful outcome is answered.
pub type Render = fn(&Outcome) -> (StatusCode, serde_json::Value);

fn json_response(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = json_response(status, stored.body);
    if status.is_client_error() {
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::error::PROBLEM_JSON),
        );
    }
    res.headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    res
}

/// Runs `op` for `caller`, honouring the idempotency key: a retry replays the first answer
/// (success or refusal), the same key with another request is refused with 422.
pub async fn perform(
    state: &AppState,
    caller: &Caller,
    op: WriteOp,
    key: IdemKey,
    fingerprint: String,
    render: Render,
) -> Result<Response, ApiError> {
    let key = key.0.map(|key| IdempotencyKey {
        user: caller.0.user.clone(),
        key,
        fingerprint,
    });
    if let Some(k) = &key
        && let Some(stored) = state.store.idempotent_response(k).await?
    {
        return Ok(replay(stored));
    }
    let store_render = move |o: &Outcome| {
        let (status, body) = render(o);
        StoredResponse {
            status: status.as_u16(),
            body: body.to_string(),
        }
    };
    let result = state
        .store
        .execute(
            &op,
            &caller.0,
            key.as_ref().map(|k| (k, &store_render as _)),
        )
        .await;
    state.metrics.record_write(&op, result.is_ok());
    match result {
        Ok(outcome) => {
            let (status, body) = render(&outcome);
            Ok(json_response(status, body.to_string()))
        }
        Err(e) => {
            let remember = !matches!(
                e,
                StoreError::IdempotencyInFlight(_) | StoreError::IdempotencyMismatch(_)
            );
            let err = ApiError::from(e);
            if let Some(k) = &key
                && remember
                && err.status.is_client_error()
            {
                let stored = StoredResponse {
                    status: err.status.as_u16(),
                    body: err.body(),
                };
                if let Err(e) = state.store.save_response(k, &stored).await {
                    tracing::warn!(error = %e, "could not remember a refused request's answer");
                }
            }
            Err(err)
        }
    }
}

/// 200 with the outcome as JSON.
pub fn ok(o: &Outcome) -> (StatusCode, serde_json::Value) {
    (StatusCode::OK, serde_json::to_value(o).unwrap_or_default())
}

/// 201 with the outcome as JSON.
pub fn created(o: &Outcome) -> (StatusCode, serde_json::Value) {
    (
        StatusCode::CREATED,
        serde_json::to_value(o).unwrap_or_default(),
    )
}

/// 201 when the outcome created something new, 200 when it already existed (routes).
pub fn created_or_ok(o: &Outcome) -> (StatusCode, serde_json::Value) {
    match o {
        Outcome::Route { created: false, .. } => ok(o),
        _ => created(o),
    }
}
