//! The stylesheet and the script, compiled into the binary (nothing to build, nothing fetched
//! from elsewhere) and served with a long cache lifetime.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../assets/pilotline.css");
const JS: &str = include_str!("../../assets/pilotline.js");

/// `/ui/static/{file}`.
pub async fn file(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "pilotline.css" => (CSS, "text/css; charset=utf-8"),
        "pilotline.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
