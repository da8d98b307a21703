//! The Q-time monitor's use case and the idempotency-key expiry job.

use chrono::{DateTime, Utc};
use pilotline_domain::{Actor, Role};
use pilotline_store::{Outcome, WriteOp};

use crate::{App, AppError};

/// The system actor the Q-time monitor's holds are recorded under.
pub fn qtime_actor() -> Actor {
    Actor {
        user: "qtime-monitor".to_string(),
        role: Role::Admin,
        tenant: None,
    }
}

impl App {
    /// Holds (`QTIME`) every lot whose Q-time window closed before `now` — the monitor's
    /// clock, which tests set — and returns the lots held. A lot that moved on meanwhile, or
    /// is already held for it, is left alone.
    pub async fn expire_qtime(&self, now: DateTime<Utc>) -> Result<Vec<String>, AppError> {
        let actor = qtime_actor();
        let mut held = Vec::new();
        for lot_id in self.store.lots_past_qtime(now).await? {
            match self
                .execute(
                    &WriteOp::ExpireQTime {
                        lot_id: lot_id.clone(),
                        at: now,
                    },
                    &actor,
                )
                .await
            {
                Ok(Outcome::Nothing) => {}
                Ok(_) => held.push(lot_id),
                Err(e) => tracing::warn!(lot = %lot_id, error = %e, "Q-time hold failed"),
            }
        }
        Ok(held)
    }

    /// The hourly maintenance: forgets idempotency keys older than their lifetime (returns
    /// how many) and brings the planner's statistics up to date.
    pub async fn expire_idempotency_keys(&self) -> Result<u64, AppError> {
        let n = self.store.expire_idempotency_keys().await?;
        self.store.optimize().await?;
        Ok(n)
    }
}
