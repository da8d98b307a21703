//! Work in progress: lots by step and state, and the active lots — hot lots first, holds
//! marked, Q-time deadlines counting down.

use axum::extract::State;
use maud::{Markup, html};
use pilotline_app::LotFilter;
use pilotline_domain::{LotState, LotView};

use crate::WebState;
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html};
use crate::session::Viewer;

/// How many lots of each active state the page lists.
pub const LISTED: u32 = 200;

/// The order lots are worked in: held lots need attention first, then priority (hot lots),
/// then the closest Q-time deadline, then the longest wait.
pub fn work_order(lots: &mut [LotView]) {
    lots.sort_by(|a, b| {
        (!a.holds.is_empty())
            .cmp(&!b.holds.is_empty())
            .reverse()
            .then(b.priority.cmp(&a.priority))
            .then_with(|| {
                let da = a.qtime.as_ref().map(|q| q.deadline);
                let db = b.qtime.as_ref().map(|q| q.deadline);
                match (da, db) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            })
            .then(a.arrived_at.cmp(&b.arrived_at))
    });
}

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
    let mut lots = Vec::new();
    for state in [LotState::Running, LotState::Waiting] {
        let filter = LotFilter {
            state: Some(state),
            limit: Some(LISTED),
            ..LotFilter::default()
        };
        lots.extend(s.app.lots(&filter, &v.actor).await.or_page(tr)?.items);
    }
    work_order(&mut lots);
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
