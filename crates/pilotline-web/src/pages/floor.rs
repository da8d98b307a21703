//! The floor terminal: type (or scan) a lot id and a tool id, Enter — a waiting lot is tracked
//! in, a running lot tracked out. Big targets, the lot field focused after every scan, and the
//! answer in large type; a barcode scanner that types and sends Enter works as a keyboard.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pilotline_app::Scanned;
use pilotline_domain::{Action, Code};
use serde::Deserialize;

use super::forms::{decode, filled};
use crate::WebState;
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout;
use crate::session::Viewer;

fn terminal(tr: &Tr, tool: &str, answer: Option<Markup>) -> Markup {
    html! {
        div.floor {
            @if let Some(a) = answer { (a) }
            form.stack method="post" action="/ui/floor" {
                label for="lot" { (tr.t("floor-lot")) }
                input id="lot" name="lot" type="text" autocomplete="off" autocapitalize="characters" autofocus required;
                label for="tool" { (tr.t("floor-tool")) }
                input id="tool" name="tool" type="text" autocomplete="off" autocapitalize="characters" value=(tool);
                button.primary type="submit" { (tr.t("floor-submit")) }
            }
            p.muted { (tr.t("floor-help")) }
        }
    }
}

/// `/ui/floor`.
pub async fn page(State(s): State<WebState>, v: Viewer) -> Result<layout::Html, PageError> {
    s.app
        .require(&v.actor, Action::MoveLots, "use the floor terminal")
        .or_page(&v.tr)?;
    Ok(layout::page(
        &v,
        "/ui/floor",
        &v.tr.t("floor-title"),
        terminal(&v.tr, "", None),
    ))
}

#[derive(Deserialize)]
struct Scan {
    lot: Option<String>,
    tool: Option<String>,
}

/// `POST /ui/floor`: one scan. The answer is shown above a fresh form that keeps the tool (the
/// operator usually stays at one tool), with the refusal's status when refused.
pub async fn scan(
    State(s): State<WebState>,
    v: Viewer,
    body: Bytes,
) -> Result<Response, PageError> {
    let tr = &v.tr;
    let form: Scan = decode(&body, tr)?;
    let tool = filled(form.tool).map(|t| t.to_uppercase());
    let lot = filled(form.lot).ok_or_else(|| {
        PageError::new(tr.clone(), Code::FieldEmpty.refusal().with("field", "lot"))
    })?;
    let kept = tool.clone().unwrap_or_default();
    let (status, answer) = match s.app.floor_scan(&lot, tool.as_deref(), &v.actor).await {
        Ok((done, view)) => {
            let key = match done {
                Scanned::TrackedIn => "floor-tracked-in",
                Scanned::TrackedOut => "floor-tracked-out",
            };
            let text = tr.ta(
                key,
                &[
                    ("lot", view.id.clone()),
                    (
                        "tool",
                        view.equipment.clone().or(tool.clone()).unwrap_or_default(),
                    ),
                    (
                        "step",
                        format!("{}. {}", view.step.index + 1, view.step.name),
                    ),
                ],
            );
            (
                StatusCode::OK,
                html! { div.notice.answer role="status" data-outcome=(key) { (text) " " a href=(format!("/ui/lots/{}", view.id)) { (tr.t("floor-open-lot")) } } },
            )
        }
        Err(e) => {
            let refusal = e.refusal();
            if refusal.kind().http_status() >= 500 {
                return Err(PageError::new(tr.clone(), e));
            }
            (
                StatusCode::from_u16(refusal.kind().http_status()).unwrap_or(StatusCode::CONFLICT),
                html! { div.problem.answer role="alert" data-code=(refusal.code().as_str()) { (tr.refusal(&refusal)) } },
            )
        }
    };
    let page = layout::page(
        &v,
        "/ui/floor",
        &tr.t("floor-title"),
        terminal(tr, &kept, Some(answer)),
    );
    Ok((status, page).into_response())
}
