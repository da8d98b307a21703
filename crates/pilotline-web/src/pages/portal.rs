//! The start-up's portal: the shuttle calendar, booking a slot (with its quote), a booking's
//! timeline, design uploads with the precheck's verdict and hash, the MPW lot's progress and
//! delivery forecast, and links to its own designs' yields and maps. Staff see every tenant's.

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use pilotline_app::BookingRequest;
use pilotline_domain::{Action, Code};
use pilotline_mpw::Space;
use serde::Deserialize;

use super::forms::{Done, decode, filled, see_other};
use crate::WebState;
use crate::error::{OrPage, PageError};
use crate::i18n::Tr;
use crate::layout::{self, Html};
use crate::session::Viewer;

fn money(tr: &Tr, minor: i64, currency: &str) -> String {
    format!("{} {currency}", tr.number(minor as f64 / 100.0, 2))
}

fn status_badge(tr: &Tr, key: &str, status: &str) -> Markup {
    let class = match status {
        "cancelled" | "precheck_failed" => "badge bad",
        "waitlisted" | "closed" => "badge warn",
        _ => "badge ok",
    };
    html! { span class=(class) { (tr.t(&format!("{key}-{status}"))) } }
}

/// `/ui/portal`: upcoming shuttles and the viewer's bookings.
pub async fn home(State(s): State<WebState>, v: Viewer) -> Result<Html, PageError> {
    let tr = &v.tr;
    let shuttles = s.app.shuttles(true, &v.actor).await.or_page(tr)?;
    let bookings = s.app.bookings(&v.actor).await.or_page(tr)?;
    let content = html! {
        h2 { (tr.t("portal-calendar")) }
        p { a href="/api/v1/shuttles/calendar.ics" { (tr.t("portal-ics")) } }
        table {
            thead { tr {
                th scope="col" { (tr.t("col-shuttle")) } th scope="col" { (tr.t("col-status")) }
                th scope="col" { (tr.t("shuttle-booking-closes")) } th scope="col" { (tr.t("shuttle-design-deadline")) }
                th scope="col" { (tr.t("shuttle-fab-start")) } th scope="col" { (tr.t("shuttle-delivery")) }
            } }
            tbody {
                @for sh in &shuttles {
                    @let c = &sh.spec.calendar;
                    tr {
                        td { a href=(format!("/ui/shuttles/{}", sh.spec.id)) { (sh.spec.id) } " " span.muted { (sh.spec.name) } }
                        td { (status_badge(tr, "shuttle", sh.status.as_str())) }
                        td { (tr.date(c.booking_closes)) }
                        td { (tr.date(c.design_deadline)) }
                        td { (tr.date(c.fab_start)) }
                        td { (tr.date(c.expected_delivery)) }
                    }
                }
            }
        }
        @if let (Some(t), true) = (&v.actor.tenant, v.actor.role.may(Action::ManageTenantUsers)) {
            p { a href=(format!("/ui/tenants/{t}/people")) { (tr.t("portal-people")) } }
        }
        h2 { (tr.t("portal-bookings")) }
        @if bookings.is_empty() { p.muted { (tr.t("portal-no-bookings")) } }
        table {
            thead { tr {
                th scope="col" { (tr.t("col-booking")) } th scope="col" { (tr.t("col-shuttle")) }
                th scope="col" { (tr.t("col-tenant")) } th scope="col" { (tr.t("col-status")) }
                th.num scope="col" { (tr.t("booking-total")) }
            } }
            tbody {
                @for b in &bookings {
                    tr {
                        td { a href=(format!("/ui/bookings/{}", b.id)) { (b.id) } }
                        td { (b.shuttle) }
                        td { (b.tenant) }
                        td { (status_badge(tr, "booking", b.status.as_str())) }
                        td.num { (money(tr, b.quote.total_minor, &b.quote.currency)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/portal",
        &tr.t("portal-title"),
        content,
    ))
}

/// `/ui/shuttles/{id}`: a shuttle's calendar, capacity and offer, and the booking form.
pub async fn shuttle(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let view = s.app.shuttle(&id, &v.actor).await.or_page(tr)?;
    let sh = &view.shuttle;
    let c = &sh.spec.calendar;
    let offer = &sh.spec.offer;
    let may_book = v.actor.role.may(Action::Book) && sh.status.as_str() == "open";
    let content = html! {
        dl.facts {
            dt { (tr.t("col-status")) } dd { (status_badge(tr, "shuttle", sh.status.as_str())) }
            dt { (tr.t("col-route")) } dd { (sh.spec.route) }
            dt { (tr.t("shuttle-booking-opens")) } dd { (tr.time(c.booking_opens)) }
            dt { (tr.t("shuttle-booking-closes")) } dd { (tr.time(c.booking_closes)) }
            dt { (tr.t("shuttle-design-deadline")) } dd { (tr.time(c.design_deadline)) }
            dt { (tr.t("shuttle-drc-freeze")) } dd { (tr.time(c.drc_freeze)) }
            dt { (tr.t("shuttle-fab-start")) } dd { (tr.time(c.fab_start)) }
            dt { (tr.t("shuttle-delivery")) } dd { (tr.time(c.expected_delivery)) }
            @if let Some(lot) = &sh.lot { dt { (tr.t("col-lot")) } dd { (lot) } }
        }
        h2 { (tr.t("shuttle-capacity")) }
        table {
            thead { tr { th scope="col" { (tr.t("shuttle-pool")) } th.num scope="col" { (tr.t("shuttle-taken")) } th.num scope="col" { (tr.t("shuttle-left")) } } }
            tbody { @for p in &view.capacity { tr { td { (p.pool) } td.num { (p.taken) " / " (p.capacity) } td.num { (p.left) } } } }
        }
        @if let Some(menu) = &offer.slots {
            h2 { (tr.t("shuttle-slots")) }
            form.stack method="post" action=(format!("/ui/shuttles/{id}/book")) {
                fieldset {
                    legend { (tr.t("shuttle-choose-slot")) }
                    @for (i, shape) in menu.shapes.iter().enumerate() {
                        label {
                            input type="radio" name="slot" value=(shape.id) required checked[i == 0] disabled[!may_book];
                            " " (shape.id) " — " (shape.columns) "×" (shape.rows) " · "
                            (money(tr, shape.price_minor, &offer.currency)) " · "
                            (tr.ta("shuttle-dies", &[("count", shape.dies_delivered.to_string())]))
                        }
                    }
                }
                @if !offer.options.is_empty() {
                    fieldset {
                        legend { (tr.t("shuttle-options")) }
                        @for o in &offer.options {
                            label { input type="checkbox" name="option" value=(o.id) disabled[!may_book]; " " (o.id) " — " (o.name) " · " (money(tr, o.price_minor, &offer.currency)) }
                        }
                    }
                }
                @if may_book {
                    button.primary type="submit" { (tr.t("shuttle-book")) }
                } @else {
                    p.muted { (tr.t("shuttle-cannot-book")) }
                }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/portal",
        &tr.ta("shuttle-title", &[("shuttle", id.clone())]),
        content,
    ))
}

/// `POST /ui/shuttles/{id}/book`: books the chosen slot; on to the new booking.
pub async fn book(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let tr = &v.tr;
    let pairs: Vec<(String, String)> = decode(&body, tr)?;
    let slot = filled(
        pairs
            .iter()
            .find(|(k, _)| k == "slot")
            .map(|(_, v)| v.clone()),
    )
    .ok_or_else(|| PageError::new(tr.clone(), Code::FieldEmpty.refusal().with("field", "slot")))?;
    let options = pairs
        .iter()
        .filter(|(k, _)| k == "option")
        .map(|(_, v)| v.clone())
        .collect();
    let req = BookingRequest {
        space: Space::Slot { slot },
        options,
        tenant: None,
        override_reason: None,
    };
    let booking = s.app.book(&id, &req, &v.actor).await.or_page(tr)?;
    Ok(see_other(&format!(
        "/ui/bookings/{}?done=booked",
        booking.id
    )))
}

/// `/ui/bookings/{id}`: quote, timeline, designs and verdicts, the upload form, delivery.
pub async fn booking(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html, PageError> {
    let tr = &v.tr;
    let view = s.app.booking(&id, &v.actor).await.or_page(tr)?;
    let b = &view.booking;
    let q = &b.quote;
    let may_upload = v.actor.role.may(Action::UploadDesign);
    let may_submit = v.actor.role.may(Action::Book);
    let may_accept = v.actor.role.may(Action::ReviewDesigns);
    let done = done.among(&["booked", "uploaded", "submitted", "accepted"]);
    let content = html! {
        @if let Some(d) = done { div.notice role="status" { (tr.t(&format!("done-{d}"))) } }
        dl.facts {
            dt { (tr.t("col-shuttle")) } dd { a href=(format!("/ui/shuttles/{}", b.shuttle)) { (b.shuttle) } }
            dt { (tr.t("col-tenant")) } dd { (b.tenant) }
            dt { (tr.t("col-status")) } dd { (status_badge(tr, "booking", b.status.as_str())) }
            @if let Some(p) = view.waitlist_position { dt { (tr.t("booking-waitlist")) } dd { (p) } }
            @if let Some(lot) = &view.lot { dt { (tr.t("col-lot")) } dd { (lot) } }
        }
        h2 { (tr.t("booking-quote")) }
        table {
            tbody {
                @for line in &q.lines {
                    tr { td { (tr.phrase(&line.phrase, &line.description)) } td.num { (money(tr, line.amount_minor, &q.currency)) } }
                }
                tr { th scope="row" { (tr.t("booking-total")) } td.num { strong { (money(tr, q.total_minor, &q.currency)) } } }
            }
        }
        p.muted { (tr.ta("shuttle-dies", &[("count", q.dies_delivered.to_string())])) }
        h2 { (tr.t("booking-delivery")) }
        @let d = &view.delivery;
        dl.facts {
            dt { (tr.t("booking-promised")) } dd { (tr.date(d.promised)) }
            @if let Some(f) = &d.forecast {
                dt { (tr.t("booking-expected")) } dd {
                    (tr.date(f.expected))
                    @if f.late_days > 0.5 { " " span.badge.bad { (tr.ta("booking-late", &[("days", tr.number(f.late_days, 1))])) } }
                }
            }
            @if let Some(p) = &d.progress {
                dt { (tr.t("booking-progress")) } dd {
                    (tr.ta("booking-steps", &[("done", p.steps_done.to_string()), ("total", p.steps_total.to_string())]))
                    " · " (p.step_name)
                    @if p.held { " " span.badge.held { (tr.t("lot-held")) } }
                }
                dt { (tr.t("booking-results")) } dd {
                    a href=(format!("/ui/yield?design={}", b.id)) { (tr.t("booking-yield-link")) }
                }
            }
        }
        h2 { (tr.t("booking-designs")) }
        table {
            thead { tr {
                th scope="col" { (tr.t("design-revision")) } th scope="col" { (tr.t("design-name")) }
                th scope="col" { (tr.t("design-verdict")) } th scope="col" { "SHA-256" }
                th.num scope="col" { (tr.t("design-size")) } th scope="col" { (tr.t("col-time")) }
                th scope="col" { (tr.t("design-submission")) }
            } }
            tbody {
                @for r in &view.revisions {
                    tr {
                        td.num { (r.revision) }
                        td { (r.name) }
                        td {
                            @if r.verdict.passed { span.badge.ok data-verdict="passed" { (tr.t("design-passed")) } }
                            @else { span.badge.bad data-verdict="failed" { (tr.t("design-failed")) } }
                            ul {
                                @for c in r.verdict.checks.iter().filter(|c| !c.passed) {
                                    li data-check=(c.check.as_str()) {
                                        strong { (tr.t(&format!("check-{}", c.check.as_str()))) } ": "
                                        (tr.phrase(&c.measured_phrase, &c.measured))
                                        " (" (tr.t("check-expected")) " " (tr.phrase(&c.expected_phrase, &c.expected)) ")"
                                        @if let Some(reason) = &c.reason {
                                            br; (tr.phrase(c.reason_phrase.as_ref().unwrap_or(&pilotline_mpw::Phrase::default()), reason))
                                        }
                                    }
                                }
                            }
                        }
                        td { code { (r.sha256) } }
                        td.num { (tr.number(r.size as f64, 0)) }
                        td { (tr.time(r.uploaded_at)) }
                        td {
                            @if b.submitted_revision == Some(r.revision) {
                                span.badge.ok { (tr.t("design-submitted")) }
                            } @else if may_submit && r.verdict.passed {
                                form.inline method="post" action=(format!("/ui/bookings/{id}/submit")) {
                                    input type="hidden" name="revision" value=(r.revision);
                                    button type="submit" { (tr.t("design-submit")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if may_accept && b.submitted_revision.is_some() && b.status.as_str() == "precheck_passed" {
            form.inline method="post" action=(format!("/ui/bookings/{id}/accept")) {
                button.primary type="submit" { (tr.t("design-accept")) }
            }
        }
        @if may_upload {
            form.stack method="post" action=(format!("/ui/bookings/{id}/designs")) enctype="multipart/form-data" {
                label for="design" { (tr.t("design-upload-file")) }
                input id="design" name="design" type="file" accept=".gds,.gds2,.gdsii" required;
                button.primary type="submit" { (tr.t("design-upload")) }
            }
        }
        h2 { (tr.t("booking-timeline")) }
        ol {
            @for e in &view.timeline {
                li { (tr.time(e.at)) " · " (tr.t(&format!("booking-event-{}", e.kind.as_str()))) " · " (e.actor) }
            }
        }
    };
    Ok(layout::page(
        &v,
        "/ui/portal",
        &tr.ta("booking-title", &[("booking", id.clone())]),
        content,
    ))
}

/// `POST /ui/bookings/{id}/designs`: streams the file field into the application layer's
/// upload (the caller is checked before a byte is read; the size is bounded as the API's),
/// then shows the booking with the new revision's verdict.
pub async fn upload(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let tr = &v.tr;
    let mut upload = s
        .app
        .begin_design_upload(&id, None, None, &v.actor)
        .await
        .or_page(tr)?;
    let mut name = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| bad_form(tr, e))? {
        if field.name() != Some("design") {
            continue;
        }
        name = field.file_name().map(str::to_string);
        while let Some(chunk) = field.chunk().await.map_err(|e| bad_form(tr, e))? {
            upload.write(&chunk).await.or_page(tr)?;
        }
    }
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "design.gds".to_string());
    s.app
        .finish_design_upload(&id, upload, &name, None, &v.actor)
        .await
        .or_page(tr)?;
    Ok(see_other(&format!("/ui/bookings/{id}?done=uploaded")))
}

fn bad_form(tr: &Tr, e: axum::extract::multipart::MultipartError) -> PageError {
    let status = e.status();
    let refusal = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Code::BodyTooLarge.refusal().with("limit", "1 GiB")
    } else {
        Code::BodyInvalid
            .refusal()
            .with("field", "design")
            .with("reason", e.body_text())
    };
    PageError::new(tr.clone(), refusal)
}

#[derive(Deserialize)]
struct Submit {
    revision: i64,
}

/// `POST /ui/bookings/{id}/submit`: submits a revision that passed its precheck.
pub async fn submit(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: Submit = decode(&body, &v.tr)?;
    s.app
        .submit_design(&id, form.revision, None, &v.actor)
        .await
        .or_page(&v.tr)?;
    Ok(see_other(&format!("/ui/bookings/{id}?done=submitted")))
}

/// `POST /ui/bookings/{id}/accept`: the platform's engineer accepts the submitted design.
pub async fn accept(
    State(s): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    s.app
        .accept_design(&id, None, &v.actor)
        .await
        .or_page(&v.tr)?;
    Ok(see_other(&format!("/ui/bookings/{id}?done=accepted")))
}
