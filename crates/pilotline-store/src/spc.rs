//! Metrology readings and SPC charts: readings stored as they arrive (track-out, API, CSV),
//! charts that plot wafer means of the readings their keys select, control limits frozen per
//! chart version, and the actions an out-of-control point triggers (lot hold, tool inhibit).

use chrono::{DateTime, Utc};
use pilotline_domain::measure::Reading;
use pilotline_domain::{Action, Actor, Code};
use pilotline_yield::chart::{self, ChartLimits, ChartPoint, ChartSpec, ChartView};
use pilotline_yield::spc::{self, Rule};
use serde::Serialize;

use crate::conn::{Conn, Filters, Param, RowExt, params, shaped};
use crate::write::{definition_invalid, require};
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

/// Readings sent outside a track-out.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeasurements {
    /// Lot measured.
    pub lot: String,
    /// Step whose plan they belong to (default: the lot's current step).
    /// Route step.
    pub step: Option<String>,
    /// Metrology tool (default: the lot's tool, if running).
    /// Tool.
    pub equipment: Option<String>,
    /// The readings.
    pub readings: Vec<Reading>,
    /// `api` or `csv`.
    /// `track-out`, `api` or `csv`.
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
    /// Product.
    pub product: String,
    /// Step.
    pub step: String,
    /// Tool.
    pub equipment: Option<String>,
    /// Recipe.
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
pub struct MeasurementRow<'a> {
    /// Lot.
    pub lot: &'a str,
    /// Product.
    pub product: &'a str,
    /// Route step.
    pub step: &'a str,
    /// Tool.
    pub equipment: Option<&'a str>,
    /// Recipe.
    pub recipe: Option<&'a str>,
    /// The reading.
    pub reading: &'a Reading,
    /// `track-out`, `api` or `csv`.
    pub source: &'a str,
    /// Who.
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

/// The most readings a chart view reads: its newest (or, before its limits are frozen, its
/// oldest) this many, so a chart costs the same however long its history.
pub const CHART_WINDOW_ROWS: i64 = 5_000;

/// The readings judging a lot's new points reads: the newest this many. The run rules look
/// back at most 14 points, so this holds them unless a wafer has over 100 sites.
pub const JUDGE_WINDOW_ROWS: i64 = 2_000;

/// The most points a chart view shows: its latest.
pub const CHART_VIEW_POINTS: usize = 500;

/// Which end of a chart's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// The first readings (a chart freezing its first limits from its baseline).
    Oldest,
    /// The latest readings (judging new points, showing the chart).
    Newest,
}

/// The chart's points within `window`: readings its keys select, grouped by (lot, wafer) in
/// first-reading order, oldest first; and whether readings beyond the window were left out.
async fn chart_points<C: Conn>(
    c: &mut C,
    spec: &ChartSpec,
    window: Window,
    max_rows: i64,
) -> Result<(Vec<ChartPoint>, bool), StoreError> {
    let mut f = Filters::new();
    f.add("parameter =", Some(Param::from(spec.parameter.as_str())))
        .add("product =", spec.product.as_deref().map(Param::from))
        .add("step_id =", spec.step.as_deref().map(Param::from))
        .add("equipment =", spec.equipment.as_deref().map(Param::from))
        .add("recipe =", spec.recipe.as_deref().map(Param::from));
    let n = f.next();
    let (filters, mut params) = f.finish();
    params.push(Param::Int(max_rows));
    let order = match window {
        Window::Oldest => "at, id",
        Window::Newest => "at DESC, id DESC",
    };
    let sql = shaped(format!(
        "SELECT lot_id, wafer, equipment, value, at FROM measurements{filters} \
         ORDER BY {order} LIMIT ${n}"
    ));
    let mut rows = c.fetch_all(sql, params).await?;
    let cut = rows.len() as i64 >= max_rows;
    if window == Window::Newest {
        rows.reverse();
    }
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
    // At a cut end the group there may have lost some of its readings: leave it out.
    if cut {
        match window {
            Window::Newest => drop(points.remove(0)),
            Window::Oldest => drop(points.pop()),
        }
    }
    for p in &mut points {
        p.n = p.sites.len() as u32;
        p.value = spc::mean(&p.sites);
        p.stdev = (p.n > 1).then(|| spc::std_dev(&p.sites));
    }
    Ok((points, cut))
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

/// A chart with its points, judged against its current limits.
pub(crate) async fn chart_view<C: Conn>(
    c: &mut C,
    id: &str,
    max_rows: i64,
) -> Result<Option<ChartView>, StoreError> {
    let Some((spec, version, limits)) = load_chart(c, id).await? else {
        return Ok(None);
    };
    // Before its first limits a chart needs its first points (its baseline); after, its latest.
    let window = if version == 0 {
        Window::Oldest
    } else {
        Window::Newest
    };
    let (points, cut) = chart_points(c, &spec, window, max_rows).await?;
    let mut view = chart::view(spec, version, limits, points);
    view.earlier_points_left_out = cut && window == Window::Newest;
    Ok(Some(view))
}

/// The charts that plot parameters lot `lot` had measured at or after `since`, with their
/// points.
pub(crate) async fn charts_measured<C: Conn>(
    c: &mut C,
    lot: &str,
    since: DateTime<Utc>,
) -> Result<Vec<ChartView>, StoreError> {
    let measured: Vec<String> = c
        .fetch_all(
            "SELECT DISTINCT parameter FROM measurements WHERE lot_id = $1 AND at >= $2",
            vec![Param::from(lot), Param::Time(since)],
        )
        .await?
        .iter()
        .map(|r| r.text("parameter"))
        .collect::<Result<_, _>>()?;
    let mut views = Vec::new();
    for parameter in measured {
        let ids: Vec<String> = c
            .fetch_all(
                "SELECT id FROM spc_charts WHERE parameter = $1 ORDER BY id",
                params![parameter.as_str()],
            )
            .await?
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<_, _>>()?;
        for id in ids {
            if let Some(v) = chart_view(c, &id, JUDGE_WINDOW_ROWS).await? {
                views.push(v);
            }
        }
    }
    views.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    Ok(views)
}

/// Stores `l` as the chart's new current version.
pub(crate) async fn save_limits<C: Conn>(
    c: &mut C,
    id: &str,
    l: &ChartLimits,
) -> Result<(), StoreError> {
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
        let problems = chart::problems(&spec);
        if !problems.is_empty() {
            return Err(definition_invalid("chart", &problems).into());
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
                return Err(Code::AlreadyExists
                    .refusal()
                    .with("what", "chart")
                    .with("id", &id)
                    .into());
            }
            c.execute(
                "INSERT INTO spc_charts (id, doc, version, created_at, created_by, parameter) \
                 VALUES ($1, $2, 0, $3, $4, $5)",
                vec![
                    Param::from(id.as_str()),
                    Param::Json(doc.clone()),
                    Param::Time(now()),
                    Param::from(actor.user.as_str()),
                    Param::from(spec.parameter.as_str()),
                ],
            )
            .await?;
            let Some(view) = chart_view(c, &id, CHART_WINDOW_ROWS).await? else {
                return Err(chart_not_found(&id));
            };
            if let Some(l) = chart::first_limits(&view.spec, view.version, &view.points, now()) {
                save_limits(c, &id, &l).await?;
            }
            Ok(())
        })?;
        self.chart(&id, actor)
            .await?
            .ok_or_else(|| chart_not_found(&id))
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
            let view = with_read_conn!(self, |c| chart_view(c, &id, JUDGE_WINDOW_ROWS).await)?;
            if let Some(mut v) = view {
                v.points.clear();
                out.push(v);
            }
        }
        Ok(out)
    }

    /// A chart with its points, frozen limits, violations and capability (staff).
    pub async fn chart(&self, id: &str, actor: &Actor) -> Result<Option<ChartView>, StoreError> {
        require(actor, Action::ReadMasterData, "read SPC charts")?;
        let mut view = with_read_conn!(self, |c| chart_view(c, id, CHART_WINDOW_ROWS).await)?;
        if let Some(v) = &mut view {
            v.keep_latest(CHART_VIEW_POINTS);
        }
        Ok(view)
    }

    /// Recomputes a chart's limits from its latest `baseline_points` points as a new version
    /// (engineers); earlier versions stay as they were.
    pub async fn recompute_limits(&self, id: &str, actor: &Actor) -> Result<ChartView, StoreError> {
        require(actor, Action::WriteMasterData, "recompute SPC limits")?;
        in_write_tx!(self, |c| {
            let Some((spec, version, _)) = load_chart(c, id).await? else {
                return Err(chart_not_found(id));
            };
            let (points, _) = chart_points(c, &spec, Window::Newest, CHART_WINDOW_ROWS).await?;
            let from = points.len().saturating_sub(spec.baseline_points as usize);
            let limits =
                chart::compute_limits(&spec, &points[from..], version + 1, &actor.user, now())
                    .ok_or_else(|| {
                        Code::ChartTooFewPoints
                            .refusal()
                            .with("chart", id)
                            .with("points", points.len())
                    })?;
            save_limits(c, id, &limits).await
        })?;
        self.chart(id, actor)
            .await?
            .ok_or_else(|| chart_not_found(id))
    }

    /// Readings stored, newest first (a customer sees its own lots' only).
    pub async fn measurements(
        &self,
        lot: Option<&str>,
        parameter: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<Measurement>, StoreError> {
        require(actor, Action::ReadLots, "read measurements")?;
        let tenant = actor.tenant_scope();
        let mut f = Filters::new();
        f.add("m.lot_id =", lot.map(Param::from))
            .add("m.parameter =", parameter.map(Param::from));
        f.add_clause(
            "EXISTS (SELECT 1 FROM lots l WHERE l.id = m.lot_id AND l.tenant = ?)",
            tenant.map(Param::from),
        );
        let n = f.next();
        let (filters, mut params) = f.finish();
        params.push(Param::Int(i64::from(limit.clamp(1, 10_000))));
        let sql = shaped(format!(
            "SELECT m.id, m.lot_id, m.product, m.step_id, m.equipment, m.recipe, m.parameter, \
             m.wafer, m.site, m.value, m.at, m.source, m.by_user FROM measurements m{filters} \
             ORDER BY m.at DESC, m.id DESC LIMIT ${n}"
        ));
        with_read_conn!(self, |c| {
            c.fetch_all(sql, params)
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
}

fn chart_not_found(id: &str) -> StoreError {
    Code::ChartNotFound.refusal().with("chart", id).into()
}
