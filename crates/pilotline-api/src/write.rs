//! Running a mutation for a request: idempotency replay, the store transaction, the answer.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilotline_app::{IdempotencyKey, Outcome, Performed, Renderer, StoredResponse, WriteOp};
use pilotline_domain::{Code, Refusal};

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
                ApiError::from(
                    Code::HeaderInvalid
                        .refusal()
                        .with("header", "Idempotency-Key")
                        .with("reason", "must be 1-255 visible ASCII characters"),
                )
            })?;
        Ok(IdemKey(Some(key.to_string())))
    }
}

/// How a successful outcome is answered: its status and JSON text.
pub type Render = fn(&Outcome) -> (StatusCode, String);

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

/// Renders outcomes with the handler's `render` and refusals as problem+json, for the answers
/// remembered under an idempotency key.
struct HttpRenderer(Render);

impl Renderer for HttpRenderer {
    fn outcome(&self, o: &Outcome) -> StoredResponse {
        let (status, body) = (self.0)(o);
        StoredResponse {
            status: status.as_u16(),
            body,
        }
    }
    fn refusal(&self, r: &Refusal) -> StoredResponse {
        let err = ApiError::from(r.clone());
        StoredResponse {
            status: err.status().as_u16(),
            body: err.body(),
        }
    }
}

/// Runs `op` for `caller` through the application layer, honouring the idempotency key: a
/// retry replays the first answer (success or refusal), the same key with another request is
/// refused with 422.
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
    let renderer = HttpRenderer(render);
    let performed = state
        .app
        .perform(
            &op,
            &caller.0,
            key.as_ref().map(|k| (k, &renderer as &dyn Renderer)),
        )
        .await?;
    Ok(match performed {
        Performed::Replayed(stored) => replay(stored),
        Performed::Done(outcome) => {
            let (status, body) = render(&outcome);
            json_response(status, body)
        }
    })
}

/// The outcome as JSON text (written straight from the outcome, with no `Value` between).
fn json_text(o: &Outcome) -> String {
    serde_json::to_string(o).unwrap_or_else(|_| "null".into())
}

/// 200 with the outcome as JSON.
pub fn ok(o: &Outcome) -> (StatusCode, String) {
    (StatusCode::OK, json_text(o))
}

/// 201 with the outcome as JSON.
pub fn created(o: &Outcome) -> (StatusCode, String) {
    (StatusCode::CREATED, json_text(o))
}

/// 201 when the outcome created something new, 200 when it already existed (routes).
pub fn created_or_ok(o: &Outcome) -> (StatusCode, String) {
    match o {
        Outcome::Route { created: false, .. } => ok(o),
        _ => created(o),
    }
}
