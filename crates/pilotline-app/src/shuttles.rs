//! MPW shuttles: the line's configuration and process layer tables, shuttles and their
//! lifecycle, bookings with atomic capacity and an ordered waitlist, design revisions with
//! their prechecks, the layout, and the start of the MPW lot.
//!
//! Every write is one use case in one transaction ([`MpwWork`]): the shuttle row is locked
//! first (PostgreSQL; SQLite's one writer already excludes others), then the rules of
//! `pilotline-mpw` decide, then the store's steps run and the booking's timeline is appended —
//! all committed together. Tenant-owned rows are touched only after the transaction is
//! scoped to the caller's tenant; a cancellation that promotes another tenant's waitlisted
//! booking re-scopes to the platform for that step, after the caller's own booking was checked.

use chrono::Utc;
use pilotline_domain::{Action, Actor, Code, LotType, Role};
use pilotline_mpw::layout::{self, Layout, Request};
use pilotline_mpw::precheck::{self, LayerKey, Requirements};
use pilotline_mpw::shuttle::{Deadline, Override};
use pilotline_mpw::{
    BookingEventKind, BookingStatus, LineConfig, Quote, Shuttle, ShuttleSpec, ShuttleStatus, Space,
};
use pilotline_store::{
    Booking, BookingEvent, DesignRevision, NewBooking, NewLotRequest, Outcome, StoreError,
    StoredLayout, Tx, Work, WriteOp,
};
use serde::Serialize;
use serde_json::json;

use crate::perform::require;
use crate::{App, AppError, Upload};

/// The largest design file an upload may send (GDSII of a MEMS die rarely passes 100 MB).
pub const MAX_DESIGN_FILE: u64 = 1 << 30;

/// A booking request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    /// Slot or area.
    pub space: Space,
    /// Options chosen.
    pub options: Vec<String>,
    /// The tenant booked for (staff only; a tenant admin books for its own).
    pub tenant: Option<String>,
    /// An engineer's reason for booking after booking closed.
    pub override_reason: Option<String>,
}

/// How much of a pool is taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolView {
    /// `slot:{shape}` or `area`.
    pub pool: String,
    /// Slots, or µm² for area.
    pub capacity: i64,
    /// Taken by bookings holding space.
    pub taken: i64,
    /// Left.
    pub left: i64,
}

/// A shuttle with its capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShuttleView {
    /// The shuttle.
    #[serde(flatten)]
    pub shuttle: Shuttle,
    /// Its capacity pools.
    pub capacity: Vec<PoolView>,
}

/// A booking with its timeline and design revisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookingView {
    /// The booking.
    #[serde(flatten)]
    pub booking: Booking,
    /// Its place on the waitlist (1 = next), when waitlisted.
    pub waitlist_position: Option<i64>,
    /// The shuttle's MPW lot, once started.
    pub lot: Option<String>,
    /// Every change, oldest first.
    pub timeline: Vec<BookingEvent>,
    /// Every uploaded revision, oldest first.
    pub revisions: Vec<DesignRevision>,
    /// Its MPW lot's progress and the forecast delivery, beside the promised date.
    pub delivery: crate::Delivery,
}

/// A layout as its viewer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayoutView {
    /// The layout (a tenant's view: other designs anonymous).
    pub layout: Layout,
    /// When it was computed.
    pub computed_at: chrono::DateTime<Utc>,
    /// The engineer who approved it.
    pub approved_by: Option<String>,
}

/// The platform acting for itself inside a use case (promoting a waitlist).
fn platform() -> Actor {
    Actor {
        user: "pilotline".into(),
        role: Role::Admin,
        tenant: None,
    }
}

/// What an MPW unit of work produces.
enum Done {
    Booking(Box<Booking>),
    Revision(Box<DesignRevision>),
    Layout(Box<Layout>),
    Shuttle(Box<Shuttle>),
    Unit,
}

enum Cmd<'a> {
    LineConfig(&'a LineConfig),
    Layers(&'a str, &'a [(LayerKey, String)]),
    Create(&'a ShuttleSpec),
    Status(&'a str, ShuttleStatus),
    Book(&'a str, &'a BookingRequest),
    Cancel(&'a str, Option<&'a str>),
    Revision {
        booking: &'a str,
        name: &'a str,
        sha256: &'a str,
        size: i64,
        verdict: &'a pilotline_mpw::Verdict,
        override_reason: Option<&'a str>,
    },
    Submit(&'a str, i64, Option<&'a str>),
    Accept(&'a str, Option<&'a str>),
    Close(&'a str),
    Approve(&'a str),
    Start(&'a str),
}

struct MpwWork<'a> {
    cmd: Cmd<'a>,
    actor: &'a Actor,
}

fn not_found_shuttle(id: &str) -> StoreError {
    Code::ShuttleNotFound.refusal().with("shuttle", id).into()
}

fn not_found_booking(id: &str) -> StoreError {
    Code::BookingNotFound.refusal().with("booking", id).into()
}

async fn line(tx: &mut Tx<'_>) -> Result<LineConfig, StoreError> {
    tx.line_config()
        .await?
        .ok_or_else(|| Code::LineConfigMissing.refusal().into())
}

fn may_override<'a>(actor: &Actor, reason: Option<&'a str>) -> Override<'a> {
    Override {
        reason,
        allowed: actor.role.may(Action::ReviewDesigns),
    }
}

/// Scopes the transaction to the caller, then finds a booking it may see, locked, with its
/// shuttle locked first (the order every MPW write takes its locks in).
async fn booking_and_shuttle(
    tx: &mut Tx<'_>,
    id: &str,
    actor: &Actor,
) -> Result<(Booking, Shuttle), StoreError> {
    tx.scope(actor).await?;
    let seen = tx
        .booking(id, actor, false)
        .await?
        .ok_or_else(|| not_found_booking(id))?;
    let shuttle = tx
        .shuttle(&seen.shuttle, true)
        .await?
        .ok_or_else(|| not_found_shuttle(&seen.shuttle))?;
    let b = tx
        .booking(id, actor, true)
        .await?
        .ok_or_else(|| not_found_booking(id))?;
    Ok((b, shuttle))
}

async fn record_override(
    tx: &mut Tx<'_>,
    b: &Booking,
    actor: &Actor,
    late: Option<pilotline_mpw::shuttle::Lateness>,
    action: &str,
) -> Result<(), StoreError> {
    if let Some(l) = late {
        tx.booking_event(
            b,
            actor,
            BookingEventKind::DeadlineOverridden,
            json!({"deadline": l.deadline.as_str(), "reason": l.reason, "action": action}),
        )
        .await?;
    }
    Ok(())
}

/// Promotes waitlisted bookings of `pool`, in order, while space is left.
async fn promote(tx: &mut Tx<'_>, shuttle: &str, pool: &str) -> Result<(), StoreError> {
    let me = platform();
    tx.scope(&me).await?;
    while let Some(next) = tx.first_waitlisted(shuttle, pool).await? {
        if !tx
            .take_capacity(shuttle, pool, next.quote.claim().amount)
            .await?
        {
            break;
        }
        tx.set_booking(&next.id, BookingStatus::Confirmed, None, None)
            .await?;
        tx.booking_event(
            &next,
            &me,
            BookingEventKind::Promoted,
            json!({"pool": pool}),
        )
        .await?;
    }
    Ok(())
}

impl MpwWork<'_> {
    async fn book(
        &self,
        tx: &mut Tx<'_>,
        shuttle_id: &str,
        req: &BookingRequest,
    ) -> Result<Done, StoreError> {
        let actor = self.actor;
        let tenant = match (actor.tenant_scope(), req.tenant.as_deref()) {
            (Some(own), None) => own.to_string(),
            (Some(own), Some(t)) if t == own => own.to_string(),
            (Some(own), Some(_)) => {
                return Err(Code::TenantAdminOnly
                    .refusal()
                    .with("tenant", own)
                    .with("action", "book for another tenant")
                    .into());
            }
            (None, Some(t)) => t.to_string(),
            (None, None) => {
                return Err(Code::BodyInvalid
                    .refusal()
                    .with("field", "tenant")
                    .with("reason", "staff name the tenant they book for")
                    .into());
            }
        };
        tx.scope(actor).await?;
        let line = line(tx).await?;
        // What needs no lock is read before the shuttle row is locked: every booking of the
        // shuttle waits for that lock, so it is held for as few statements as possible.
        if !tx.tenant_exists(&tenant).await? {
            return Err(Code::TenantUnknown
                .refusal()
                .with("field", "tenant")
                .with("tenant", &tenant)
                .into());
        }
        let shuttle = tx
            .shuttle(shuttle_id, true)
            .await?
            .ok_or_else(|| not_found_shuttle(shuttle_id))?;
        let late = shuttle.may_book(
            tx.at(),
            &may_override(actor, req.override_reason.as_deref()),
        )?;
        let quote =
            shuttle
                .spec
                .offer
                .quote(shuttle_id, &line.stepper_field, &req.space, &req.options)?;
        let claim = quote.claim();
        let status = if tx
            .take_capacity(shuttle_id, &claim.pool, claim.amount)
            .await?
        {
            BookingStatus::Confirmed
        } else {
            BookingStatus::Waitlisted
        };
        let b = tx
            .insert_booking(&NewBooking {
                shuttle: shuttle_id,
                tenant: &tenant,
                status,
                quote: &quote,
                actor: &actor.user,
            })
            .await?;
        tx.booking_event(
            &b,
            actor,
            BookingEventKind::Requested,
            json!({"quote": quote}),
        )
        .await?;
        record_override(tx, &b, actor, late, "booking").await?;
        let detail = if status == BookingStatus::Waitlisted {
            json!({"pool": claim.pool, "position": tx.waitlist_position(&b).await?})
        } else {
            json!({"pool": claim.pool})
        };
        let kind = if status == BookingStatus::Confirmed {
            BookingEventKind::Confirmed
        } else {
            BookingEventKind::Waitlisted
        };
        tx.booking_event(&b, actor, kind, detail).await?;
        Ok(Done::Booking(Box::new(b)))
    }

    async fn cancel(
        &self,
        tx: &mut Tx<'_>,
        id: &str,
        reason: Option<&str>,
    ) -> Result<Done, StoreError> {
        let actor = self.actor;
        let (b, shuttle) = booking_and_shuttle(tx, id, actor).await?;
        b.status.require_may_cancel(id)?;
        tx.set_booking(id, BookingStatus::Cancelled, None, None)
            .await?;
        tx.booking_event(
            &b,
            actor,
            BookingEventKind::Cancelled,
            json!({"reason": reason}),
        )
        .await?;
        if b.status.holds_space() {
            let claim = b.quote.claim();
            tx.free_capacity(&b.shuttle, &claim.pool, claim.amount)
                .await?;
            // Space freed before booking closes goes to the waitlist, in order.
            if shuttle.status == ShuttleStatus::Open
                && tx.at() < shuttle.spec.calendar.booking_closes
            {
                promote(tx, &b.shuttle, &claim.pool).await?;
            }
        }
        let mut b = b;
        b.status = BookingStatus::Cancelled;
        Ok(Done::Booking(Box::new(b)))
    }

    async fn revision(
        &self,
        tx: &mut Tx<'_>,
        id: &str,
        file: (&str, &str, i64),
        verdict: &pilotline_mpw::Verdict,
        override_reason: Option<&str>,
    ) -> Result<Done, StoreError> {
        let actor = self.actor;
        let (b, shuttle) = booking_and_shuttle(tx, id, actor).await?;
        b.status.require_takes_designs(id)?;
        let late = shuttle.before(
            Deadline::DesignDeadline,
            "design upload",
            tx.at(),
            &may_override(actor, override_reason),
        )?;
        let (name, sha256, size) = file;
        let rev = tx
            .insert_revision(&b, name, sha256, size, verdict, actor)
            .await?;
        record_override(tx, &b, actor, late, "design upload").await?;
        tx.booking_event(
            &b,
            actor,
            BookingEventKind::RevisionUploaded,
            json!({"revision": rev.revision, "sha256": sha256, "size": size, "precheck": if verdict.passed { "passed" } else { "failed" }, "failed": verdict.failed()}),
        )
        .await?;
        Ok(Done::Revision(Box::new(rev)))
    }

    async fn submit(
        &self,
        tx: &mut Tx<'_>,
        id: &str,
        revision: i64,
        override_reason: Option<&str>,
    ) -> Result<Done, StoreError> {
        let actor = self.actor;
        let (b, shuttle) = booking_and_shuttle(tx, id, actor).await?;
        b.status.require_may_submit(id)?;
        let late = shuttle.before(
            Deadline::DesignDeadline,
            "design submission",
            tx.at(),
            &may_override(actor, override_reason),
        )?;
        let rev = tx.revision(id, revision).await?.ok_or_else(|| {
            StoreError::from(
                Code::DesignNotFound
                    .refusal()
                    .with("design", format!("{id}-r{revision}")),
            )
        })?;
        record_override(tx, &b, actor, late, "design submission").await?;
        tx.booking_event(
            &b,
            actor,
            BookingEventKind::DesignSubmitted,
            json!({"revision": revision, "sha256": rev.sha256}),
        )
        .await?;
        let (status, kind) = if rev.verdict.passed {
            (
                BookingStatus::PrecheckPassed,
                BookingEventKind::PrecheckPassed,
            )
        } else {
            (
                BookingStatus::PrecheckFailed,
                BookingEventKind::PrecheckFailed,
            )
        };
        tx.set_booking(id, status, Some(revision), None).await?;
        tx.booking_event(
            &b,
            &platform(),
            kind,
            json!({"revision": revision, "failed": rev.verdict.failed()}),
        )
        .await?;
        let mut b = b;
        b.status = status;
        b.submitted_revision = Some(revision);
        Ok(Done::Booking(Box::new(b)))
    }

    async fn accept(
        &self,
        tx: &mut Tx<'_>,
        id: &str,
        override_reason: Option<&str>,
    ) -> Result<Done, StoreError> {
        let actor = self.actor;
        let (b, shuttle) = booking_and_shuttle(tx, id, actor).await?;
        b.status.require_may_accept(id)?;
        let late = shuttle.before(
            Deadline::DrcFreeze,
            "acceptance",
            tx.at(),
            &may_override(actor, override_reason),
        )?;
        let revision = b.submitted_revision.ok_or_else(|| {
            StoreError::from(
                Code::DesignNotFound
                    .refusal()
                    .with("design", format!("{id} (none submitted)")),
            )
        })?;
        let rev = tx.revision(id, revision).await?.ok_or_else(|| {
            StoreError::from(
                Code::DesignNotFound
                    .refusal()
                    .with("design", format!("{id}-r{revision}")),
            )
        })?;
        if !rev.verdict.passed {
            return Err(Code::PrecheckFailed
                .refusal()
                .with("design", &rev.id)
                .with("failed", rev.verdict.failed())
                .into());
        }
        record_override(tx, &b, actor, late, "acceptance").await?;
        tx.set_booking(id, BookingStatus::Accepted, None, Some(&rev.sha256))
            .await?;
        tx.booking_event(
            &b,
            actor,
            BookingEventKind::Accepted,
            json!({"revision": revision, "sha256": rev.sha256}),
        )
        .await?;
        let mut b = b;
        b.status = BookingStatus::Accepted;
        b.fabricated_sha256 = Some(rev.sha256);
        Ok(Done::Booking(Box::new(b)))
    }

    async fn close(&self, tx: &mut Tx<'_>, id: &str) -> Result<Done, StoreError> {
        tx.scope(self.actor).await?;
        let line = line(tx).await?;
        let shuttle = tx
            .shuttle(id, true)
            .await?
            .ok_or_else(|| not_found_shuttle(id))?;
        shuttle.next_status_allowed(ShuttleStatus::Closed)?;
        let placed = tx
            .shuttle_bookings(id, &[])
            .await?
            .into_iter()
            .filter(|b| b.status.holds_space())
            .map(|b| Request {
                booking: b.id,
                tenant: b.tenant,
                space: b.quote.space,
            })
            .collect::<Vec<_>>();
        let l = layout::compute(id, &line, &shuttle.spec.offer, &placed)?;
        tx.put_layout(id, &l).await?;
        tx.set_shuttle_status(id, ShuttleStatus::Closed, None)
            .await?;
        Ok(Done::Layout(Box::new(l)))
    }

    async fn start(&self, tx: &mut Tx<'_>, id: &str) -> Result<Done, StoreError> {
        let actor = self.actor;
        tx.scope(actor).await?;
        let shuttle = tx
            .shuttle(id, true)
            .await?
            .ok_or_else(|| not_found_shuttle(id))?;
        shuttle.next_status_allowed(ShuttleStatus::InFab)?;
        let stored = tx
            .layout(id)
            .await?
            .ok_or_else(|| StoreError::from(Code::LayoutMissing.refusal().with("shuttle", id)))?;
        if stored.layout.needs_approval && stored.approved_by.is_none() {
            return Err(Code::ShuttleStateForbids
                .refusal()
                .with("shuttle", id)
                .with("status", shuttle.status)
                .with(
                    "allowed",
                    "its area packing needs an engineer's approval before it starts",
                )
                .into());
        }
        let lot = format!("{id}-L1");
        let start = WriteOp::StartLot(NewLotRequest {
            id: Some(lot.clone()),
            product: shuttle.spec.product.clone(),
            route: Some(shuttle.spec.route.clone()),
            route_version: None,
            lot_type: LotType::Production,
            priority: 3,
            tenant: None,
            due_date: Some(shuttle.spec.calendar.expected_delivery.date_naive()),
            wafer_count: shuttle.spec.wafer_count as usize,
            wafer_ids: None,
        });
        let Outcome::LotStarted(_) = tx.execute(&start, actor).await? else {
            return Err(pilotline_store::StoreError::Refused(
                Code::Internal.refusal(),
            ));
        };
        tx.insert_mpw_lot(&lot, id).await?;
        for b in tx.shuttle_bookings(id, &[]).await? {
            match b.status {
                BookingStatus::Accepted => {
                    tx.set_booking(&b.id, BookingStatus::InFab, None, None)
                        .await?;
                    tx.booking_event(
                        &b,
                        actor,
                        BookingEventKind::InFab,
                        json!({"lot": lot, "sha256": b.fabricated_sha256}),
                    )
                    .await?;
                }
                s if s.holds_space() || s == BookingStatus::Waitlisted => {
                    tx.set_booking(&b.id, BookingStatus::Cancelled, None, None)
                        .await?;
                    tx.booking_event(
                        &b,
                        actor,
                        BookingEventKind::Cancelled,
                        json!({"reason": "no accepted design at fab start"}),
                    )
                    .await?;
                }
                _ => {}
            }
        }
        tx.set_shuttle_status(id, ShuttleStatus::InFab, Some(&lot))
            .await?;
        let mut s = shuttle;
        s.status = ShuttleStatus::InFab;
        s.lot = Some(lot);
        Ok(Done::Shuttle(Box::new(s)))
    }
}

impl Work for MpwWork<'_> {
    type Output = Done;
    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<Done, StoreError> {
        let actor = self.actor;
        match &self.cmd {
            Cmd::LineConfig(cfg) => {
                tx.put_line_config(cfg, actor).await?;
                Ok(Done::Unit)
            }
            Cmd::Layers(route, layers) => {
                if !tx.route_exists(route).await? {
                    return Err(Code::RouteNotFound.refusal().with("route", *route).into());
                }
                tx.put_process_layers(route, layers).await?;
                Ok(Done::Unit)
            }
            Cmd::Create(spec) => {
                let line = line(tx).await?;
                spec.validate(&line)?;
                if !tx.route_exists(&spec.route).await? {
                    return Err(Code::RouteUnknown
                        .refusal()
                        .with("field", "route")
                        .with("route", &spec.route)
                        .into());
                }
                tx.insert_shuttle(spec, &line.time_zone, &spec.offer.pools())
                    .await?;
                Ok(Done::Shuttle(Box::new(
                    tx.shuttle(&spec.id, false)
                        .await?
                        .ok_or_else(|| not_found_shuttle(&spec.id))?,
                )))
            }
            Cmd::Status(id, to) => {
                let s = tx
                    .shuttle(id, true)
                    .await?
                    .ok_or_else(|| not_found_shuttle(id))?;
                if matches!(to, ShuttleStatus::Closed | ShuttleStatus::InFab) {
                    return Err(Code::ShuttleStateForbids
                        .refusal()
                        .with("shuttle", *id)
                        .with("status", s.status)
                        .with(
                            "allowed",
                            "closing and starting have their own actions (close, start)",
                        )
                        .into());
                }
                s.next_status_allowed(*to)?;
                if *to == ShuttleStatus::Delivered {
                    tx.scope(actor).await?;
                    for b in tx.shuttle_bookings(id, &[BookingStatus::InFab]).await? {
                        tx.set_booking(&b.id, BookingStatus::Delivered, None, None)
                            .await?;
                        tx.booking_event(&b, actor, BookingEventKind::Delivered, json!({}))
                            .await?;
                    }
                }
                tx.set_shuttle_status(id, *to, None).await?;
                Ok(Done::Shuttle(Box::new(
                    tx.shuttle(id, false)
                        .await?
                        .ok_or_else(|| not_found_shuttle(id))?,
                )))
            }
            Cmd::Book(id, req) => self.book(tx, id, req).await,
            Cmd::Cancel(id, reason) => self.cancel(tx, id, *reason).await,
            Cmd::Revision {
                booking,
                name,
                sha256,
                size,
                verdict,
                override_reason,
            } => {
                self.revision(
                    tx,
                    booking,
                    (name, sha256, *size),
                    verdict,
                    *override_reason,
                )
                .await
            }
            Cmd::Submit(id, rev, reason) => self.submit(tx, id, *rev, *reason).await,
            Cmd::Accept(id, reason) => self.accept(tx, id, *reason).await,
            Cmd::Close(id) => self.close(tx, id).await,
            Cmd::Approve(id) => {
                let s = tx
                    .shuttle(id, true)
                    .await?
                    .ok_or_else(|| not_found_shuttle(id))?;
                s.require_status(
                    &[ShuttleStatus::Closed],
                    "a layout is approved after booking closes and before fab",
                )?;
                tx.layout(id).await?.ok_or_else(|| {
                    StoreError::from(Code::LayoutMissing.refusal().with("shuttle", *id))
                })?;
                tx.approve_layout(id, actor).await?;
                Ok(Done::Unit)
            }
            Cmd::Start(id) => self.start(tx, id).await,
        }
    }
}

fn booking_of(d: Done) -> Result<Booking, AppError> {
    match d {
        Done::Booking(b) => Ok(*b),
        _ => Err(AppError::Internal(
            "an MPW use case answered the wrong kind".into(),
        )),
    }
}

fn shuttle_of(d: Done) -> Result<Shuttle, AppError> {
    match d {
        Done::Shuttle(s) => Ok(*s),
        _ => Err(AppError::Internal(
            "an MPW use case answered the wrong kind".into(),
        )),
    }
}

impl App {
    async fn mpw(&self, cmd: Cmd<'_>, actor: &Actor) -> Result<Done, AppError> {
        Ok(self.store.write(MpwWork { cmd, actor }).await?)
    }

    /// Sets the line's configuration (engineers, admins).
    pub async fn put_line_config(
        &self,
        cfg: &LineConfig,
        actor: &Actor,
    ) -> Result<LineConfig, AppError> {
        require(
            actor,
            Action::ManageShuttles,
            "set the line's configuration",
        )?;
        cfg.validate()?;
        self.mpw(Cmd::LineConfig(cfg), actor).await?;
        Ok(cfg.clone())
    }

    /// The line's configuration (everyone signed in).
    pub async fn line_config(&self, actor: &Actor) -> Result<LineConfig, AppError> {
        require(actor, Action::ReadShuttles, "read the line's configuration")?;
        self.store
            .line_config()
            .await?
            .ok_or_else(|| Code::LineConfigMissing.into())
    }

    /// Replaces a process's layer table (engineers).
    pub async fn put_process_layers(
        &self,
        route: &str,
        layers: &[(LayerKey, String)],
        actor: &Actor,
    ) -> Result<Vec<(LayerKey, String)>, AppError> {
        require(actor, Action::WriteMasterData, "define layer tables")?;
        for (i, (_, name)) in layers.iter().enumerate() {
            pilotline_domain::check_text(&format!("layers[{i}].name"), name, 100)?;
        }
        self.mpw(Cmd::Layers(route, layers), actor).await?;
        Ok(layers.to_vec())
    }

    /// A process's layer table (staff).
    pub async fn process_layers(
        &self,
        route: &str,
        actor: &Actor,
    ) -> Result<Vec<(LayerKey, String)>, AppError> {
        require(actor, Action::ReadMasterData, "read layer tables")?;
        Ok(self.store.process_layers(route).await?)
    }

    /// Creates a shuttle, planned (engineers).
    pub async fn create_shuttle(
        &self,
        spec: &ShuttleSpec,
        actor: &Actor,
    ) -> Result<Shuttle, AppError> {
        require(actor, Action::ManageShuttles, "create shuttles")?;
        shuttle_of(self.mpw(Cmd::Create(spec), actor).await?)
    }

    /// Opens, cancels or marks a shuttle delivered (engineers).
    pub async fn set_shuttle_status(
        &self,
        id: &str,
        to: ShuttleStatus,
        actor: &Actor,
    ) -> Result<Shuttle, AppError> {
        require(actor, Action::ManageShuttles, "change shuttles")?;
        shuttle_of(self.mpw(Cmd::Status(id, to), actor).await?)
    }

    /// Shuttles (`upcoming`: not yet in fab), by fab start (everyone signed in).
    pub async fn shuttles(&self, upcoming: bool, actor: &Actor) -> Result<Vec<Shuttle>, AppError> {
        require(actor, Action::ReadShuttles, "read shuttles")?;
        Ok(self.store.shuttles(upcoming).await?)
    }

    /// One shuttle with its capacity.
    pub async fn shuttle(&self, id: &str, actor: &Actor) -> Result<ShuttleView, AppError> {
        require(actor, Action::ReadShuttles, "read shuttles")?;
        let shuttle =
            self.store.shuttle(id).await?.ok_or_else(|| {
                AppError::from(Code::ShuttleNotFound.refusal().with("shuttle", id))
            })?;
        let capacity = self
            .store
            .shuttle_capacity(id)
            .await?
            .into_iter()
            .map(|(pool, capacity, taken)| PoolView {
                pool,
                capacity,
                taken,
                left: capacity - taken,
            })
            .collect();
        Ok(ShuttleView { shuttle, capacity })
    }

    /// The iCalendar feed of upcoming shuttles' dates.
    pub async fn shuttle_calendar(&self, host: &str, actor: &Actor) -> Result<String, AppError> {
        let shuttles = self.shuttles(true, actor).await?;
        Ok(pilotline_mpw::ics::feed(&shuttles, host, Utc::now()))
    }

    /// Prices a booking without making it (everyone signed in).
    pub async fn quote(
        &self,
        shuttle: &str,
        space: &Space,
        options: &[String],
        actor: &Actor,
    ) -> Result<Quote, AppError> {
        require(actor, Action::ReadShuttles, "price bookings")?;
        let line = self
            .store
            .line_config()
            .await?
            .ok_or(Code::LineConfigMissing)?;
        let s = self.store.shuttle(shuttle).await?.ok_or_else(|| {
            AppError::from(Code::ShuttleNotFound.refusal().with("shuttle", shuttle))
        })?;
        Ok(s.spec
            .offer
            .quote(shuttle, &line.stepper_field, space, options)?)
    }

    /// Books space on a shuttle: confirmed when its pool has room, else waitlisted — decided
    /// atomically, whoever else books at the same time (tenant admins; staff for a tenant).
    pub async fn book(
        &self,
        shuttle: &str,
        req: &BookingRequest,
        actor: &Actor,
    ) -> Result<Booking, AppError> {
        require(actor, Action::Book, "book shuttles")?;
        booking_of(self.mpw(Cmd::Book(shuttle, req), actor).await?)
    }

    /// Cancels a booking; space freed before booking closes goes to the waitlist in order.
    pub async fn cancel_booking(
        &self,
        id: &str,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Booking, AppError> {
        require(actor, Action::Book, "cancel bookings")?;
        if let Some(r) = reason {
            pilotline_domain::refusal::check_optional_text("reason", r, 500)?;
        }
        booking_of(self.mpw(Cmd::Cancel(id, reason), actor).await?)
    }

    /// A booking with its timeline and revisions (a tenant: its own only).
    pub async fn booking(&self, id: &str, actor: &Actor) -> Result<BookingView, AppError> {
        require(actor, Action::ReadShuttles, "read bookings")?;
        let b =
            self.store.booking(id, actor).await?.ok_or_else(|| {
                AppError::from(Code::BookingNotFound.refusal().with("booking", id))
            })?;
        let timeline = self.store.booking_events(id, actor).await?;
        let revisions = self.store.revisions(id, actor).await?.unwrap_or_default();
        let shuttle = self.shuttle_of_booking(&b).await?;
        let lot = shuttle.lot.clone();
        let waitlist_position = if b.status == BookingStatus::Waitlisted {
            timeline
                .iter()
                .rev()
                .find(|e| e.kind == BookingEventKind::Waitlisted)
                .and_then(|e| e.detail["position"].as_i64())
        } else {
            None
        };
        let delivery = self.delivery_of(&b, &shuttle).await?;
        Ok(BookingView {
            booking: b,
            waitlist_position,
            lot,
            timeline,
            revisions,
            delivery,
        })
    }

    /// The quote kept with booking `id` (a tenant: its own bookings only).
    pub async fn booking_quote(&self, id: &str, actor: &Actor) -> Result<Quote, AppError> {
        require(actor, Action::ReadShuttles, "read bookings")?;
        self.store
            .booking(id, actor)
            .await?
            .map(|b| b.quote)
            .ok_or_else(|| AppError::from(Code::BookingNotFound.refusal().with("booking", id)))
    }

    /// The bookings the caller may see (a tenant: its own), newest first.
    pub async fn bookings(&self, actor: &Actor) -> Result<Vec<Booking>, AppError> {
        require(actor, Action::ReadShuttles, "read bookings")?;
        Ok(self.store.bookings(actor).await?)
    }

    /// A shuttle's bookings (a tenant: its own).
    pub async fn shuttle_bookings(
        &self,
        shuttle: &str,
        actor: &Actor,
    ) -> Result<Vec<Booking>, AppError> {
        require(actor, Action::ReadShuttles, "read bookings")?;
        self.store.shuttle(shuttle).await?.ok_or_else(|| {
            AppError::from(Code::ShuttleNotFound.refusal().with("shuttle", shuttle))
        })?;
        Ok(self.store.shuttle_bookings(shuttle, actor).await?)
    }

    /// Starts a design upload for booking `id`, before a byte of the body is read: the role,
    /// the booking (visible to the caller, still taking designs, before the design deadline
    /// unless an engineer overrides), the declared size and a free upload place.
    pub async fn begin_design_upload(
        &self,
        id: &str,
        declared: Option<u64>,
        override_reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Upload, AppError> {
        require(actor, Action::UploadDesign, "upload designs")?;
        let b =
            self.store.booking(id, actor).await?.ok_or_else(|| {
                AppError::from(Code::BookingNotFound.refusal().with("booking", id))
            })?;
        b.status.require_takes_designs(id)?;
        let s = self.store.shuttle(&b.shuttle).await?.ok_or_else(|| {
            AppError::from(Code::ShuttleNotFound.refusal().with("shuttle", &b.shuttle))
        })?;
        s.before(
            Deadline::DesignDeadline,
            "design upload",
            Utc::now(),
            &may_override(actor, override_reason),
        )?;
        self.start_upload(declared, MAX_DESIGN_FILE).await
    }

    /// Finishes a design upload: the file is kept in the blob store under its SHA-256, the
    /// precheck reads it (off the async threads), and the revision with its verdict and the
    /// timeline entry are stored in one transaction.
    pub async fn finish_design_upload(
        &self,
        id: &str,
        upload: Upload,
        name: &str,
        override_reason: Option<&str>,
        actor: &Actor,
    ) -> Result<DesignRevision, AppError> {
        pilotline_domain::check_text("name", name, 200)?;
        if upload.is_empty() {
            return Err(Code::BodyEmpty
                .refusal()
                .with("expected", "send the GDSII file's bytes")
                .into());
        }
        let b =
            self.store.booking(id, actor).await?.ok_or_else(|| {
                AppError::from(Code::BookingNotFound.refusal().with("booking", id))
            })?;
        let s = self.store.shuttle(&b.shuttle).await?.ok_or_else(|| {
            AppError::from(Code::ShuttleNotFound.refusal().with("shuttle", &b.shuttle))
        })?;
        let layers = self
            .store
            .process_layers(&s.spec.route)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let req = Requirements {
            limit: b.quote.design_limit,
            seal_ring_um: b.quote.seal_ring_um,
            layers,
        };
        let blob = upload.finish().await?;
        let path = blob.path.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            let file =
                std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok::<_, String>(precheck::precheck(std::io::BufReader::new(file), &req))
        })
        .await
        .map_err(|e| AppError::Internal(format!("precheck: {e}")))?
        .map_err(AppError::Internal)?;
        let done = self
            .mpw(
                Cmd::Revision {
                    booking: id,
                    name,
                    sha256: &blob.sha256,
                    size: blob.len as i64,
                    verdict: &verdict,
                    override_reason,
                },
                actor,
            )
            .await;
        self.metrics.record_design(done.is_ok());
        match done? {
            Done::Revision(r) => Ok(*r),
            _ => Err(AppError::Internal(
                "an MPW use case answered the wrong kind".into(),
            )),
        }
    }

    /// A booking's revisions (a tenant: its own).
    pub async fn revisions(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Vec<DesignRevision>, AppError> {
        require(actor, Action::ReadShuttles, "read designs")?;
        self.store
            .revisions(id, actor)
            .await?
            .ok_or_else(|| Code::BookingNotFound.refusal().with("booking", id).into())
    }

    /// One revision (`{booking}-r{n}`) with its precheck verdict.
    pub async fn revision(&self, design: &str, actor: &Actor) -> Result<DesignRevision, AppError> {
        let missing = || AppError::from(Code::DesignNotFound.refusal().with("design", design));
        let (booking, n) = design.rsplit_once("-r").ok_or_else(missing)?;
        let n: i64 = n.parse().map_err(|_| missing())?;
        self.revisions(booking, actor)
            .await
            .map_err(|e| {
                if e.code() == Some(Code::BookingNotFound) {
                    missing()
                } else {
                    e
                }
            })?
            .into_iter()
            .find(|r| r.revision == n)
            .ok_or_else(missing)
    }

    /// Designates revision `revision` as the design to fabricate (tenant admins); its
    /// precheck verdict decides the booking's next status.
    pub async fn submit_design(
        &self,
        id: &str,
        revision: i64,
        override_reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Booking, AppError> {
        require(actor, Action::Book, "submit designs")?;
        booking_of(
            self.mpw(Cmd::Submit(id, revision, override_reason), actor)
                .await?,
        )
    }

    /// Accepts the submitted design (engineers): its hash is pinned as what is fabricated.
    pub async fn accept_design(
        &self,
        id: &str,
        override_reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Booking, AppError> {
        require(actor, Action::ReviewDesigns, "accept designs")?;
        booking_of(self.mpw(Cmd::Accept(id, override_reason), actor).await?)
    }

    /// Closes booking and computes the layout (engineers).
    pub async fn close_shuttle(&self, id: &str, actor: &Actor) -> Result<Layout, AppError> {
        require(actor, Action::ManageShuttles, "close shuttles")?;
        match self.mpw(Cmd::Close(id), actor).await? {
            Done::Layout(l) => Ok(*l),
            _ => Err(AppError::Internal(
                "an MPW use case answered the wrong kind".into(),
            )),
        }
    }

    /// Approves a layout whose area bookings were packed (engineers).
    pub async fn approve_layout(&self, id: &str, actor: &Actor) -> Result<(), AppError> {
        require(actor, Action::ReviewDesigns, "approve layouts")?;
        self.mpw(Cmd::Approve(id), actor).await?;
        Ok(())
    }

    /// Starts the shuttle: its MPW lot is started on the shuttle's route, accepted bookings go
    /// in fab, the others are cancelled — in one transaction (engineers).
    pub async fn start_shuttle(&self, id: &str, actor: &Actor) -> Result<Shuttle, AppError> {
        require(actor, Action::ManageShuttles, "start shuttles")?;
        require(actor, Action::MoveLots, "start lots")?;
        shuttle_of(self.mpw(Cmd::Start(id), actor).await?)
    }

    /// A shuttle's layout drawn as SVG for the caller — the wafer, or with `reticle` one
    /// field — a tenant's with its own designs named and every other one masked.
    pub async fn shuttle_layout_svg(
        &self,
        id: &str,
        reticle: bool,
        actor: &Actor,
    ) -> Result<String, AppError> {
        let view = self.shuttle_layout(id, actor).await?;
        let viewer = match actor.tenant_scope() {
            Some(t) => pilotline_mpw::svg::Viewer::Tenant(t),
            None => pilotline_mpw::svg::Viewer::Staff,
        };
        Ok(if reticle {
            pilotline_mpw::svg::reticle(&view.layout, viewer)
        } else {
            pilotline_mpw::svg::wafer(&view.layout, viewer)
        })
    }

    /// A shuttle's layout as the caller may see it (a tenant: its own designs, the others
    /// anonymous).
    pub async fn shuttle_layout(&self, id: &str, actor: &Actor) -> Result<LayoutView, AppError> {
        require(actor, Action::ReadShuttles, "read layouts")?;
        self.store
            .shuttle(id)
            .await?
            .ok_or_else(|| AppError::from(Code::ShuttleNotFound.refusal().with("shuttle", id)))?;
        let StoredLayout {
            layout,
            computed_at,
            approved_by,
            ..
        } = self
            .store
            .layout(id)
            .await?
            .ok_or_else(|| AppError::from(Code::LayoutMissing.refusal().with("shuttle", id)))?;
        let layout = match actor.tenant_scope() {
            Some(t) => layout.masked_for(t),
            None => layout,
        };
        Ok(LayoutView {
            layout,
            computed_at,
            approved_by,
        })
    }
}
