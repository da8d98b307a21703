//! The manager's and engineer's views: the dashboard (WIP, yield by product and stage, first
//! pass against final, the bin Pareto, SPC signals, tool utilisation), yields with filters,
//! wafer and stacked maps, and control charts with their violations.

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use pilotline_app::{GroupBy, Stage, YieldFilter, YieldGroup};
use serde::Deserialize;

use crate::WebState;
use crate::charts::{self, Rule, Series};
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html, svg};
use crate::session::Viewer;

fn yield_table(tr: &Tr, groups: &[YieldGroup], key_col: &str) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { (tr.t(key_col)) }
                th.num scope="col" { (tr.t("col-lots")) } th.num scope="col" { (tr.t("col-wafers")) }
                th.num scope="col" { (tr.t("yield-dies")) }
                th.num scope="col" { (tr.t("yield-first-pass")) } th.num scope="col" { (tr.t("yield-final")) }
            } }
            tbody {
                @for g in groups {
                    tr {
                        td { (g.key) }
                        td.num { (g.lots) } td.num { (g.wafers) }
                        td.num { (tr.number(g.summary.dies as f64, 0)) }
                        td.num { (tr.percent(g.summary.first_pass)) }
                        td.num { (tr.percent(g.summary.final_yield)) }
                    }
                }
            }
        }
    }
}

fn yield_bars(tr: &Tr, title_key: &str, groups: &[YieldGroup]) -> Markup {
    let bars: Vec<(String, f64)> = groups
        .iter()
        .map(|g| (g.key.clone(), g.summary.final_yield * 100.0))
        .collect();
    let title = tr.t(title_key);
    html! {
        figure {
            (charts::bar_chart(&title, &tr.t("yield-bars-desc"), &bars, "%"))
            figcaption { (title) }
        }
    }
}

async fn pareto(s: &WebState, v: &Viewer, filter: &YieldFilter) -> Result<Markup, PageError> {
    let tr = &v.tr;
    let p = s.app.bin_pareto(filter, &v.actor).await.or_page(tr)?;
    let bars: Vec<(String, f64)> = p
        .bins
        .iter()
        .take(10)
        .map(|b| (format!("{} {}", b.bin, b.name), b.dies as f64))
        .collect();
    Ok(html! {
        h2 { (tr.t("yield-pareto")) }
        @if bars.is_empty() { p.muted { (tr.t("yield-no-data")) } } @else {
            figure {
                (charts::bar_chart(&tr.t("yield-pareto"), &tr.ta("yield-pareto-desc", &[("failing", p.failing_dies.to_string()), ("dies", p.dies.to_string())]), &bars, ""))
                figcaption { (tr.ta("yield-pareto-desc", &[("failing", p.failing_dies.to_string()), ("dies", p.dies.to_string())])) }
            }
        }
    })
}

/// `/ui/dashboard`.
pub async fn dashboard(State(s): State<WebState>, v: Viewer) -> Result<Html, PageError> {
    let tr = &v.tr;
    let all = YieldFilter::default();
    let wip = s.app.wip(&v.actor).await.or_page(tr)?;
    let lots: u64 = wip.iter().map(|r| r.lots).sum();
    let held: u64 = wip.iter().map(|r| r.held_lots).sum();
    let wafers: u64 = wip.iter().map(|r| r.wafers).sum();
    let by_product = s
        .app
        .yield_rollup(GroupBy::Product, &all, &v.actor)
        .await
        .or_page(tr)?;
    let by_week = s
        .app
        .yield_rollup(GroupBy::Week, &all, &v.actor)
        .await
        .or_page(tr)?;
    let charts_list = s.app.charts(&v.actor).await.or_page(tr)?;
    let signals: usize = charts_list.iter().map(|c| c.violations.len()).sum();
    let trend: Vec<f64> = by_week
        .iter()
        .map(|g| g.summary.final_yield * 100.0)
        .collect();
    let pareto = pareto(&s, &v, &all).await?;
    // Cycle time by step of each route in WIP, and each tool's last 24 hours.
    let mut routes: Vec<&str> = wip.iter().map(|r| r.route.as_str()).collect();
    routes.sort_unstable();
    routes.dedup();
    let mut cycle = Vec::new();
    for route in routes {
        let steps = s.app.cycle_times(route, &v.actor).await.or_page(tr)?;
        if !steps.is_empty() {
            cycle.push((route.to_string(), steps));
        }
    }
    let now = pilotline_app::now();
    let year = chrono::Datelike::year(&now);
    let figures = s.app.platform_year(year, &v.actor).await.or_page(tr)?;
    let mut utilisation = Vec::new();
    for tool in s.app.equipment_list(None, &v.actor).await.or_page(tr)? {
        let h = s
            .app
            .state_history(
                &tool.id,
                Some(now - chrono::Duration::hours(24)),
                Some(now),
                &v.actor,
            )
            .await
            .or_page(tr)?;
        utilisation.push((tool.id, h.utilisation.utilisation * 100.0));
    }
    let content = html! {
        div.cards {
            article.card { h3 { (tr.t("dash-wip")) } p { (tr.ta("dash-wip-figures", &[("lots", lots.to_string()), ("wafers", wafers.to_string())])) } p { a href="/ui/wip" { (tr.t("nav-wip")) } } }
            article.card { h3 { (tr.t("dash-held")) } p { strong { (held) } } }
            article.card { h3 { (tr.t("dash-signals")) } p { strong { (signals) } " · " a href="/ui/spc" { (tr.t("nav-spc")) } } }
        }
        h2 { (tr.ta("dash-year", &[("year", year.to_string())])) }
        dl.facts {
            dt { (tr.t("dash-shuttles-run")) } dd { (figures.shuttles_run) }
            dt { (tr.t("dash-startups-served")) } dd { (figures.startups_served) }
            dt { (tr.t("dash-designs-taped-out")) } dd { (figures.designs_taped_out) }
            dt { (tr.t("dash-designs-delivered")) } dd { (figures.designs_delivered) }
            dt { (tr.t("dash-lots-delivered")) } dd { (tr.ta("dash-lots-delivered-figures", &[("lots", figures.lots_delivered.to_string()), ("wafers", figures.wafers_delivered.to_string())])) }
        }
        h2 { (tr.t("yield-by-product")) }
        @if by_product.is_empty() { p.muted { (tr.t("yield-no-data")) } } @else {
            (yield_bars(tr, "yield-by-product", &by_product))
            (yield_table(tr, &by_product, "col-product"))
        }
        h2 { (tr.t("yield-trend")) }
        @if trend.len() >= 2 {
            figure {
                (charts::line_chart(&tr.t("yield-trend"), &tr.t("yield-trend-desc"), &Series { values: &trend, marked: &[] }, &[]))
                figcaption { (tr.t("yield-trend-desc")) }
            }
        }
        (yield_table(tr, &by_week, "col-week"))
        (pareto)
        h2 { (tr.t("dash-cycle-time")) }
        @if cycle.is_empty() { p.muted { (tr.t("dash-no-cycle-time")) } }
        @for (route, steps) in &cycle {
            @let longest = steps.iter().map(|c| c.mean_s).fold(0.0_f64, f64::max);
            @let (per, unit) = if longest >= 3600.0 { (3600.0, " h") } else if longest >= 60.0 { (60.0, " min") } else { (1.0, " s") };
            @let bars: Vec<(String, f64)> = steps.iter().map(|c| (format!("{} {}", c.step, c.name), c.mean_s / per)).collect();
            figure {
                (charts::bar_chart(&tr.ta("dash-cycle-route", &[("route", route.clone())]), &tr.t("dash-cycle-desc"), &bars, unit))
                figcaption { (tr.ta("dash-cycle-route", &[("route", route.clone())])) }
            }
        }
        h2 { (tr.t("dash-utilisation")) }
        @if !utilisation.is_empty() {
            figure {
                (charts::bar_chart(&tr.t("dash-utilisation"), &tr.t("dash-utilisation-desc"), &utilisation, "%"))
                figcaption { (tr.t("dash-utilisation-desc")) }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/dashboard",
        &tr.t("dash-title"),
        content,
    ))
}

/// The stages a yield can be filtered by.
const STAGES: [Stage; 2] = [Stage::Probe, Stage::Final];

/// The yield page's filters.
#[derive(Deserialize, Default)]
pub struct YieldQuery {
    product: Option<String>,
    stage: Option<String>,
    lot: Option<String>,
    design: Option<String>,
}

/// `/ui/yield`: yields by product, stage, lot (and design, for MPW) under the filters, the
/// bin Pareto, and a lot's stacked map when a lot is chosen.
pub async fn yields(
    State(s): State<WebState>,
    v: Viewer,
    Query(q): Query<YieldQuery>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let blank = |o: Option<String>| o.filter(|x| !x.trim().is_empty());
    let stage = match blank(q.stage) {
        Some(st) => Some(
            STAGES
                .into_iter()
                .find(|x| x.as_str() == st)
                .ok_or_else(|| {
                    PageError::new(
                        tr.clone(),
                        pilotline_domain::Code::QueryInvalid
                            .refusal()
                            .with("parameter", "stage")
                            .with("reason", format!("unknown stage {st}")),
                    )
                })?,
        ),
        None => None,
    };
    let filter = YieldFilter {
        product: blank(q.product),
        stage,
        lot: blank(q.lot),
        design: blank(q.design),
        ..YieldFilter::default()
    };
    let by_lot = s
        .app
        .yield_rollup(GroupBy::Lot, &filter, &v.actor)
        .await
        .or_page(tr)?;
    let by_stage = s
        .app
        .yield_rollup(GroupBy::Stage, &filter, &v.actor)
        .await
        .or_page(tr)?;
    let pareto = pareto(&s, &v, &filter).await?;
    let stacked = match &filter.lot {
        Some(lot) => s
            .app
            .stacked_map(lot, filter.design.as_deref(), &v.actor)
            .await
            .ok(),
        None => None,
    };
    let content = html! {
        form.inline method="get" action="/ui/yield" {
            label { (tr.t("col-product")) input name="product" value=(filter.product.clone().unwrap_or_default()); }
            label { (tr.t("col-stage"))
                select name="stage" {
                    option value="" { "—" }
                    @for st in STAGES {
                        option value=(st.as_str()) selected[filter.stage == Some(st)] { (tr.t(&format!("stage-{}", st.as_str()))) }
                    }
                }
            }
            label { (tr.t("col-lot")) input name="lot" value=(filter.lot.clone().unwrap_or_default()); }
            @if let Some(d) = &filter.design { input type="hidden" name="design" value=(d); }
            button type="submit" { (tr.t("yield-apply")) }
        }
        @if let Some(d) = &filter.design { p { (tr.ta("yield-design", &[("design", d.clone())])) } }
        h2 { (tr.t("yield-by-stage")) }
        (yield_table(tr, &by_stage, "col-stage"))
        h2 { (tr.t("yield-by-lot")) }
        @if by_lot.is_empty() { p.muted { (tr.t("yield-no-data")) } } @else {
            (yield_bars(tr, "yield-by-lot", &by_lot))
            table {
                thead { tr { th scope="col" { (tr.t("col-lot")) } th.num scope="col" { (tr.t("yield-first-pass")) } th.num scope="col" { (tr.t("yield-final")) } th scope="col" { (tr.t("yield-maps")) } } }
                tbody {
                    @for g in &by_lot {
                        tr {
                            td { (g.key) }
                            td.num { (tr.percent(g.summary.first_pass)) }
                            td.num { (tr.percent(g.summary.final_yield)) }
                            td { a href=(format!("/ui/yield?lot={}{}", g.key, filter.design.as_ref().map(|d| format!("&design={d}")).unwrap_or_default())) { (tr.t("yield-stacked")) } }
                        }
                    }
                }
            }
        }
        @if let Some(map) = stacked {
            h2 { (tr.t("yield-stacked")) }
            figure { (svg(map.to_svg())) figcaption { (tr.t("yield-stacked-desc")) } }
        }
        (pareto)
    };
    Ok(layout::page(&v, "/ui/yield", &tr.t("yield-title"), content))
}

/// Which wafer map.
#[derive(Deserialize)]
pub struct WaferQuery {
    lot: Option<String>,
    design: Option<String>,
}

/// `/ui/wafers/{id}`: one wafer's map.
pub async fn wafer(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<WaferQuery>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let map = s
        .app
        .wafer_map(&id, q.lot.as_deref(), q.design.as_deref(), &v.actor)
        .await
        .or_page(tr)?;
    let content = html! {
        figure { (svg(map.to_svg())) figcaption { (tr.t("wafer-map-desc")) } }
    };
    Ok(layout::page(
        &v,
        "/ui/yield",
        &tr.ta("wafer-title", &[("wafer", id.clone())]),
        content,
    ))
}

/// `/ui/spc`: every chart with its latest signals.
pub async fn charts(State(s): State<WebState>, v: Viewer) -> Result<Html, PageError> {
    let tr = &v.tr;
    let list = s.app.charts(&v.actor).await.or_page(tr)?;
    let content = html! {
        table {
            thead { tr {
                th scope="col" { (tr.t("spc-chart")) } th scope="col" { (tr.t("spc-parameter")) }
                th scope="col" { (tr.t("col-step")) } th.num scope="col" { (tr.t("spc-points")) }
                th.num scope="col" { (tr.t("spc-violations")) }
            } }
            tbody {
                @for c in &list {
                    tr class={ @if !c.violations.is_empty() { "held" } } {
                        td { a href=(format!("/ui/spc/{}", c.spec.id)) { (c.spec.id) } }
                        td { (c.spec.parameter) }
                        td { (c.spec.step.as_deref().unwrap_or("")) }
                        td.num { (c.points.len()) }
                        td.num { (c.violations.len()) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&v, "/ui/spc", &tr.t("spc-title"), content))
}

/// `/ui/spc/{id}`: a control chart with its limits and violations.
pub async fn chart(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let c = s.app.chart(&id, &v.actor).await.or_page(tr)?;
    let values: Vec<f64> = c.points.iter().map(|p| p.value).collect();
    let marked: Vec<usize> = c.violations.iter().map(|x| x.index).collect();
    let mut rules = Vec::new();
    if let Some(l) = &c.limits {
        rules.push(Rule {
            value: l.ucl,
            label: "UCL".into(),
            colour: "#b42318",
            dashed: false,
        });
        rules.push(Rule {
            value: l.limits.center,
            label: "CL".into(),
            colour: "#1a7f37",
            dashed: false,
        });
        rules.push(Rule {
            value: l.lcl,
            label: "LCL".into(),
            colour: "#b42318",
            dashed: false,
        });
    }
    let desc = tr.ta(
        "spc-chart-desc",
        &[
            ("parameter", c.spec.parameter.clone()),
            ("points", values.len().to_string()),
            ("violations", c.violations.len().to_string()),
        ],
    );
    let content = html! {
        figure {
            (charts::line_chart(&c.spec.parameter, &desc, &Series { values: &values, marked: &marked }, &rules))
            figcaption { (desc) }
        }
        @if let Some(l) = &c.limits {
            dl.facts {
                dt { "UCL" } dd { (tr.number(l.ucl, 4)) }
                dt { "CL" } dd { (tr.number(l.limits.center, 4)) }
                dt { "LCL" } dd { (tr.number(l.lcl, 4)) }
                dt { (tr.t("spc-baseline")) } dd { (l.baseline) " · " (l.computed_by) " · " (tr.time(l.computed_at)) }
            }
        } @else { p.muted { (tr.t("spc-no-limits")) } }
        h2 { (tr.t("spc-violations")) }
        @if c.violations.is_empty() { p.muted { (tr.t("spc-no-violations")) } }
        table {
            thead { tr { th scope="col" { (tr.t("spc-rule")) } th scope="col" { (tr.t("col-lot")) } th scope="col" { (tr.t("col-wafer")) } th.num scope="col" { (tr.t("spc-value")) } th scope="col" { (tr.t("spc-description")) } } }
            tbody {
                @for x in &c.violations {
                    tr {
                        td { (format!("{:?}", x.rule)) }
                        td { a href=(format!("/ui/lots/{}", x.lot)) { (x.lot) } }
                        td { (x.wafer) }
                        td.num { (tr.number(x.value, 4)) }
                        td { (x.description) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/spc",
        &tr.ta("spc-chart-title", &[("chart", id.clone())]),
        content,
    ))
}
