//! Reading test data back: a lot's yields, wafer and stacked maps, roll-ups, bin Paretos and
//! parametric statistics — all from the per-wafer summaries and the products' bin tables.

use chrono::{DateTime, Datelike, Utc};
use pilotline_domain::event::Change;
use pilotline_domain::{Actor, Code};
use pilotline_yield::{
    BinTable, ParametricStats, StackedMap, WaferMap, WaferSummary, YieldCounts, YieldSummary,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::designs::{Designs, shuttle_designs};
use super::import::TestFileInfo;
use super::{Stage, bin_tables, lot_dies, lot_orientation, lot_product, lot_visible};
use crate::conn::{Conn, Param, RowExt, params};
use crate::{Store, StoreError, scoped_read};

/// Yield of one wafer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaferYield {
    /// Wafer id.
    pub wafer: String,
    /// Its yields.
    pub summary: YieldSummary,
}

/// A lot's yield at one test stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageYield {
    /// Wafer probe or final test.
    pub stage: Stage,
    /// Yields over the stage's part results.
    pub summary: YieldSummary,
    /// Per wafer (one entry with an empty id for final test).
    pub wafers: Vec<WaferYield>,
}

/// A lot's yield from every test file imported for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotYield {
    /// Lot id.
    pub lot: String,
    /// Product whose bin table decides pass/fail.
    pub product: Option<String>,
    /// Whether that product has a bin table (else the parts' own flags decide).
    pub bin_table: bool,
    /// The files the figures come from.
    pub files: Vec<TestFileInfo>,
    /// The headline stage: wafer probe where the lot has any, else final test.
    pub stage: Stage,
    /// Yields of the headline stage: all results, first pass, final.
    pub summary: YieldSummary,
    /// Per wafer, headline stage.
    pub wafers: Vec<WaferYield>,
    /// Every stage the lot has data for.
    pub stages: Vec<StageYield>,
}

/// What yields are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Per lot.
    Lot,
    /// Per wafer (`lot/wafer`).
    Wafer,
    /// Per product (the MES product, else the file's part type).
    Product,
    /// Per design: a start-up's product (`tenant/product`; `platform/…` for the platform's);
    /// on an MPW lot, each design its shuttle's layout placed (`tenant/booking`), the rest of
    /// the wafer (test structures) under `platform/product`.
    Design,
    /// Per tenant (start-up; `platform` for the platform's own and external lots).
    Tenant,
    /// Per test stage (`probe`, `final`).
    Stage,
    /// Per route step the lot was at when tested (`stage` for data from outside the line).
    Step,
    /// Per tool that processed the lot at any step (a lot counts under each of its tools).
    Tool,
    /// Per day tested (UTC).
    Day,
    /// Per ISO week tested.
    Week,
    /// Per month tested.
    Month,
}

/// Which test data a roll-up or Pareto covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YieldFilter {
    /// Tested (else imported) at or after.
    pub from: Option<DateTime<Utc>>,
    /// Tested (else imported) before.
    pub to: Option<DateTime<Utc>>,
    /// One stage only.
    pub stage: Option<Stage>,
    /// One lot only.
    pub lot: Option<String>,
    /// One product only.
    pub product: Option<String>,
    /// One MPW design only (its booking id): its dies on the MPW lots that carry it.
    pub design: Option<String>,
}

/// Yields of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct YieldGroup {
    /// The group's key.
    pub key: String,
    /// Lots in the group.
    pub lots: u32,
    /// Wafers in the group.
    pub wafers: u32,
    /// Yields over its part results.
    pub summary: YieldSummary,
}

/// One failing bin of a Pareto.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParetoBin {
    /// Hard bin.
    pub bin: u16,
    /// Name from the bin table (else the file's HBR).
    pub name: String,
    /// Category from the bin table.
    pub category: String,
    /// Dies whose final result is this bin.
    pub dies: u64,
    /// Share of all failing dies.
    pub share: f64,
    /// Cumulative share, bins in descending order.
    pub cumulative: f64,
}

/// Failing dies by final bin, largest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BinPareto {
    /// Dies covered.
    pub dies: u64,
    /// Dies failing at their final test.
    pub failing_dies: u64,
    /// Failing bins, largest first.
    pub bins: Vec<ParetoBin>,
}

/// One test's parametric statistics on one wafer of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParametricRow {
    /// File id (SHA-256).
    pub file: String,
    /// The statistics.
    #[serde(flatten)]
    pub stats: ParametricStats,
}

/// One wafer summary (or one design's part of an MPW wafer) with what roll-ups group it by.
struct Scanned {
    lot: String,
    stage: Stage,
    wafer: String,
    product: String,
    tenant: Option<String>,
    /// The MPW design (booking) whose dies these are.
    design: Option<String>,
    step: Option<String>,
    at: Option<DateTime<Utc>>,
    summary: WaferSummary,
}

fn decode(r: &impl RowExt, what: &str) -> Result<WaferSummary, StoreError> {
    WaferSummary::decode(&r.blob("dies")?, &r.blob("results")?)
        .ok_or_else(|| StoreError::Corrupt(format!("test summary of {what}")))
}

/// The wafer summaries `filter` selects that `actor` may see: a customer its own tenant's
/// lots, and on MPW lots its own designs' dies.
async fn scan<C: Conn>(
    c: &mut C,
    filter: &YieldFilter,
    actor: &Actor,
) -> Result<Vec<Scanned>, StoreError> {
    let tenant = actor.tenant_scope();
    let rows = c
        .fetch_all(
            "SELECT w.lot_id, w.stage, w.wafer, w.dies, w.results, \
             COALESCE(l.product, e.part_type, '') AS product, l.tenant, \
             (SELECT MAX(COALESCE(f.tested_at, f.imported_at)) FROM test_files f \
              WHERE f.lot_id = w.lot_id AND f.stage = w.stage) AS at, \
             (SELECT f.step_id FROM test_files f WHERE f.lot_id = w.lot_id \
              AND f.stage = w.stage ORDER BY f.num DESC LIMIT 1) AS step_id, \
             m.shuttle_id \
             FROM test_wafers w LEFT JOIN lots l ON l.id = w.lot_id \
             LEFT JOIN external_lots e ON e.id = w.lot_id \
             LEFT JOIN mpw_lots m ON m.lot_id = w.lot_id \
             WHERE ($1 IS NULL OR l.tenant = $1 OR m.shuttle_id IS NOT NULL) \
             AND ($2 IS NULL OR w.stage = $2) \
             AND ($3 IS NULL OR w.lot_id = $3) \
             AND ($4 IS NULL OR COALESCE(l.product, e.part_type) = $4) \
             AND ($5 IS NULL OR m.shuttle_id IS NOT NULL) \
             ORDER BY w.lot_id, w.stage, w.wafer",
            vec![
                Param::from(tenant),
                Param::from(filter.stage.map(Stage::as_str)),
                Param::from(filter.lot.as_deref()),
                Param::from(filter.product.as_deref()),
                Param::from(filter.design.as_deref()),
            ],
        )
        .await?;
    let mut shuttles: HashMap<String, Designs> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let at = r.opt_time("at")?;
        if filter.from.is_some_and(|from| at.is_none_or(|t| t < from))
            || filter.to.is_some_and(|to| at.is_none_or(|t| t >= to))
        {
            continue;
        }
        let lot = r.text("lot_id")?;
        let wafer = r.text("wafer")?;
        let summary = decode(r, &format!("wafer {wafer} of lot {lot}"))?;
        let whole = Scanned {
            lot,
            stage: Stage::parse(&r.text("stage")?)?,
            wafer,
            product: r.text("product")?,
            tenant: r.opt_text("tenant")?,
            design: None,
            step: r.opt_text("step_id")?,
            at,
            summary: Default::default(),
        };
        let Some(shuttle) = r.opt_text("shuttle_id")? else {
            out.push(Scanned { summary, ..whole });
            continue;
        };
        if !shuttles.contains_key(&shuttle) {
            let d = shuttle_designs(c, &shuttle, actor).await?;
            shuttles.insert(shuttle.clone(), d);
        }
        for (design, part) in shuttles[&shuttle].split(&summary) {
            let keep = match (design, filter.design.as_deref()) {
                (Some(d), Some(b)) => d.booking == b,
                (Some(_), None) => true,
                // The rest of an MPW wafer is the platform's: staff only.
                (None, want) => want.is_none() && tenant.is_none(),
            };
            if keep {
                out.push(Scanned {
                    tenant: design.map(|d| d.tenant.clone()).or(whole.tenant.clone()),
                    design: design.map(|d| d.booking.clone()),
                    summary: part,
                    lot: whole.lot.clone(),
                    wafer: whole.wafer.clone(),
                    product: whole.product.clone(),
                    step: whole.step.clone(),
                    ..whole
                });
            }
        }
    }
    Ok(out)
}

/// The names the lots' files give hard bins (HBR), for bins no table names.
async fn declared_names<C: Conn>(
    c: &mut C,
    lot: Option<&str>,
) -> Result<BTreeMap<u16, String>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT DISTINCT b.bin, b.name FROM test_file_bins b \
             JOIN test_files f ON f.num = b.file_num \
             WHERE b.kind = 'hard' AND b.name <> '' AND ($1 IS NULL OR f.lot_id = $1) \
             ORDER BY b.bin, b.name",
            params![lot],
        )
        .await?;
    let mut names = BTreeMap::new();
    for r in &rows {
        names.entry(r.int("bin")? as u16).or_insert(r.text("name")?);
    }
    Ok(names)
}

/// The bin table of lot `lot`'s product (empty when it has none).
pub(super) async fn lot_bin_table<C: Conn>(c: &mut C, lot: &str) -> Result<BinTable, StoreError> {
    Ok(match lot_product(c, lot).await? {
        Some(p) => bin_tables(c, Some(&p))
            .await?
            .remove(&p)
            .unwrap_or_default(),
        None => BinTable::default(),
    })
}

/// Tools each lot was tracked in on, from the lots' histories.
async fn lot_tools<C: Conn>(c: &mut C) -> Result<HashMap<String, BTreeSet<String>>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT lot_id, change FROM lot_events WHERE kind = 'tracked_in'",
            vec![],
        )
        .await?;
    let mut tools: HashMap<String, BTreeSet<String>> = HashMap::new();
    for r in &rows {
        if let Change::TrackedIn { equipment, .. } = r.json::<Change>("change")? {
            tools
                .entry(r.text("lot_id")?)
                .or_default()
                .insert(equipment);
        }
    }
    Ok(tools)
}

impl Store {
    /// The yield of lot `lot` from its per-wafer summaries, judged by its product's bin table
    /// (the part flag where there is none); `None` when the lot is unknown, not visible to
    /// `actor`, or has no test data. On an MPW lot a tenant's figures cover its own dies (and
    /// list no files: they hold every tenant's dies); `design` narrows to one design.
    pub async fn lot_yield(
        &self,
        lot: &str,
        design: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<LotYield>, StoreError> {
        let files = self.test_files(Some(lot), 1000, actor).await?;
        scoped_read!(self, actor, |c| {
            let Some(scope) = lot_dies(c, lot, actor, design).await? else {
                return Ok(None);
            };
            let product = lot_product(c, lot).await?;
            let table = match &product {
                Some(p) => bin_tables(c, Some(p)).await?.remove(p).unwrap_or_default(),
                None => BinTable::default(),
            };
            let rows = c
                .fetch_all(
                    "SELECT stage, wafer, dies, results FROM test_wafers WHERE lot_id = $1 \
                     ORDER BY stage, wafer",
                    params![lot],
                )
                .await?;
            let mut stages: BTreeMap<Stage, (YieldCounts, Vec<WaferYield>)> = BTreeMap::new();
            for r in &rows {
                let wafer = r.text("wafer")?;
                let summary = scope.apply(decode(r, &format!("wafer {wafer} of lot {lot}"))?);
                if summary.dies.is_empty() {
                    continue;
                }
                let counts = summary.counts(|b| table.passes(b));
                let s = stages.entry(Stage::parse(&r.text("stage")?)?).or_default();
                s.0 += counts;
                s.1.push(WaferYield {
                    wafer,
                    summary: counts.summary(),
                });
            }
            let mut stages: Vec<StageYield> = stages
                .into_iter()
                .map(|(stage, (counts, wafers))| StageYield {
                    stage,
                    summary: counts.summary(),
                    wafers,
                })
                .collect();
            stages.sort_by_key(|s| s.stage);
            let Some(head) = stages.first().cloned() else {
                return Ok(None);
            };
            Ok(Some(LotYield {
                lot: lot.to_string(),
                product,
                bin_table: !table.is_empty(),
                files,
                stage: head.stage,
                summary: head.summary,
                wafers: head.wafers,
                stages,
            }))
        })
    }

    /// The bin map of wafer `wafer` (its test data's wafer id), from each die's final result.
    /// With several lots holding that wafer id, `lot` chooses; `None` when no visible lot has
    /// it. On an MPW lot a tenant's map holds its own dies only; `design` narrows to one
    /// design's dies.
    pub async fn wafer_map(
        &self,
        wafer: &str,
        lot: Option<&str>,
        design: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<WaferMap>, StoreError> {
        scoped_read!(self, actor, |c| {
            let rows = c
                .fetch_all(
                    "SELECT lot_id, dies, results FROM test_wafers WHERE wafer = $1 \
                     AND stage = 'probe' AND ($2 IS NULL OR lot_id = $2) ORDER BY lot_id",
                    params![wafer, lot],
                )
                .await?;
            let mut visible = Vec::new();
            for r in rows {
                let id = r.text("lot_id")?;
                if let Some(scope) = lot_dies(c, &id, actor, design).await? {
                    visible.push((id, (r, scope)));
                }
            }
            let (lot, (row, scope)) = match visible.len() {
                0 => return Ok(None),
                1 => visible.remove(0),
                _ => {
                    let lots: Vec<&str> = visible.iter().map(|(l, _)| l.as_str()).collect();
                    return Err(Code::WaferAmbiguous
                        .refusal()
                        .with("wafer", wafer)
                        .with("lots", lots.join(", "))
                        .into());
                }
            };
            let summary = scope.apply(decode(&row, &format!("wafer {wafer} of lot {lot}"))?);
            let table = lot_bin_table(c, &lot).await?;
            let orientation = lot_orientation(c, &lot).await?;
            let names = declared_names(c, Some(&lot)).await?;
            Ok(Some(WaferMap::build(
                wafer,
                &lot,
                orientation,
                &summary,
                &table,
                &names,
            )))
        })
    }

    /// The stacked map of lot `lot`'s probed wafers; `None` when unknown, not visible or
    /// without wafer probe data. On an MPW lot a tenant's map holds its own dies only;
    /// `design` narrows to one design's dies.
    pub async fn stacked_map(
        &self,
        lot: &str,
        design: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<StackedMap>, StoreError> {
        scoped_read!(self, actor, |c| {
            let Some(scope) = lot_dies(c, lot, actor, design).await? else {
                return Ok(None);
            };
            let rows = c
                .fetch_all(
                    "SELECT wafer, dies, results FROM test_wafers WHERE lot_id = $1 \
                     AND stage = 'probe' ORDER BY wafer",
                    params![lot],
                )
                .await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let wafers = rows
                .iter()
                .map(|r| decode(r, &format!("lot {lot}")).map(|s| scope.apply(s)))
                .collect::<Result<Vec<_>, _>>()?;
            let table = lot_bin_table(c, lot).await?;
            let orientation = lot_orientation(c, lot).await?;
            Ok(Some(StackedMap::build(lot, orientation, &wafers, &table)))
        })
    }

    /// Yields grouped by `group_by` over the test data `filter` selects. A customer sees only
    /// its own tenant's lots; external lots are the platform's.
    pub async fn yield_rollup(
        &self,
        group_by: GroupBy,
        filter: &YieldFilter,
        actor: &Actor,
    ) -> Result<Vec<YieldGroup>, StoreError> {
        scoped_read!(self, actor, |c| {
            let scanned = scan(c, filter, actor).await?;
            let tables = bin_tables(c, None).await?;
            let tools = if group_by == GroupBy::Tool {
                lot_tools(c).await?
            } else {
                HashMap::new()
            };
            let none = BinTable::default();
            let mut groups: BTreeMap<String, (BTreeSet<&str>, u32, YieldCounts)> = BTreeMap::new();
            for s in &scanned {
                let table = tables.get(&s.product).unwrap_or(&none);
                let counts = s.summary.counts(|b| table.passes(b));
                let tenant = s.tenant.as_deref().unwrap_or("platform");
                let at = s.at.unwrap_or_default();
                let keys: Vec<String> = match group_by {
                    GroupBy::Lot => vec![s.lot.clone()],
                    GroupBy::Wafer => vec![format!("{}/{}", s.lot, s.wafer)],
                    GroupBy::Product => vec![s.product.clone()],
                    GroupBy::Design => vec![match &s.design {
                        Some(booking) => format!("{tenant}/{booking}"),
                        None => format!("{tenant}/{}", s.product),
                    }],
                    GroupBy::Tenant => vec![tenant.to_string()],
                    GroupBy::Stage => vec![s.stage.as_str().to_string()],
                    GroupBy::Step => {
                        vec![
                            s.step
                                .clone()
                                .unwrap_or_else(|| s.stage.as_str().to_string()),
                        ]
                    }
                    GroupBy::Tool => tools
                        .get(&s.lot)
                        .map(|t| t.iter().cloned().collect())
                        .unwrap_or_else(|| vec!["(no tool recorded)".to_string()]),
                    GroupBy::Day => vec![at.format("%Y-%m-%d").to_string()],
                    GroupBy::Week => {
                        let w = at.iso_week();
                        vec![format!("{}-W{:02}", w.year(), w.week())]
                    }
                    GroupBy::Month => vec![at.format("%Y-%m").to_string()],
                };
                for key in keys {
                    let g = groups.entry(key).or_default();
                    g.0.insert(s.lot.as_str());
                    g.1 += 1;
                    g.2 += counts;
                }
            }
            Ok(groups
                .into_iter()
                .map(|(key, (lots, wafers, counts))| YieldGroup {
                    key,
                    lots: lots.len() as u32,
                    wafers,
                    summary: counts.summary(),
                })
                .collect())
        })
    }

    /// Failing dies by final hard bin over the test data `filter` selects, largest first,
    /// named and categorised by the products' bin tables.
    pub async fn bin_pareto(
        &self,
        filter: &YieldFilter,
        actor: &Actor,
    ) -> Result<BinPareto, StoreError> {
        scoped_read!(self, actor, |c| {
            let scanned = scan(c, filter, actor).await?;
            let tables = bin_tables(c, None).await?;
            let names = declared_names(c, filter.lot.as_deref()).await?;
            let none = BinTable::default();
            let mut dies = 0u64;
            let mut bins: BTreeMap<u16, (u64, String, String)> = BTreeMap::new();
            for s in &scanned {
                let table = tables.get(&s.product).unwrap_or(&none);
                for d in &s.summary.dies {
                    dies += 1;
                    if table.passes(&d.last) {
                        continue;
                    }
                    let bin = d.last.hard_bin;
                    let e = bins.entry(bin).or_insert_with(|| {
                        let def = table.get(bin);
                        (
                            0,
                            def.map(|d| d.name.clone())
                                .or_else(|| names.get(&bin).cloned())
                                .unwrap_or_default(),
                            def.map(|d| d.category.clone()).unwrap_or_default(),
                        )
                    });
                    e.0 += 1;
                }
            }
            let failing: u64 = bins.values().map(|b| b.0).sum();
            let mut ordered: Vec<(u16, (u64, String, String))> = bins.into_iter().collect();
            ordered.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
            let mut cumulative = 0u64;
            let share = |n: u64| {
                if failing > 0 {
                    n as f64 / failing as f64
                } else {
                    0.0
                }
            };
            Ok(BinPareto {
                dies,
                failing_dies: failing,
                bins: ordered
                    .into_iter()
                    .map(|(bin, (n, name, category))| {
                        cumulative += n;
                        ParetoBin {
                            bin,
                            name,
                            category,
                            dies: n,
                            share: share(n),
                            cumulative: share(cumulative),
                        }
                    })
                    .collect(),
            })
        })
    }

    /// Parametric statistics of lot `lot`'s files, per wafer and test; `None` when the lot is
    /// unknown or not visible to `actor`.
    pub async fn lot_parametrics(
        &self,
        lot: &str,
        actor: &Actor,
    ) -> Result<Option<Vec<ParametricRow>>, StoreError> {
        crate::tenant_read!(self, actor, |c| {
            if !lot_visible(c, lot, actor).await? {
                return Ok(None);
            }
            let rows = c
                .fetch_all(
                    "SELECT f.id, p.wafer, p.test_num, p.name, p.units, p.low_limit, \
                     p.high_limit, p.count, p.fails, p.invalid, p.mean, p.stdev, p.min_value, \
                     p.max_value FROM test_parametrics p JOIN test_files f ON f.num = p.file_num \
                     WHERE f.lot_id = $1 ORDER BY f.num, p.wafer, p.test_num",
                    params![lot],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ParametricRow {
                        file: r.text("id")?,
                        stats: ParametricStats {
                            wafer: r.text("wafer")?,
                            test_num: r.int("test_num")? as u32,
                            name: r.text("name")?,
                            units: r.text("units")?,
                            low_limit: r.opt_float("low_limit")?,
                            high_limit: r.opt_float("high_limit")?,
                            count: r.int("count")? as u64,
                            fails: r.int("fails")? as u64,
                            invalid: r.int("invalid")? as u64,
                            mean: r.opt_float("mean")?,
                            stdev: r.opt_float("stdev")?,
                            min: r.opt_float("min_value")?,
                            max: r.opt_float("max_value")?,
                        },
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
                .map(Some)
        })
    }
}

/// The probe map of lot `lot` as the die bonder's pick list starts from it: each probed die
/// with its final probe result, judged by the product's bin table, and on an MPW lot the
/// design (booking) and tenant that own it. Empty when the lot has no probe data.
pub(crate) async fn probe_dies<C: Conn>(
    c: &mut C,
    lot: &str,
    actor: &Actor,
) -> Result<Vec<pilotline_domain::unit::pick::ProbeDie>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT wafer, dies, results FROM test_wafers WHERE lot_id = $1 AND stage = 'probe' \
             ORDER BY wafer",
            params![lot],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let table = lot_bin_table(c, lot).await?;
    let designs = super::designs::lot_designs(c, lot, actor).await?;
    let mut out = Vec::new();
    for r in &rows {
        let wafer = r.text("wafer")?;
        let summary = decode(r, &format!("wafer {wafer} of lot {lot}"))?;
        for d in &summary.dies {
            let owner = designs.as_ref().and_then(|ds| ds.owner(d.x, d.y));
            out.push(pilotline_domain::unit::pick::ProbeDie {
                wafer: wafer.clone(),
                x: d.x,
                y: d.y,
                hard_bin: d.last.hard_bin,
                soft_bin: d.last.soft_bin,
                good: table.passes(&d.last),
                booking: owner.map(|o| o.booking.clone()),
                tenant: owner.map(|o| o.tenant.clone()),
            });
        }
    }
    Ok(out)
}
