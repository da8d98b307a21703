//! Work in progress: lots by step and state, and the active lots — hot lots first, holds
//! marked, Q-time deadlines counting down.

use axum::extract::State;
use maud::{Markup, html};
use pilotline_domain::LotView;

use crate::WebState;
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html};
use crate::session::Viewer;

/// A lot's row in a list.
pub fn lot_row(tr: &Tr, lot: &LotView) -> Markup {
    let held = !lot.holds.is_empty();
    let hot = lot.priority >= 8;
    html! {
        tr class={ @if held { "held " } @if hot { "hot" } } {
            td { a href=(format!("/ui/lots/{}", lot.id)) { (lot.id) } }
            td { (lot.product) }
            td { (lot.step.index + 1) ". " (lot.step.name) }
            td {
                (tr.t(&format!("state-{}", lot.state.as_str())))
                @if held { " " span.badge.held { (tr.t("lot-held")) } }
                @if hot { " " span.badge.hot { (tr.t("lot-hot")) } }
            }
            td.num { (lot.priority) }
            td.num { (lot.wafer_count) }
            td {
                @if let Some(q) = &lot.qtime {
                    span data-deadline=(q.deadline.to_rfc3339()) title=(tr.time(q.deadline)) {
                        (tr.time(q.deadline))
                    }
                }
            }
            td { (lot.equipment.as_deref().unwrap_or("")) }
        }
    }
}

/// The header of a lot list.
pub fn lot_head(tr: &Tr) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (tr.t("col-lot")) }
            th scope="col" { (tr.t("col-product")) }
            th scope="col" { (tr.t("col-step")) }
            th scope="col" { (tr.t("col-state")) }
            th.num scope="col" { (tr.t("col-priority")) }
            th.num scope="col" { (tr.t("col-wafers")) }
            th scope="col" { (tr.t("col-qtime")) }
            th scope="col" { (tr.t("col-tool")) }
        } }
    }
}

/// `/ui/wip`.
pub async fn page(State(s): State<WebState>, v: Viewer) -> Result<Html, PageError> {
    let tr = &v.tr;
    let wip = s.app.wip(&v.actor).await.or_page(tr)?;
    let lots = s.app.work_list(&v.actor).await.or_page(tr)?;
    let content = html! {
        h2 { (tr.t("wip-by-step")) }
        table {
            caption.muted { (tr.t("wip-by-step-caption")) }
            thead { tr {
                th scope="col" { (tr.t("col-route")) }
                th scope="col" { (tr.t("col-step")) }
                th scope="col" { (tr.t("col-state")) }
                th.num scope="col" { (tr.t("col-lots")) }
                th.num scope="col" { (tr.t("col-held")) }
                th.num scope="col" { (tr.t("col-wafers")) }
            } }
            tbody {
                @for row in &wip {
                    tr class={ @if row.held_lots > 0 { "held" } } {
                        td { (row.route) " v" (row.route_version) }
                        td { (row.step_index + 1) ". " (row.step_name) }
                        td { (tr.t(&format!("state-{}", row.state.as_str()))) }
                        td.num { (row.lots) }
                        td.num { (row.held_lots) }
                        td.num { (row.wafers) }
                    }
                }
            }
        }
        h2 { (tr.t("wip-lots")) }
        table {
            (lot_head(tr))
            tbody { @for lot in &lots { (lot_row(tr, lot)) } }
        }
    };
    Ok(layout::page(&v, "/ui/wip", &tr.t("wip-title"), content))
}
