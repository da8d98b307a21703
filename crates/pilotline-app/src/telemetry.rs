//! Equipment telemetry: what the collector stores, and the reads of a tool's data.

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor};
use pilotline_store::{
    CommState, NewSample, SampleCursor, SamplePage, SampleRecord, SamplesStored,
};

use crate::perform::require;
use crate::{App, AppError};

impl App {
    /// Stores samples (the collector's writer). A point has one value per instant: replays
    /// store nothing twice, and a sample that contradicts the stored value of its instant is
    /// counted and logged as a conflict, the first value kept. Returns what was stored.
    pub async fn record_samples(&self, samples: &[NewSample]) -> Result<SamplesStored, AppError> {
        let done = self.store.insert_samples(samples).await?;
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

    /// A tool's samples, oldest first, within `[from, to)` and after `after`, at most `limit`,
    /// saying whether more match and where to continue (staff).
    #[allow(clippy::too_many_arguments)]
    pub async fn samples(
        &self,
        equipment: &str,
        point: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<&SampleCursor>,
        limit: u32,
        actor: &Actor,
    ) -> Result<SamplePage, AppError> {
        require(actor, Action::ReadMasterData, "read equipment")?;
        if self.store.comm_state(equipment).await?.is_none() {
            return Err(pilotline_domain::Code::EquipmentNotFound
                .refusal()
                .with("equipment", equipment)
                .into());
        }
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(pilotline_domain::Code::WindowReversed
                .refusal()
                .with("from", f.to_rfc3339())
                .with("to", t.to_rfc3339())
                .into());
        }
        Ok(self
            .store
            .samples(equipment, point, from, to, after, limit)
            .await?)
    }
}
