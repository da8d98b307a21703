//! Equipment telemetry: samples from the collector and each tool's communication state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::conn::{Conn, Param, RowExt, params};
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

async fn insert_all<C: Conn>(c: &mut C, samples: &[NewSample]) -> Result<u64, StoreError> {
    let mut n = 0;
    for s in samples {
        n += c
            .execute(
                "INSERT INTO equipment_samples (equipment_id, point, at, number, text, lot_id) \
                 SELECT $1, $2, $3, $4, $5, (SELECT current_lot FROM equipment WHERE id = $1)",
                vec![
                    Param::from(s.equipment.as_str()),
                    Param::from(s.point.as_str()),
                    Param::Time(s.at),
                    Param::OptFloat(s.number),
                    Param::OptText(s.text.clone()),
                ],
            )
            .await?;
    }
    Ok(n)
}

impl Store {
    /// Stores a batch of samples in one transaction; returns how many were written.
    pub async fn insert_samples(&self, samples: &[NewSample]) -> Result<u64, StoreError> {
        if samples.is_empty() {
            return Ok(0);
        }
        in_write_tx!(self, |c| insert_all(c, samples).await)
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
                    "SELECT point, at, number, text, lot_id FROM equipment_samples WHERE id IN \
                     (SELECT MAX(id) FROM equipment_samples WHERE equipment_id = $1 GROUP BY point) \
                     ORDER BY point",
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
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT point, at, number, text, lot_id FROM equipment_samples \
                     WHERE equipment_id = $1 AND ($2 IS NULL OR point = $2) \
                     AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) \
                     ORDER BY at, id LIMIT $5",
                    vec![
                        Param::from(equipment),
                        Param::from(point),
                        Param::OptTime(from),
                        Param::OptTime(to),
                        Param::Int(i64::from(limit.clamp(1, 100_000))),
                    ],
                )
                .await?;
            rows.iter().map(record).collect()
        })
    }
}
