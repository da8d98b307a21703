//! A lot: its route as a strip of steps, wafers, holds, history, genealogy and process data,
//! and the forms of every transaction the viewer's role may perform on it.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use pilotline_app::{LotCommand, ProcessDataQuery, WriteOp};
use pilotline_domain::measure::Reading;
use pilotline_domain::{Action, Code, LotView, WaferState};

use super::forms::{Done, decode, filled, see_other};
use crate::WebState;
use crate::charts::{self, Series};
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html};
use crate::session::Viewer;

/// Samples per run and point drawn in a lot's process-data charts.
const SAMPLES_PER_RUN: u32 = 300;

/// The transactions the lot page offers.
const ACTIONS: &[&str] = &[
    "track-in",
    "track-out",
    "hold",
    "release",
    "split",
    "rework",
    "scrap",
    "ship",
];

fn strip(tr: &Tr, lot: &LotView, steps: &[pilotline_domain::Step]) -> Markup {
    html! {
        ol.strip aria-label=(tr.t("lot-route-strip")) {
            @for (i, step) in steps.iter().enumerate() {
                @if i == lot.step.index {
                    li.current aria-current="step" title=(step.name) { (i + 1) ". " (step.name) }
                } @else if i < lot.step.index {
                    li.done title=(step.name) { (i + 1) }
                } @else {
                    li title=(step.name) { (i + 1) }
                }
            }
        }
    }
}

fn facts(tr: &Tr, lot: &LotView) -> Markup {
    html! {
        dl.facts {
            dt { (tr.t("col-product")) } dd { (lot.product) }
            dt { (tr.t("col-route")) } dd { (lot.route) " v" (lot.route_version) }
            dt { (tr.t("col-state")) } dd {
                (tr.t(&format!("state-{}", lot.state.as_str())))
                @if !lot.holds.is_empty() { " " span.badge.held { (tr.t("lot-held")) } }
            }
            dt { (tr.t("col-step")) } dd { (lot.step.index + 1) ". " (lot.step.name) " (" (lot.step.recipe) ")" }
            dt { (tr.t("col-tool")) } dd { (lot.equipment.as_deref().unwrap_or("—")) }
            dt { (tr.t("col-priority")) } dd { (lot.priority) }
            dt { (tr.t("col-wafers")) } dd { (lot.wafer_count) }
            @if let Some(q) = &lot.qtime {
                dt { (tr.t("col-qtime")) } dd { span data-deadline=(q.deadline.to_rfc3339()) { (tr.time(q.deadline)) } }
            }
            @if let Some(t) = &lot.tenant { dt { (tr.t("col-tenant")) } dd { (t) } }
            @if let Some(d) = lot.due_date { dt { (tr.t("col-due")) } dd { (d) } }
        }
    }
}

fn version_field(lot: &LotView) -> Markup {
    html! { input type="hidden" name="version" value=(lot.version); }
}

fn forms(
    tr: &Tr,
    v: &Viewer,
    lot: &LotView,
    steps: &[pilotline_domain::Step],
    tools: &[String],
) -> Markup {
    let role = v.actor.role;
    let base = format!("/ui/lots/{}", lot.id);
    let active: Vec<&str> = lot
        .wafers
        .iter()
        .filter(|w| w.state == WaferState::Active)
        .map(|w| w.id.as_str())
        .collect();
    let step = steps.get(lot.step.index);
    html! {
        @if role.may(Action::MoveLots) {
            section aria-labelledby="h-move" {
                h2 id="h-move" { (tr.t("lot-actions")) }
                @if lot.state.as_str() == "waiting" {
                    form.inline method="post" action=(format!("{base}/track-in")) {
                        (version_field(lot))
                        label { (tr.t("col-tool"))
                            select name="equipment" required {
                                @for t in tools { option value=(t) { (t) } }
                            }
                        }
                        button.primary type="submit" { (tr.t("action-track-in")) }
                    }
                }
                @if lot.state.as_str() == "running" {
                    form.stack method="post" action=(format!("{base}/track-out")) {
                        (version_field(lot))
                        @if let Some(step) = step {
                            @for p in &step.measurements {
                                fieldset {
                                    legend { (p.name) " (" (p.unit) ")" }
                                    @for w in active.iter().take(p.wafers_per_lot.max(1) as usize) {
                                        @for site in 1..=p.sites_per_wafer.max(1) {
                                            @let name = format!("r|{}|{}|{}", p.name, w, site);
                                            label for=(name) { (w) " · " (tr.t("lot-site")) " " (site) }
                                            input id=(name) name=(name) type="number" step="any" required inputmode="decimal";
                                        }
                                    }
                                }
                            }
                        }
                        button.primary type="submit" { (tr.t("action-track-out")) }
                    }
                }
                @if lot.state.as_str() == "waiting" && !active.is_empty() {
                    form.inline method="post" action=(format!("{base}/split")) {
                        (version_field(lot))
                        fieldset {
                            legend { (tr.t("action-split")) }
                            @for w in &active {
                                label { input type="checkbox" name="wafer" value=(w); " " (w) }
                            }
                        }
                        button type="submit" { (tr.t("action-split")) }
                    }
                    form.inline method="post" action=(format!("{base}/merge")) {
                        (version_field(lot))
                        label { (tr.t("lot-merge-from")) input name="from_lot" required maxlength="64"; }
                        button type="submit" { (tr.t("action-merge")) }
                    }
                    form.inline method="post" action=(format!("{base}/rework")) {
                        (version_field(lot))
                        label { (tr.t("lot-rework-to"))
                            select name="to_step" required {
                                @for s in steps.iter().take(lot.step.index) { option value=(s.id) { (s.name) } }
                            }
                        }
                        label { (tr.t("lot-reason")) input name="reason" required; }
                        button type="submit" { (tr.t("action-rework")) }
                    }
                }
                @if lot.state.as_str() == "completed" {
                    form.inline method="post" action=(format!("{base}/ship")) {
                        (version_field(lot))
                        button.primary type="submit" { (tr.t("action-ship")) }
                    }
                }
                @if matches!(lot.state.as_str(), "waiting" | "running" | "completed") {
                    form.inline method="post" action=(format!("{base}/scrap")) {
                        (version_field(lot))
                        label { (tr.t("lot-scrap-wafers"))
                            select name="wafer" multiple size="3" {
                                @for w in &active { option value=(w) { (w) } }
                            }
                        }
                        label { (tr.t("lot-reason")) input name="reason" required; }
                        button.danger type="submit" { (tr.t("action-scrap")) }
                    }
                }
            }
        }
        @if role.may(Action::PlaceHold) && matches!(lot.state.as_str(), "waiting" | "running" | "completed") {
            form.inline method="post" action=(format!("{base}/hold")) {
                (version_field(lot))
                label { (tr.t("lot-hold-reason")) input name="reason_code" required maxlength="40"; }
                label { (tr.t("lot-comment")) input name="comment" required; }
                button.danger type="submit" { (tr.t("action-hold")) }
            }
            @if lot.step.index + 1 < steps.len() {
                form.inline method="post" action=(format!("{base}/future-hold")) {
                    (version_field(lot))
                    label { (tr.t("lot-future-step"))
                        select name="step" required {
                            @for s in steps.iter().skip(lot.step.index + 1) { option value=(s.id) { (s.name) } }
                        }
                    }
                    label { (tr.t("lot-hold-reason")) input name="reason_code" required maxlength="40"; }
                    label { (tr.t("lot-comment")) input name="comment" required; }
                    button type="submit" { (tr.t("action-future-hold")) }
                }
            }
        }
    }
}

/// `/ui/lots/{id}`.
pub async fn page(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let lot = s.app.lot(&id, &v.actor).await.or_page(tr)?;
    let history = s.app.history(&id, &v.actor).await.or_page(tr)?;
    let genealogy = s.app.genealogy(&id, &v.actor).await.or_page(tr)?;
    let staff = v.actor.role.may(Action::ReadMasterData);
    let steps = if staff {
        s.app
            .route(&lot.route, Some(lot.route_version), &v.actor)
            .await
            .or_page(tr)?
            .steps
            .clone()
    } else {
        Vec::new()
    };
    let tools: Vec<String> = if staff && lot.state.as_str() == "waiting" {
        s.app
            .equipment_list(Some(&lot.step.equipment_type), &v.actor)
            .await
            .or_page(tr)?
            .into_iter()
            .map(|e| e.id)
            .collect()
    } else {
        Vec::new()
    };
    let runs = s
        .app
        .process_data(
            &id,
            ProcessDataQuery {
                point: None,
                run: None,
                after: None,
                limit: SAMPLES_PER_RUN,
            },
            &v.actor,
        )
        .await
        .unwrap_or_default();
    let measurements = s
        .app
        .measurements(Some(&id), None, MEASUREMENTS_SHOWN, &v.actor)
        .await
        .or_page(tr)?;
    let diced = super::units::lot_section(&s, &v, &id).await;
    let done = done.among(ACTIONS);
    let content = html! {
        @if let Some(d) = done {
            div.notice role="status" { (tr.t(&format!("done-{d}"))) }
        }
        @if !steps.is_empty() { (strip(tr, &lot, &steps)) }
        (facts(tr, &lot))
        (forms(tr, &v, &lot, &steps, &tools))
        h2 { (tr.t("lot-holds")) }
        @if lot.holds.is_empty() { p.muted { (tr.t("lot-no-holds")) } }
        @for h in &lot.holds {
            div.card {
                h3 { "#" (h.id) " · " (h.reason_code) }
                p { (h.comment) }
                p.muted { (h.placed_by) " · " (tr.time(h.placed_at)) }
                @if v.actor.role.may(Action::ReleaseHold) || (v.actor.role.may(Action::PlaceHold) && h.own_plain_hold_of(&v.actor)) {
                    form.inline method="post" action=(format!("/ui/lots/{}/release", lot.id)) {
                        (version_field(&lot))
                        input type="hidden" name="hold" value=(h.id);
                        label { (tr.t("lot-comment")) input name="comment" required; }
                        label { (tr.t("lot-disposition"))
                            select name="disposition" {
                                option value="" { "—" }
                                option value="use-as-is" { (tr.t("disposition-use-as-is")) }
                                option value="rework" { (tr.t("disposition-rework")) }
                                option value="scrap" { (tr.t("disposition-scrap")) }
                            }
                        }
                        button type="submit" { (tr.t("action-release")) }
                    }
                }
            }
        }
        h2 { (tr.t("lot-wafers")) }
        table {
            thead { tr { th scope="col" { (tr.t("col-wafer")) } th scope="col" { (tr.t("col-slot")) } th scope="col" { (tr.t("col-state")) } } }
            tbody {
                @for w in &lot.wafers {
                    tr {
                        td { a href=(format!("/ui/wafers/{}?lot={}", w.id, lot.id)) { (w.id) } }
                        td.num { (w.slot) }
                        td { (tr.t(&format!("wafer-{}", w.state.as_str()))) }
                    }
                }
            }
        }
        h2 { (tr.t("lot-genealogy")) }
        @if genealogy.links.is_empty() { p.muted { (tr.t("lot-no-genealogy")) } }
        @if let Some(graph) = family_graph(tr, &genealogy) { figure { (graph) } }
        ul {
            @for l in &genealogy.links {
                li {
                    a href=(format!("/ui/lots/{}", l.from_lot)) { (l.from_lot) }
                    " → "
                    a href=(format!("/ui/lots/{}", l.to_lot)) { (l.to_lot) }
                    " (" (tr.t(&format!("link-{}", l.kind))) ", " (l.wafers.len()) " " (tr.t("col-wafers")) ", " (tr.time(l.at)) ")"
                }
            }
        }
        @if let Some(d) = diced { (d) }
        (metrology(tr, &measurements))
        @if !runs.is_empty() {
            h2 { (tr.t("lot-process-data")) }
            @for run in &runs {
                (process_run(tr, run))
            }
        }
        h2 { (tr.t("lot-history")) }
        table {
            thead { tr {
                th scope="col" { "#" } th scope="col" { (tr.t("col-time")) } th scope="col" { (tr.t("col-event")) }
                th scope="col" { (tr.t("col-step")) } th scope="col" { (tr.t("col-user")) } th scope="col" { (tr.t("lot-comment")) }
            } }
            tbody {
                @for e in history.iter().rev() {
                    tr {
                        td.num { (e.seq) }
                        td { (tr.time(e.at)) }
                        td { (tr.t(&format!("event-{}", e.change.kind()))) }
                        td { (e.after.step) }
                        td { (e.user) }
                        td { (e.why.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/wip",
        &tr.ta("lot-title", &[("lot", lot.id.clone())]),
        content,
    ))
}

/// The newest readings a lot page shows (a lot measured at every step of a long route has a
/// few hundred).
const MEASUREMENTS_SHOWN: u32 = 1000;

/// The lot's family as a graph (the list above is its text alternative).
fn family_graph(tr: &Tr, g: &pilotline_app::Genealogy) -> Option<Markup> {
    let link = |l: &pilotline_app::GenealogyLink| {
        tr.ta(
            "lot-genealogy-link",
            &[
                ("kind", tr.t(&format!("link-{}", l.kind))),
                ("from", l.from_lot.clone()),
                ("to", l.to_lot.clone()),
                ("wafers", l.wafers.len().to_string()),
                ("at", tr.time(l.at)),
            ],
        )
    };
    let description = tr.ta(
        "lot-genealogy-desc",
        &[("links", g.links.len().to_string()), ("lot", g.lot.clone())],
    );
    crate::genealogy_graph::graph(
        g,
        &crate::genealogy_graph::Words {
            title: &tr.t("lot-genealogy"),
            description: &description,
            link: &link,
        },
    )
}

/// The lot's metrology: per step and parameter, the readings' count, mean and range, and
/// their values as a chart in the order they were taken.
fn metrology(tr: &Tr, readings: &[pilotline_app::Measurement]) -> Markup {
    // Oldest first, grouped by (step, parameter) in the order they were first measured.
    let mut groups: Vec<((&str, &str), Vec<&pilotline_app::Measurement>)> = Vec::new();
    for m in readings.iter().rev() {
        let key = (m.step.as_str(), m.parameter.as_str());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(m),
            None => groups.push((key, vec![m])),
        }
    }
    html! {
        h2 { (tr.t("lot-metrology")) }
        @if groups.is_empty() { p.muted { (tr.t("lot-no-metrology")) } }
        @for ((step, parameter), group) in &groups {
            @let values: Vec<f64> = group.iter().map(|m| m.value).filter(|v| v.is_finite()).collect();
            @let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            @let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            @let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            section.card data-metrology=(parameter) {
                h3 { (step) " · " (parameter) }
                p.muted {
                    (tr.ta("lot-metrology-figures", &[
                        ("count", values.len().to_string()),
                        ("mean", tr.number(mean, 3)),
                        ("min", tr.number(lo, 3)),
                        ("max", tr.number(hi, 3)),
                    ]))
                    @if let Some(m) = group.first() {
                        " · " (m.equipment.as_deref().unwrap_or("—")) " · " (tr.time(m.at))
                    }
                }
                @if values.len() >= 2 {
                    figure {
                        (charts::line_chart(parameter, &tr.ta("lot-metrology-desc", &[("parameter", parameter.to_string()), ("step", step.to_string()), ("count", values.len().to_string())]),
                            &Series { values: &values, marked: &[] }, &[]))
                    }
                }
                details {
                    summary { (tr.t("lot-metrology-readings")) }
                    table {
                        thead { tr {
                            th scope="col" { (tr.t("col-wafer")) } th scope="col" { (tr.t("col-site")) }
                            th scope="col" { (tr.t("col-value")) } th scope="col" { (tr.t("col-time")) }
                        } }
                        tbody {
                            @for m in group {
                                tr {
                                    td { (m.wafer.as_deref().unwrap_or("—")) }
                                    td.num { (m.site.map(|s| s.to_string()).unwrap_or_default()) }
                                    td.num { (tr.number(m.value, 3)) }
                                    td { (tr.time(m.at)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn process_run(tr: &Tr, run: &pilotline_app::ProcessRun) -> Markup {
    let mut points: Vec<&str> = run.samples.iter().map(|s| s.point.as_str()).collect();
    points.sort_unstable();
    points.dedup();
    html! {
        section.card {
            h3 { (run.step) " · " (run.equipment) " · " (run.recipe) }
            p.muted { (tr.time(run.tracked_in)) " – " (run.tracked_out.map(|t| tr.time(t)).unwrap_or_default()) }
            @for point in points {
                @let values: Vec<f64> = run.samples.iter().filter(|s| s.point == point).filter_map(|s| s.number).collect();
                @if !values.is_empty() {
                    figure {
                        (charts::line_chart(point, &tr.ta("chart-samples-desc", &[("point", point.to_string()), ("count", values.len().to_string())]),
                            &Series { values: &values, marked: &[] }, &[]))
                        figcaption { (point) " · " (values.len()) " " (tr.t("chart-samples")) }
                    }
                }
            }
        }
    }
}

/// `POST /ui/lots/{id}/{action}`: one transaction through the application layer (the same use
/// case the API's route calls), then back to the lot page; a refusal shows in the viewer's
/// language with its status.
pub async fn act(
    State(s): State<WebState>,
    v: Viewer,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let tr = &v.tr;
    let pairs: Vec<(String, String)> = decode(&body, tr)?;
    let field = |name: &str| {
        filled(
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        )
    };
    let all = |name: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    let version = field("version").and_then(|v| v.parse::<u64>().ok());
    let command =
        command_of(&action, &pairs, &field, &all).map_err(|r| PageError::new(tr.clone(), r))?;
    let op = WriteOp::Lot {
        lot_id: id.clone(),
        command,
        if_version: version,
    };
    s.app.execute(&op, &v.actor).await.or_page(tr)?;
    Ok(see_other(&format!("/ui/lots/{id}?done={action}")))
}

/// The lot command a form describes.
fn command_of(
    action: &str,
    pairs: &[(String, String)],
    field: &dyn Fn(&str) -> Option<String>,
    all: &dyn Fn(&str) -> Vec<String>,
) -> Result<LotCommand, pilotline_domain::Refusal> {
    let required = |name: &'static str| {
        field(name).ok_or_else(|| Code::FieldEmpty.refusal().with("field", name))
    };
    Ok(match action {
        "track-in" => LotCommand::TrackIn {
            equipment: required("equipment")?,
            recipe: None,
        },
        "track-out" => LotCommand::TrackOut {
            scrap_wafers: Vec::new(),
            scrap_reason: None,
            readings: readings(pairs)?,
        },
        "hold" => LotCommand::Hold {
            reason_code: required("reason_code")?,
            comment: required("comment")?,
        },
        "release" => LotCommand::Release {
            hold_id: required("hold")?.parse().map_err(|_| {
                Code::BodyInvalid
                    .refusal()
                    .with("field", "hold")
                    .with("reason", "not a hold number")
            })?,
            comment: required("comment")?,
            disposition: field("disposition"),
        },
        "split" => LotCommand::Split {
            wafers: all("wafer"),
        },
        "rework" => LotCommand::Rework {
            to_step: required("to_step")?,
            reason: required("reason")?,
        },
        "scrap" => {
            let wafers = all("wafer");
            LotCommand::Scrap {
                wafers: (!wafers.is_empty()).then_some(wafers),
                reason: required("reason")?,
            }
        }
        "ship" => LotCommand::Ship,
        other => {
            return Err(Code::PathNotFound
                .refusal()
                .with("path", format!("/ui/lots/…/{other}")));
        }
    })
}

/// The readings of a track-out form: fields `r|{parameter}|{wafer}|{site}`.
fn readings(pairs: &[(String, String)]) -> Result<Vec<Reading>, pilotline_domain::Refusal> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        let Some(rest) = k.strip_prefix("r|") else {
            continue;
        };
        let mut parts = rest.split('|');
        let (Some(parameter), Some(wafer), Some(site)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let value: f64 = v.trim().parse().map_err(|_| {
            Code::BodyInvalid
                .refusal()
                .with("field", format!("{parameter} {wafer} {site}"))
                .with("reason", "not a number")
        })?;
        out.push(Reading {
            parameter: parameter.to_string(),
            wafer: Some(wafer.to_string()),
            site: site.parse().ok(),
            value,
        });
    }
    Ok(out)
}
