//! The back end of the line's use cases: the pick list and dicing, unit lot transactions in
//! batches, serials, calibration, component lots, module builds, and the genealogy and
//! where-used reads.
//!
//! Each write runs in one transaction: it locks what it changes, lets the domain decide, and
//! writes the outcome. A tenant reads its own units, parts and modules only; the genealogy of
//! its own part shows the runs of the wafer lot its die came from (on an MPW lot, the
//! platform's lot), because following its dies through the line is what the platform offers.

use pilotline_domain::unit::bom::ComponentLot;
use pilotline_domain::unit::calibration::CalibrationSchema;
use pilotline_domain::unit::dice::{self, Diced};
use pilotline_domain::unit::integrate::{self, Built, ModuleBuild};
use pilotline_domain::unit::pick::{self, PickList, PickOverride};
use pilotline_domain::unit::{self as unit, StepCount, UnitApplied, UnitLot, UnitLotEvent};
use pilotline_domain::{Action, Actor, Code, Refusal, Role};
use pilotline_store::{
    ProcessDataQuery, RunTrace, StoreError, Tx, UnitGenealogy, UnitPage, UnitRecord, WaferLotTrace,
    WhereUsed, WhereUsedModule, Work,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::App;
use crate::error::AppError;
use crate::perform::require;

/// Samples of each run a genealogy shows (the lot's process data has the rest).
pub const GENEALOGY_SAMPLES: u32 = 100;

/// Units per tray unless a dicing request says otherwise.
pub const DEFAULT_TRAY: u32 = 1_000;

/// A dicing request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DiceRequest {
    /// The back-end route the unit lots follow (its current version).
    pub route: String,
    /// Dies per tray (1 to 10,000; 1,000 when absent).
    #[serde(default)]
    pub tray: Option<u32>,
    /// An engineer's decisions against the probe map.
    #[serde(default)]
    pub overrides: Vec<PickOverride>,
}

/// A unit lot transaction.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum UnitCommand {
    /// Start the tray's run on a tool at its step.
    TrackIn {
        /// The tool.
        equipment: String,
    },
    /// End the run, scrapping the named units.
    TrackOut {
        /// Units scrapped at the step (ids or serials), at most 1,000.
        #[serde(default)]
        scrap: Vec<String>,
        /// Why (needed with `scrap`).
        #[serde(default)]
        scrap_reason: Option<String>,
    },
    /// Split the named units into a child lot.
    Split {
        /// The units (ids or serials), at most 1,000.
        units: Vec<String>,
    },
    /// Merge lot `from_lot` into this one.
    Merge {
        /// The lot merged in.
        from_lot: String,
    },
    /// Scrap the named units between steps.
    Scrap {
        /// The units (ids or serials), at most 1,000.
        units: Vec<String>,
        /// Why.
        reason: String,
    },
    /// Give the lot's parts serials under `prefix`.
    Serialise {
        /// Serial prefix (`S` gives `S-000001`).
        prefix: String,
    },
}

/// A unit lot with what happened to it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitLotView {
    /// The lot.
    #[serde(flatten)]
    pub lot: UnitLot,
    /// Its route's step it is at (or last did).
    pub step: String,
    /// Steps of its route.
    pub steps: usize,
    /// Each step's count.
    pub counts: Vec<StepCount>,
    /// Its log.
    pub events: Vec<UnitLotEvent>,
}

/// A module build request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    /// The module route (its first step with a bill of materials builds them).
    pub route: String,
    /// The module product.
    pub product: String,
    /// The assembly tool.
    pub equipment: String,
    /// Per tracked item of the bill, the parts (serials), one per module, at most 1,000.
    pub parts: BTreeMap<String, Vec<String>>,
    /// Per bought item, the component lot.
    #[serde(default)]
    pub components: BTreeMap<String, String>,
    /// Serial prefix of the modules (`M` when absent).
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A supplier lot received.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ComponentReceipt {
    /// Id in Pilotline.
    pub id: String,
    /// Part number.
    pub part_number: String,
    /// Supplier.
    pub supplier: String,
    /// The supplier's lot number.
    pub supplier_lot: String,
    /// How many.
    pub quantity: u32,
}

/// A module build's answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuiltModules {
    /// The new module lot.
    pub lot: UnitLot,
    /// The modules' serials, in order.
    pub modules: Vec<String>,
}

fn not_found(lot: &str) -> AppError {
    Code::UnitLotNotFound.refusal().with("lot", lot).into()
}

fn check_prefix(prefix: &str) -> Result<(), Refusal> {
    pilotline_domain::refusal::check_text("prefix", prefix, 16)?;
    if !prefix
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(Code::BodyInvalid
            .refusal()
            .with("field", "prefix")
            .with("reason", "use capital letters and digits only"));
    }
    Ok(())
}

/// The platform reading a wafer lot's runs for a reader whose die came from it.
fn platform_reader() -> Actor {
    Actor {
        user: "pilotline".into(),
        role: Role::Manager,
        tenant: None,
    }
}

struct DiceWork<'a> {
    lot: &'a str,
    req: &'a DiceRequest,
    actor: &'a Actor,
}

impl Work for DiceWork<'_> {
    type Output = Diced;
    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<Diced, StoreError> {
        let lot = tx
            .lock_wafer_lot(self.lot)
            .await?
            .filter(|l| self.actor.may_see_tenant(l.tenant.as_deref()))
            .ok_or_else(|| Code::LotNotFound.refusal().with("lot", self.lot))?;
        let done = tx.diced_into(&lot.id).await?;
        if !done.is_empty() {
            return Err(Code::LotAlreadyDiced
                .refusal()
                .with("lot", &lot.id)
                .with("unit_lots", done.join(", "))
                .into());
        }
        let route = tx
            .current_route(&self.req.route)
            .await?
            .ok_or_else(|| Code::RouteNotFound.refusal().with("route", &self.req.route))?;
        let dies = tx.probe_dies(&lot.id, &platform_reader()).await?;
        let list = pick::pick_list(&lot.id, &lot.product, dies, &self.req.overrides)?;
        let tray = self.req.tray.unwrap_or(DEFAULT_TRAY);
        let diced = dice::dice(&lot, &list, &route, tray, self.actor, tx.at())?;
        tx.insert_diced(&diced).await?;
        Ok(diced)
    }
}

struct UnitWork<'a> {
    lot: &'a str,
    command: &'a UnitCommand,
    actor: &'a Actor,
}

impl Work for UnitWork<'_> {
    type Output = UnitLot;
    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<UnitLot, StoreError> {
        let (actor, at) = (self.actor, tx.at());
        if let UnitCommand::Merge { from_lot } = self.command
            && from_lot.as_str() < self.lot
        {
            // Lock both in id order so that two opposite merges cannot deadlock.
            tx.lock_unit_lot(from_lot).await?;
        }
        let lot = tx
            .lock_unit_lot(self.lot)
            .await?
            .filter(|l| actor.may_see_tenant(l.tenant.as_deref()))
            .ok_or_else(|| Code::UnitLotNotFound.refusal().with("lot", self.lot))?;
        let route = tx.route(&lot.route_id, lot.route_version).await?;
        let applied: UnitApplied = match self.command {
            UnitCommand::TrackIn { equipment } => {
                let tool = tx.lock_tool(equipment).await?.ok_or_else(|| {
                    Code::EquipmentUnknown
                        .refusal()
                        .with("field", "equipment")
                        .with("equipment", equipment)
                })?;
                unit::track_in(&lot, &route, &tool, actor, at)?
            }
            UnitCommand::TrackOut {
                scrap,
                scrap_reason,
            } => {
                let Some(tool_id) = lot.equipment.clone() else {
                    return Err(Code::LotNotRunning
                        .refusal()
                        .with("lot", &lot.id)
                        .with("state", lot.state.as_str())
                        .into());
                };
                let tool = tx.lock_tool(&tool_id).await?.ok_or_else(|| {
                    Code::EquipmentUnknown
                        .refusal()
                        .with("field", "equipment")
                        .with("equipment", &tool_id)
                })?;
                check_batch("scrap", scrap)?;
                let refs = tx.unit_refs("scrap", scrap).await?;
                unit::track_out(
                    &lot,
                    &route,
                    &tool,
                    &refs,
                    scrap_reason.as_deref(),
                    actor,
                    at,
                )?
            }
            UnitCommand::Split { units } => {
                check_batch("units", units)?;
                let refs = tx.unit_refs("units", units).await?;
                unit::split(&lot, &refs, actor, at)?
            }
            UnitCommand::Merge { from_lot } => {
                let from = tx
                    .lock_unit_lot(from_lot)
                    .await?
                    .filter(|l| actor.may_see_tenant(l.tenant.as_deref()))
                    .ok_or_else(|| {
                        Code::LotUnknown
                            .refusal()
                            .with("field", "from_lot")
                            .with("lot", from_lot)
                    })?;
                unit::merge(&lot, &from, actor, at)?
            }
            UnitCommand::Scrap { units, reason } => {
                check_batch("units", units)?;
                let refs = tx.unit_refs("units", units).await?;
                unit::scrap(&lot, &refs, reason, actor, at)?
            }
            UnitCommand::Serialise { prefix } => {
                actor.require(Action::MoveLots, "serialise parts")?;
                check_prefix(prefix)?;
                if lot.kind != unit::UnitKind::Die {
                    return Err(Code::UnitLotWrongKind
                        .refusal()
                        .with("field", "lot")
                        .with("lot", &lot.id)
                        .with("kind", lot.kind.as_str())
                        .with("wanted", "die")
                        .into());
                }
                let given = tx.serialise(&lot.id, prefix).await?;
                let after = UnitLot {
                    updated_at: at,
                    version: lot.version + 1,
                    ..lot.clone()
                };
                let event = UnitLotEvent {
                    lot: lot.id.clone(),
                    kind: unit::UnitLotEventKind::Serialised,
                    at,
                    user: actor.user.clone(),
                    step_index: lot.step_index,
                    units: lot.units,
                    detail: match (given.first(), given.last()) {
                        (Some(a), Some(b)) => {
                            format!("{} serials: {} to {}", given.len(), a.1, b.1)
                        }
                        _ => "no part without a serial".into(),
                    },
                };
                UnitApplied {
                    lots: vec![after],
                    moved: None,
                    scrapped: Vec::new(),
                    scrap_reason: None,
                    step: None,
                    events: vec![event],
                    equipment: None,
                }
            }
        };
        tx.apply_units(&applied).await?;
        Ok(applied.lots[0].clone())
    }
}

/// A named list of units: at most [`unit::MAX_BATCH`] (checked before any is looked up).
fn check_batch(field: &str, units: &[String]) -> Result<(), Refusal> {
    if units.len() > unit::MAX_BATCH {
        return Err(Code::TooManyUnits
            .refusal()
            .with("field", field)
            .with("count", units.len())
            .with("max", unit::MAX_BATCH));
    }
    Ok(())
}

struct BuildWork<'a> {
    req: &'a BuildRequest,
    actor: &'a Actor,
}

impl Work for BuildWork<'_> {
    type Output = Built;
    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<Built, StoreError> {
        let req = self.req;
        let route = tx
            .current_route(&req.route)
            .await?
            .ok_or_else(|| Code::RouteNotFound.refusal().with("route", &req.route))?;
        let tool = tx.lock_tool(&req.equipment).await?.ok_or_else(|| {
            Code::EquipmentUnknown
                .refusal()
                .with("field", "equipment")
                .with("equipment", &req.equipment)
        })?;
        let mut parts = Vec::with_capacity(req.parts.len());
        let mut source_ids: Vec<String> = Vec::new();
        for (item, serials) in &req.parts {
            let field = format!("parts.{item}");
            check_batch(&field, serials)?;
            let found = tx.parts(&field, serials).await?;
            for p in &found {
                if !self.actor.may_see_tenant(p.tenant.as_deref()) {
                    return Err(Code::UnitNotFound
                        .refusal()
                        .with("unit", p.serial.as_deref().unwrap_or(&p.uid))
                        .with("field", &field)
                        .into());
                }
                if !source_ids.contains(&p.lot) {
                    source_ids.push(p.lot.clone());
                }
            }
            parts.push((item.clone(), found));
        }
        source_ids.sort();
        let mut sources = Vec::with_capacity(source_ids.len());
        for id in &source_ids {
            if let Some(l) = tx.lock_unit_lot(id).await? {
                sources.push(l);
            }
        }
        let mut components = Vec::with_capacity(req.components.len());
        for (item, lot) in &req.components {
            let c = tx
                .lock_component_lot(lot)
                .await?
                .ok_or_else(|| Code::ComponentLotNotFound.refusal().with("lot", lot))?;
            components.push((item.clone(), c));
        }
        let n = parts.first().map_or(0, |(_, p)| p.len());
        let prefix = req.prefix.as_deref().unwrap_or("M");
        check_prefix(prefix)?;
        let serials = tx.reserve_serials(prefix, n as u64).await?;
        let lot_id = match serials.first() {
            Some(s) => format!("{s}-LOT"),
            None => String::new(),
        };
        let build = ModuleBuild {
            lot_id,
            product: &req.product,
            route: &route,
            tool: &tool,
            parts: &parts,
            components: &components,
            sources: &sources,
            serials: &serials,
        };
        let built = integrate::integrate(&build, self.actor, tx.at())?;
        tx.insert_built(&built).await?;
        Ok(built)
    }
}

impl App {
    /// The pick list of wafer lot `lot` from its stored probe map, with `overrides` applied
    /// (staff only: it is the die bonder's work order).
    pub async fn pick_list(
        &self,
        lot: &str,
        overrides: &[PickOverride],
        actor: &Actor,
    ) -> Result<PickList, AppError> {
        require(actor, Action::ReadMasterData, "read pick lists")?;
        let view = self
            .store
            .lot(lot, actor)
            .await?
            .ok_or_else(|| AppError::from(Code::LotNotFound.refusal().with("lot", lot)))?;
        let dies = self.store.probe_dies(lot, &platform_reader()).await?;
        Ok(pick::pick_list(lot, &view.product, dies, overrides)?)
    }

    /// The pick list as a SEMI E142 map for the die bonder.
    pub async fn pick_list_e142(&self, lot: &str, actor: &Actor) -> Result<String, AppError> {
        let list = self.pick_list(lot, &[], actor).await?;
        Ok(unit::e142::write(&list, pilotline_store::now()))
    }

    /// Dices completed, probed wafer lot `lot` into unit lots of its picked dies.
    pub async fn dice(
        &self,
        lot: &str,
        req: &DiceRequest,
        actor: &Actor,
    ) -> Result<Vec<UnitLot>, AppError> {
        require(actor, Action::MoveLots, "dice lots")?;
        let diced = self.store.write(DiceWork { lot, req, actor }).await?;
        Ok(diced.lots)
    }

    /// Runs one transaction on unit lot `lot`.
    pub async fn unit_command(
        &self,
        lot: &str,
        command: &UnitCommand,
        actor: &Actor,
    ) -> Result<UnitLotView, AppError> {
        require(actor, Action::MoveLots, "move unit lots")?;
        self.store
            .write(UnitWork {
                lot,
                command,
                actor,
            })
            .await?;
        self.unit_lot(lot, actor).await
    }

    /// Unit lot `lot` with its counts and log.
    pub async fn unit_lot(&self, lot: &str, actor: &Actor) -> Result<UnitLotView, AppError> {
        require(actor, Action::ReadLots, "read unit lots")?;
        let l = self
            .store
            .unit_lot(lot, actor)
            .await?
            .ok_or_else(|| not_found(lot))?;
        let route = self
            .store
            .route(&l.route_id, Some(l.route_version))
            .await?
            .ok_or_else(|| AppError::Internal(format!("route of unit lot {lot} missing")))?;
        let counts = self
            .store
            .unit_step_counts(lot, actor)
            .await?
            .unwrap_or_default();
        let events = self
            .store
            .unit_lot_events(lot, actor)
            .await?
            .unwrap_or_default();
        Ok(UnitLotView {
            step: route
                .steps
                .get(l.step_index)
                .map(|s| s.id.clone())
                .unwrap_or_default(),
            steps: route.steps.len(),
            lot: l,
            counts,
            events,
        })
    }

    /// A page of unit lot `lot`'s units.
    pub async fn unit_lot_units(
        &self,
        lot: &str,
        after: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<UnitPage, AppError> {
        require(actor, Action::ReadLots, "read unit lots")?;
        self.store
            .unit_lot_units(lot, after, limit, actor)
            .await?
            .ok_or_else(|| not_found(lot))
    }

    /// The unit lots wafer lot `lot` was diced into (a tenant: its own).
    pub async fn unit_lots_of(&self, lot: &str, actor: &Actor) -> Result<Vec<UnitLot>, AppError> {
        require(actor, Action::ReadLots, "read unit lots")?;
        Ok(self.store.unit_lots_of(lot, actor).await?)
    }

    /// The newest unit lots of dies or of modules.
    pub async fn unit_lots(
        &self,
        modules: bool,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<UnitLot>, AppError> {
        require(actor, Action::ReadLots, "read unit lots")?;
        Ok(self.store.unit_lots(modules, limit, actor).await?)
    }

    /// The unit with serial (or id) `key`.
    pub async fn unit(&self, key: &str, actor: &Actor) -> Result<UnitRecord, AppError> {
        require(actor, Action::ReadLots, "read units")?;
        self.store.unit(key, actor).await?.ok_or_else(|| {
            Code::UnitNotFound
                .refusal()
                .with("unit", key)
                .with("field", "serial")
                .into()
        })
    }

    /// What unit `key` is made of and went through, down to the runs of its dies' wafer lots:
    /// each step's tool and recipe, the tool's process data and the lot's readings.
    pub async fn unit_genealogy(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<UnitGenealogy, AppError> {
        require(actor, Action::ReadLots, "read units")?;
        let mut g = self
            .store
            .unit_genealogy(key, actor)
            .await?
            .ok_or_else(|| {
                AppError::from(
                    Code::UnitNotFound
                        .refusal()
                        .with("unit", key)
                        .with("field", "serial"),
                )
            })?;
        let reader = platform_reader();
        for source in g.source_lots() {
            // The lot the die was diced from, then the lots it was split from.
            let mut lot = Some(source);
            let mut before: Option<chrono::DateTime<chrono::Utc>> = None;
            while let Some(id) = lot.take() {
                let Some(view) = self.store.lot(&id, &reader).await? else {
                    break;
                };
                let runs = self
                    .store
                    .process_data(
                        &id,
                        &reader,
                        ProcessDataQuery {
                            limit: GENEALOGY_SAMPLES,
                            ..ProcessDataQuery::default()
                        },
                    )
                    .await?;
                let readings = self
                    .store
                    .measurements(Some(&id), None, 1_000, &reader)
                    .await?;
                let runs = runs
                    .into_iter()
                    .filter(|r| before.is_none_or(|b| r.tracked_in < b))
                    .map(|run| RunTrace {
                        measurements: readings
                            .iter()
                            .filter(|m| m.step == run.step)
                            .cloned()
                            .collect(),
                        run,
                    })
                    .collect();
                g.wafer_lots.push(WaferLotTrace {
                    lot: id.clone(),
                    product: view.product.clone(),
                    route: view.route.clone(),
                    runs,
                });
                before = Some(view.created_at);
                lot = view.parent.clone();
            }
        }
        Ok(g)
    }

    /// Every unit diced from wafer lot `lot` (and its split children) and the module each went
    /// into: a page.
    pub async fn where_used_lot(
        &self,
        lot: &str,
        after: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<WhereUsed, AppError> {
        require(actor, Action::ReadLots, "read where-used")?;
        if self.store.lot(lot, &platform_reader()).await?.is_none() {
            return Err(Code::LotNotFound.refusal().with("lot", lot).into());
        }
        let w = self.store.where_used_lot(lot, after, limit, actor).await?;
        if w.units == 0 && actor.tenant_scope().is_some() {
            // A tenant with no unit of the lot learns nothing of it.
            return Err(Code::LotNotFound.refusal().with("lot", lot).into());
        }
        Ok(w)
    }

    /// Every unit made from what tool `equipment`'s run starting at `started` (microseconds
    /// since 1970) processed, and the module each went into.
    pub async fn where_used_run(
        &self,
        equipment: &str,
        started: i64,
        after: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<WhereUsed, AppError> {
        require(actor, Action::ReadLots, "read where-used")?;
        let lot = self
            .store
            .run_lot(equipment, started)
            .await?
            .ok_or_else(|| {
                AppError::from(
                    Code::RunNotFound
                        .refusal()
                        .with("equipment", equipment)
                        .with("run", started),
                )
            })?;
        if self
            .store
            .unit_lot(&lot, &platform_reader())
            .await?
            .is_some()
        {
            let items: Vec<WhereUsedModule> = self.store.where_used_unit_lot(&lot, actor).await?;
            if items.is_empty() && actor.tenant_scope().is_some() {
                return Err(Code::RunNotFound
                    .refusal()
                    .with("equipment", equipment)
                    .with("run", started)
                    .into());
            }
            return Ok(WhereUsed {
                lots: vec![lot],
                units: items.len() as u64,
                modules: items.iter().filter(|i| i.module.is_some()).count() as u64,
                items,
                next_cursor: None,
            });
        }
        match self.where_used_lot(&lot, after, limit, actor).await {
            Err(e) if e.code() == Some(Code::LotNotFound) => Err(Code::RunNotFound
                .refusal()
                .with("equipment", equipment)
                .with("run", started)
                .into()),
            other => other,
        }
    }

    /// Sets product `product`'s calibration schema (engineers).
    pub async fn put_calibration_schema(
        &self,
        product: &str,
        schema: &CalibrationSchema,
        actor: &Actor,
    ) -> Result<(), AppError> {
        require(actor, Action::WriteMasterData, "set calibration schemas")?;
        schema.check()?;
        struct PutSchema<'a>(&'a str, &'a CalibrationSchema, &'a Actor);
        impl Work for PutSchema<'_> {
            type Output = ();
            async fn run(&mut self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
                tx.put_calibration_schema(self.0, self.1, self.2).await
            }
        }
        Ok(self.store.write(PutSchema(product, schema, actor)).await?)
    }

    /// Stores part `serial`'s calibration coefficients, checked against its product's schema.
    pub async fn calibrate(
        &self,
        serial: &str,
        doc: &serde_json::Value,
        actor: &Actor,
    ) -> Result<UnitRecord, AppError> {
        require(actor, Action::MoveLots, "calibrate parts")?;
        struct Calibrate<'a>(&'a str, &'a serde_json::Value, &'a Actor);
        impl Work for Calibrate<'_> {
            type Output = ();
            async fn run(&mut self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
                let (serial, doc, actor) = (self.0, self.1, self.2);
                let part = tx
                    .part(serial)
                    .await?
                    .filter(|p| actor.may_see_tenant(p.tenant.as_deref()))
                    .ok_or_else(|| {
                        Code::UnitNotFound
                            .refusal()
                            .with("unit", serial)
                            .with("field", "serial")
                    })?;
                if part.state != unit::UnitState::Active {
                    return Err(Code::UnitNotActive
                        .refusal()
                        .with("field", "serial")
                        .with("unit", serial)
                        .with("state", part.state.as_str())
                        .into());
                }
                let schema = tx.calibration_schema(&part.product).await?.ok_or_else(|| {
                    Code::CalibrationSchemaInvalid
                        .refusal()
                        .with("reason", format!("product {} has none yet", part.product))
                })?;
                schema.validate(serial, doc)?;
                tx.set_calibration(serial, doc, actor).await
            }
        }
        self.store.write(Calibrate(serial, doc, actor)).await?;
        self.unit(serial, actor).await
    }

    /// Product `product`'s calibration schema.
    pub async fn calibration_schema(
        &self,
        product: &str,
        actor: &Actor,
    ) -> Result<CalibrationSchema, AppError> {
        require(actor, Action::ReadMasterData, "read calibration schemas")?;
        self.store
            .calibration_schema(product)
            .await?
            .ok_or_else(|| {
                Code::ProductNotFound
                    .refusal()
                    .with("product", product)
                    .into()
            })
    }

    /// Receives a supplier lot of components.
    pub async fn receive_components(
        &self,
        r: &ComponentReceipt,
        actor: &Actor,
    ) -> Result<ComponentLot, AppError> {
        require(actor, Action::MoveLots, "receive components")?;
        for (field, v) in [
            ("id", &r.id),
            ("part_number", &r.part_number),
            ("supplier", &r.supplier),
            ("supplier_lot", &r.supplier_lot),
        ] {
            pilotline_domain::refusal::check_text(field, v, 64)?;
        }
        if r.quantity == 0 {
            return Err(Code::BodyInvalid
                .refusal()
                .with("field", "quantity")
                .with("reason", "receive at least one")
                .into());
        }
        let lot = ComponentLot {
            id: r.id.clone(),
            part_number: r.part_number.clone(),
            supplier: r.supplier.clone(),
            supplier_lot: r.supplier_lot.clone(),
            quantity: r.quantity,
            remaining: r.quantity,
        };
        struct Receive<'a>(&'a ComponentLot, &'a Actor);
        impl Work for Receive<'_> {
            type Output = ();
            async fn run(&mut self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
                tx.insert_component_lot(self.0, self.1).await
            }
        }
        self.store.write(Receive(&lot, actor)).await?;
        Ok(lot)
    }

    /// The component lots received, newest first (staff).
    pub async fn component_lots(&self, actor: &Actor) -> Result<Vec<ComponentLot>, AppError> {
        require(actor, Action::ReadMasterData, "read component lots")?;
        Ok(self.store.component_lots(500).await?)
    }

    /// Builds modules from parts and components by the module route's bill of materials.
    pub async fn build_modules(
        &self,
        req: &BuildRequest,
        actor: &Actor,
    ) -> Result<BuiltModules, AppError> {
        require(actor, Action::MoveLots, "build modules")?;
        let built = self.store.write(BuildWork { req, actor }).await?;
        Ok(BuiltModules {
            modules: built.modules.iter().map(|m| m.serial.clone()).collect(),
            lot: built.lots[0].clone(),
        })
    }
}
