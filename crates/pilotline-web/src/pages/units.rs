//! The back end of the line: the list of trays and module lots, a unit lot (its step counts,
//! units and log), and a unit — a die, a packaged part or a module — with its genealogy as a
//! tree a person clicks through: module → parts and components → die → wafer → the wafer
//! lot's runs (tool, recipe, process data, readings).

use axum::extract::{Path, State};
use maud::{Markup, html};
use pilotline_app::{UnitGenealogy, UnitRecord};
use pilotline_domain::unit::UnitLot;

use crate::WebState;
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html};
use crate::session::Viewer;

/// Units listed on a unit lot's page.
const UNITS_SHOWN: u32 = 200;

fn unit_link(u: &UnitRecord) -> Markup {
    let key = u.serial.as_deref().unwrap_or(&u.uid);
    html! { a href=(format!("/ui/units/{key}")) { (key) } }
}

fn lot_table(tr: &Tr, lots: &[UnitLot]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { (tr.t("col-lot")) } th scope="col" { (tr.t("col-product")) }
                th scope="col" { (tr.t("col-route")) } th scope="col" { (tr.t("col-state")) }
                th scope="col" { (tr.t("units-count")) } th scope="col" { (tr.t("units-scrapped")) }
                th scope="col" { (tr.t("units-source")) }
            } }
            tbody {
                @for l in lots {
                    tr {
                        td { a href=(format!("/ui/unit-lots/{}", l.id)) { (l.id) } }
                        td { (l.product) }
                        td { (l.route_id) " v" (l.route_version) }
                        td { (tr.t(&format!("unit-lot-state-{}", l.state.as_str()))) }
                        td.num { (l.units) }
                        td.num { (l.scrapped) }
                        td { @if let Some(s) = &l.source_lot { a href=(format!("/ui/lots/{s}")) { (s) } } }
                    }
                }
            }
        }
    }
}

/// `/ui/modules`: the newest module lots and trays.
pub async fn list(State(s): State<WebState>, v: Viewer) -> Result<Html, PageError> {
    let tr = &v.tr;
    let modules = s.app.unit_lots(true, 100, &v.actor).await.or_page(tr)?;
    let trays = s.app.unit_lots(false, 100, &v.actor).await.or_page(tr)?;
    let content = html! {
        h2 { (tr.t("units-module-lots")) }
        @if modules.is_empty() { p.muted { (tr.t("units-none")) } } @else { (lot_table(tr, &modules)) }
        h2 { (tr.t("units-trays")) }
        @if trays.is_empty() { p.muted { (tr.t("units-none")) } } @else { (lot_table(tr, &trays)) }
    };
    Ok(layout::page(
        &v,
        "/ui/modules",
        &tr.t("units-title"),
        content,
    ))
}

/// `/ui/unit-lots/{id}`: a tray or module lot with each step's count, its units and its log.
pub async fn unit_lot(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let view = s.app.unit_lot(&id, &v.actor).await.or_page(tr)?;
    let units = s
        .app
        .unit_lot_units(&id, None, UNITS_SHOWN, &v.actor)
        .await
        .or_page(tr)?;
    let l = &view.lot;
    let content = html! {
        dl.facts {
            dt { (tr.t("col-product")) } dd { (l.product) }
            dt { (tr.t("col-route")) } dd { (l.route_id) " v" (l.route_version) }
            dt { (tr.t("col-state")) } dd { (tr.t(&format!("unit-lot-state-{}", l.state.as_str()))) }
            dt { (tr.t("col-step")) } dd { (l.step_index + 1) " / " (view.steps) " · " (view.step) }
            dt { (tr.t("units-count")) } dd { (l.units) }
            dt { (tr.t("units-scrapped")) } dd { (l.scrapped) }
            dt { (tr.t("units-consumed")) } dd { (l.consumed) }
            @if let Some(src) = &l.source_lot { dt { (tr.t("units-source")) } dd { a href=(format!("/ui/lots/{src}")) { (src) } } }
            @if let Some(t) = &l.equipment { dt { (tr.t("col-tool")) } dd { a href=(format!("/ui/tools/{t}")) { (t) } } }
        }
        h2 { (tr.t("units-steps")) }
        (steps_table(tr, &view.counts))
        h2 { (tr.t("units-units")) }
        table {
            thead { tr {
                th scope="col" { (tr.t("units-serial")) } th scope="col" { (tr.t("col-state")) }
                th scope="col" { (tr.t("col-wafer")) } th scope="col" { "x, y" }
                th scope="col" { (tr.t("units-final")) }
            } }
            tbody {
                @for u in &units.items {
                    tr {
                        td { (unit_link(u)) }
                        td { (tr.t(&format!("unit-state-{}", u.state.as_str()))) }
                        td { @if let Some(o) = &u.origin { (o.wafer) } }
                        td { @if let Some(o) = &u.origin { (o.x) ", " (o.y) } }
                        td { @if let Some(f) = &u.final_test { (final_text(tr, f)) } }
                    }
                }
            }
        }
        @if units.next_cursor.is_some() { p.muted { (tr.ta("units-more", &[("shown", UNITS_SHOWN.to_string())])) } }
        h2 { (tr.t("lot-history")) }
        table {
            thead { tr {
                th scope="col" { (tr.t("col-time")) } th scope="col" { (tr.t("col-event")) }
                th scope="col" { (tr.t("units-count")) } th scope="col" { (tr.t("col-user")) }
                th scope="col" { (tr.t("lot-comment")) }
            } }
            tbody {
                @for e in view.events.iter().rev() {
                    tr {
                        td { (tr.time(e.at)) }
                        td { (tr.t(&format!("unit-event-{}", e.kind.as_str()))) }
                        td.num { (e.units) }
                        td { (e.user) }
                        td { (e.detail) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/modules",
        &tr.ta("unit-lot-title", &[("lot", id.clone())]),
        content,
    ))
}

fn final_text(tr: &Tr, f: &pilotline_app::FinalResult) -> String {
    let verdict = if f.pass {
        tr.t("units-pass")
    } else {
        tr.t("units-fail")
    };
    format!("{verdict} · HB {} / SB {}", f.hard_bin, f.soft_bin)
}

fn steps_table(tr: &Tr, counts: &[pilotline_domain::unit::StepCount]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { (tr.t("col-step")) } th scope="col" { (tr.t("col-tool")) }
                th scope="col" { (tr.t("units-recipe")) } th scope="col" { (tr.t("units-in")) }
                th scope="col" { (tr.t("units-out")) } th scope="col" { (tr.t("units-scrapped")) }
                th scope="col" { (tr.t("col-time")) }
            } }
            tbody {
                @for c in counts {
                    tr {
                        td { (c.step) }
                        td { a href=(format!("/ui/tools/{}", c.equipment)) { (c.equipment) } }
                        td { (c.recipe) }
                        td.num { (c.units_in) }
                        td.num { (c.units_out) }
                        td.num { (c.scrapped) }
                        td { (tr.time(c.ended_at)) }
                    }
                }
            }
        }
    }
}

fn facts(tr: &Tr, u: &UnitRecord) -> Markup {
    html! {
        dl.facts {
            dt { (tr.t("units-kind")) } dd { (tr.t(&format!("unit-kind-{}", u.kind.as_str()))) }
            dt { (tr.t("col-product")) } dd { (u.product) }
            dt { (tr.t("col-state")) } dd { (tr.t(&format!("unit-state-{}", u.state.as_str()))) }
            dt { (tr.t("col-lot")) } dd { a href=(format!("/ui/unit-lots/{}", u.lot)) { (u.lot) } }
            @if let Some(o) = &u.origin {
                dt { (tr.t("units-source")) } dd { a href=(format!("/ui/lots/{}", o.wafer_lot)) { (o.wafer_lot) } }
                dt { (tr.t("col-wafer")) } dd { a href=(format!("/ui/wafers/{}?lot={}", o.wafer, o.wafer_lot)) { (o.wafer) } " (" (o.x) ", " (o.y) ")" }
                dt { (tr.t("units-probe")) } dd { "HB " (o.probe_hard_bin) " / SB " (o.probe_soft_bin) " · " (tr.t(&format!("pick-{}", o.pick))) }
                @if let Some(b) = &o.booking { dt { (tr.t("col-booking")) } dd { (b) } }
            }
            @if let Some(f) = &u.final_test { dt { (tr.t("units-final")) } dd { (final_text(tr, f)) } }
            @if let Some(r) = &u.scrap_reason { dt { (tr.t("lot-reason")) } dd { (r) } }
        }
        @if let Some(c) = &u.calibration {
            h2 { (tr.t("units-calibration")) }
            p.muted { (c.by) " · " (tr.time(c.at)) }
            table {
                thead { tr { th scope="col" { (tr.t("units-coefficient")) } th scope="col" { (tr.t("col-value")) } } }
                tbody {
                    @if let Some(map) = c.coefficients.as_object() {
                        @for (k, val) in map {
                            tr { td { (k) } td.num { @if let Some(n) = val.as_f64() { (tr.number(n, 4)) } @else { (val.to_string()) } } }
                        }
                    }
                }
            }
        }
    }
}

/// The genealogy as a nested list: the unit, its parts and components, each die's wafer.
fn tree(tr: &Tr, g: &UnitGenealogy) -> Markup {
    let die = |u: &UnitRecord| {
        html! {
            @if let Some(o) = &u.origin {
                " — " (tr.ta("units-die-of", &[
                    ("wafer", o.wafer.clone()),
                    ("x", o.x.to_string()),
                    ("y", o.y.to_string()),
                    ("lot", o.wafer_lot.clone()),
                ]))
            }
        }
    };
    html! {
        ul.tree aria-label=(tr.t("units-tree")) {
            li {
                strong { (unit_link(&g.unit)) } " · " (g.unit.product) (die(&g.unit))
                @if !g.parts.is_empty() {
                    ul {
                        @for p in &g.parts {
                            li {
                                (p.item) @if p.quantity > 1 { " × " (p.quantity) } ": "
                                @if let Some(u) = &p.unit { (unit_link(u)) " · " (u.product) (die(u)) }
                                @if let Some(c) = &p.component {
                                    (c.part_number) " · " (c.supplier) " " (c.supplier_lot) " (" (c.id) ")"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `/ui/units/{serial}`: a unit, its facts, calibration and genealogy.
pub async fn unit(
    State(s): State<WebState>,
    v: Viewer,
    Path(serial): Path<String>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let g = s.app.unit_genealogy(&serial, &v.actor).await.or_page(tr)?;
    let content = html! {
        (facts(tr, &g.unit))
        h2 { (tr.t("lot-genealogy")) }
        (tree(tr, &g))
        h2 { (tr.t("units-lots")) }
        @for t in &g.unit_lots {
            h3 { a href=(format!("/ui/unit-lots/{}", t.lot.id)) { (t.lot.id) } " · " (t.lot.route_id) }
            (steps_table(tr, &t.steps))
        }
        @for w in &g.wafer_lots {
            h2 { (tr.ta("units-wafer-lot", &[("lot", w.lot.clone())])) }
            p { a href=(format!("/ui/lots/{}", w.lot)) { (w.lot) } " · " (w.product) " · " (w.route) }
            table {
                thead { tr {
                    th scope="col" { (tr.t("col-step")) } th scope="col" { (tr.t("col-tool")) }
                    th scope="col" { (tr.t("units-recipe")) } th scope="col" { (tr.t("col-time")) }
                    th scope="col" { (tr.t("units-samples")) } th scope="col" { (tr.t("lot-metrology")) }
                } }
                tbody {
                    @for r in &w.runs {
                        tr {
                            td { (r.run.step) }
                            td { a href=(format!("/ui/tools/{}", r.run.equipment)) { (r.run.equipment) } }
                            td { (r.run.recipe) }
                            td { (tr.time(r.run.tracked_in)) }
                            td.num { (r.run.samples.len()) @if r.run.truncated { "+" } }
                            td {
                                @for m in r.measurements.iter().take(5) {
                                    (m.parameter) " " (tr.number(m.value, 2)) " "
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/modules",
        &tr.ta("unit-title", &[("unit", serial.clone())]),
        content,
    ))
}

/// The lot page's section on what became of the lot's dies: its trays and the modules built
/// from them (`None` when it was not diced or the viewer may see none of it).
pub async fn lot_section(s: &WebState, v: &Viewer, lot: &str) -> Option<Markup> {
    let tr = &v.tr;
    let trays = s.app.unit_lots_of(lot, &v.actor).await.ok()?;
    if trays.is_empty() {
        return None;
    }
    let used = s.app.where_used_lot(lot, None, 20, &v.actor).await.ok()?;
    Some(html! {
        h2 { (tr.t("units-diced")) }
        p { (tr.ta("units-where-used", &[("units", used.units.to_string()), ("modules", used.modules.to_string())])) }
        (lot_table(tr, &trays))
        @if used.modules > 0 {
            ul {
                @for i in used.items.iter().filter(|i| i.module.is_some()) {
                    li {
                        @if let Some(m) = &i.module { a href=(format!("/ui/units/{m}")) { (m) } }
                        " ← "
                        a href=(format!("/ui/units/{}", i.serial.as_deref().unwrap_or(&i.unit))) { (i.serial.as_deref().unwrap_or(&i.unit)) }
                    }
                }
            }
        }
    })
}
