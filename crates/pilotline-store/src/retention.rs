//! Retention: raw samples, and the rollups that outlive them, deleted once older than the
//! line's policy, in small batches (each its own short transaction) so the writer is never
//! held for long. Raw samples are only deleted once rolled up; those taken while a lot ran on
//! the tool (within one of its `equipment_runs`, track-in to track-out) are part of the lot's
//! record and kept longer. Every step reads and deletes by index ranges from a per-tool mark
//! (`raw_purged_until`), so its cost does not grow with the history kept.

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

use crate::conn::{Conn, RowExt, params};
use crate::rollups::bucket_start;
use crate::telemetry::sample_us;
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

impl RetentionPolicy {
    /// This policy with the periods given (in days) replacing its own.
    pub fn with_days(
        mut self,
        raw: Option<u32>,
        lot_raw: Option<u32>,
        minute: Option<u32>,
        hour: Option<u32>,
    ) -> RetentionPolicy {
        let days =
            |d: Option<u32>, current: Duration| d.map_or(current, |d| Duration::days(i64::from(d)));
        self.raw = days(raw, self.raw);
        self.lot_raw = days(lot_raw, self.lot_raw);
        self.minute = days(minute, self.minute);
        self.hour = days(hour, self.hour);
        self
    }
}

/// The line's retention, and the tools whose telemetry is kept otherwise (their device
/// type's `[retention]` in the equipment profiles).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionPolicies {
    /// Every tool not named in `tools`.
    pub line: RetentionPolicy,
    /// By tool id.
    pub tools: std::collections::HashMap<String, RetentionPolicy>,
}

impl RetentionPolicies {
    /// Tool `tool`'s policy.
    pub fn of(&self, tool: &str) -> &RetentionPolicy {
        self.tools.get(tool).unwrap_or(&self.line)
    }
}

/// Gaps between runs one raw-retention transaction walks at most.
const MAX_RUNS_PER_STEP: u32 = 50;

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
/// size); returns the rows deleted.
async fn delete_batch<C: Conn>(
    c: &mut C,
    sql: &'static str,
    tool: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(c.execute(sql, params![tool, cutoff, RETENTION_BATCH])
        .await?)
}

/// 1-minute buckets of a tool before a cutoff.
const MINUTES: &str = "DELETE FROM sample_rollups WHERE (equipment_id, width, bucket, point) IN \
    (SELECT equipment_id, width, bucket, point FROM sample_rollups WHERE equipment_id = $1 \
    AND width = 60 AND bucket < $2 LIMIT $3)";
/// 1-hour buckets of a tool before a cutoff.
const HOURS: &str = "DELETE FROM sample_rollups WHERE (equipment_id, width, bucket, point) IN \
    (SELECT equipment_id, width, bucket, point FROM sample_rollups WHERE equipment_id = $1 \
    AND width = 3600 AND bucket < $2 LIMIT $3)";

/// Deletes at most [`RETENTION_BATCH`] of tool number `tool`'s raw samples in `[from, to)`
/// (microseconds), oldest first; returns the rows deleted and where the rest begins (`to` when
/// none is left). Index range reads only: the cost does not depend on the history's length.
async fn delete_range<C: Conn>(
    c: &mut C,
    tool: i64,
    from: i64,
    to: i64,
) -> Result<(u64, i64), StoreError> {
    // The time of the row after the batch: everything before it goes.
    let next = c
        .fetch_optional(
            "SELECT at FROM samples WHERE tool = $1 AND at >= $2 AND at < $3 \
             ORDER BY at LIMIT 1 OFFSET $4",
            params![tool, from, to, RETENTION_BATCH],
        )
        .await?
        .map(|r| r.int("at"))
        .transpose()?;
    // More rows than a batch at one instant (a tool of thousands of points): that instant whole.
    let until = match next {
        Some(at) if at == from => from + 1,
        Some(at) => at,
        None => to,
    };
    let n = c
        .execute(
            "DELETE FROM samples WHERE tool = $1 AND at >= $2 AND at < $3",
            params![tool, from, until],
        )
        .await?;
    Ok((n, until))
}

/// Locks tool `tool`'s progress row (PostgreSQL) and says up to when (microseconds) its raw
/// samples may go at `cutoff` — not past its 1-minute rollup mark — and its raw-retention mark;
/// `None` for a tool without samples.
async fn deletable_until<C: Conn>(
    c: &mut C,
    tool: &str,
    cutoff: DateTime<Utc>,
) -> Result<Option<(i64, i64)>, StoreError> {
    let lock = if C::POSTGRES {
        "SELECT rolled_1m, raw_purged_until FROM rollup_progress WHERE equipment_id = $1 FOR UPDATE"
    } else {
        "SELECT rolled_1m, raw_purged_until FROM rollup_progress WHERE equipment_id = $1"
    };
    let Some(row) = c.fetch_optional(lock, params![tool]).await? else {
        return Ok(None);
    };
    let limit = sample_us(cutoff.min(bucket_start(row.time("rolled_1m")?, 60)));
    Ok(Some((limit, row.int("raw_purged_until")?)))
}

/// A tool's next raw-retention step, in one transaction: deletes a batch of the raw samples
/// before `cutoff` that no lot's run holds, from the tool's mark on, and moves the mark. Only
/// where the tool's 1-minute rollups are complete: on PostgreSQL the tool's progress row is
/// locked first, so samples being stored (which move the rollup mark back) commit before it is
/// read. Returns the rows deleted and whether the tool has more to delete.
async fn purge_raw<C: Conn>(
    c: &mut C,
    tool: &str,
    cutoff: DateTime<Utc>,
) -> Result<(u64, bool), StoreError> {
    let Some((limit, mut mark)) = deletable_until(c, tool, cutoff).await? else {
        return Ok((0, false));
    };
    let Some(tool_id) = crate::sample_ids::tool_number(c, tool).await? else {
        return Ok((0, false));
    };
    let mut deleted = 0;
    let mut more = false;
    // Runs skipped per transaction at most, so a step stays short however many runs lie between
    // the mark and the cutoff (the first step after an upgrade starts at 0).
    let mut steps = 0;
    while mark < limit {
        steps += 1;
        if steps > MAX_RUNS_PER_STEP {
            more = true;
            break;
        }
        // The run holding the mark, if any: skip to its end. A run still open keeps everything
        // from its start, and the mark waits there until it is tracked out.
        let holding = c
            .fetch_optional(
                "SELECT ended_at FROM equipment_runs WHERE equipment_id = $1 AND started_at <= $2 \
                 ORDER BY started_at DESC LIMIT 1",
                params![tool, mark],
            )
            .await?;
        if let Some(r) = holding {
            match r.opt_int("ended_at")? {
                None => break,
                Some(end) if end > mark => {
                    mark = end.min(limit);
                    continue;
                }
                Some(_) => {}
            }
        }
        let next_run = c
            .fetch_optional(
                "SELECT started_at FROM equipment_runs WHERE equipment_id = $1 AND started_at > $2 \
                 ORDER BY started_at LIMIT 1",
                params![tool, mark],
            )
            .await?
            .map(|r| r.int("started_at"))
            .transpose()?;
        let gap_end = next_run.map_or(limit, |s| s.min(limit));
        let (n, until) = delete_range(c, tool_id, mark, gap_end).await?;
        deleted += n;
        mark = until;
        if n >= RETENTION_BATCH as u64 {
            more = mark < limit;
            break;
        }
    }
    c.execute(
        "UPDATE rollup_progress SET raw_purged_until = $1 WHERE equipment_id = $2",
        params![mark, tool],
    )
    .await?;
    Ok((deleted, more))
}

/// A tool's next lot-retention step, in one transaction: deletes a batch of the raw samples of
/// the oldest run not yet purged that ended before `cutoff` (and is rolled up), marking the run
/// purged once it is empty. Returns the rows deleted and whether there may be more.
async fn purge_runs<C: Conn>(
    c: &mut C,
    tool: &str,
    cutoff: DateTime<Utc>,
) -> Result<(u64, bool), StoreError> {
    let Some((limit, _)) = deletable_until(c, tool, cutoff).await? else {
        return Ok((0, false));
    };
    let unpurged = if C::POSTGRES {
        "NOT purged"
    } else {
        "purged = 0"
    };
    let sql = crate::conn::shaped(format!(
        "SELECT started_at, lot_id, ended_at FROM equipment_runs WHERE equipment_id = $1 \
         AND {unpurged} ORDER BY started_at LIMIT 1"
    ));
    let Some(run) = c.fetch_optional(sql, params![tool]).await? else {
        return Ok((0, false));
    };
    let (start, lot) = (run.int("started_at")?, run.text("lot_id")?);
    let Some(end) = run.opt_int("ended_at")?.filter(|e| *e <= limit) else {
        // The oldest run still open, or not past its retention: later ones are younger.
        return Ok((0, false));
    };
    let Some(tool_id) = crate::sample_ids::tool_number(c, tool).await? else {
        return Ok((0, false));
    };
    let (n, until) = delete_range(c, tool_id, start, end).await?;
    if until >= end {
        let purged = if C::POSTGRES {
            "purged = TRUE"
        } else {
            "purged = 1"
        };
        let sql = crate::conn::shaped(format!(
            "UPDATE equipment_runs SET {purged} WHERE equipment_id = $1 AND started_at = $2 \
             AND lot_id = $3"
        ));
        c.execute(sql, params![tool, start, lot.as_str()]).await?;
    }
    Ok((n, true))
}

impl Store {
    /// Deletes telemetry older than each tool's policy in `policies` allows at `now`, tool by tool, in transactions of
    /// at most [`RETENTION_BATCH`] rows, at most `max_batches` of them. Raw samples are deleted
    /// only where the tool's 1-minute rollups are complete, so nothing goes unsummarised.
    pub async fn enforce_retention(
        &self,
        now: DateTime<Utc>,
        policies: &RetentionPolicies,
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
            let policy = policies.of(tool);
            // Raw samples outside runs, then the runs past the lot retention.
            let raw_levels = [(now - policy.raw, false), (now - policy.lot_raw, true)];
            for (cutoff, runs) in raw_levels {
                loop {
                    if run.batches >= max_batches {
                        return Ok(run);
                    }
                    let t = Instant::now();
                    let (n, more) = if runs {
                        in_write_tx!(self, |c| purge_runs(c, tool, cutoff).await)?
                    } else {
                        in_write_tx!(self, |c| purge_raw(c, tool, cutoff).await)?
                    };
                    run.longest = run.longest.max(t.elapsed());
                    run.batches += 1;
                    run.raw += n;
                    if !more {
                        break;
                    }
                }
            }
            for (sql, cutoff) in [(MINUTES, now - policy.minute), (HOURS, now - policy.hour)] {
                loop {
                    if run.batches >= max_batches {
                        return Ok(run);
                    }
                    let t = Instant::now();
                    let n = in_write_tx!(self, |c| delete_batch(c, sql, tool, cutoff).await)?;
                    run.longest = run.longest.max(t.elapsed());
                    run.batches += 1;
                    if sql == MINUTES {
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
