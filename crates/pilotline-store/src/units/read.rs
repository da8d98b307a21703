//! Reading the back end: unit lots, units, a unit's genealogy and the where-used of a wafer
//! lot or a tool run. A tenant reads its own units only (on PostgreSQL row-level security is
//! the second wall behind each query's tenant filter).

use pilotline_domain::Actor;
use pilotline_domain::unit::bom::ComponentLot;
use pilotline_domain::unit::{StepCount, UnitLot, UnitLotEvent, UnitLotEventKind};
use serde::Serialize;
use std::collections::BTreeSet;

use super::{UnitRecord, unit_from_row, unit_lot_from_row};
use crate::conn::{Conn, RowExt, params};
use crate::error::corrupt;
use crate::{ProcessRun, Store, StoreError, tenant_read};

/// One page of a unit lot's units.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitPage {
    /// The units, in tray order.
    pub items: Vec<UnitRecord>,
    /// Pass as `after` for the next page (absent on the last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What went into a module for one item of its bill of materials.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModulePart {
    /// The item (`sensor`, `asic`, `housing`).
    pub item: String,
    /// How many.
    pub quantity: u32,
    /// The tracked part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitRecord>,
    /// The supplier lot of a bought component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentLot>,
}

/// A unit lot a unit (or one of its parts) passed through, with each step's count.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitLotTrace {
    /// The unit lot.
    pub lot: UnitLot,
    /// Its steps' counts (tool, recipe, in/out/scrapped), in order.
    pub steps: Vec<StepCount>,
}

/// One run of a wafer lot on a tool, with the tool's process data and the lot's metrology
/// at that step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunTrace {
    /// The run, its samples included (the first ones; the lot's process data has the rest).
    #[serde(flatten)]
    pub run: ProcessRun,
    /// Readings taken at the step.
    pub measurements: Vec<crate::Measurement>,
}

/// A wafer lot the die went through (the lot it was diced from and the lots it was split
/// from), with every run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaferLotTrace {
    /// The wafer lot.
    pub lot: String,
    /// Its product.
    pub product: String,
    /// Route followed.
    pub route: String,
    /// Every run, in order.
    pub runs: Vec<RunTrace>,
}

/// Everything a unit is made of and went through: for a module its parts (down to each
/// die's wafer and position) and components; the unit lots and their steps; the wafer lots
/// and their runs (filled by the application, which decides what a reader may see of them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitGenealogy {
    /// The unit asked about.
    pub unit: UnitRecord,
    /// A module's parts and components.
    pub parts: Vec<ModulePart>,
    /// The unit lots it and its parts were in.
    pub unit_lots: Vec<UnitLotTrace>,
    /// The wafer lots its dies came from, with their runs.
    pub wafer_lots: Vec<WaferLotTrace>,
}

impl UnitGenealogy {
    /// The wafer lots the genealogy's dies were diced from, in order.
    pub fn source_lots(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        let dies =
            std::iter::once(&self.unit).chain(self.parts.iter().filter_map(|p| p.unit.as_ref()));
        for d in dies {
            if let Some(o) = &d.origin {
                out.insert(o.wafer_lot.clone());
            }
        }
        out.into_iter().collect()
    }
}

/// A part or die made from a lot (or run), and the module it went into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhereUsedModule {
    /// The die's id (`wafer:x:y`).
    pub unit: String,
    /// Its serial, once packaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Its state (active, scrapped, consumed).
    pub state: String,
    /// Its unit lot.
    pub unit_lot: String,
    /// The module it was built into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// The recall answer: every unit made from a lot or a tool run, and the modules they are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhereUsed {
    /// The wafer lots the units came from.
    pub lots: Vec<String>,
    /// Units in all (the reader's own).
    pub units: u64,
    /// Modules in all.
    pub modules: u64,
    /// This page of units.
    pub items: Vec<WhereUsedModule>,
    /// Pass as `after` for the next page (absent on the last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub(crate) fn component_from_row<R: RowExt>(r: &R) -> Result<ComponentLot, StoreError> {
    Ok(ComponentLot {
        id: r.text("id")?,
        part_number: r.text("part_number")?,
        supplier: r.text("supplier")?,
        supplier_lot: r.text("supplier_lot")?,
        quantity: r.int("quantity")? as u32,
        remaining: r.int("remaining")? as u32,
    })
}

fn event_kind(s: &str) -> Result<UnitLotEventKind, StoreError> {
    use UnitLotEventKind::*;
    [
        Created, TrackedIn, TrackedOut, Split, Merged, Scrapped, Serialised, Consumed,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
    .ok_or_else(|| corrupt(format!("unit lot event kind {s}")))
}

async fn unit_lot_in<C: Conn>(
    c: &mut C,
    id: &str,
    actor: &Actor,
) -> Result<Option<UnitLot>, StoreError> {
    let lot = c
        .fetch_optional(select_unit_lots!("WHERE id = $1"), params![id])
        .await?
        .map(|r| unit_lot_from_row(&r))
        .transpose()?;
    Ok(lot.filter(|l| actor.may_see_tenant(l.tenant.as_deref())))
}

async fn step_counts_in<C: Conn>(c: &mut C, lot: &str) -> Result<Vec<StepCount>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT lot_id, step_index, step_id, equipment, recipe, units_in, units_out, scrapped, \
             started_at, ended_at FROM unit_step_counts WHERE lot_id = $1 ORDER BY started_at",
            params![lot],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StepCount {
                lot: r.text("lot_id")?,
                step_index: r.int("step_index")? as usize,
                step: r.text("step_id")?,
                equipment: r.text("equipment")?,
                recipe: r.text("recipe")?,
                units_in: r.int("units_in")? as u32,
                units_out: r.int("units_out")? as u32,
                scrapped: r.int("scrapped")? as u32,
                started_at: r.time("started_at")?,
                ended_at: r.time("ended_at")?,
            })
        })
        .collect()
}

async fn unit_in<C: Conn>(
    c: &mut C,
    key: &str,
    actor: &Actor,
) -> Result<Option<UnitRecord>, StoreError> {
    let mut row = c
        .fetch_optional(select_units!("WHERE u.serial = $1"), params![key])
        .await?;
    if row.is_none() {
        row = c
            .fetch_optional(select_units!("WHERE u.uid = $1"), params![key])
            .await?;
    }
    let unit = row.map(|r| unit_from_row(&r)).transpose()?;
    Ok(unit.filter(|u| actor.may_see_tenant(u.tenant.as_deref())))
}

/// The unit lots unit `num` was in: the lots it moved out of, then its own.
async fn lots_of_unit<C: Conn>(c: &mut C, u: &UnitRecord) -> Result<Vec<String>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT from_lot FROM unit_moves WHERE unit_num = $1 ORDER BY at",
            params![u.num],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let l = r.text("from_lot")?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    if !out.contains(&u.lot) {
        out.push(u.lot.clone());
    }
    Ok(out)
}

impl Store {
    /// Unit lot `id` as `actor` may see it.
    pub async fn unit_lot(&self, id: &str, actor: &Actor) -> Result<Option<UnitLot>, StoreError> {
        tenant_read!(self, actor, |c| unit_lot_in(c, id, actor).await)
    }

    /// The unit lots diced from wafer lot `lot` (and their split children) that `actor` may
    /// see.
    pub async fn unit_lots_of(&self, lot: &str, actor: &Actor) -> Result<Vec<UnitLot>, StoreError> {
        tenant_read!(self, actor, |c| {
            let rows = c
                .fetch_all(
                    select_unit_lots!("WHERE source_lot = $1 ORDER BY id"),
                    params![lot],
                )
                .await?;
            let lots: Vec<UnitLot> = rows
                .iter()
                .map(unit_lot_from_row)
                .collect::<Result<_, _>>()?;
            Ok(lots
                .into_iter()
                .filter(|l| actor.may_see_tenant(l.tenant.as_deref()))
                .collect())
        })
    }

    /// Unit lots of `kind` (`die` or `module`) in `state`, newest first, at most `limit`.
    pub async fn unit_lots(
        &self,
        module: bool,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<UnitLot>, StoreError> {
        let kind = if module { "module" } else { "die" };
        let limit = i64::from(limit.clamp(1, 500));
        tenant_read!(self, actor, |c| {
            let rows = match actor.tenant_scope() {
                Some(t) => {
                    c.fetch_all(
                        select_unit_lots!(
                            "WHERE kind = $1 AND tenant = $2 ORDER BY created_at DESC, id LIMIT $3"
                        ),
                        params![kind, t, limit],
                    )
                    .await?
                }
                None => {
                    c.fetch_all(
                        select_unit_lots!("WHERE kind = $1 ORDER BY created_at DESC, id LIMIT $2"),
                        params![kind, limit],
                    )
                    .await?
                }
            };
            rows.iter().map(unit_lot_from_row).collect()
        })
    }

    /// A page of unit lot `id`'s units (active, scrapped and consumed), in tray order.
    pub async fn unit_lot_units(
        &self,
        id: &str,
        after: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<Option<UnitPage>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let after: i64 = match after {
            Some(a) => a.parse().map_err(|_| {
                pilotline_domain::Code::QueryInvalid
                    .refusal()
                    .with("parameter", "after")
                    .with("reason", "not a cursor this list gave")
            })?,
            None => 0,
        };
        tenant_read!(self, actor, |c| {
            if unit_lot_in(c, id, actor).await?.is_none() {
                return Ok(None);
            }
            let rows = c
                .fetch_all(
                    select_units!("WHERE u.lot_id = $1 AND u.num > $2 ORDER BY u.num LIMIT $3"),
                    params![id, after, limit + 1],
                )
                .await?;
            let mut items: Vec<UnitRecord> =
                rows.iter().map(unit_from_row).collect::<Result<_, _>>()?;
            let next_cursor = if items.len() as i64 > limit {
                items.truncate(limit as usize);
                items.last().map(|u| u.num.to_string())
            } else {
                None
            };
            Ok(Some(UnitPage { items, next_cursor }))
        })
    }

    /// Unit lot `id`'s events, oldest first.
    pub async fn unit_lot_events(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Option<Vec<UnitLotEvent>>, StoreError> {
        tenant_read!(self, actor, |c| {
            if unit_lot_in(c, id, actor).await?.is_none() {
                return Ok(None);
            }
            let rows = c
                .fetch_all(
                    "SELECT lot_id, kind, at, user_name, step_index, units, detail FROM unit_lot_events \
                     WHERE lot_id = $1 ORDER BY id",
                    params![id],
                )
                .await?;
            let events = rows
                .iter()
                .map(|r| {
                    Ok(UnitLotEvent {
                        lot: r.text("lot_id")?,
                        kind: event_kind(&r.text("kind")?)?,
                        at: r.time("at")?,
                        user: r.text("user_name")?,
                        step_index: r.int("step_index")? as usize,
                        units: r.int("units")? as u32,
                        detail: r.text("detail")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Some(events))
        })
    }

    /// Unit lot `id`'s step counts, in order.
    pub async fn unit_step_counts(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<Option<Vec<StepCount>>, StoreError> {
        tenant_read!(self, actor, |c| {
            if unit_lot_in(c, id, actor).await?.is_none() {
                return Ok(None);
            }
            Ok(Some(step_counts_in(c, id).await?))
        })
    }

    /// The unit with serial (or unit id) `key`, as `actor` may see it.
    pub async fn unit(&self, key: &str, actor: &Actor) -> Result<Option<UnitRecord>, StoreError> {
        tenant_read!(self, actor, |c| unit_in(c, key, actor).await)
    }

    /// What unit `key` is made of and went through, down to its dies' wafer lots (whose runs
    /// the application adds).
    pub async fn unit_genealogy(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<Option<UnitGenealogy>, StoreError> {
        tenant_read!(self, actor, |c| {
            let Some(unit) = unit_in(c, key, actor).await? else {
                return Ok(None);
            };
            let rows = c
                .fetch_all(
                    "SELECT mp.item, mp.quantity, mp.unit_num, mp.component_lot, \
                     cl.id, cl.part_number, cl.supplier, cl.supplier_lot, cl.quantity AS cl_quantity, \
                     cl.remaining FROM module_parts mp LEFT JOIN component_lots cl ON cl.id = mp.component_lot \
                     WHERE mp.module_num = $1 ORDER BY mp.item",
                    params![unit.num],
                )
                .await?;
            let mut parts = Vec::with_capacity(rows.len());
            for r in &rows {
                let part = match r.opt_int("unit_num")? {
                    Some(num) => c
                        .fetch_optional(select_units!("WHERE u.num = $1"), params![num])
                        .await?
                        .map(|r| unit_from_row(&r))
                        .transpose()?,
                    None => None,
                };
                let component = match r.opt_text("component_lot")? {
                    Some(_) => Some(ComponentLot {
                        id: r.text("id")?,
                        part_number: r.text("part_number")?,
                        supplier: r.text("supplier")?,
                        supplier_lot: r.text("supplier_lot")?,
                        quantity: r.int("cl_quantity")? as u32,
                        remaining: r.int("remaining")? as u32,
                    }),
                    None => None,
                };
                parts.push(ModulePart {
                    item: r.text("item")?,
                    quantity: r.int("quantity")? as u32,
                    unit: part,
                    component,
                });
            }
            let mut lot_ids = lots_of_unit(c, &unit).await?;
            for p in parts.iter().filter_map(|p| p.unit.as_ref()) {
                for l in lots_of_unit(c, p).await? {
                    if !lot_ids.contains(&l) {
                        lot_ids.insert(0, l);
                    }
                }
            }
            let mut unit_lots = Vec::with_capacity(lot_ids.len());
            for id in &lot_ids {
                let lot = c
                    .fetch_optional(select_unit_lots!("WHERE id = $1"), params![id.as_str()])
                    .await?
                    .map(|r| unit_lot_from_row(&r))
                    .transpose()?;
                if let Some(lot) = lot {
                    let steps = step_counts_in(c, id).await?;
                    unit_lots.push(UnitLotTrace { lot, steps });
                }
            }
            Ok(Some(UnitGenealogy {
                unit,
                parts,
                unit_lots,
                wafer_lots: Vec::new(),
            }))
        })
    }

    /// Every unit diced from wafer lot `lot` or its split children, with the module each went
    /// into: a page of at most `limit` after cursor `after`.
    pub async fn where_used_lot(
        &self,
        lot: &str,
        after: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<WhereUsed, StoreError> {
        let limit = limit.clamp(1, 1000) as usize;
        let (mut from_lot, mut from_num) = parse_cursor(after)?;
        tenant_read!(self, actor, |c| {
            // The lot and its split children (`A1.1`, `A1.1.2` …): ids from `A1.` to `A1/`.
            let (lo, hi) = (format!("{lot}."), format!("{lot}/"));
            let rows = c
                .fetch_all(
                    "SELECT id FROM lots WHERE id = $1 OR (id >= $2 AND id < $3) ORDER BY id",
                    params![lot, lo.as_str(), hi.as_str()],
                )
                .await?;
            let lots: Vec<String> = rows
                .iter()
                .map(|r| r.text("id").map_err(StoreError::from))
                .collect::<Result<_, _>>()?;
            let tenant = actor.tenant_scope();
            let (mut units, mut modules) = (0u64, 0u64);
            let mut items = Vec::new();
            let mut next_cursor = None;
            for l in &lots {
                let counts = match tenant {
                    Some(t) => {
                        c.fetch_optional(
                            "SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT) AS n, \
                             CAST(COALESCE(SUM(modules), 0) AS BIGINT) AS m \
                             FROM lot_unit_counts WHERE source_lot = $1 AND tenant = $2",
                            params![l.as_str(), t],
                        )
                        .await?
                    }
                    None => {
                        c.fetch_optional(
                            "SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT) AS n, \
                             CAST(COALESCE(SUM(modules), 0) AS BIGINT) AS m \
                             FROM lot_unit_counts WHERE source_lot = $1",
                            params![l.as_str()],
                        )
                        .await?
                    }
                };
                if let Some(r) = counts {
                    units += r.int("n")? as u64;
                    modules += r.int("m")? as u64;
                }
                if items.len() >= limit || from_lot.as_deref().is_some_and(|f| l.as_str() < f) {
                    continue;
                }
                let start = if from_lot.as_deref() == Some(l.as_str()) {
                    from_num
                } else {
                    0
                };
                from_lot = None;
                from_num = 0;
                let room = limit - items.len();
                let want = room as i64 + 1;
                let rows = match tenant {
                    Some(t) => {
                        c.fetch_all(
                            "SELECT d.num, d.uid, d.serial, d.state, d.lot_id, m.uid AS module FROM units d \
                             LEFT JOIN module_parts mp ON mp.unit_num = d.num \
                             LEFT JOIN units m ON m.num = mp.module_num \
                             WHERE d.source_lot = $1 AND d.tenant = $4 AND d.num > $2 ORDER BY d.num LIMIT $3",
                            params![l.as_str(), start, want, t],
                        )
                        .await?
                    }
                    None => {
                        c.fetch_all(
                            "SELECT d.num, d.uid, d.serial, d.state, d.lot_id, m.uid AS module FROM units d \
                             LEFT JOIN module_parts mp ON mp.unit_num = d.num \
                             LEFT JOIN units m ON m.num = mp.module_num \
                             WHERE d.source_lot = $1 AND d.num > $2 ORDER BY d.num LIMIT $3",
                            params![l.as_str(), start, want],
                        )
                        .await?
                    }
                };
                for r in rows.iter().take(room) {
                    items.push(WhereUsedModule {
                        unit: r.text("uid")?,
                        serial: r.opt_text("serial")?,
                        state: r.text("state")?,
                        unit_lot: r.text("lot_id")?,
                        module: r.opt_text("module")?,
                    });
                }
                if rows.len() > room {
                    next_cursor = Some(format!("{l}|{}", rows[room - 1].int("num")?));
                } else if items.len() == limit {
                    // This lot ended with the page; the next lot starts the next one.
                    next_cursor = lots
                        .iter()
                        .find(|x| x.as_str() > l.as_str())
                        .map(|x| format!("{x}|0"));
                }
            }
            Ok(WhereUsed {
                lots,
                units,
                modules,
                items,
                next_cursor,
            })
        })
    }

    /// The wafer or unit lot that tool `equipment` ran starting at `started` (microseconds
    /// since 1970), when `actor` may know of it.
    pub async fn run_lot(
        &self,
        equipment: &str,
        started: i64,
    ) -> Result<Option<String>, StoreError> {
        crate::with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "SELECT lot_id FROM equipment_runs WHERE equipment_id = $1 AND started_at = $2 \
                     ORDER BY lot_id LIMIT 1",
                    params![equipment, started],
                )
                .await?;
            Ok(row.map(|r| r.text("lot_id")).transpose()?)
        })
    }

    /// The probe map of wafer lot `lot` (see [`crate::Tx::probe_dies`]).
    pub async fn probe_dies(
        &self,
        lot: &str,
        actor: &Actor,
    ) -> Result<Vec<pilotline_domain::unit::pick::ProbeDie>, StoreError> {
        crate::with_read_conn!(self, |c| crate::testdata::probe_dies(c, lot, actor).await)
    }

    /// Product `product`'s calibration schema.
    pub async fn calibration_schema(
        &self,
        product: &str,
    ) -> Result<Option<pilotline_domain::unit::calibration::CalibrationSchema>, StoreError> {
        crate::with_read_conn!(self, |c| {
            c.fetch_optional(
                "SELECT schema FROM calibration_schemas WHERE product = $1",
                params![product],
            )
            .await?
            .map(|r| r.json("schema").map_err(StoreError::from))
            .transpose()
        })
    }

    /// The component lots received, newest first.
    pub async fn component_lots(&self, limit: u32) -> Result<Vec<ComponentLot>, StoreError> {
        let limit = i64::from(limit.clamp(1, 500));
        crate::with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT id, part_number, supplier, supplier_lot, quantity, remaining FROM component_lots \
                     ORDER BY received_at DESC, id LIMIT $1",
                    params![limit],
                )
                .await?;
            rows.iter().map(component_from_row).collect()
        })
    }

    /// Every unit that was in unit lot `lot` (now or before a split or merge moved it on),
    /// with the module each went into — the recall answer of a back-end tool run.
    pub async fn where_used_unit_lot(
        &self,
        lot: &str,
        actor: &Actor,
    ) -> Result<Vec<WhereUsedModule>, StoreError> {
        tenant_read!(self, actor, |c| {
            let rows = c
                .fetch_all(
                    "SELECT d.uid, d.serial, d.state, d.lot_id, d.tenant, m.uid AS module FROM units d \
                     LEFT JOIN module_parts mp ON mp.unit_num = d.num \
                     LEFT JOIN units m ON m.num = mp.module_num \
                     WHERE d.lot_id = $1 OR d.num IN (SELECT unit_num FROM unit_moves WHERE from_lot = $1) \
                     ORDER BY d.num LIMIT 100000",
                    params![lot],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                if !actor.may_see_tenant(r.opt_text("tenant")?.as_deref()) {
                    continue;
                }
                out.push(WhereUsedModule {
                    unit: r.text("uid")?,
                    serial: r.opt_text("serial")?,
                    state: r.text("state")?,
                    unit_lot: r.text("lot_id")?,
                    module: r.opt_text("module")?,
                });
            }
            Ok(out)
        })
    }
}

/// `lot|num` → where a where-used page continues.
fn parse_cursor(after: Option<&str>) -> Result<(Option<String>, i64), StoreError> {
    let Some(a) = after else {
        return Ok((None, 0));
    };
    let bad = || {
        StoreError::from(
            pilotline_domain::Code::QueryInvalid
                .refusal()
                .with("parameter", "after")
                .with("reason", format!("{a:?} is not a cursor this list gave")),
        )
    };
    let (lot, num) = a.rsplit_once('|').ok_or_else(bad)?;
    Ok((Some(lot.to_string()), num.parse().map_err(|_| bad())?))
}
