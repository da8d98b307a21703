//! The tool board (every tool's E10 state, stale flag and live values, refreshed in place)
//! and a tool's page (its state timeline, utilisation, MTBF and MTTR, and sample charts).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pilotline_app::{SampleQuery, ToolStatus};
use serde::Deserialize;

use crate::WebState;
use crate::charts::{self, Series, Span};
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html};
use crate::session::Viewer;

/// Samples (or buckets) drawn per point on a tool's page.
const SAMPLES_DRAWN: u32 = 720;

/// Seconds between the board's refreshes.
const REFRESH_S: u32 = 5;

fn e10(tr: &Tr, state: &str) -> Markup {
    html! { span class=(format!("e10 e10-{state}")) { (tr.t(&format!("e10-{state}"))) } }
}

fn card(tr: &Tr, t: &ToolStatus) -> Markup {
    let e = &t.equipment;
    html! {
        article.card {
            h3 { a href=(format!("/ui/tools/{}", e.id)) { (e.id) } }
            p { (e10(tr, e.state.as_str()))
                @if t.stale { " " span.stale { (tr.t("tool-stale")) } }
            }
            p.muted { (e.equipment_type) " · " (tr.t("tool-since")) " " (tr.time(e.state_since)) }
            @if let Some(lot) = &e.current_lot { p { (tr.t("col-lot")) ": " a href=(format!("/ui/lots/{lot}")) { (lot) } } }
            @if !t.latest.is_empty() {
                dl.facts {
                    @for s in t.latest.iter().take(6) {
                        dt { (s.point) }
                        dd { @if let Some(n) = s.number { (tr.number(n, 3)) } @else { (s.text.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    }
}

async fn statuses(s: &WebState, v: &Viewer) -> Result<Vec<ToolStatus>, PageError> {
    let tools = s.app.equipment_list(None, &v.actor).await.or_page(&v.tr)?;
    let mut out = Vec::with_capacity(tools.len());
    for t in tools {
        out.push(s.app.tool_status(&t.id, &v.actor).await.or_page(&v.tr)?);
    }
    Ok(out)
}

fn cards(tr: &Tr, tools: &[ToolStatus]) -> Markup {
    html! { @for t in tools { (card(tr, t)) } }
}

/// `/ui/tools`.
pub async fn board(State(s): State<WebState>, v: Viewer) -> Result<Html, PageError> {
    let tools = statuses(&s, &v).await?;
    let tr = &v.tr;
    let content = html! {
        p.muted { (tr.ta("tools-refresh", &[("seconds", REFRESH_S.to_string())])) }
        div.cards data-poll="/ui/tools/live" data-poll-seconds=(REFRESH_S) aria-live="polite" {
            (cards(tr, &tools))
        }
    };
    Ok(layout::page(&v, "/ui/tools", &tr.t("tools-title"), content))
}

/// `/ui/tools/live`: the board's cards alone, for the page's polling (which does not keep the
/// session alive).
pub async fn live(State(s): State<WebState>, v: Viewer) -> Result<Response, PageError> {
    let tools = statuses(&s, &v).await?;
    Ok(layout::Html(cards(&v.tr, &tools)).into_response())
}

/// The window a tool page shows.
#[derive(Deserialize)]
pub struct Window {
    hours: Option<i64>,
}

/// `/ui/tools/{id}`.
pub async fn tool(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    axum::extract::Query(w): axum::extract::Query<Window>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let status = s.app.tool_status(&id, &v.actor).await.or_page(tr)?;
    let to = pilotline_app::now();
    let hours = w.hours.unwrap_or(24).clamp(1, 24 * 31);
    let from = to - chrono::Duration::hours(hours);
    let history = s
        .app
        .state_history(&id, Some(from), Some(to), &v.actor)
        .await
        .or_page(tr)?;
    let mut spans = Vec::new();
    let mut at = from;
    let mut state = history
        .changes
        .first()
        .map_or(status.equipment.state, |c| c.from);
    for c in &history.changes {
        spans.push(Span {
            state: state.as_str().to_string(),
            from: at,
            to: c.at,
        });
        at = c.at;
        state = c.to;
    }
    spans.push(Span {
        state: state.as_str().to_string(),
        from: at,
        to,
    });
    let u = &history.utilisation;
    let mut charts_of_points = Vec::new();
    for point in status.latest.iter().filter(|p| p.number.is_some()).take(4) {
        let q = SampleQuery {
            point: Some(&point.point),
            from: Some(to - chrono::Duration::hours(1)),
            to: Some(to),
            after: None,
            limit: SAMPLES_DRAWN,
            resolution: pilotline_app::Resolution::Auto,
        };
        let page = s.app.samples(&id, &q, &v.actor).await.or_page(tr)?;
        let mut values: Vec<f64> = page.samples.iter().filter_map(|r| r.number).collect();
        values.extend(page.buckets.iter().map(|b| b.mean));
        charts_of_points.push((point.point.clone(), values));
    }
    let content = html! {
        (card(tr, &status))
        h2 { (tr.ta("tool-timeline", &[("hours", hours.to_string())])) }
        figure {
            (charts::timeline(&tr.t("tool-timeline-title"), &tr.t("tool-timeline-desc"), &spans, from, to))
        }
        table {
            caption { (tr.t("tool-utilisation")) }
            thead { tr { th scope="col" { (tr.t("col-state")) } th.num scope="col" { (tr.t("col-hours")) } } }
            tbody {
                @for (state, secs) in &u.seconds {
                    tr { td { (e10(tr, state)) } td.num { (tr.number(secs / 3600.0, 2)) } }
                }
            }
        }
        dl.facts {
            dt { (tr.t("tool-utilisation")) } dd { (tr.percent(u.utilisation)) }
            dt { (tr.t("tool-availability")) } dd { (tr.percent(u.availability)) }
            dt { (tr.t("tool-failures")) } dd { (u.failures) }
            dt { "MTBF" } dd { (u.mtbf_s.map(|s| format!("{} h", tr.number(s / 3600.0, 1))).unwrap_or_else(|| "—".into())) }
            dt { "MTTR" } dd { (u.mttr_s.map(|s| format!("{} h", tr.number(s / 3600.0, 1))).unwrap_or_else(|| "—".into())) }
        }
        @for (point, values) in &charts_of_points {
            @if !values.is_empty() {
                figure {
                    (charts::line_chart(point, &tr.ta("chart-samples-desc", &[("point", point.clone()), ("count", values.len().to_string())]),
                        &Series { values, marked: &[] }, &[]))
                    figcaption { (point) " · " (tr.t("tool-last-hour")) }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/tools",
        &tr.ta("tool-title", &[("tool", id.clone())]),
        content,
    ))
}
