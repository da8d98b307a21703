//! A request id on every request: the caller's `X-Request-Id` when it is a sane one (1–64
//! visible ASCII characters), else a fresh one. It names the request's tracing span (so every
//! log line of the request carries it), is echoed in the response's `X-Request-Id` and in
//! every problem document (`request_id`), so an operator can find a user's failed request in
//! the logs.

use axum::http::{HeaderName, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument;

/// The header that carries the request id both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request being served on this task.
    static CURRENT: String;
}

/// The id of the request this code is serving, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The longest request id taken from a caller.
const MAX_LEN: usize = 64;

fn sane(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_string())
}

/// A fresh id: this process's start time and a counter, in hex (unique across restarts and
/// replicas in practice, and ordered within a process).
fn fresh() -> String {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let process = *PROCESS.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 48)
    });
    format!("{process:016x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The middleware: runs the request inside its id's span and task-local, and echoes the id.
pub async fn tag(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane)
        .unwrap_or_else(fresh);
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    req.headers_mut().insert(REQUEST_ID.clone(), value.clone());
    let span =
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    let mut res = CURRENT.scope(id, next.run(req)).instrument(span).await;
    res.headers_mut().insert(REQUEST_ID.clone(), value);
    res
}
