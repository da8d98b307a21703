//! Retention: raw samples, and the rollups that outlive them, deleted once older than the
//! line's policy, in small batches (each its own short transaction) so the writer is never
//! held for long. Raw samples are only deleted once rolled up; those taken while a lot ran on
//! the tool are part of the lot's record and kept longer.

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

use crate::conn::{Conn, RowExt, params};
use crate::rollups::bucket_start;
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// How long telemetry is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Raw samples.
    pub raw: Duration,
    /// Raw samples taken while a lot was on the tool (its process data).
    pub lot_raw: Duration,
    /// 1-minute buckets.
    pub minute: Duration,
    /// 1-hour buckets.
    pub hour: Duration,
}

impl Default for RetentionPolicy {
    /// Raw 30 days (a lot's 2 years), 1-minute buckets 1 year, 1-hour buckets 10 years.
    fn default() -> Self {
        RetentionPolicy {
            raw: Duration::days(30),
            lot_raw: Duration::days(730),
            minute: Duration::days(365),
            hour: Duration::days(3650),
        }
    }
}

impl RetentionPolicy {
    /// What is wrong with the policy, if anything: every period positive, and each coarser
    /// level kept at least as long as the finer one (a rollup must outlive what it replaces).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, d) in [
            ("raw", self.raw),
            ("lot_raw", self.lot_raw),
            ("minute", self.minute),
            ("hour", self.hour),
        ] {
            if d <= Duration::zero() {
                out.push(format!("{name} must be positive"));
            }
        }
        if self.lot_raw < self.raw {
            out.push("lot_raw must be at least raw".into());
        }
        if self.minute < self.raw {
            out.push("minute must be at least raw".into());
        }
        if self.hour < self.minute {
            out.push("hour must be at least minute".into());
        }
        out
    }

    /// The oldest time a late sample may still be stored at, at `now`: an hour inside the raw
    /// horizon, so rolling its slice up again never reads a slice retention has begun to
    /// delete.
    pub fn accepts_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.raw + Duration::hours(1)
    }
}

/// Rows one retention transaction deletes at most.
pub const RETENTION_BATCH: i64 = 2000;

/// What one run of retention did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionRun {
    /// Raw samples deleted.
    pub raw: u64,
    /// 1-minute buckets deleted.
    pub minute: u64,
    /// 1-hour buckets deleted.
    pub hour: u64,
    /// Transactions run.
    pub batches: u64,
    /// The longest of them: how long the writer was held at most.
    pub longest: std::time::Duration,
}

/// Deletes one batch of what `sql` selects (its `$1` the tool, `$2` the cutoff, `$3` the batch
/// size); returns the rows deleted. Raw samples (`rolled_only`) are only deleted before the
/// tool's 1-minute mark as it stands in this transaction: on PostgreSQL the tool's progress row
/// is locked first, so samples being stored (which move the mark back) commit before it is read.
async fn delete_batch<C: Conn>(
    c: &mut C,
    sql: &'static str,
    tool: &str,
    cutoff: DateTime<Utc>,
    rolled_only: bool,
) -> Result<u64, StoreError> {
    let mut cutoff = cutoff;
    if rolled_only {
        let lock = if C::POSTGRES {
            "SELECT rolled_1m FROM rollup_progress WHERE equipment_id = $1 FOR UPDATE"
        } else {
            "SELECT rolled_1m FROM rollup_progress WHERE equipment_id = $1"
        };
        match c.fetch_optional(lock, params![tool]).await? {
            Some(r) => cutoff = cutoff.min(bucket_start(r.time("rolled_1m")?, 60)),
            None => return Ok(0),
        }
    }
    Ok(c.execute(sql, params![tool, cutoff, RETENTION_BATCH])
        .await?)
}

/// Raw samples of a tool before a cutoff, not taken during a lot's run.
const RAW: &str = "DELETE FROM equipment_samples WHERE (equipment_id, at, point) IN \
    (SELECT equipment_id, at, point FROM equipment_samples WHERE equipment_id = $1 \
    AND at < $2 AND lot_id IS NULL LIMIT $3)";
/// Raw samples of a tool before a cutoff, taken during a lot's run.
const LOT_RAW: &str = "DELETE FROM equipment_samples WHERE (equipment_id, at, point) IN \
    (SELECT equipment_id, at, point FROM equipment_samples WHERE equipment_id = $1 \
    AND at < $2 AND lot_id IS NOT NULL LIMIT $3)";
/// 1-minute buckets of a tool before a cutoff.
const MINUTES: &str = "DELETE FROM sample_rollups WHERE (equipment_id, width, bucket, point) IN \
    (SELECT equipment_id, width, bucket, point FROM sample_rollups WHERE equipment_id = $1 \
    AND width = 60 AND bucket < $2 LIMIT $3)";
/// 1-hour buckets of a tool before a cutoff.
const HOURS: &str = "DELETE FROM sample_rollups WHERE (equipment_id, width, bucket, point) IN \
    (SELECT equipment_id, width, bucket, point FROM sample_rollups WHERE equipment_id = $1 \
    AND width = 3600 AND bucket < $2 LIMIT $3)";

impl Store {
    /// Deletes telemetry older than `policy` allows at `now`, tool by tool, in transactions of
    /// at most [`RETENTION_BATCH`] rows, at most `max_batches` of them. Raw samples are deleted
    /// only where the tool's 1-minute rollups are complete, so nothing goes unsummarised.
    pub async fn enforce_retention(
        &self,
        now: DateTime<Utc>,
        policy: &RetentionPolicy,
        max_batches: u64,
    ) -> Result<RetentionRun, StoreError> {
        let tools: Vec<String> = with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT equipment_id FROM rollup_progress ORDER BY equipment_id",
                    vec![],
                )
                .await?;
            rows.iter()
                .map(|r| r.text("equipment_id").map_err(StoreError::from))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut run = RetentionRun::default();
        for tool in &tools {
            // (statement, cutoff, raw: only where rolled up and counted as raw).
            let levels = [
                (RAW, now - policy.raw, true),
                (LOT_RAW, now - policy.lot_raw, true),
                (MINUTES, now - policy.minute, false),
                (HOURS, now - policy.hour, false),
            ];
            for (sql, cutoff, raw) in levels {
                loop {
                    if run.batches >= max_batches {
                        return Ok(run);
                    }
                    let t = Instant::now();
                    let n = in_write_tx!(self, |c| delete_batch(c, sql, tool, cutoff, raw).await)?;
                    run.longest = run.longest.max(t.elapsed());
                    run.batches += 1;
                    if raw {
                        run.raw += n;
                    } else if sql == MINUTES {
                        run.minute += n;
                    } else {
                        run.hour += n;
                    }
                    if n < RETENTION_BATCH as u64 {
                        break;
                    }
                }
            }
        }
        Ok(run)
    }
}
