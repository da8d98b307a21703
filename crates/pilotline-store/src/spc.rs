//! Metrology readings and SPC charts: readings stored as they arrive (track-out, API, CSV),
//! charts that plot wafer means of the readings their keys select, control limits frozen per
//! chart version, and the actions an out-of-control point triggers (lot hold, tool inhibit).

use chrono::{DateTime, Utc};
use pilotline_domain::measure::{OOC_REASON, OOS_REASON, OutOfSpec, Reading, check_readings};
use pilotline_domain::{Action, Actor, E10State, Refusal, Role};
use pilotline_yield::spc::{self, Capability, Limits, Rule};
use serde::{Deserialize, Serialize};

use crate::conn::{Conn, Param, RowExt, params};
use crate::write::{LotCommand, WriteOp, require};
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

/// What a chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChartType {
    /// Individuals and moving range of wafer means.
    Imr,
    /// Wafer means (X̄) and standard deviations (S) of the sites of each wafer.
    XbarS,
}

/// What an out-of-control point does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OocAction {
    /// Only shown on the chart.
    None,
    /// Hold the lot (`SPC-OOC`; release needs a disposition).
    #[default]
    Hold,
    /// Take the tool that produced the point down (E10 unscheduled down).
    Inhibit,
    /// Both.
    HoldAndInhibit,
}

/// A chart's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// Chart id.
    pub id: String,
    /// Parameter plotted (as named in the steps' data-collection plans).
    pub parameter: String,
    /// Only this product's readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Only readings at this route step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Only readings from this tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment: Option<String>,
    /// Only readings of this recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// I-MR or X̄-S.
    pub chart_type: ChartType,
    /// Run rules that judge it (default: the Western Electric four).
    #[serde(default = "western_electric")]
    pub rules: Vec<Rule>,
    /// What an out-of-control point does (default: hold the lot).
    #[serde(default)]
    pub action: OocAction,
    /// Lower spec limit (capability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsl: Option<f64>,
    /// Upper spec limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<f64>,
    /// Points the limits are computed from: the first ones for the first version, the latest
    /// ones when recomputed (default 20).
    #[serde(default = "twenty")]
    pub baseline_points: u32,
}

fn western_electric() -> Vec<Rule> {
    Rule::WESTERN_ELECTRIC.to_vec()
}

fn twenty() -> u32 {
    20
}

/// Control limits of one chart version, frozen when computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartLimits {
    /// Chart version.
    pub version: u32,
    /// Centre line and sigma of the plotted wafer means.
    pub limits: Limits,
    /// Upper control limit.
    pub ucl: f64,
    /// Lower control limit.
    pub lcl: f64,
    /// Moving-range chart upper limit (I-MR).
    pub mr_ucl: Option<f64>,
    /// S chart centre, lower and upper limits (X̄-S).
    pub s_limits: Option<[f64; 3]>,
    /// Sigma of individual values used for Cp/Cpk.
    pub sigma_within: f64,
    /// Points the limits come from.
    pub baseline: u32,
    /// When computed.
    pub computed_at: DateTime<Utc>,
    /// By whom.
    pub computed_by: String,
}

/// One plotted point: a wafer's mean (or a lot's, for readings without a wafer).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartPoint {
    /// Lot.
    pub lot: String,
    /// Wafer (empty when the readings named none).
    pub wafer: String,
    /// Time of its last reading.
    pub at: DateTime<Utc>,
    /// Mean of its readings.
    pub value: f64,
    /// Readings (sites).
    pub n: u32,
    /// Standard deviation of its readings (two or more).
    pub stdev: Option<f64>,
    /// Tool that produced it.
    pub equipment: Option<String>,
    /// Its site values, in reading order.
    #[serde(skip)]
    pub sites: Vec<f64>,
}

/// A rule that fired on a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartViolation {
    /// The rule.
    pub rule: Rule,
    /// What it means.
    pub description: String,
    /// Index of the point.
    pub index: usize,
    /// Its lot.
    pub lot: String,
    /// Its wafer.
    pub wafer: String,
    /// Its value.
    pub value: f64,
}

/// A chart with its points judged against its frozen limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartView {
    /// Definition.
    pub spec: ChartSpec,
    /// Current version (0: no limits yet).
    pub version: u32,
    /// The current version's limits.
    pub limits: Option<ChartLimits>,
    /// Every point, oldest first.
    pub points: Vec<ChartPoint>,
    /// Rules that fired, by point.
    pub violations: Vec<ChartViolation>,
    /// Cp/Cpk (within sigma) and Pp/Ppk (overall) against the chart's spec limits.
    pub capability: Option<Capability>,
}

/// Readings sent outside a track-out.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeasurements {
    /// Lot measured.
    pub lot: String,
    /// Step whose plan they belong to (default: the lot's current step).
    pub step: Option<String>,
    /// Metrology tool (default: the lot's tool, if running).
    pub equipment: Option<String>,
    /// The readings.
    pub readings: Vec<Reading>,
    /// `api` or `csv`.
    pub source: String,
}

/// A stored reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Measurement {
    /// Id.
    pub id: i64,
    /// Lot.
    pub lot: String,
    /// Product.
    pub product: String,
    /// Step.
    pub step: String,
    /// Tool.
    pub equipment: Option<String>,
    /// Recipe.
    pub recipe: Option<String>,
    /// Parameter.
    pub parameter: String,
    /// Wafer.
    pub wafer: Option<String>,
    /// Site.
    pub site: Option<u32>,
    /// Value.
    pub value: f64,
    /// When recorded.
    pub at: DateTime<Utc>,
    /// `track-out`, `api` or `csv`.
    pub source: String,
    /// Who.
    pub by: String,
}

/// What recording readings (or a track-out with readings) set off.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpcOutcome {
    /// Readings stored.
    pub stored: u64,
    /// Out-of-spec readings, as the hold names them.
    pub out_of_spec: Vec<String>,
    /// Out-of-control points and what was done.
    pub signals: Vec<SpcSignal>,
}

/// An out-of-control point and the chart's action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpcSignal {
    /// Chart.
    pub chart: String,
    /// Chart version whose limits were broken.
    pub version: u32,
    /// Rule.
    pub rule: Rule,
    /// Lot.
    pub lot: String,
    /// Wafer.
    pub wafer: String,
    /// Point value.
    pub value: f64,
    /// The lot was held.
    pub held: bool,
    /// The tool taken down, if any.
    pub inhibited: Option<String>,
}

/// One reading to store, with where it was taken.
pub(crate) struct MeasurementRow<'a> {
    pub lot: &'a str,
    pub product: &'a str,
    pub step: &'a str,
    pub equipment: Option<&'a str>,
    pub recipe: Option<&'a str>,
    pub reading: &'a Reading,
    pub source: &'a str,
    pub by: &'a str,
}

/// Stores readings (inside the caller's transaction).
pub(crate) async fn insert_measurements<C: Conn>(
    c: &mut C,
    rows: &[MeasurementRow<'_>],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    for r in rows {
        c.execute(
            "INSERT INTO measurements (lot_id, product, step_id, equipment, recipe, parameter, \
             wafer, site, value, at, source, by_user) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            vec![
                Param::from(r.lot),
                Param::from(r.product),
                Param::from(r.step),
                Param::from(r.equipment),
                Param::from(r.recipe),
                Param::from(r.reading.parameter.as_str()),
                Param::from(r.reading.wafer.as_deref()),
                Param::OptInt(r.reading.site.map(i64::from)),
                Param::Float(Some(r.reading.value)),
                Param::Time(at),
                Param::from(r.source),
                Param::from(r.by),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The engineer acting for SPC's automatic holds and inhibits.
fn spc_actor() -> Actor {
    Actor {
        user: "spc".to_string(),
        role: Role::Engineer,
        tenant: None,
    }
}

/// The chart's points: readings its keys select, grouped by (lot, wafer) in first-reading
/// order.
async fn chart_points<C: Conn>(c: &mut C, spec: &ChartSpec) -> Result<Vec<ChartPoint>, StoreError> {
    let rows = c
        .fetch_all(
            "SELECT lot_id, wafer, equipment, value, at FROM measurements WHERE parameter = $1 \
             AND ($2 IS NULL OR product = $2) AND ($3 IS NULL OR step_id = $3) \
             AND ($4 IS NULL OR equipment = $4) AND ($5 IS NULL OR recipe = $5) \
             ORDER BY at, id",
            params![
                spec.parameter.as_str(),
                spec.product.as_deref(),
                spec.step.as_deref(),
                spec.equipment.as_deref(),
                spec.recipe.as_deref()
            ],
        )
        .await?;
    let mut points: Vec<ChartPoint> = Vec::new();
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
    for r in &rows {
        let key = (r.text("lot_id")?, r.opt_text("wafer")?.unwrap_or_default());
        let value = r.opt_float("value")?.unwrap_or(f64::NAN);
        let at = r.time("at")?;
        let i = *index.entry(key.clone()).or_insert_with(|| {
            points.push(ChartPoint {
                lot: key.0.clone(),
                wafer: key.1.clone(),
                at,
                value: 0.0,
                n: 0,
                stdev: None,
                equipment: None,
                sites: Vec::new(),
            });
            points.len() - 1
        });
        let p = &mut points[i];
        p.sites.push(value);
        p.at = at;
        p.equipment = r.opt_text("equipment")?.or(p.equipment.take());
    }
    for p in &mut points {
        p.n = p.sites.len() as u32;
        p.value = spc::mean(&p.sites);
        p.stdev = (p.n > 1).then(|| spc::std_dev(&p.sites));
    }
    Ok(points)
}

/// Limits from `points` (the baseline) for `spec`; `None` when too few.
fn compute_limits(
    spec: &ChartSpec,
    points: &[ChartPoint],
    version: u32,
    by: &str,
) -> Option<ChartLimits> {
    let (limits, mr_ucl, s_limits, sigma_within) = match spec.chart_type {
        ChartType::Imr => {
            let values: Vec<f64> = points.iter().map(|p| p.value).collect();
            let (l, mr) = spc::individuals_limits(&values)?;
            (l, Some(mr), None, l.sigma)
        }
        ChartType::XbarS => {
            let groups: Vec<Vec<f64>> = points.iter().map(|p| p.sites.clone()).collect();
            let x = spc::xbar_s_limits(&groups)?;
            (
                x.xbar,
                None,
                Some([x.s_lcl, x.s_center, x.s_ucl]),
                x.sigma_within,
            )
        }
    };
    Some(ChartLimits {
        version,
        limits,
        ucl: limits.ucl(),
        lcl: limits.lcl(),
        mr_ucl,
        s_limits,
        sigma_within,
        baseline: points.len() as u32,
        computed_at: now(),
        computed_by: by.to_string(),
    })
}

fn judge(
    spec: &ChartSpec,
    points: &[ChartPoint],
    limits: Option<&ChartLimits>,
) -> Vec<ChartViolation> {
    let Some(l) = limits else {
        return Vec::new();
    };
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    spc::violations(&values, l.limits, &spec.rules)
        .into_iter()
        .map(|v| ChartViolation {
            rule: v.rule,
            description: v.rule.describe().to_string(),
            index: v.index,
            lot: points[v.index].lot.clone(),
            wafer: points[v.index].wafer.clone(),
            value: points[v.index].value,
        })
        .collect()
}

async fn load_chart<C: Conn>(
    c: &mut C,
    id: &str,
) -> Result<Option<(ChartSpec, u32, Option<ChartLimits>)>, StoreError> {
    let Some(r) = c
        .fetch_optional(
            "SELECT doc, version FROM spc_charts WHERE id = $1",
            params![id],
        )
        .await?
    else {
        return Ok(None);
    };
    let spec: ChartSpec = r.json("doc")?;
    let version = r.int("version")? as u32;
    let limits = c
        .fetch_optional(
            "SELECT limits FROM spc_chart_versions WHERE chart_id = $1 AND version = $2",
            params![id, i64::from(version)],
        )
        .await?
        .map(|r| r.json::<ChartLimits>("limits"))
        .transpose()?;
    Ok(Some((spec, version, limits)))
}

async fn chart_view<C: Conn>(c: &mut C, id: &str) -> Result<Option<ChartView>, StoreError> {
    let Some((spec, version, limits)) = load_chart(c, id).await? else {
        return Ok(None);
    };
    let points = chart_points(c, &spec).await?;
    let violations = judge(&spec, &points, limits.as_ref());
    let capability = limits.as_ref().and_then(|l| {
        (spec.lsl.is_some() || spec.usl.is_some()).then(|| {
            let values: Vec<f64> = points.iter().flat_map(|p| p.sites.clone()).collect();
            spc::capability(&values, l.sigma_within, spec.lsl, spec.usl)
        })
    });
    Ok(Some(ChartView {
        spec,
        version,
        limits,
        points,
        violations,
        capability,
    }))
}

async fn save_limits<C: Conn>(c: &mut C, id: &str, l: &ChartLimits) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO spc_chart_versions (chart_id, version, limits, computed_at, computed_by) \
         VALUES ($1, $2, $3, $4, $5)",
        vec![
            Param::from(id),
            Param::Int(i64::from(l.version)),
            Param::Json(serde_json::to_value(l).map_err(|e| StoreError::Corrupt(e.to_string()))?),
            Param::Time(l.computed_at),
            Param::from(l.computed_by.as_str()),
        ],
    )
    .await?;
    c.execute(
        "UPDATE spc_charts SET version = $1 WHERE id = $2",
        params![i64::from(l.version), id],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Creates a chart (engineers). Its limits are frozen from its first `baseline_points`
    /// points once it has them, and recomputed only on request.
    pub async fn create_chart(
        &self,
        spec: ChartSpec,
        actor: &Actor,
    ) -> Result<ChartView, StoreError> {
        require(actor, Action::WriteMasterData, "create SPC charts")?;
        let mut problems = Vec::new();
        if spec.id.trim().is_empty() {
            problems.push("id: must not be empty".to_string());
        }
        if spec.parameter.trim().is_empty() {
            problems.push("parameter: must not be empty".to_string());
        }
        if spec.rules.is_empty() {
            problems.push("rules: choose at least one rule".to_string());
        }
        if spec.baseline_points < 2 {
            problems.push("baseline_points: at least 2".to_string());
        }
        if let (Some(l), Some(u)) = (spec.lsl, spec.usl)
            && l >= u
        {
            problems.push("lsl must be below usl".to_string());
        }
        if !problems.is_empty() {
            return Err(Refusal::invalid(problems.join("; ")).into());
        }
        let doc = serde_json::to_value(&spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id = spec.id.clone();
        in_write_tx!(self, |c| {
            if c.fetch_optional(
                "SELECT id FROM spc_charts WHERE id = $1",
                params![id.as_str()],
            )
            .await?
            .is_some()
            {
                return Err(StoreError::Conflict(format!("chart {id} exists")));
            }
            c.execute(
                "INSERT INTO spc_charts (id, doc, version, created_at, created_by) \
                 VALUES ($1, $2, 0, $3, $4)",
                vec![
                    Param::from(id.as_str()),
                    Param::Json(doc.clone()),
                    Param::Time(now()),
                    Param::from(actor.user.as_str()),
                ],
            )
            .await?;
            Ok(())
        })?;
        self.freeze_first_limits(&id).await?;
        self.chart(&id, actor)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("chart {id}")))
    }

    /// Every chart's definition and version (staff).
    pub async fn charts(&self, actor: &Actor) -> Result<Vec<ChartView>, StoreError> {
        require(actor, Action::ReadMasterData, "read SPC charts")?;
        let ids: Vec<String> = with_read_conn!(self, |c| {
            c.fetch_all("SELECT id FROM spc_charts ORDER BY id", vec![])
                .await?
                .iter()
                .map(|r| r.text("id"))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(mut v) = self.chart(&id, actor).await? {
                v.points.clear();
                out.push(v);
            }
        }
        Ok(out)
    }

    /// A chart with its points, frozen limits, violations and capability (staff).
    pub async fn chart(&self, id: &str, actor: &Actor) -> Result<Option<ChartView>, StoreError> {
        require(actor, Action::ReadMasterData, "read SPC charts")?;
        with_read_conn!(self, |c| chart_view(c, id).await)
    }

    /// Recomputes a chart's limits from its latest `baseline_points` points as a new version
    /// (engineers); earlier versions stay as they were.
    pub async fn recompute_limits(&self, id: &str, actor: &Actor) -> Result<ChartView, StoreError> {
        require(actor, Action::WriteMasterData, "recompute SPC limits")?;
        in_write_tx!(self, |c| {
            let Some((spec, version, _)) = load_chart(c, id).await? else {
                return Err(StoreError::NotFound(format!("chart {id} is not known")));
            };
            let points = chart_points(c, &spec).await?;
            let from = points.len().saturating_sub(spec.baseline_points as usize);
            let limits = compute_limits(&spec, &points[from..], version + 1, &actor.user)
                .ok_or_else(|| {
                    Refusal::invalid(format!(
                        "chart {id} has {} points; limits need at least two (with two or more \
                         sites each for X-bar/S)",
                        points.len()
                    ))
                })?;
            save_limits(c, id, &limits).await
        })?;
        self.chart(id, actor)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("chart {id}")))
    }

    /// Freezes a chart's first limits once it has `baseline_points` points.
    async fn freeze_first_limits(&self, id: &str) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            let Some((spec, 0, _)) = load_chart(c, id).await? else {
                return Ok(());
            };
            let points = chart_points(c, &spec).await?;
            if points.len() >= spec.baseline_points as usize {
                let n = spec.baseline_points as usize;
                if let Some(l) = compute_limits(&spec, &points[..n], 1, "spc") {
                    save_limits(c, id, &l).await?;
                }
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Readings stored
    pub async fn measurements(
        &self,
        lot: Option<&str>,
        parameter: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<Measurement>, StoreError> {
        require(actor, Action::ReadLots, "read measurements")?;
        let tenant = actor.tenant_scope();
        with_read_conn!(self, |c| {
            c.fetch_all(
                "SELECT m.id, m.lot_id, m.product, m.step_id, m.equipment, m.recipe, m.parameter, \
                 m.wafer, m.site, m.value, m.at, m.source, m.by_user FROM measurements m \
                 WHERE ($1 IS NULL OR m.lot_id = $1) AND ($2 IS NULL OR m.parameter = $2) \
                 AND ($3 IS NULL OR EXISTS (SELECT 1 FROM lots l WHERE l.id = m.lot_id \
                 AND l.tenant = $3)) ORDER BY m.at DESC, m.id DESC LIMIT $4",
                params![lot, parameter, tenant, i64::from(limit.clamp(1, 10_000))],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(Measurement {
                    id: r.int("id")?,
                    lot: r.text("lot_id")?,
                    product: r.text("product")?,
                    step: r.text("step_id")?,
                    equipment: r.opt_text("equipment")?,
                    recipe: r.opt_text("recipe")?,
                    parameter: r.text("parameter")?,
                    wafer: r.opt_text("wafer")?,
                    site: r.opt_int("site")?.map(|s| s as u32),
                    value: r.opt_float("value")?.unwrap_or(f64::NAN),
                    at: r.time("at")?,
                    source: r.text("source")?,
                    by: r.text("by_user")?,
                })
            })
            .collect()
        })
    }

    /// The lot, its step and the out-of-spec readings of `req`; refuses implausible ones.
    async fn plan_check(
        &self,
        req: &NewMeasurements,
        actor: &Actor,
    ) -> Result<
        (
            pilotline_domain::LotView,
            pilotline_domain::Step,
            Vec<OutOfSpec>,
        ),
        StoreError,
    > {
        require(actor, Action::MoveLots, "record measurements")?;
        if req.readings.is_empty() {
            return Err(Refusal::invalid("readings: send at least one").into());
        }
        let lot = self
            .lot(&req.lot, actor)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("lot {} is not known", req.lot)))?;
        let route = self
            .route(&lot.route, Some(lot.route_version))
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("route {} of lot {}", lot.route, lot.id)))?;
        let step_id = req.step.clone().unwrap_or_else(|| lot.step.id.clone());
        let step = route
            .steps
            .iter()
            .find(|s| s.id == step_id)
            .cloned()
            .ok_or_else(|| {
                Refusal::invalid(format!("step: route {} has no step {step_id}", route.id))
            })?;
        let oos =
            check_readings(&step.id, &step.measurements, &req.readings).map_err(|e| match e {
                Refusal::Invalid(m) => {
                    Refusal::Invalid(format!("lot {} step {}: {m}", lot.id, step.id))
                }
                other => other,
            })?;
        Ok((lot, step, oos))
    }

    /// Records readings taken outside a track-out (operators and engineers), one request per
    /// lot and step. Every request is checked against its step's plan first — an implausible
    /// reading refuses them all, to be measured again — then all are stored in one
    /// transaction; an out-of-spec reading holds its lot (`SPC-OOS`), and the charts judge the
    /// new points.
    pub async fn record_measurements(
        &self,
        requests: &[NewMeasurements],
        actor: &Actor,
    ) -> Result<SpcOutcome, StoreError> {
        let mut checked = Vec::with_capacity(requests.len());
        for req in requests {
            checked.push(self.plan_check(req, actor).await?);
        }
        let since = now();
        in_write_tx!(self, |c| {
            for (req, (lot, step, _)) in requests.iter().zip(&checked) {
                let equipment = req.equipment.as_deref().or(lot.equipment.as_deref());
                let rows: Vec<MeasurementRow<'_>> = req
                    .readings
                    .iter()
                    .map(|reading| MeasurementRow {
                        lot: &lot.id,
                        product: &lot.product,
                        step: &step.id,
                        equipment,
                        recipe: Some(step.recipe.as_str()),
                        reading,
                        source: &req.source,
                        by: &actor.user,
                    })
                    .collect();
                insert_measurements(c, &rows, since).await?;
            }
            Ok::<_, StoreError>(())
        })?;
        let mut outcome = SpcOutcome {
            stored: requests.iter().map(|r| r.readings.len() as u64).sum(),
            ..SpcOutcome::default()
        };
        let mut lots: Vec<&str> = Vec::new();
        for (lot, step, oos) in &checked {
            if !lots.contains(&lot.id.as_str()) {
                lots.push(&lot.id);
            }
            if oos.is_empty() {
                continue;
            }
            let described: Vec<String> = oos.iter().map(|o| o.describe(&step.id)).collect();
            self.execute(
                &WriteOp::Lot {
                    lot_id: lot.id.clone(),
                    command: LotCommand::Hold {
                        reason_code: OOS_REASON.to_string(),
                        comment: described.join("; "),
                    },
                    if_version: None,
                },
                &spc_actor(),
                None,
            )
            .await?;
            outcome.out_of_spec.extend(described);
        }
        for lot in lots {
            outcome
                .signals
                .extend(self.evaluate_charts(lot, since).await?);
        }
        Ok(outcome)
    }

    /// Judges lot `lot`'s points recorded since `since` on every chart, freezing a chart's
    /// first limits when it reaches its baseline, and carries out each chart's action for a
    /// point that breaks a rule: hold the lot (`SPC-OOC`), take the tool down, or both.
    pub async fn evaluate_charts(
        &self,
        lot: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<SpcSignal>, StoreError> {
        // Only the charts of the parameters just measured can have new points.
        let ids: Vec<String> = with_read_conn!(self, |c| {
            let measured: Vec<String> = c
                .fetch_all(
                    "SELECT DISTINCT parameter FROM measurements WHERE lot_id = $1 AND at >= $2",
                    vec![Param::from(lot), Param::Time(since)],
                )
                .await?
                .iter()
                .map(|r| r.text("parameter"))
                .collect::<Result<_, _>>()?;
            let mut ids = Vec::new();
            for r in c
                .fetch_all("SELECT id, doc FROM spc_charts ORDER BY id", vec![])
                .await?
            {
                if measured.contains(&r.json::<ChartSpec>("doc")?.parameter) {
                    ids.push(r.text("id")?);
                }
            }
            Ok::<_, StoreError>(ids)
        })?;
        let mut signals = Vec::new();
        for id in ids {
            let read = || async { with_read_conn!(self, |c| chart_view(c, &id).await) };
            let Some(mut view) = read().await? else {
                continue;
            };
            if view.version == 0 {
                self.freeze_first_limits(&id).await?;
                view = match read().await? {
                    Some(v) => v,
                    None => continue,
                };
            }
            let mut fired: Vec<&ChartViolation> = view
                .violations
                .iter()
                .filter(|v| {
                    let p = &view.points[v.index];
                    p.lot == lot && p.at >= since
                })
                .collect();
            // One action per point: the first rule that fired on it names the hold.
            fired.dedup_by_key(|v| v.index);
            for v in fired {
                let point = &view.points[v.index];
                let comment = format!(
                    "chart {} v{}: {} ({}) at wafer {} mean {:.4} (centre {:.4}, limits {:.4}..{:.4})",
                    view.spec.id,
                    view.version,
                    serde_json::to_value(v.rule)
                        .ok()
                        .and_then(|r| r.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    v.description,
                    if point.wafer.is_empty() {
                        "-"
                    } else {
                        &point.wafer
                    },
                    point.value,
                    view.limits.as_ref().map_or(f64::NAN, |l| l.limits.center),
                    view.limits.as_ref().map_or(f64::NAN, |l| l.lcl),
                    view.limits.as_ref().map_or(f64::NAN, |l| l.ucl),
                );
                let hold = matches!(
                    view.spec.action,
                    OocAction::Hold | OocAction::HoldAndInhibit
                );
                let inhibit = matches!(
                    view.spec.action,
                    OocAction::Inhibit | OocAction::HoldAndInhibit
                );
                if hold {
                    self.execute(
                        &WriteOp::Lot {
                            lot_id: lot.to_string(),
                            command: LotCommand::Hold {
                                reason_code: OOC_REASON.to_string(),
                                comment: comment.clone(),
                            },
                            if_version: None,
                        },
                        &spc_actor(),
                        None,
                    )
                    .await?;
                }
                let mut inhibited = None;
                if inhibit && let Some(tool) = &point.equipment {
                    self.execute(
                        &WriteOp::SetEquipmentState {
                            id: tool.clone(),
                            state: E10State::UnscheduledDown,
                            reason: format!("SPC inhibit: {comment}"),
                        },
                        &spc_actor(),
                        None,
                    )
                    .await?;
                    inhibited = Some(tool.clone());
                }
                signals.push(SpcSignal {
                    chart: view.spec.id.clone(),
                    version: view.version,
                    rule: v.rule,
                    lot: lot.to_string(),
                    wafer: point.wafer.clone(),
                    value: point.value,
                    held: hold,
                    inhibited,
                });
            }
        }
        Ok(signals)
    }
}
