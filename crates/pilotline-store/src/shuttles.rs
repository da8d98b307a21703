//! The SQL of MPW shuttles: the line's configuration, process layer tables, shuttles and
//! their capacity pools, bookings and their timeline, design revisions, layouts.
//!
//! What a booking may do and what a shuttle sells is `pilotline-mpw`'s; the order of a use
//! case's steps is the application layer's. These are the steps, run inside its transaction
//! (`Tx`) or on a read connection. Every statement on a tenant-owned table (bookings, their
//! events, design revisions) runs after [`Tx::scope`] / the read's own scope: on PostgreSQL
//! the transaction then names its tenant (`pilotline.tenant`) and runs as `pilotline_tenant`,
//! so row-level security hides other tenants' rows whatever the query says.
//!
//! **Capacity** is a counter per pool (`shuttle_capacity`): a booking takes its claim with one
//! `UPDATE … SET taken = taken + n WHERE taken + n <= capacity` — on PostgreSQL that row's lock
//! orders concurrent bookings, on SQLite the one writer does — so no two requests ever get the
//! last slot, and the cost does not grow with the bookings.

use chrono::{DateTime, Utc};
use pilotline_domain::{Actor, Code};
use pilotline_mpw::layout::Layout;
use pilotline_mpw::precheck::{LayerKey, Verdict};
use pilotline_mpw::{BookingEventKind, BookingStatus, LineConfig, Quote, Shuttle, ShuttleSpec};
use pilotline_mpw::{Calendar, ShuttleStatus};
use serde::Serialize;

use crate::conn::{Conn, Param, RowExt, params};
use crate::tx::{Tx, TxConn, on_conn};
use crate::{Store, StoreError};

/// A booking as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Booking {
    /// Id (`{shuttle}-B{n}`).
    pub id: String,
    /// The shuttle.
    pub shuttle: String,
    /// The tenant that booked.
    pub tenant: String,
    /// Order of booking on the shuttle (the waitlist's order).
    pub seq: i64,
    /// Where it is.
    pub status: BookingStatus,
    /// The quote shown before it was confirmed.
    pub quote: Quote,
    /// The revision designated to fabricate.
    pub submitted_revision: Option<i64>,
    /// The SHA-256 of what is fabricated, pinned when an engineer accepted the design.
    pub fabricated_sha256: Option<String>,
    /// Who booked.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An entry of a booking's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookingEvent {
    /// Order within the booking.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: BookingEventKind,
    /// Its details (revision and hash, waitlist position, override reason …).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// An uploaded design revision with its precheck verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DesignRevision {
    /// Id (`{booking}-r{revision}`).
    pub id: String,
    /// The booking.
    pub booking: String,
    /// Revision number, from 1.
    pub revision: i64,
    /// The uploaded file's name.
    pub name: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// The precheck verdict.
    pub verdict: Verdict,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: DateTime<Utc>,
}

/// A shuttle's layout as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredLayout {
    /// The layout.
    pub layout: Layout,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
    /// The engineer who approved it (needed when area bookings were packed).
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<DateTime<Utc>>,
}

/// A new booking's row.
#[derive(Debug, Clone)]
pub struct NewBooking<'a> {
    /// The shuttle.
    pub shuttle: &'a str,
    /// The tenant.
    pub tenant: &'a str,
    /// Its status (confirmed or waitlisted).
    pub status: BookingStatus,
    /// The quote.
    pub quote: &'a Quote,
    /// Who.
    pub actor: &'a str,
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| crate::error::corrupt(format!("json: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| crate::error::corrupt(format!("{what}: {e}")))
}

const SHUTTLE_COLUMNS: &str = "id, name, route_id, product, wafer_count, status, booking_opens, booking_closes, \
     design_deadline, drc_freeze, fab_start, expected_delivery, offer, time_zone, lot_id";

fn shuttle_from_row<R: RowExt>(r: &R) -> Result<Shuttle, StoreError> {
    let status = r.text("status")?;
    Ok(Shuttle {
        spec: ShuttleSpec {
            id: r.text("id")?,
            name: r.text("name")?,
            route: r.text("route_id")?,
            product: r.text("product")?,
            wafer_count: r.int("wafer_count")? as u32,
            calendar: Calendar {
                booking_opens: r.time("booking_opens")?,
                booking_closes: r.time("booking_closes")?,
                design_deadline: r.time("design_deadline")?,
                drc_freeze: r.time("drc_freeze")?,
                fab_start: r.time("fab_start")?,
                expected_delivery: r.time("expected_delivery")?,
            },
            offer: parse("offer", &r.text("offer")?)?,
        },
        status: ShuttleStatus::parse(&status)
            .ok_or_else(|| crate::error::corrupt(format!("shuttle status {status:?}")))?,
        lot: r.opt_text("lot_id")?,
        time_zone: r.text("time_zone")?,
    })
}

const BOOKING_COLUMNS: &str = "id, shuttle_id, tenant_id, seq, status, quote, submitted_revision, \
     fabricated_sha256, created_by, created_at, updated_at";

fn booking_from_row<R: RowExt>(r: &R) -> Result<Booking, StoreError> {
    let status = r.text("status")?;
    Ok(Booking {
        id: r.text("id")?,
        shuttle: r.text("shuttle_id")?,
        tenant: r.text("tenant_id")?,
        seq: r.int("seq")?,
        status: BookingStatus::parse(&status)
            .ok_or_else(|| crate::error::corrupt(format!("booking status {status:?}")))?,
        quote: parse("quote", &r.text("quote")?)?,
        submitted_revision: r.opt_int("submitted_revision")?,
        fabricated_sha256: r.opt_text("fabricated_sha256")?,
        created_by: r.text("created_by")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

const REVISION_COLUMNS: &str =
    "booking_id, revision, name, sha256, size, verdict, uploaded_by, uploaded_at";

fn revision_from_row<R: RowExt>(r: &R) -> Result<DesignRevision, StoreError> {
    let booking = r.text("booking_id")?;
    let revision = r.int("revision")?;
    Ok(DesignRevision {
        id: format!("{booking}-r{revision}"),
        booking,
        revision,
        name: r.text("name")?,
        sha256: r.text("sha256")?,
        size: r.int("size")?,
        verdict: parse("verdict", &r.text("verdict")?)?,
        uploaded_by: r.text("uploaded_by")?,
        uploaded_at: r.time("uploaded_at")?,
    })
}

/// The tenant a transaction of `actor` is confined to: its own, or `*` for platform staff.
fn scope_of(actor: &Actor) -> String {
    actor.tenant_scope().unwrap_or("*").to_string()
}

/// Names the transaction's tenant and, where the role exists, runs the rest of it as
/// `pilotline_tenant`, so PostgreSQL's row-level security applies (even to a superuser).
pub(crate) async fn set_scope<C: Conn>(c: &mut C, actor: &Actor) -> Result<(), StoreError> {
    if C::POSTGRES {
        c.fetch_all(
            "SELECT set_config('pilotline.tenant', $1, true), \
             (SELECT set_config('role', 'pilotline_tenant', true) FROM pg_roles WHERE rolname = 'pilotline_tenant')",
            params![scope_of(actor)],
        )
        .await?;
    }
    Ok(())
}

/// A customer's filter on a tenant-owned table (the first wall; RLS is the second).
fn tenant_param(actor: &Actor) -> Param {
    Param::from(actor.tenant_scope().map(str::to_string))
}

async fn booking_in<C: Conn>(
    c: &mut C,
    id: &str,
    actor: &Actor,
    lock: bool,
) -> Result<Option<Booking>, StoreError> {
    let sql = match (actor.tenant_scope().is_some(), lock && C::POSTGRES) {
        (false, false) => format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1"),
        (false, true) => format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 FOR UPDATE"),
        (true, false) => {
            format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 AND tenant_id = $2")
        }
        (true, true) => format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 AND tenant_id = $2 FOR UPDATE"
        ),
    };
    let mut p = params![id];
    if actor.tenant_scope().is_some() {
        p.push(tenant_param(actor));
    }
    c.fetch_optional(crate::conn::shaped(sql), p)
        .await?
        .map(|r| booking_from_row(&r))
        .transpose()
}

async fn shuttle_in<C: Conn>(
    c: &mut C,
    id: &str,
    lock: bool,
) -> Result<Option<Shuttle>, StoreError> {
    let sql = if lock && C::POSTGRES {
        format!("SELECT {SHUTTLE_COLUMNS} FROM shuttles WHERE id = $1 FOR UPDATE")
    } else {
        format!("SELECT {SHUTTLE_COLUMNS} FROM shuttles WHERE id = $1")
    };
    c.fetch_optional(crate::conn::shaped(sql), params![id])
        .await?
        .map(|r| shuttle_from_row(&r))
        .transpose()
}

async fn line_config_in<C: Conn>(c: &mut C) -> Result<Option<LineConfig>, StoreError> {
    c.fetch_optional("SELECT config FROM line_config WHERE id = 1", vec![])
        .await?
        .map(|r| parse("line config", &r.text("config")?))
        .transpose()
}

async fn layers_in<C: Conn>(c: &mut C, route: &str) -> Result<Vec<(LayerKey, String)>, StoreError> {
    c.fetch_all(
        "SELECT layer, datatype, name FROM process_layers WHERE route_id = $1 ORDER BY layer, datatype",
        params![route],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            LayerKey {
                layer: r.int("layer")? as i16,
                datatype: r.int("datatype")? as i16,
            },
            r.text("name")?,
        ))
    })
    .collect()
}

async fn revisions_in<C: Conn>(
    c: &mut C,
    booking: &str,
) -> Result<Vec<DesignRevision>, StoreError> {
    c.fetch_all(
        crate::conn::shaped(format!(
            "SELECT {REVISION_COLUMNS} FROM design_revisions WHERE booking_id = $1 ORDER BY revision"
        )),
        params![booking],
    )
    .await?
    .iter()
    .map(revision_from_row)
    .collect()
}

async fn layout_in<C: Conn>(c: &mut C, shuttle: &str) -> Result<Option<StoredLayout>, StoreError> {
    c.fetch_optional(
        "SELECT layout, computed_at, approved_by, approved_at FROM shuttle_layouts WHERE shuttle_id = $1",
        params![shuttle],
    )
    .await?
    .map(|r| {
        Ok(StoredLayout {
            layout: parse("layout", &r.text("layout")?)?,
            computed_at: r.time("computed_at")?,
            approved_by: r.opt_text("approved_by")?,
            approved_at: r.opt_time("approved_at")?,
        })
    })
    .transpose()
}

impl Tx<'_> {
    /// Confines the rest of the transaction to `actor`'s tenant (PostgreSQL row-level
    /// security); call it before touching bookings, their events or design revisions.
    pub async fn scope(&mut self, actor: &Actor) -> Result<(), StoreError> {
        on_conn!(self, |c| set_scope(c, actor).await)
    }

    /// The line's configuration.
    pub async fn line_config(&mut self) -> Result<Option<LineConfig>, StoreError> {
        on_conn!(self, |c| line_config_in(c).await)
    }

    /// Replaces the line's configuration.
    pub async fn put_line_config(
        &mut self,
        cfg: &LineConfig,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let (doc, at) = (json(cfg)?, self.at());
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO line_config (id, config, updated_at, updated_by) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at, \
                 updated_by = excluded.updated_by",
                params![doc, at, actor.user.as_str()],
            )
            .await?;
            Ok(())
        })
    }

    /// A process's layer table.
    pub async fn process_layers(
        &mut self,
        route: &str,
    ) -> Result<Vec<(LayerKey, String)>, StoreError> {
        on_conn!(self, |c| layers_in(c, route).await)
    }

    /// Replaces a process's layer table.
    pub async fn put_process_layers(
        &mut self,
        route: &str,
        layers: &[(LayerKey, String)],
    ) -> Result<(), StoreError> {
        on_conn!(self, |c| {
            c.execute(
                "DELETE FROM process_layers WHERE route_id = $1",
                params![route],
            )
            .await?;
            for (k, name) in layers {
                c.execute(
                    "INSERT INTO process_layers (route_id, layer, datatype, name) VALUES ($1, $2, $3, $4)",
                    params![route, i64::from(k.layer), i64::from(k.datatype), name.as_str()],
                )
                .await?;
            }
            Ok(())
        })
    }

    /// Whether tenant `id` exists.
    pub async fn tenant_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        on_conn!(self, |c| Ok(crate::tenants::tenant_in(c, id)
            .await?
            .is_some()))
    }

    /// Whether a route (process) exists, at any version.
    pub async fn route_exists(&mut self, route: &str) -> Result<bool, StoreError> {
        on_conn!(self, |c| Ok(c
            .fetch_optional(
                "SELECT 1 AS one FROM routes WHERE id = $1 LIMIT 1",
                params![route]
            )
            .await?
            .is_some()))
    }

    /// Creates a shuttle with its capacity pools; refused (`already_exists`) when the id is taken.
    pub async fn insert_shuttle(
        &mut self,
        spec: &ShuttleSpec,
        time_zone: &str,
        pools: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let (offer, at, cal) = (json(&spec.offer)?, self.at(), spec.calendar);
        on_conn!(self, |c| {
            if shuttle_in(c, &spec.id, false).await?.is_some() {
                return Err(Code::AlreadyExists
                    .refusal()
                    .with("what", "shuttle")
                    .with("id", &spec.id)
                    .into());
            }
            c.execute(
                "INSERT INTO shuttles (id, name, route_id, product, wafer_count, status, booking_opens, \
                 booking_closes, design_deadline, drc_freeze, fab_start, expected_delivery, offer, \
                 time_zone, created_at) VALUES ($1, $2, $3, $4, $5, 'planned', $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                params![
                    spec.id.as_str(),
                    spec.name.as_str(),
                    spec.route.as_str(),
                    spec.product.as_str(),
                    i64::from(spec.wafer_count),
                    cal.booking_opens,
                    cal.booking_closes,
                    cal.design_deadline,
                    cal.drc_freeze,
                    cal.fab_start,
                    cal.expected_delivery,
                    offer,
                    time_zone,
                    at
                ],
            )
            .await?;
            for (pool, capacity) in pools {
                c.execute(
                    "INSERT INTO shuttle_capacity (shuttle_id, pool, capacity, taken) VALUES ($1, $2, $3, 0)",
                    params![spec.id.as_str(), pool.as_str(), *capacity],
                )
                .await?;
            }
            Ok(())
        })
    }

    /// Shuttle `id`; `lock` holds its row until commit (PostgreSQL).
    pub async fn shuttle(&mut self, id: &str, lock: bool) -> Result<Option<Shuttle>, StoreError> {
        on_conn!(self, |c| shuttle_in(c, id, lock).await)
    }

    /// Sets a shuttle's status (and its MPW lot).
    pub async fn set_shuttle_status(
        &mut self,
        id: &str,
        status: ShuttleStatus,
        lot: Option<&str>,
    ) -> Result<(), StoreError> {
        on_conn!(self, |c| {
            c.execute(
                "UPDATE shuttles SET status = $1, lot_id = COALESCE($2, lot_id) WHERE id = $3",
                params![status.as_str(), lot, id],
            )
            .await?;
            Ok(())
        })
    }

    /// Takes `amount` of pool `pool` when that much is left; `false` when it is not.
    pub async fn take_capacity(
        &mut self,
        shuttle: &str,
        pool: &str,
        amount: i64,
    ) -> Result<bool, StoreError> {
        on_conn!(self, |c| Ok(c
            .execute(
                "UPDATE shuttle_capacity SET taken = taken + $1 \
                 WHERE shuttle_id = $2 AND pool = $3 AND taken + $1 <= capacity",
                params![amount, shuttle, pool],
            )
            .await?
            == 1))
    }

    /// Gives `amount` back to pool `pool`.
    pub async fn free_capacity(
        &mut self,
        shuttle: &str,
        pool: &str,
        amount: i64,
    ) -> Result<(), StoreError> {
        on_conn!(self, |c| {
            c.execute(
                "UPDATE shuttle_capacity SET taken = taken - $1 WHERE shuttle_id = $2 AND pool = $3",
                params![amount, shuttle, pool],
            )
            .await?;
            Ok(())
        })
    }

    /// Stores a new booking, numbered by the shuttle's counter (taken under the shuttle's row
    /// lock, so the order is the order of commitment).
    pub async fn insert_booking(&mut self, b: &NewBooking<'_>) -> Result<Booking, StoreError> {
        let (quote, at) = (json(b.quote)?, self.at());
        let claim = b.quote.claim();
        on_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "UPDATE shuttles SET booking_seq = booking_seq + 1 WHERE id = $1 RETURNING booking_seq",
                    params![b.shuttle],
                )
                .await?
                .ok_or_else(|| Code::ShuttleNotFound.refusal().with("shuttle", b.shuttle))?;
            let seq = row.int("booking_seq")?;
            let id = format!("{}-B{seq}", b.shuttle);
            c.execute(
                "INSERT INTO bookings (id, shuttle_id, tenant_id, seq, pool, claim, status, quote, \
                 created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                params![
                    id.as_str(),
                    b.shuttle,
                    b.tenant,
                    seq,
                    claim.pool.as_str(),
                    claim.amount,
                    b.status.as_str(),
                    quote,
                    b.actor,
                    at
                ],
            )
            .await?;
            Ok(Booking {
                id,
                shuttle: b.shuttle.to_string(),
                tenant: b.tenant.to_string(),
                seq,
                status: b.status,
                quote: b.quote.clone(),
                submitted_revision: None,
                fabricated_sha256: None,
                created_by: b.actor.to_string(),
                created_at: at,
                updated_at: at,
            })
        })
    }

    /// Booking `id` as `actor` may see it; `lock` holds its row (PostgreSQL).
    pub async fn booking(
        &mut self,
        id: &str,
        actor: &Actor,
        lock: bool,
    ) -> Result<Option<Booking>, StoreError> {
        on_conn!(self, |c| booking_in(c, id, actor, lock).await)
    }

    /// Sets a booking's status, and its submitted revision or pinned hash when given.
    pub async fn set_booking(
        &mut self,
        id: &str,
        status: BookingStatus,
        submitted: Option<i64>,
        fabricated: Option<&str>,
    ) -> Result<(), StoreError> {
        let at = self.at();
        on_conn!(self, |c| {
            c.execute(
                "UPDATE bookings SET status = $1, submitted_revision = COALESCE($2, submitted_revision), \
                 fabricated_sha256 = COALESCE($3, fabricated_sha256), updated_at = $4 WHERE id = $5",
                params![status.as_str(), submitted, fabricated, at, id],
            )
            .await?;
            Ok(())
        })
    }

    /// The first waitlisted booking of pool `pool` (staff scope).
    pub async fn first_waitlisted(
        &mut self,
        shuttle: &str,
        pool: &str,
    ) -> Result<Option<Booking>, StoreError> {
        on_conn!(self, |c| c
            .fetch_optional(
                crate::conn::shaped(format!(
                    "SELECT {BOOKING_COLUMNS} FROM bookings WHERE shuttle_id = $1 AND pool = $2 \
                     AND status = 'waitlisted' ORDER BY seq LIMIT 1"
                )),
                params![shuttle, pool],
            )
            .await?
            .map(|r| booking_from_row(&r))
            .transpose())
    }

    /// A shuttle's bookings in `statuses`, in booking order (staff scope).
    pub async fn shuttle_bookings(
        &mut self,
        shuttle: &str,
        statuses: &[BookingStatus],
    ) -> Result<Vec<Booking>, StoreError> {
        on_conn!(self, |c| shuttle_bookings_in(c, shuttle, statuses).await)
    }

    /// The position of a waitlisted booking in its pool's waitlist (1 = next).
    pub async fn waitlist_position(&mut self, b: &Booking) -> Result<i64, StoreError> {
        let pool = b.quote.claim().pool;
        on_conn!(self, |c| Ok(c
            .fetch_optional(
                "SELECT COUNT(*) AS n FROM bookings WHERE shuttle_id = $1 AND pool = $2 \
                 AND status = 'waitlisted' AND seq <= $3",
                params![b.shuttle.as_str(), pool.as_str(), b.seq],
            )
            .await?
            .map(|r| r.int("n"))
            .transpose()?
            .unwrap_or(0)))
    }

    /// Appends an entry to a booking's timeline.
    pub async fn booking_event(
        &mut self,
        b: &Booking,
        actor: &Actor,
        kind: BookingEventKind,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let at = self.at();
        let detail = detail.to_string();
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO booking_events (booking_id, seq, tenant_id, at, actor, kind, detail) \
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM booking_events WHERE booking_id = $1",
                params![b.id.as_str(), b.tenant.as_str(), at, actor.user.as_str(), kind.as_str(), detail],
            )
            .await?;
            Ok(())
        })
    }

    /// Stores a new revision of a booking's design, numbered after the last.
    pub async fn insert_revision(
        &mut self,
        b: &Booking,
        name: &str,
        sha256: &str,
        size: i64,
        verdict: &Verdict,
        actor: &Actor,
    ) -> Result<DesignRevision, StoreError> {
        let (doc, at) = (json(verdict)?, self.at());
        on_conn!(self, |c| {
            let n = c
                .fetch_optional(
                    "SELECT COALESCE(MAX(revision), 0) + 1 AS n FROM design_revisions WHERE booking_id = $1",
                    params![b.id.as_str()],
                )
                .await?
                .map(|r| r.int("n"))
                .transpose()?
                .unwrap_or(1);
            c.execute(
                "INSERT INTO design_revisions (booking_id, revision, tenant_id, name, sha256, size, passed, \
                 verdict, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                params![
                    b.id.as_str(),
                    n,
                    b.tenant.as_str(),
                    name,
                    sha256,
                    size,
                    verdict.passed,
                    doc,
                    actor.user.as_str(),
                    at
                ],
            )
            .await?;
            Ok(DesignRevision {
                id: format!("{}-r{n}", b.id),
                booking: b.id.clone(),
                revision: n,
                name: name.to_string(),
                sha256: sha256.to_string(),
                size,
                verdict: verdict.clone(),
                uploaded_by: actor.user.clone(),
                uploaded_at: at,
            })
        })
    }

    /// Revision `revision` of booking `booking`.
    pub async fn revision(
        &mut self,
        booking: &str,
        revision: i64,
    ) -> Result<Option<DesignRevision>, StoreError> {
        on_conn!(self, |c| {
            c
            .fetch_optional(
                crate::conn::shaped(format!(
                    "SELECT {REVISION_COLUMNS} FROM design_revisions WHERE booking_id = $1 AND revision = $2"
                )),
                params![booking, revision],
            )
            .await?
            .map(|r| revision_from_row(&r))
            .transpose()
        })
    }

    /// Stores (or replaces, unapproved) a shuttle's layout.
    pub async fn put_layout(&mut self, shuttle: &str, layout: &Layout) -> Result<(), StoreError> {
        let (doc, at) = (json(layout)?, self.at());
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO shuttle_layouts (shuttle_id, layout, computed_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (shuttle_id) DO UPDATE SET layout = excluded.layout, \
                 computed_at = excluded.computed_at, approved_by = NULL, approved_at = NULL",
                params![shuttle, doc, at],
            )
            .await?;
            Ok(())
        })
    }

    /// A shuttle's layout.
    pub async fn layout(&mut self, shuttle: &str) -> Result<Option<StoredLayout>, StoreError> {
        on_conn!(self, |c| layout_in(c, shuttle).await)
    }

    /// Marks lot `lot` as shuttle `shuttle`'s MPW lot: its dies are attributed to designs by
    /// the shuttle's layout (and so are those of lots later split from it).
    pub async fn insert_mpw_lot(&mut self, lot: &str, shuttle: &str) -> Result<(), StoreError> {
        on_conn!(self, |c| {
            c.execute(
                "INSERT INTO mpw_lots (lot_id, shuttle_id) VALUES ($1, $2)",
                params![lot, shuttle],
            )
            .await?;
            Ok(())
        })
    }

    /// Records an engineer's approval of a shuttle's layout.
    pub async fn approve_layout(&mut self, shuttle: &str, actor: &Actor) -> Result<(), StoreError> {
        let at = self.at();
        on_conn!(self, |c| {
            c.execute(
                "UPDATE shuttle_layouts SET approved_by = $1, approved_at = $2 WHERE shuttle_id = $3",
                params![actor.user.as_str(), at, shuttle],
            )
            .await?;
            Ok(())
        })
    }
}

async fn shuttle_bookings_in<C: Conn>(
    c: &mut C,
    shuttle: &str,
    statuses: &[BookingStatus],
) -> Result<Vec<Booking>, StoreError> {
    let all = c
        .fetch_all(
            crate::conn::shaped(format!(
                "SELECT {BOOKING_COLUMNS} FROM bookings WHERE shuttle_id = $1 ORDER BY seq"
            )),
            params![shuttle],
        )
        .await?;
    all.iter()
        .map(booking_from_row)
        .filter(|b| {
            b.as_ref().map_or(true, |b| {
                statuses.is_empty() || statuses.contains(&b.status)
            })
        })
        .collect()
}

impl Store {
    /// The line's configuration.
    pub async fn line_config(&self) -> Result<Option<LineConfig>, StoreError> {
        crate::with_read_conn!(self, |c| line_config_in(c).await)
    }

    /// A process's layer table.
    pub async fn process_layers(&self, route: &str) -> Result<Vec<(LayerKey, String)>, StoreError> {
        crate::with_read_conn!(self, |c| layers_in(c, route).await)
    }

    /// Shuttle `id`.
    pub async fn shuttle(&self, id: &str) -> Result<Option<Shuttle>, StoreError> {
        crate::with_read_conn!(self, |c| shuttle_in(c, id, false).await)
    }

    /// Shuttles by fab start; `upcoming` only those not yet in fab.
    pub async fn shuttles(&self, upcoming: bool) -> Result<Vec<Shuttle>, StoreError> {
        let sql = if upcoming {
            format!(
                "SELECT {SHUTTLE_COLUMNS} FROM shuttles WHERE status IN ('planned', 'open', 'closed') \
                 ORDER BY fab_start, id LIMIT 200"
            )
        } else {
            format!("SELECT {SHUTTLE_COLUMNS} FROM shuttles ORDER BY fab_start DESC, id LIMIT 200")
        };
        crate::with_read_conn!(self, |c| c
            .fetch_all(crate::conn::shaped(sql), vec![])
            .await?
            .iter()
            .map(shuttle_from_row)
            .collect())
    }

    /// How much of each pool of shuttle `id` is taken: (pool, capacity, taken).
    pub async fn shuttle_capacity(&self, id: &str) -> Result<Vec<(String, i64, i64)>, StoreError> {
        crate::with_read_conn!(self, |c| {
            c
            .fetch_all(
                "SELECT pool, capacity, taken FROM shuttle_capacity WHERE shuttle_id = $1 ORDER BY pool",
                params![id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.text("pool")?, r.int("capacity")?, r.int("taken")?)))
            .collect()
        })
    }

    /// Booking `id` as `actor` may see it.
    pub async fn booking(&self, id: &str, actor: &Actor) -> Result<Option<Booking>, StoreError> {
        crate::scoped_read!(self, actor, |c| booking_in(c, id, actor, false).await)
    }

    /// A booking's timeline, as `actor` may see it.
    pub async fn booking_events(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Vec<BookingEvent>, StoreError> {
        crate::scoped_read!(self, actor, |c| {
            let rows = c
                .fetch_all(
                    "SELECT seq, at, actor, kind, detail, tenant_id FROM booking_events WHERE booking_id = $1 ORDER BY seq",
                    params![id],
                )
                .await?;
            let mut out = Vec::new();
            for r in rows {
                if !actor.may_see_tenant(Some(&r.text("tenant_id")?)) {
                    continue;
                }
                let kind = r.text("kind")?;
                out.push(BookingEvent {
                    seq: r.int("seq")?,
                    at: r.time("at")?,
                    actor: r.text("actor")?,
                    kind: BookingEventKind::parse(&kind)
                        .ok_or_else(|| crate::error::corrupt(format!("booking event {kind:?}")))?,
                    detail: parse("booking event detail", &r.text("detail")?)?,
                });
            }
            Ok(out)
        })
    }

    /// A shuttle's bookings as `actor` may see them (a tenant: its own), in booking order.
    pub async fn shuttle_bookings(
        &self,
        shuttle: &str,
        actor: &Actor,
    ) -> Result<Vec<Booking>, StoreError> {
        crate::scoped_read!(self, actor, |c| {
            let all = shuttle_bookings_in(c, shuttle, &[]).await?;
            Ok(all
                .into_iter()
                .filter(|b| actor.may_see_tenant(Some(&b.tenant)))
                .collect())
        })
    }

    /// The bookings of `actor`'s tenant (staff: every booking), newest first, at most 500.
    pub async fn bookings(&self, actor: &Actor) -> Result<Vec<Booking>, StoreError> {
        crate::scoped_read!(self, actor, |c| {
            let rows = match actor.tenant_scope() {
                Some(t) => {
                    c.fetch_all(
                        crate::conn::shaped(format!(
                            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 500"
                        )),
                        params![t],
                    )
                    .await?
                }
                None => {
                    c.fetch_all(
                        crate::conn::shaped(format!(
                            "SELECT {BOOKING_COLUMNS} FROM bookings ORDER BY created_at DESC LIMIT 500"
                        )),
                        vec![],
                    )
                    .await?
                }
            };
            rows.iter().map(booking_from_row).collect()
        })
    }

    /// A booking's revisions, as `actor` may see them.
    pub async fn revisions(
        &self,
        booking: &str,
        actor: &Actor,
    ) -> Result<Option<Vec<DesignRevision>>, StoreError> {
        crate::scoped_read!(self, actor, |c| {
            if booking_in(c, booking, actor, false).await?.is_none() {
                return Ok(None);
            }
            Ok(Some(revisions_in(c, booking).await?))
        })
    }

    /// A shuttle's layout.
    pub async fn layout(&self, shuttle: &str) -> Result<Option<StoredLayout>, StoreError> {
        crate::with_read_conn!(self, |c| layout_in(c, shuttle).await)
    }

    /// The line's measured cycle time per step of route `route` (seconds, arrival to
    /// track-out, a moving average over recent lots), for the steps it has measured.
    pub async fn step_cycle_times(
        &self,
        route: &str,
    ) -> Result<std::collections::HashMap<String, f64>, StoreError> {
        crate::with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT step_id, mean_s FROM step_cycle_times WHERE route_id = $1",
                    params![route],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((r.text("step_id")?, r.opt_float("mean_s")?.unwrap_or(0.0))))
                .collect()
        })
    }

    /// The shuttle whose MPW lot is `lot`.
    pub async fn shuttle_of_lot(&self, lot: &str) -> Result<Option<Shuttle>, StoreError> {
        crate::with_read_conn!(self, |c| c
            .fetch_optional(
                crate::conn::shaped(format!(
                    "SELECT {SHUTTLE_COLUMNS} FROM shuttles WHERE lot_id = $1"
                )),
                params![lot],
            )
            .await?
            .map(|r| shuttle_from_row(&r))
            .transpose())
    }
}

/// What the platform did for start-ups in a period (the figures its yearly report gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformFigures {
    /// Shuttles that started fabrication in the period.
    pub shuttles_run: i64,
    /// Tenants with a design on one of them.
    pub startups_served: i64,
    /// Designs taped out on them (bookings in fab or delivered).
    pub designs_taped_out: i64,
    /// Of those, designs delivered.
    pub designs_delivered: i64,
    /// Lots shipped in the period (every product, platform and MPW).
    pub lots_delivered: i64,
    /// The wafers in those lots.
    pub wafers_delivered: i64,
}

impl Store {
    /// The platform's figures for shuttles whose fab start lies in `[from, to)` and lots shipped
    /// in it: a read of the period's shuttles, bookings and per-day ship counters, however long
    /// the platform has run and however many lots it shipped. Ships are counted by UTC day, so
    /// `from` and `to` are taken at the start of their day.
    pub async fn platform_figures(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<PlatformFigures, StoreError> {
        crate::scoped_read!(self, actor, |c| {
            let r = c
                .fetch_optional(
                    "SELECT COUNT(DISTINCT s.id) AS shuttles, COUNT(DISTINCT b.tenant_id) AS startups, \
                     COUNT(b.id) AS designs, \
                     COALESCE(SUM(CASE WHEN b.status = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered \
                     FROM shuttles s LEFT JOIN bookings b ON b.shuttle_id = s.id \
                     AND b.status IN ('in_fab', 'delivered') \
                     WHERE s.status IN ('in_fab', 'delivered') AND s.fab_start >= $1 AND s.fab_start < $2",
                    params![from, to],
                )
                .await?;
            // The per-day counters the lots' ship triggers keep (migration 21): at most one
            // row a day of the period, whatever the line has shipped.
            let shipped = c
                .fetch_optional(
                    "SELECT CAST(COALESCE(SUM(lots), 0) AS BIGINT) AS lots, \
                     CAST(COALESCE(SUM(wafers), 0) AS BIGINT) AS wafers FROM lot_shipment_days \
                     WHERE day >= $1 AND day < $2",
                    params![ship_day(from), ship_day(to)],
                )
                .await?;
            let (lots_delivered, wafers_delivered) = match shipped {
                Some(s) => (s.int("lots")?, s.int("wafers")?),
                None => (0, 0),
            };
            let Some(r) = r else {
                return Ok(PlatformFigures {
                    lots_delivered,
                    wafers_delivered,
                    ..PlatformFigures::default()
                });
            };
            Ok(PlatformFigures {
                shuttles_run: r.int("shuttles")?,
                startups_served: r.int("startups")?,
                designs_taped_out: r.int("designs")?,
                designs_delivered: r.int("delivered")?,
                lots_delivered,
                wafers_delivered,
            })
        })
    }
}

/// The UTC day `t` falls on, as the ship counters key it (`YYYY-MM-DD`).
fn ship_day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}
