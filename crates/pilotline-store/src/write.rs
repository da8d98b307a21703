//! Every mutation, as one [`WriteOp`] run in one database transaction by [`Store::execute`].

use chrono::{DateTime, NaiveDate, Utc};
use pilotline_domain::equipment::StateChange;
use pilotline_domain::transaction::{self, Applied};
use pilotline_domain::{
    Action, Actor, Change, Code, E10State, Equipment, FutureHold, Hold, Lot, LotEvent, LotState,
    LotType, LotView, NewLot, Product, Refusal, Route, RouteSpec,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::conn::{Conn, Param, RowExt, params};
use crate::idempotency::{IdempotencyKey, StoredResponse};
use crate::rows::{ToolOf, lock_equipment, lock_lot, lock_lot_and_tool, product_from_row};
use crate::{Store, StoreError};

/// A request to start a lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLotRequest {
    /// Lot id; generated (`PLyymmddNNNN`) when absent.
    pub id: Option<String>,
    /// Product id.
    pub product: String,
    /// Route id; the product's default route when absent.
    pub route: Option<String>,
    /// Route version; the latest when absent.
    pub route_version: Option<u32>,
    /// Lot type.
    pub lot_type: LotType,
    /// Priority 1 (hot) to 5.
    pub priority: u8,
    /// Owning tenant; defaults to the product's.
    pub tenant: Option<String>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// Wafer count.
    pub wafer_count: usize,
    /// Wafer ids.
    pub wafer_ids: Option<Vec<String>>,
}

/// A transaction on one lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotCommand {
    /// Put the lot on a tool.
    TrackIn {
        /// Tool id.
        equipment: String,
        /// Recipe override (engineering lots only).
        recipe: Option<String>,
    },
    /// End the run and advance.
    TrackOut {
        /// Wafers to scrap at track-out.
        scrap_wafers: Vec<String>,
        /// Why they are scrapped.
        scrap_reason: Option<String>,
        /// Readings of the step's data-collection plan.
        readings: Vec<pilotline_domain::measure::Reading>,
    },
    /// Place a hold.
    Hold {
        /// Reason code.
        reason_code: String,
        /// Comment.
        comment: String,
    },
    /// Release one hold.
    Release {
        /// Hold id.
        hold_id: u32,
        /// Comment.
        comment: String,
        /// Disposition (required for out-of-spec holds).
        disposition: Option<String>,
    },
    /// Place a hold that fires at a later step.
    FutureHold {
        /// Step id.
        step: String,
        /// Reason code.
        reason_code: String,
        /// Comment.
        comment: String,
    },
    /// Split wafers into a child lot.
    Split {
        /// Wafers to move.
        wafers: Vec<String>,
    },
    /// Merge another lot into this one.
    Merge {
        /// Lot merged away.
        from_lot: String,
    },
    /// Send back to an earlier step.
    Rework {
        /// Step id.
        to_step: String,
        /// Reason.
        reason: String,
    },
    /// Scrap wafers, or the lot.
    Scrap {
        /// Wafers; the whole lot when `None`.
        wafers: Option<Vec<String>>,
        /// Reason.
        reason: String,
    },
    /// Ship a completed lot.
    Ship,
}

/// Every mutation the store performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Store a route; unchanged content returns the existing latest version.
    PutRoute(RouteSpec),
    /// Create a product.
    PutProduct(Product),
    /// Register a tool.
    PutEquipment {
        /// Tool id.
        id: String,
        /// Equipment type.
        equipment_type: String,
        /// Free text.
        description: String,
    },
    /// Change a tool's E10 state by hand.
    SetEquipmentState {
        /// Tool id.
        id: String,
        /// New state.
        state: E10State,
        /// Why.
        reason: String,
    },
    /// Record the E10 state a tool's own signals call for (sent by the collector).
    SignalEquipmentState {
        /// Tool id.
        id: String,
        /// State the signals call for.
        state: E10State,
        /// When the signal changed.
        at: DateTime<Utc>,
        /// Which signal.
        reason: String,
    },
    /// Start a lot.
    StartLot(NewLotRequest),
    /// A transaction on one lot.
    Lot {
        /// Lot id.
        lot_id: String,
        /// What to do.
        command: LotCommand,
        /// Act only if the lot is still at this version (`If-Match`).
        if_version: Option<u64>,
    },
    /// Hold a lot whose Q-time window closed (run by the Q-time monitor).
    ExpireQTime {
        /// Lot id.
        lot_id: String,
        /// The monitor's clock: the window is judged, and the hold stamped, at this time.
        at: DateTime<Utc>,
    },
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// A route version, and whether this call created it.
    Route {
        /// The route.
        route: Route,
        /// Whether a new version was stored.
        #[serde(skip)]
        created: bool,
    },
    /// A product.
    Product(Product),
    /// A tool.
    Equipment(Equipment),
    /// A lot after the transaction.
    Lot(LotView),
    /// A newly started lot.
    LotStarted(LotView),
    /// A hold placed.
    Hold {
        /// The hold.
        #[serde(flatten)]
        hold: Hold,
        /// The lot after the hold.
        lot: LotView,
    },
    /// A future hold placed.
    FutureHold {
        /// The future hold.
        #[serde(flatten)]
        future_hold: FutureHold,
        /// The lot after it.
        lot: LotView,
    },
    /// A split.
    Split {
        /// Parent lot after the split.
        parent: LotView,
        /// New child lot.
        child: LotView,
    },
    /// A merge.
    Merged {
        /// Surviving lot.
        lot: LotView,
        /// Lot merged away.
        merged: LotView,
    },
    /// Nothing was due (Q-time monitor).
    Nothing,
}

/// Renders an outcome as the answer stored for an idempotency key.
pub type Render<'a> = &'a (dyn Fn(&Outcome) -> StoredResponse + Sync);

/// Refuses `actor` unless its role may do `action` (`what` names it in the refusal).
pub(crate) fn require(actor: &Actor, action: Action, what: &str) -> Result<(), StoreError> {
    Ok(actor.require(action, what)?)
}

/// One write and its remembered answer.
struct Execute<'c> {
    op: &'c WriteOp,
    actor: &'c Actor,
    idempotency: Option<(&'c IdempotencyKey, Render<'c>)>,
}

impl crate::tx::Work for Execute<'_> {
    type Output = Outcome;
    async fn run(&mut self, tx: &mut crate::Tx<'_>) -> Result<Outcome, StoreError> {
        let outcome = tx.execute(self.op, self.actor).await?;
        if let Some((key, render)) = self.idempotency {
            tx.remember(key, &render(&outcome)).await?;
        }
        Ok(outcome)
    }
}

impl Store {
    /// Runs `op` for `actor` in one transaction. With `idempotency`, the rendered outcome is
    /// stored under the key in the same transaction. Without, a plain lot move on PostgreSQL
    /// is one version-checked statement and no transaction (see `unlocked`).
    pub async fn execute(
        &self,
        op: &WriteOp,
        actor: &Actor,
        idempotency: Option<(&IdempotencyKey, Render<'_>)>,
    ) -> Result<Outcome, StoreError> {
        // A plain lot move on PostgreSQL: one version-checked statement, no transaction.
        if idempotency.is_none()
            && crate::unlocked::moves_in_one_statement(op)
            && let crate::Backend::Postgres(pool) = &self.backend
            && let Some(outcome) = self.execute_unlocked(pool, op, actor).await?
        {
            return Ok(outcome);
        }
        // Concurrent starts never race for a generated id: the day's counter row is locked
        // until commit (PostgreSQL) or taken by the one writer (SQLite).
        self.write(Execute {
            op,
            actor,
            idempotency,
        })
        .await
    }

    pub(crate) async fn execute_in<C: Conn>(
        &self,
        c: &mut C,
        op: &WriteOp,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        match op {
            WriteOp::PutRoute(spec) => {
                require(actor, Action::WriteMasterData, "define routes")?;
                self.put_route(c, spec, actor, at).await
            }
            WriteOp::PutProduct(p) => {
                require(actor, Action::WriteMasterData, "define products")?;
                self.put_product(c, p, at).await
            }
            WriteOp::PutEquipment {
                id,
                equipment_type,
                description,
            } => {
                require(actor, Action::WriteMasterData, "register equipment")?;
                put_equipment(c, id, equipment_type, description, at).await
            }
            WriteOp::SetEquipmentState { id, state, reason } => {
                require(actor, Action::WriteMasterData, "change equipment states")?;
                let tool = lock_equipment(c, id)
                    .await?
                    .ok_or_else(|| Code::EquipmentNotFound.refusal().with("equipment", id))?;
                let new = tool.set_state(*state, at)?;
                let change = StateChange {
                    equipment: id.clone(),
                    from: tool.state,
                    to: *state,
                    at,
                    lot: None,
                    actor: actor.user.clone(),
                    reason: Some(reason.clone()),
                };
                write_equipment(c, &new, &change).await?;
                Ok(Outcome::Equipment(new))
            }
            WriteOp::SignalEquipmentState {
                id,
                state,
                at: signal_at,
                reason,
            } => {
                require(actor, Action::WriteMasterData, "report equipment states")?;
                // A tool the MES does not know has no state to keep.
                let Some(tool) = lock_equipment(c, id).await? else {
                    return Ok(Outcome::Nothing);
                };
                let running = match &tool.current_lot {
                    Some(lot) => lock_lot(c, lot).await?.map(|l| l.lot_type),
                    None => None,
                };
                let Some(new) = tool.signalled(*state, running, (*signal_at).min(at)) else {
                    return Ok(Outcome::Nothing);
                };
                let change = StateChange {
                    equipment: id.clone(),
                    from: tool.state,
                    to: new.state,
                    at: new.state_since,
                    lot: tool.current_lot.clone(),
                    actor: actor.user.clone(),
                    reason: Some(reason.clone()),
                };
                write_equipment(c, &new, &change).await?;
                Ok(Outcome::Equipment(new))
            }
            WriteOp::StartLot(req) => {
                require(actor, Action::MoveLots, "start lots")?;
                self.start_lot(c, req, actor, at).await
            }
            WriteOp::Lot {
                lot_id,
                command,
                if_version,
            } => {
                self.lot_command(c, lot_id, command, *if_version, actor, at)
                    .await
            }
            WriteOp::ExpireQTime { lot_id, at } => {
                let at = *at;
                let Some(lot) = lock_lot(c, lot_id).await? else {
                    return Ok(Outcome::Nothing);
                };
                let route = self.route_in(c, &lot.route_id, lot.route_version).await?;
                match transaction::expire_qtime(&lot, &route, actor, at) {
                    None => Ok(Outcome::Nothing),
                    Some(applied) => {
                        persist(c, &applied, &[lot], &route).await?;
                        Ok(Outcome::Lot(LotView::new(&applied.lots[0], &route)))
                    }
                }
            }
        }
    }

    async fn put_route<C: Conn>(
        &self,
        c: &mut C,
        spec: &RouteSpec,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        spec.validate()
            .map_err(|errors| definition_invalid("route", &errors))?;
        let latest = self.latest_route_in(c, &spec.id).await?;
        if let Some(latest) = &latest
            && spec.same_content_as(latest)
        {
            return Ok(Outcome::Route {
                route: (**latest).clone(),
                created: false,
            });
        }
        let version = latest.map_or(1, |r| r.version + 1);
        let route = spec.clone().into_route(version, &actor.user, at);
        let doc = serde_json::to_value(&route).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        c.execute(
            "INSERT INTO routes (id, version, name, doc, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Param::from(route.id.as_str()),
                Param::Int(i64::from(version)),
                Param::from(route.name.as_str()),
                Param::Json(doc),
                Param::Time(at),
                Param::from(actor.user.as_str()),
            ],
        )
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                Code::AlreadyExists
                    .refusal()
                    .with("what", "route")
                    .with("id", format!("{} v{version}", route.id))
            })
        })?;
        Ok(Outcome::Route {
            route,
            created: true,
        })
    }

    async fn put_product<C: Conn>(
        &self,
        c: &mut C,
        p: &Product,
        at: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        p.validate()
            .map_err(|errors| definition_invalid("product", &errors))?;
        if let Some(t) = &p.tenant {
            crate::tenants::require_tenant(c, "tenant", t).await?;
        }
        if self.latest_route_in(c, &p.default_route).await?.is_none() {
            return Err(Code::RouteUnknown
                .refusal()
                .with("field", "default_route")
                .with("route", &p.default_route)
                .into());
        }
        if let Some(row) = c
            .fetch_optional(
                "SELECT id, description, default_route, tenant FROM products WHERE id = $1",
                params![p.id.as_str()],
            )
            .await?
        {
            let existing = product_from_row(&row)?;
            return if &existing == p {
                Ok(Outcome::Product(existing))
            } else {
                Err(Code::AlreadyExists
                    .refusal()
                    .with("what", "product")
                    .with("id", &p.id)
                    .into())
            };
        }
        c.execute(
            "INSERT INTO products (id, description, default_route, tenant, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            params![
                p.id.as_str(),
                p.description.as_str(),
                p.default_route.as_str(),
                p.tenant.as_deref(),
                at
            ],
        )
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                Code::AlreadyExists
                    .refusal()
                    .with("what", "product")
                    .with("id", &p.id)
            })
        })?;
        Ok(Outcome::Product(p.clone()))
    }

    async fn start_lot<C: Conn>(
        &self,
        c: &mut C,
        req: &NewLotRequest,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let row = c
            .fetch_optional(
                "SELECT id, description, default_route, tenant FROM products WHERE id = $1",
                params![req.product.as_str()],
            )
            .await?
            .ok_or_else(|| {
                Code::ProductUnknown
                    .refusal()
                    .with("field", "product")
                    .with("product", &req.product)
            })?;
        let product = product_from_row(&row)?;
        let route_id = req
            .route
            .clone()
            .unwrap_or_else(|| product.default_route.clone());
        let route = match req.route_version {
            Some(v) => self.route_in(c, &route_id, v).await.map_err(|_| {
                Code::RouteUnknown
                    .refusal()
                    .with("field", "route_version")
                    .with("route", format!("{route_id} v{v}"))
            })?,
            None => self.latest_route_in(c, &route_id).await?.ok_or_else(|| {
                Code::RouteUnknown
                    .refusal()
                    .with("field", "route")
                    .with("route", &route_id)
            })?,
        };
        if let Some(t) = &req.tenant {
            crate::tenants::require_tenant(c, "tenant", t).await?;
        }
        let id = match &req.id {
            Some(id) => id.clone(),
            None => next_lot_id(c, at).await?,
        };
        let new = NewLot {
            id: id.clone(),
            lot_type: req.lot_type,
            priority: req.priority,
            tenant: req.tenant.clone(),
            due_date: req.due_date,
            wafer_count: req.wafer_count,
            wafer_ids: req.wafer_ids.clone(),
        };
        let applied = transaction::start(&new, &product, &route, actor, at)?;
        persist(c, &applied, &[], &route).await?;
        Ok(Outcome::LotStarted(LotView::new(&applied.lots[0], &route)))
    }

    async fn lot_command<C: Conn>(
        &self,
        c: &mut C,
        lot_id: &str,
        command: &LotCommand,
        if_version: Option<u64>,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let not_found = || StoreError::from(Code::LotNotFound.refusal().with("lot", lot_id));
        if let LotCommand::Merge { from_lot } = command
            && from_lot.as_str() < lot_id
        {
            // Lock both lots in id order so that two opposite merges cannot deadlock.
            lock_lot(c, from_lot).await?;
        }
        // Track-in and track-out lock the lot and its tool in one statement.
        let (lot, mut tool) = match command {
            LotCommand::TrackIn { equipment, .. } => {
                lock_lot_and_tool(c, lot_id, ToolOf::Named(equipment)).await?
            }
            LotCommand::TrackOut { .. } => lock_lot_and_tool(c, lot_id, ToolOf::Running).await?,
            _ => (lock_lot(c, lot_id).await?, None),
        };
        let lot = lot.ok_or_else(not_found)?;
        if !actor.may_see_tenant(lot.tenant.as_deref()) {
            return Err(not_found());
        }
        if let Some(v) = if_version
            && v != lot.version
        {
            return Err(Code::LotVersionMismatch
                .refusal()
                .with("lot", lot_id)
                .with("version", lot.version)
                .with("expected", v)
                .into());
        }
        let route = self.route_in(c, &lot.route_id, lot.route_version).await?;
        let r = &route;
        let view = |l: &Lot| LotView::new(l, r);
        match command {
            LotCommand::TrackIn { equipment, recipe } => {
                let tool = tool.take().ok_or_else(|| unknown_tool(equipment))?;
                let applied = transaction::track_in(&lot, r, &tool, recipe.as_deref(), actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Lot(view(&applied.lots[0])))
            }
            LotCommand::TrackOut {
                scrap_wafers,
                scrap_reason,
                readings,
            } => {
                let Some(tool) = tool.take() else {
                    return Err(Code::LotNotRunning
                        .refusal()
                        .with("lot", lot_id)
                        .with("state", lot.state)
                        .into());
                };
                let applied = transaction::track_out_measured(
                    &lot,
                    r,
                    &tool,
                    scrap_wafers,
                    scrap_reason.as_deref(),
                    readings,
                    actor,
                    at,
                )?;
                // The readings go to the charts' table in the same transaction.
                let step_id = r.steps.get(lot.step_index).map_or("", |s| s.id.as_str());
                let rows: Vec<crate::spc::MeasurementRow<'_>> = readings
                    .iter()
                    .map(|reading| crate::spc::MeasurementRow {
                        lot: &lot.id,
                        product: &lot.product,
                        step: step_id,
                        equipment: Some(&tool.id),
                        recipe: lot.recipe.as_deref(),
                        reading,
                        source: "track-out",
                        by: &actor.user,
                    })
                    .collect();
                crate::spc::insert_measurements(c, &rows, at).await?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Lot(view(&applied.lots[0])))
            }
            LotCommand::Hold {
                reason_code,
                comment,
            } => {
                let (applied, hold) = transaction::hold(&lot, r, reason_code, comment, actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Hold {
                    hold,
                    lot: view(&applied.lots[0]),
                })
            }
            LotCommand::Release {
                hold_id,
                comment,
                disposition,
            } => {
                let applied = transaction::release_with(
                    &lot,
                    r,
                    *hold_id,
                    comment,
                    disposition.as_deref(),
                    actor,
                    at,
                )?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Lot(view(&applied.lots[0])))
            }
            LotCommand::FutureHold {
                step,
                reason_code,
                comment,
            } => {
                let (applied, future_hold) =
                    transaction::future_hold(&lot, r, step, reason_code, comment, actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::FutureHold {
                    future_hold,
                    lot: view(&applied.lots[0]),
                })
            }
            LotCommand::Split { wafers } => {
                let applied = transaction::split(&lot, r, wafers, actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Split {
                    parent: view(&applied.lots[0]),
                    child: view(&applied.lots[1]),
                })
            }
            LotCommand::Merge { from_lot } => {
                let from = lock_lot(c, from_lot)
                    .await?
                    .filter(|l| actor.may_see_tenant(l.tenant.as_deref()))
                    .ok_or_else(|| {
                        Code::LotUnknown
                            .refusal()
                            .with("field", "from_lot")
                            .with("lot", from_lot)
                    })?;
                let applied = transaction::merge(&lot, &from, r, actor, at)?;
                persist(c, &applied, &[lot, from], r).await?;
                Ok(Outcome::Merged {
                    lot: view(&applied.lots[0]),
                    merged: view(&applied.lots[1]),
                })
            }
            LotCommand::Rework { to_step, reason } => {
                let applied = transaction::rework(&lot, r, to_step, reason, actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Lot(view(&applied.lots[0])))
            }
            LotCommand::Scrap { wafers, reason } => {
                let applied = transaction::scrap(&lot, r, wafers.as_deref(), reason, actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Lot(view(&applied.lots[0])))
            }
            LotCommand::Ship => {
                let applied = transaction::ship(&lot, r, actor, at)?;
                persist(c, &applied, &[lot], r).await?;
                Ok(Outcome::Lot(view(&applied.lots[0])))
            }
        }
    }
}

/// A definition's problems (every one found), as one refusal.
pub(crate) fn definition_invalid(what: &str, problems: &[String]) -> Refusal {
    Code::DefinitionInvalid
        .refusal()
        .with("what", what)
        .with("problems", problems.join("; "))
}

fn unknown_tool(id: &str) -> StoreError {
    Code::EquipmentUnknown
        .refusal()
        .with("field", "equipment")
        .with("equipment", id)
        .into()
}

pub(crate) fn conflict_on_unique(e: sqlx::Error, what: impl FnOnce() -> Refusal) -> StoreError {
    if StoreError::is_unique_violation(&e) {
        StoreError::Refused(what())
    } else {
        e.into()
    }
}

/// The next generated lot id of the day (`PLyymmddNNNN`): the day's counter row is advanced
/// (and locked until commit, so concurrent starts take turns); an id someone gave by hand is
/// skipped.
async fn next_lot_id<C: Conn>(c: &mut C, at: DateTime<Utc>) -> Result<String, StoreError> {
    let prefix = format!("PL{}", at.format("%y%m%d"));
    loop {
        let row = c
            .fetch_optional(
                "INSERT INTO lot_numbers (prefix, last) VALUES ($1, 1) ON CONFLICT (prefix) \
                 DO UPDATE SET last = lot_numbers.last + 1 RETURNING last",
                params![prefix.as_str()],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("lot number counter returned nothing".into()))?;
        let id = format!("{prefix}{:04}", row.int("last")?);
        let taken = c
            .fetch_optional("SELECT id FROM lots WHERE id = $1", params![id.as_str()])
            .await?
            .is_some();
        if !taken {
            return Ok(id);
        }
    }
}

async fn put_equipment<C: Conn>(
    c: &mut C,
    id: &str,
    equipment_type: &str,
    description: &str,
    at: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let valid = pilotline_domain::route::valid_id;
    if !valid(id) {
        return Err(Code::IdMalformed
            .refusal()
            .with("field", "id")
            .with("value", format!("{id:?}"))
            .into());
    }
    if !valid(equipment_type) {
        return Err(Code::IdMalformed
            .refusal()
            .with("field", "equipment_type")
            .with("value", format!("{equipment_type:?}"))
            .into());
    }
    if let Some(existing) = lock_equipment(c, id).await? {
        return if existing.equipment_type == equipment_type && existing.description == description {
            Ok(Outcome::Equipment(existing))
        } else {
            Err(Code::AlreadyExists
                .refusal()
                .with("what", "equipment")
                .with("id", id)
                .into())
        };
    }
    let tool = Equipment {
        id: id.to_string(),
        equipment_type: equipment_type.to_string(),
        description: description.to_string(),
        state: E10State::Standby,
        current_lot: None,
        state_since: at,
        version: 1,
    };
    c.execute(
        "INSERT INTO equipment (id, equipment_type, description, state, current_lot, state_since, version) \
         VALUES ($1, $2, $3, $4, NULL, $5, 1)",
        params![id, equipment_type, description, tool.state.as_str(), at],
    )
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            Code::AlreadyExists
                .refusal()
                .with("what", "equipment")
                .with("id", id)
        })
    })?;
    Ok(Outcome::Equipment(tool))
}

/// Writes a tool's new state (version-checked) and, when the state changed, its E10 state
/// event, in the caller's transaction.
pub(crate) async fn write_equipment<C: Conn>(
    c: &mut C,
    tool: &Equipment,
    change: &StateChange,
) -> Result<(), StoreError> {
    let updated = c
        .execute(
            "UPDATE equipment SET state = $1, current_lot = $2, state_since = $3, version = $4, \
             changed_by = $7, change_reason = $8, change_lot = $9 WHERE id = $5 AND version = $6",
            equipment_update_params(Some((tool, change))),
        )
        .await?;
    if updated == 0 {
        return Err(Code::EquipmentChanged
            .refusal()
            .with("equipment", &tool.id)
            .into());
    }
    if change.from != tool.state {
        c.execute(
            "INSERT INTO equipment_state_events (equipment_id, from_state, to_state, at, lot_id, \
             user_name, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                Param::from(tool.id.as_str()),
                Param::from(change.from.as_str()),
                Param::from(tool.state.as_str()),
                Param::Time(tool.state_since),
                Param::from(change.lot.as_deref()),
                Param::from(change.actor.as_str()),
                Param::from(change.reason.as_deref()),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The tool run an event opens (a track-in) or closes (a track-out): the tool and whether it
/// opens.
fn run_change(change: &Change) -> Option<(&str, bool)> {
    match change {
        Change::TrackedIn { equipment, .. } => Some((equipment, true)),
        Change::TrackedOut { equipment, .. } => Some((equipment, false)),
        _ => None,
    }
}

/// Opens (`open`) or closes lot `lot`'s run on tool `equipment` at `at`: the samples the tool
/// takes in between are the lot's process data.
pub(crate) async fn write_run<C: Conn>(
    c: &mut C,
    equipment: &str,
    lot: &str,
    at: DateTime<Utc>,
    open: bool,
) -> Result<(), StoreError> {
    let sql = if open {
        "INSERT INTO equipment_runs (equipment_id, lot_id, started_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING"
    } else {
        "UPDATE equipment_runs SET ended_at = $3 WHERE equipment_id = $1 AND lot_id = $2 \
         AND ended_at IS NULL"
    };
    c.execute(sql, params![equipment, lot, at.timestamp_micros()])
        .await?;
    Ok(())
}

/// The nine parameters of a version-checked tool update, in order: new state, current lot,
/// state since, new version, tool, the version it replaces, and the change's actor, reason and
/// lot. `None` gives nine typed NULLs (an update that matches no tool).
fn equipment_update_params(tool: Option<(&Equipment, &StateChange)>) -> Vec<Param> {
    let (t, ch) = (tool.map(|(t, _)| t), tool.map(|(_, ch)| ch));
    vec![
        Param::from(t.map(|t| t.state.as_str())),
        Param::from(t.and_then(|t| t.current_lot.as_deref())),
        Param::OptTime(t.map(|t| t.state_since)),
        Param::OptInt(t.map(|t| t.version as i64)),
        Param::from(t.map(|t| t.id.as_str())),
        Param::OptInt(t.map(|t| t.version as i64 - 1)),
        Param::from(ch.map(|ch| ch.actor.as_str())),
        Param::from(ch.and_then(|ch| ch.reason.as_deref())),
        Param::from(ch.and_then(|ch| ch.lot.as_deref())),
    ]
}

fn json<T: Serialize>(v: &T) -> Result<Param, StoreError> {
    serde_json::value::to_raw_value(v)
        .map(Param::JsonText)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The visit a track-out ends, as its step's measured cycle time takes it: the step and the
/// seconds from arrival to track-out. Reworks, scraps and moves an engineer makes are not
/// visits of the route's flow and give none.
fn step_visit<'r>(old: &Lot, lot: &Lot, route: &'r Route) -> Option<(&'r str, f64)> {
    let moved_on = old.state == LotState::Running
        && (lot.step_index == old.step_index + 1 || lot.state == LotState::Completed)
        && lot.arrived_at > old.arrived_at;
    let step = route.steps.get(old.step_index).filter(|_| moved_on)?;
    let seconds = (lot.arrived_at - old.arrived_at).num_milliseconds() as f64 / 1000.0;
    Some((step.id.as_str(), seconds))
}

/// The conflict clause that folds a visit into its step's cycle time, a moving average where
/// each new lot weighs 1/5 (a literal, for `concat!`).
macro_rules! step_time_upsert {
    () => {
        " ON CONFLICT (route_id, step_id) DO UPDATE SET \
         lots = step_cycle_times.lots + 1, \
         mean_s = step_cycle_times.mean_s + 0.2 * (excluded.last_s - step_cycle_times.mean_s), \
         last_s = excluded.last_s, updated_at = excluded.updated_at"
    };
}

/// Folds the visit that a track-out ends into its step's measured cycle time.
async fn record_step_time<C: Conn>(
    c: &mut C,
    old: &Lot,
    lot: &Lot,
    route: &Route,
) -> Result<(), StoreError> {
    let Some((step, seconds)) = step_visit(old, lot, route) else {
        return Ok(());
    };
    c.execute(
        concat!(
            "INSERT INTO step_cycle_times (route_id, step_id, lots, mean_s, last_s, updated_at) \
             VALUES ($1, $2, 1, $3, $3, $4)",
            step_time_upsert!()
        ),
        vec![
            Param::from(lot.route_id.as_str()),
            Param::from(step),
            Param::Float(Some(seconds)),
            Param::Time(lot.arrived_at),
        ],
    )
    .await?;
    Ok(())
}

/// Writes everything an accepted transaction produced: lots (insert or version-checked update),
/// changed wafers, events with their per-lot sequence numbers, genealogy links, the tool.
async fn persist<C: Conn>(
    c: &mut C,
    applied: &Applied,
    before: &[Lot],
    route: &Arc<Route>,
) -> Result<(), StoreError> {
    if C::POSTGRES
        && let Some(one) = OneLotMove::of(applied, before)
    {
        return persist_move_pg(c, &one, route).await;
    }
    if !C::LOCKS {
        // Several statements: only a transaction makes them one change.
        c.decline();
        return Err(Code::LotChanged
            .refusal()
            .with("lot", &applied.lots[0].id)
            .into());
    }
    let before: HashMap<&str, &Lot> = before.iter().map(|l| (l.id.as_str(), l)).collect();
    let mut event_counts: HashMap<&str, i64> = HashMap::new();
    for e in &applied.events {
        *event_counts.entry(e.lot_id.as_str()).or_default() += 1;
    }
    // Sequence number of the first event this transaction appends, per lot.
    let mut next_seq: HashMap<String, i64> = HashMap::new();
    for lot in &applied.lots {
        let n_events = event_counts.get(lot.id.as_str()).copied().unwrap_or(0);
        let (step_index, step_id) = stored_step(lot, route);
        let doc = json(lot)?;
        let deadline = lot.qtime.as_ref().map(|q| q.deadline);
        if lot.version == 1 {
            c.execute(
                "INSERT INTO lots (id, product, route_id, route_version, lot_type, priority, tenant, \
                 state, step_id, step_index, equipment, held, wafer_count, parent, qtime_deadline, doc, \
                 version, created_at, updated_at, event_seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                vec![
                    Param::from(lot.id.as_str()),
                    Param::from(lot.product.as_str()),
                    Param::from(lot.route_id.as_str()),
                    Param::Int(i64::from(lot.route_version)),
                    Param::from(lot.lot_type.as_str()),
                    Param::Int(i64::from(lot.priority)),
                    Param::from(lot.tenant.as_deref()),
                    Param::from(lot.state.as_str()),
                    Param::from(step_id),
                    Param::Int(step_index as i64),
                    Param::from(lot.equipment.as_deref()),
                    Param::Bool(lot.is_held()),
                    Param::Int(lot.wafer_count() as i64),
                    Param::from(lot.parent.as_deref()),
                    Param::OptTime(deadline),
                    doc,
                    Param::Int(1),
                    Param::Time(lot.created_at),
                    Param::Time(lot.updated_at),
                    Param::Int(n_events),
                ],
            )
            .await
            .map_err(|e| conflict_on_unique(e, || Code::LotExists.refusal().with("lot", &lot.id)))?;
            next_seq.insert(lot.id.clone(), 1);
        } else {
            let updated = c
                .fetch_optional(
                    "UPDATE lots SET state = $1, step_id = $2, step_index = $3, equipment = $4, \
                     held = $5, wafer_count = $6, qtime_deadline = $7, doc = $8, version = $9, \
                     updated_at = $10, priority = $11, event_seq = event_seq + $14 \
                     WHERE id = $12 AND version = $13 RETURNING event_seq",
                    lot_update_params(lot, route, doc, n_events),
                )
                .await?;
            let Some(row) = updated else {
                return Err(Code::LotChanged.refusal().with("lot", &lot.id).into());
            };
            next_seq.insert(lot.id.clone(), row.int("event_seq")? - n_events + 1);
        }
        let old = before.get(lot.id.as_str());
        if let Some(old) = old {
            record_step_time(c, old, lot, route).await?;
        }
        for w in &lot.wafers {
            let unchanged = old.is_some_and(|o| o.wafers.iter().any(|x| x == w));
            if unchanged {
                continue;
            }
            let is_start = lot.version == 1 && lot.parent.is_none();
            let sql = if is_start {
                "INSERT INTO wafers (id, lot_id, slot, state) VALUES ($1, $2, $3, $4)"
            } else {
                "INSERT INTO wafers (id, lot_id, slot, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET lot_id = excluded.lot_id, slot = excluded.slot, \
                 state = excluded.state"
            };
            c.execute(
                sql,
                params![
                    w.id.as_str(),
                    lot.id.as_str(),
                    i64::from(w.slot),
                    w.state.as_str()
                ],
            )
            .await
            .map_err(|e| {
                conflict_on_unique(e, || Code::WaferExists.refusal().with("wafer", &w.id))
            })?;
        }
    }
    for e in &applied.events {
        let seq = next_seq.get_mut(e.lot_id.as_str()).ok_or_else(|| {
            StoreError::Corrupt(format!("event for lot {} not written", e.lot_id))
        })?;
        let this = *seq;
        *seq += 1;
        c.execute(
            "INSERT INTO lot_events (lot_id, seq, at, user_name, role, kind, why, change, before_state, after_state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            vec![
                Param::from(e.lot_id.as_str()),
                Param::Int(this),
                Param::Time(e.at),
                Param::from(e.user.as_str()),
                Param::from(e.role.as_str()),
                Param::from(e.change.kind()),
                Param::from(e.why.as_deref()),
                json(&e.change)?,
                json(&e.before)?,
                json(&e.after)?,
            ],
        )
        .await?;
        if let Some((equipment, open)) = run_change(&e.change) {
            write_run(c, equipment, &e.lot_id, e.at, open).await?;
        }
        let link = match &e.change {
            Change::SplitOut { child, wafers } => {
                Some((e.lot_id.as_str(), child.as_str(), "split", wafers))
            }
            Change::MergedInto { into, wafers } => {
                Some((e.lot_id.as_str(), into.as_str(), "merge", wafers))
            }
            _ => None,
        };
        if let Some((from, to, kind, wafers)) = link {
            c.execute(
                "INSERT INTO lot_links (from_lot, to_lot, kind, wafers, at) VALUES ($1, $2, $3, $4, $5)",
                vec![Param::from(from), Param::from(to), Param::from(kind), json(wafers)?, Param::Time(e.at)],
            )
            .await?;
        }
    }
    if let Some((tool, change)) = &applied.equipment {
        write_equipment(c, tool, change).await?;
    }
    Ok(())
}

/// The step a lot's row records: its step index, kept on the route (a completed lot's index is
/// past the last step, and its row names the last one), and that step's id.
fn stored_step<'r>(lot: &Lot, route: &'r Route) -> (usize, &'r str) {
    let step_index = lot.step_index.min(route.steps.len() - 1);
    (step_index, route.steps[step_index].id.as_str())
}

/// `$1`–`$14` of a version-checked lot update: the new state's columns and document (`$1`–`$11`),
/// the lot and the version it replaces (`$12`, `$13`), and the events appended (`$14`, added to
/// `event_seq`).
fn lot_update_params(lot: &Lot, route: &Route, doc: Param, n_events: i64) -> Vec<Param> {
    let (step_index, step_id) = stored_step(lot, route);
    vec![
        Param::from(lot.state.as_str()),
        Param::from(step_id),
        Param::Int(step_index as i64),
        Param::from(lot.equipment.as_deref()),
        Param::Bool(lot.is_held()),
        Param::Int(lot.wafer_count() as i64),
        Param::OptTime(lot.qtime.as_ref().map(|q| q.deadline)),
        doc,
        Param::Int(lot.version as i64),
        Param::Time(lot.updated_at),
        Param::Int(i64::from(lot.priority)),
        Param::from(lot.id.as_str()),
        Param::Int(lot.version as i64 - 1),
        Param::Int(n_events),
    ]
}

/// The common shape of a lot move (a track-in, a track-out, a hold, a release …): one lot
/// already stored, changed with its wafers unchanged, its events all at one time, none a
/// split or merge and at most one opening or closing a tool run, and perhaps its tool. On
/// PostgreSQL its writes are one statement.
struct OneLotMove<'a> {
    lot: &'a Lot,
    old: &'a Lot,
    events: &'a [LotEvent],
    at: DateTime<Utc>,
    equipment: Option<&'a (Equipment, StateChange)>,
}

impl<'a> OneLotMove<'a> {
    fn of(applied: &'a Applied, before: &'a [Lot]) -> Option<Self> {
        let ([lot], [old]) = (applied.lots.as_slice(), before) else {
            return None;
        };
        let first = applied.events.first()?;
        let simple = lot.id == old.id
            && lot.version > 1
            && lot.wafers == old.wafers
            && applied
                .events
                .iter()
                .filter(|e| run_change(&e.change).is_some())
                .count()
                <= 1
            && applied.events.iter().all(|e| {
                e.lot_id == lot.id
                    && e.at == first.at
                    && !matches!(
                        e.change,
                        Change::SplitOut { .. } | Change::MergedInto { .. }
                    )
            });
        simple.then_some(OneLotMove {
            lot,
            old,
            events: &applied.events,
            at: first.at,
            equipment: applied.equipment.as_ref(),
        })
    }
}

/// A [`OneLotMove`] on PostgreSQL in one round trip: the version-checked lot update, its events
/// numbered from the lot's `event_seq`, the step's cycle time, the version-checked tool update
/// with its E10 state event, and the tool run the move opens or closes, as one data-modifying
/// statement. Each part runs only if the lot update did, and that only if the lot and the tool
/// (locked together, in the order the transactional read locks them) are still at the versions
/// read: all or nothing, so the statement needs no transaction around it (see `unlocked`). The
/// same rows as the statement-by-statement path, which SQLite takes (a round trip there is a
/// function call).
async fn persist_move_pg<C: Conn>(
    c: &mut C,
    m: &OneLotMove<'_>,
    route: &Route,
) -> Result<(), StoreError> {
    const MOVE: &str = concat!(
        "WITH tl AS (SELECT 1 FROM lots l, equipment e WHERE l.id = $12 AND l.version = $13 \
         AND e.id = $25 AND e.version = $26 FOR UPDATE), \
         u AS (UPDATE lots SET state = $1, step_id = $2, step_index = $3, equipment = $4, \
         held = $5, wafer_count = $6, qtime_deadline = $7, doc = $8, version = $9, \
         updated_at = $10, priority = $11, event_seq = event_seq + $14 \
         WHERE id = $12 AND version = $13 AND ($25::text IS NULL OR EXISTS (SELECT 1 FROM tl)) \
         RETURNING event_seq), \
         ev AS (INSERT INTO lot_events (lot_id, seq, at, user_name, role, kind, why, change, \
         before_state, after_state) \
         SELECT $12, u.event_seq - $14 + e.i, $15, e.user_name, e.role, e.kind, e.why, e.change, \
         COALESCE(e.before_state, 'null'::jsonb), e.after_state \
         FROM u, jsonb_to_recordset($16) AS e(i bigint, user_name text, role text, kind text, \
         why text, change jsonb, before_state jsonb, after_state jsonb)), \
         st AS (INSERT INTO step_cycle_times (route_id, step_id, lots, mean_s, last_s, updated_at) \
         SELECT $17, $18, 1, $19, $19, $20 FROM u WHERE $18 IS NOT NULL",
        step_time_upsert!(),
        "), eq AS (UPDATE equipment SET state = $21, current_lot = $22, state_since = $23, \
         version = $24, changed_by = $27, change_reason = $28, change_lot = $29 \
         WHERE id = $25 AND version = $26 AND EXISTS (SELECT 1 FROM u) RETURNING 1), \
         es AS (INSERT INTO equipment_state_events (equipment_id, from_state, to_state, at, \
         lot_id, user_name, reason) SELECT $25, $30, $21, $23, $29, $27, $28 FROM eq \
         WHERE $30 <> $21), \
         ro AS (INSERT INTO equipment_runs (equipment_id, lot_id, started_at) \
         SELECT $31, $12, $32 FROM u WHERE $33 ON CONFLICT DO NOTHING), \
         rc AS (UPDATE equipment_runs SET ended_at = $32 WHERE equipment_id = $31 \
         AND lot_id = $12 AND ended_at IS NULL AND NOT $33 AND EXISTS (SELECT 1 FROM u)) \
         SELECT u.event_seq, (SELECT count(*) FROM eq) AS tools FROM u"
    );
    let lot = m.lot;
    let n_events = m.events.len() as i64;
    /// One event as `jsonb_to_recordset` reads it.
    #[derive(Serialize)]
    struct EventRecord<'e> {
        i: i64,
        user_name: &'e str,
        role: &'static str,
        kind: &'static str,
        why: Option<&'e str>,
        change: &'e Change,
        before_state: &'e Option<pilotline_domain::event::LotSnapshot>,
        after_state: &'e pilotline_domain::event::LotSnapshot,
    }
    let events: Vec<EventRecord<'_>> = m
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| EventRecord {
            i: i as i64 + 1,
            user_name: &e.user,
            role: e.role.as_str(),
            kind: e.change.kind(),
            why: e.why.as_deref(),
            change: &e.change,
            before_state: &e.before,
            after_state: &e.after,
        })
        .collect();
    let step = step_visit(m.old, lot, route);
    let tool = m.equipment.map(|(t, ch)| (t, ch));
    let run = m.events.iter().find_map(|e| run_change(&e.change));
    let row = c
        .fetch_optional(
            MOVE,
            [
                lot_update_params(lot, route, json(lot)?, n_events),
                vec![
                    Param::Time(m.at),
                    json(&events)?,
                    Param::from(lot.route_id.as_str()),
                    Param::from(step.map(|(s, _)| s)),
                    Param::Float(step.map(|(_, secs)| secs)),
                    Param::OptTime(step.map(|_| lot.arrived_at)),
                ],
                equipment_update_params(tool),
                vec![
                    Param::from(tool.map(|(_, ch)| ch.from.as_str())),
                    Param::from(run.map(|(equipment, _)| equipment)),
                    Param::Int(m.at.timestamp_micros()),
                    Param::Bool(run.is_some_and(|(_, open)| open)),
                ],
            ]
            .into_iter()
            .flatten()
            .collect(),
        )
        .await?;
    let Some(row) = row else {
        // The lot or its tool is not at the version read: nothing was written. On an
        // unlocked connection another writer came in between, and the move runs again in a
        // transaction that locks them.
        c.decline();
        return Err(Code::LotChanged.refusal().with("lot", &lot.id).into());
    };
    if let Some((t, _)) = tool
        && row.int("tools")? == 0
    {
        return Err(Code::EquipmentChanged
            .refusal()
            .with("equipment", &t.id)
            .into());
    }
    Ok(())
}
