//! Equipment telemetry: samples from the collector and each tool's communication state.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

use crate::conn::{Conn, Filters, Param, RowExt, params, shaped};
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// A sample to store. The lot running on the tool at that moment is recorded with it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSample {
    /// Tool id.
    pub equipment: String,
    /// Point name.
    pub point: String,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Numeric value (booleans as 0/1).
    pub number: Option<f64>,
    /// Text value (labels, ids).
    pub text: Option<String>,
}

/// A stored sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SampleRecord {
    /// Point name.
    pub point: String,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Numeric value.
    pub number: Option<f64>,
    /// Text value.
    pub text: Option<String>,
    /// Lot on the tool at that moment.
    pub lot: Option<String>,
}

/// A tool's communication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommState {
    /// Communication lost: the E10 state shown is the last known one.
    pub stale: bool,
    /// Since when (absent until the collector first reported).
    pub since: Option<DateTime<Utc>>,
}

fn record<R: RowExt>(r: &R) -> Result<SampleRecord, StoreError> {
    Ok(SampleRecord {
        point: r.text("point")?,
        at: r.time("at")?,
        number: r.opt_float("number")?,
        text: r.opt_text("text")?,
        lot: r.opt_text("lot_id")?,
    })
}

/// The newest sample of each (tool, point) in `samples`.
pub(crate) fn latest_of(samples: &[NewSample]) -> Vec<&NewSample> {
    let mut newest: HashMap<(&str, &str), &NewSample> = HashMap::new();
    for s in samples {
        let e = newest
            .entry((s.equipment.as_str(), s.point.as_str()))
            .or_insert(s);
        if s.at >= e.at {
            *e = s;
        }
    }
    newest.into_values().collect()
}

/// PostgreSQL: the whole batch in one statement, as arrays.
async fn insert_all_pg(pool: &sqlx::PgPool, samples: &[NewSample]) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    // The lot on each tool of the batch now, in one query.
    let mut tools: Vec<&str> = samples.iter().map(|s| s.equipment.as_str()).collect();
    tools.sort_unstable();
    tools.dedup();
    let lots: HashMap<String, Option<String>> =
        sqlx::query_as("SELECT id, current_lot FROM equipment WHERE id = ANY($1)")
            .bind(&tools)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let mut equipment = Vec::with_capacity(samples.len());
    let mut point = Vec::with_capacity(samples.len());
    let mut at = Vec::with_capacity(samples.len());
    let mut number = Vec::with_capacity(samples.len());
    let mut text = Vec::with_capacity(samples.len());
    let mut lot = Vec::with_capacity(samples.len());
    for s in samples {
        equipment.push(s.equipment.as_str());
        point.push(s.point.as_str());
        at.push(s.at);
        number.push(s.number);
        text.push(s.text.as_deref());
        lot.push(lots.get(&s.equipment).cloned().flatten());
    }
    let done = sqlx::query(
        "INSERT INTO equipment_samples (equipment_id, point, at, number, text, lot_id) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[], $6::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&equipment)
    .bind(&point)
    .bind(&at)
    .bind(&number)
    .bind(&text)
    .bind(&lot)
    .execute(&mut *tx)
    .await?;
    // The newest sample of each point in the batch, unless a newer one is stored already.
    let latest = latest_of(samples);
    sqlx::query(
        "INSERT INTO equipment_latest (equipment_id, point, at, number, text, lot_id) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[], $6::text[]) \
         ON CONFLICT (equipment_id, point) DO UPDATE SET at = excluded.at, number = excluded.number, \
         text = excluded.text, lot_id = excluded.lot_id WHERE excluded.at >= equipment_latest.at",
    )
    .bind(latest.iter().map(|s| s.equipment.as_str()).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.point.as_str()).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.at).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.number).collect::<Vec<_>>())
    .bind(latest.iter().map(|s| s.text.as_deref()).collect::<Vec<_>>())
    .bind(
        latest
            .iter()
            .map(|s| lots.get(&s.equipment).cloned().flatten())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

impl Store {
    /// Stores a batch of samples in one transaction; returns how many were new (a sample of the
    /// same tool, point and time already stored is not stored again). Each is tagged with the
    /// lot on its tool when it is stored.
    pub async fn insert_samples(&self, samples: &[NewSample]) -> Result<u64, StoreError> {
        if samples.is_empty() {
            return Ok(0);
        }
        match &self.backend {
            crate::Backend::Postgres(pool) => insert_all_pg(pool, samples).await,
            crate::Backend::Sqlite { writer, .. } => {
                let mut conn = writer.lock().await;
                crate::sqlite_writer::blocking(|| {
                    crate::sqlite_writer::insert_samples(&mut conn, samples)
                })
            }
        }
    }

    /// Records that communication with a registered tool was lost (`stale`) or is back.
    pub async fn set_comm_state(
        &self,
        equipment: &str,
        stale: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            c.execute(
                "UPDATE equipment SET comm_stale = $1, comm_since = $2 WHERE id = $3",
                params![stale, at, equipment],
            )
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// A tool's communication state; `None` for an unknown tool.
    pub async fn comm_state(&self, equipment: &str) -> Result<Option<CommState>, StoreError> {
        with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "SELECT CAST(CASE WHEN comm_stale THEN 1 ELSE 0 END AS BIGINT) AS stale, comm_since \
                     FROM equipment WHERE id = $1",
                    params![equipment],
                )
                .await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some(CommState {
                    stale: r.int("stale")? != 0,
                    since: r.opt_time("comm_since")?,
                })),
            }
        })
    }

    /// The latest sample of every point of a tool.
    pub async fn latest_samples(&self, equipment: &str) -> Result<Vec<SampleRecord>, StoreError> {
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT point, at, number, text, lot_id FROM equipment_latest \
                     WHERE equipment_id = $1 ORDER BY point",
                    params![equipment],
                )
                .await?;
            rows.iter().map(record).collect()
        })
    }

    /// Samples of a tool, oldest first, optionally of one point and within `[from, to)`.
    pub async fn samples(
        &self,
        equipment: &str,
        point: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<SampleRecord>, StoreError> {
        let mut f = Filters::new();
        f.add("equipment_id =", Some(Param::from(equipment)))
            .add("point =", point.map(Param::from))
            .add("at >=", from.map(Param::Time))
            .add("at <", to.map(Param::Time));
        let n = f.next();
        let (filters, mut params) = f.finish();
        params.push(Param::Int(i64::from(limit.clamp(1, 100_000))));
        let sql = shaped(format!(
            "SELECT point, at, number, text, lot_id FROM equipment_samples{filters} \
             ORDER BY at, point LIMIT ${n}"
        ));
        with_read_conn!(self, |c| {
            let rows = c.fetch_all(sql, params).await?;
            rows.iter().map(record).collect()
        })
    }
}

/// One run of a lot on a tool (track-in to track-out) with the tool's samples during it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessRun {
    /// Route step.
    pub step: String,
    /// Tool.
    pub equipment: String,
    /// Recipe run.
    pub recipe: String,
    /// Track-in time.
    pub tracked_in: DateTime<Utc>,
    /// Track-out time; absent while the lot is still on the tool.
    pub tracked_out: Option<DateTime<Utc>>,
    /// The tool's samples in `[tracked_in, tracked_out)`, oldest first.
    pub samples: Vec<SampleRecord>,
    /// More samples exist than the limit returned.
    pub truncated: bool,
}

impl Store {
    /// The process data of lot `lot`: each of its runs on a tool, from its history, with the
    /// tool's samples during the run (optionally of one point, at most `limit` per run). A
    /// customer sees only its own lots.
    pub async fn process_data(
        &self,
        lot: &str,
        actor: &pilotline_domain::Actor,
        point: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ProcessRun>, StoreError> {
        use pilotline_domain::event::Change;
        let history = self.history(lot, actor).await?;
        let mut runs: Vec<ProcessRun> = Vec::new();
        for event in &history {
            match &event.change {
                Change::TrackedIn {
                    step,
                    equipment,
                    recipe,
                    ..
                } => runs.push(ProcessRun {
                    step: step.clone(),
                    equipment: equipment.clone(),
                    recipe: recipe.clone(),
                    tracked_in: event.at,
                    tracked_out: None,
                    samples: Vec::new(),
                    truncated: false,
                }),
                Change::TrackedOut {
                    step, equipment, ..
                } => {
                    if let Some(run) = runs.iter_mut().rev().find(|r| {
                        r.tracked_out.is_none() && &r.step == step && &r.equipment == equipment
                    }) {
                        run.tracked_out = Some(event.at);
                    }
                }
                _ => {}
            }
        }
        let limit = limit.clamp(1, 50_000);
        for run in &mut runs {
            let mut samples = self
                .samples(
                    &run.equipment,
                    point,
                    Some(run.tracked_in),
                    run.tracked_out,
                    limit + 1,
                )
                .await?;
            run.truncated = samples.len() > limit as usize;
            samples.truncate(limit as usize);
            run.samples = samples;
        }
        Ok(runs)
    }
}
