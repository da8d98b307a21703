//! Leases: which process holds a singleton job (or a Modbus tool) until when.
//!
//! One statement takes or renews a lease: it inserts the job's row, or updates it when the
//! caller already holds it or its holder let it expire. The database decides between racing
//! processes (a row lock on PostgreSQL, the single writer on SQLite), so at most one holder
//! has an unexpired lease at any time of the callers' clock. The time is the caller's, so the
//! replicas' clocks must agree to well within the lease's length (NTP keeps them within
//! milliseconds; leases last seconds).

use chrono::{DateTime, Utc};

use crate::conn::{Conn, RowExt, params};
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// A lease held: its job, holder, fencing epoch and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job (or `modbus:{tool}`) the lease is for.
    pub job: String,
    /// The process holding it.
    pub holder: String,
    /// How many times the lease changed holder: work done under an older epoch is stale.
    pub epoch: i64,
    /// When the holder took it (the current holder's first acquisition).
    pub acquired_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

fn lease_of(r: &impl RowExt) -> Result<Lease, sqlx::Error> {
    Ok(Lease {
        job: r.text("job")?,
        holder: r.text("holder")?,
        epoch: r.int("epoch")?,
        acquired_at: r.time("acquired_at")?,
        expires_at: r.time("expires_at")?,
    })
}

impl Store {
    /// Takes or renews the lease of `job` for `holder` until `until`, when it is free, expired
    /// at `now`, or already `holder`'s. Returns the lease held, or `None` when another process
    /// holds it.
    pub async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        const SQL: &str = "INSERT INTO job_leases (job, holder, epoch, acquired_at, expires_at) \
             VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (job) DO UPDATE SET \
               epoch = CASE WHEN job_leases.holder = excluded.holder \
                       THEN job_leases.epoch ELSE job_leases.epoch + 1 END, \
               acquired_at = CASE WHEN job_leases.holder = excluded.holder \
                       THEN job_leases.acquired_at ELSE excluded.acquired_at END, \
               holder = excluded.holder, \
               expires_at = excluded.expires_at \
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $3 \
             RETURNING job, holder, epoch, acquired_at, expires_at";
        in_write_tx!(self, |c| {
            let row = c
                .fetch_optional(SQL, params![job, holder, now, until])
                .await?;
            Ok::<_, StoreError>(row.map(|r| lease_of(&r)).transpose()?)
        })
    }

    /// Renews, until `until`, every lease `holder` holds of a job starting with `prefix` (one
    /// statement, however many), and returns them. A lease another process took over is not
    /// among them.
    pub async fn renew_leases(
        &self,
        holder: &str,
        prefix: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<Lease>, StoreError> {
        let pattern = format!("{prefix}%");
        in_write_tx!(self, |c| {
            let rows = c
                .fetch_all(
                    "UPDATE job_leases SET expires_at = $3 WHERE holder = $1 AND job LIKE $2 \
                     RETURNING job, holder, epoch, acquired_at, expires_at",
                    params![holder, pattern, until],
                )
                .await?;
            Ok::<_, StoreError>(
                rows.iter()
                    .map(lease_of)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?,
            )
        })
    }

    /// Gives up `holder`'s lease of `job` (at a clean stop, so another process takes over at
    /// once instead of after the expiry). Returns whether it held one.
    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<bool, StoreError> {
        in_write_tx!(self, |c| {
            let n = c
                .execute(
                    "DELETE FROM job_leases WHERE job = $1 AND holder = $2",
                    params![job, holder],
                )
                .await?;
            Ok::<_, StoreError>(n > 0)
        })
    }

    /// Every lease on record whose job starts with `prefix`, expired ones included, by job.
    pub async fn leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        // `prefix` is code's own (a job family), never a user's: no LIKE metacharacters.
        let pattern = format!("{prefix}%");
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT job, holder, epoch, acquired_at, expires_at FROM job_leases \
                     WHERE job LIKE $1 ORDER BY job",
                    params![pattern],
                )
                .await?;
            Ok::<_, StoreError>(
                rows.iter()
                    .map(lease_of)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?,
            )
        })
    }
}
