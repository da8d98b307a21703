//! Equipment telemetry: what the collector stores, and the reads of a tool's data.

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor};
use pilotline_store::{
    CommState, NewSample, RetentionRun, RollupRun, SamplePage, SampleQuery, SampleRecord,
    SamplesStored,
};

use crate::perform::require;
use crate::{App, AppError};

impl App {
    /// Stores samples (the collector's writer). A point has one value per instant: replays
    /// store nothing twice, and a sample that contradicts the stored value of its instant is
    /// counted and logged as a conflict, the first value kept. Returns what was stored.
    ///
    /// A sample older than the raw retention allows (less an hour) is not stored: it is
    /// counted as `expired` (a spool replayed after a very long outage).
    pub async fn record_samples(&self, samples: &[NewSample]) -> Result<SamplesStored, AppError> {
        let now = crate::now();
        let horizon = |s: &NewSample| self.retention.of(&s.equipment).accepts_from(now);
        let (fresh, expired): (Vec<&NewSample>, Vec<&NewSample>) =
            samples.iter().partition(|s| s.at >= horizon(s));
        let mut done = if expired.is_empty() {
            self.store.insert_samples(samples).await?
        } else {
            tracing::warn!(
                expired = expired.len(),
                oldest = %expired.iter().map(|s| s.at).min().unwrap_or(now).to_rfc3339(),
                "samples older than the raw retention are not stored"
            );
            let fresh: Vec<NewSample> = fresh.into_iter().cloned().collect();
            self.store.insert_samples(&fresh).await?
        };
        // Those older than the raw horizon here, and those behind retention's mark in the store.
        done.expired += expired.len() as u64;
        self.metrics.record_samples(&done);
        if done.conflicts > 0 {
            let examples: Vec<String> = done
                .examples
                .iter()
                .map(|(tool, point, at)| format!("{tool}/{point}@{}", at.to_rfc3339()))
                .collect();
            tracing::warn!(
                conflicts = done.conflicts,
                examples = %examples.join(", "),
                "samples contradict the stored value of their instant; the first value is kept"
            );
        }
        Ok(done)
    }

    /// Records whether a tool's communication is lost (`stale`) since `at`.
    pub async fn record_comm_state(
        &self,
        equipment: &str,
        stale: bool,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        Ok(self.store.set_comm_state(equipment, stale, at).await?)
    }

    /// A tool's communication state (staff).
    pub async fn comm_state(
        &self,
        equipment: &str,
        actor: &Actor,
    ) -> Result<Option<CommState>, AppError> {
        require(actor, Action::ReadMasterData, "read equipment")?;
        Ok(self.store.comm_state(equipment).await?)
    }

    /// The latest value of every point of a tool (staff).
    pub async fn latest_samples(
        &self,
        equipment: &str,
        actor: &Actor,
    ) -> Result<Vec<SampleRecord>, AppError> {
        require(actor, Action::ReadMasterData, "read equipment")?;
        Ok(self.store.latest_samples(equipment).await?)
    }

    /// A tool's samples (or buckets, at a rolled-up resolution), oldest first, within
    /// `[from, to)` and after `q.after`, at most `q.limit`, saying whether more match and where
    /// to continue (staff).
    pub async fn samples(
        &self,
        equipment: &str,
        q: &SampleQuery<'_>,
        actor: &Actor,
    ) -> Result<SamplePage, AppError> {
        require(actor, Action::ReadMasterData, "read equipment")?;
        if self.store.comm_state(equipment).await?.is_none() {
            return Err(pilotline_domain::Code::EquipmentNotFound
                .refusal()
                .with("equipment", equipment)
                .into());
        }
        if let (Some(f), Some(t)) = (q.from, q.to)
            && f > t
        {
            return Err(pilotline_domain::Code::WindowReversed
                .refusal()
                .with("from", f.to_rfc3339())
                .with("to", t.to_rfc3339())
                .into());
        }
        Ok(self.store.read_samples(equipment, q).await?)
    }

    /// Deletes telemetry older than each tool's retention allows at `now` (the retention job;
    /// `now` is the job's clock), at most `max_batches` short transactions.
    pub async fn enforce_retention(
        &self,
        now: DateTime<Utc>,
        max_batches: u64,
    ) -> Result<RetentionRun, AppError> {
        Ok(self
            .store
            .enforce_retention(now, &self.retention, max_batches)
            .await?)
    }

    /// Rolls every tool's samples up to `now` (the rollup job; `now` is the job's clock), at
    /// most `max_slices` short transactions.
    pub async fn roll_up_samples(
        &self,
        now: DateTime<Utc>,
        max_slices: u64,
    ) -> Result<RollupRun, AppError> {
        Ok(self.store.roll_up(now, max_slices).await?)
    }
}
