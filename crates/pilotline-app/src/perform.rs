//! Every write: idempotency replay, the role check, the change and its follow-up effects in one
//! transaction, the remembered answer, the write metric.

use pilotline_domain::{Action, Actor, Code, Refusal};
use pilotline_store::{
    IdempotencyKey, LotCommand, Outcome, StoreError, StoredResponse, Tx, Work, WriteOp,
};

use crate::{App, AppError, spc};

/// How a front end renders the answers that are remembered for an `Idempotency-Key` (so a
/// retry gets exactly the first answer, success or refusal).
pub trait Renderer: Sync {
    /// The answer to a successful write.
    fn outcome(&self, outcome: &Outcome) -> StoredResponse;
    /// The answer to a refused write.
    fn refusal(&self, refusal: &Refusal) -> StoredResponse;
}

/// What a write came to.
#[derive(Debug)]
pub enum Performed {
    /// Carried out now.
    Done(Box<Outcome>),
    /// A retry: the first answer, as it was rendered then.
    Replayed(StoredResponse),
}

/// The action a write needs, checked before anything is read (so a manager's track-out is a
/// `role_forbidden`, whatever state the lot is in).
fn required_action(op: &WriteOp) -> (Action, &'static str) {
    match op {
        WriteOp::PutRoute(_) => (Action::WriteMasterData, "define routes"),
        WriteOp::PutProduct(_) => (Action::WriteMasterData, "define products"),
        WriteOp::PutEquipment { .. } => (Action::WriteMasterData, "register equipment"),
        WriteOp::SetEquipmentState { .. } => (Action::WriteMasterData, "change equipment states"),
        WriteOp::SignalEquipmentState { .. } => {
            (Action::WriteMasterData, "report equipment states")
        }
        WriteOp::StartLot(_) => (Action::MoveLots, "start lots"),
        WriteOp::ExpireQTime { .. } => (Action::PlaceHold, "place Q-time holds"),
        WriteOp::Lot { command, .. } => match command {
            LotCommand::TrackIn { .. } => (Action::MoveLots, "track lots in"),
            LotCommand::TrackOut { .. } => (Action::MoveLots, "track lots out"),
            LotCommand::Hold { .. } => (Action::PlaceHold, "place holds"),
            // Releasing one's own plain hold needs only `PlaceHold`; the transaction decides.
            LotCommand::Release { .. } => (Action::PlaceHold, "release holds"),
            LotCommand::FutureHold { .. } => (Action::PlaceHold, "place future holds"),
            LotCommand::Split { .. } => (Action::MoveLots, "split lots"),
            LotCommand::Merge { .. } => (Action::MoveLots, "merge lots"),
            LotCommand::Rework { .. } => (Action::MoveLots, "rework lots"),
            LotCommand::Scrap { .. } => (Action::MoveLots, "scrap"),
            LotCommand::Ship => (Action::MoveLots, "ship lots"),
        },
    }
}

/// Refuses `actor` unless its role may do `action` (`what` names it).
pub(crate) fn require(actor: &Actor, action: Action, what: &str) -> Result<(), AppError> {
    Ok(actor.require(action, what)?)
}

/// The lot whose readings a track-out brings, if it brings any.
fn measured_track_out(op: &WriteOp) -> Option<&str> {
    match op {
        WriteOp::Lot {
            lot_id,
            command: LotCommand::TrackOut { readings, .. },
            ..
        } if !readings.is_empty() => Some(lot_id),
        _ => None,
    }
}

/// One write, its follow-up effects and its remembered answer: one transaction.
struct WriteWork<'c> {
    op: &'c WriteOp,
    actor: &'c Actor,
    key: Option<(&'c IdempotencyKey, &'c dyn Renderer)>,
    /// The lot of a track-out with readings: its SPC judgement is part of the unit.
    measured: Option<&'c str>,
}

impl Work for WriteWork<'_> {
    type Output = Outcome;
    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<Outcome, StoreError> {
        let mut outcome = tx.execute(self.op, self.actor).await?;
        if let Some(lot) = self.measured {
            let since = tx.at();
            let judged = spc::judge(tx, lot, since).await?;
            if let (Some(view), Outcome::Lot(_)) = (judged.lot, &outcome) {
                outcome = Outcome::Lot(view);
            }
        }
        if let Some((k, renderer)) = self.key {
            tx.remember(k, &renderer.outcome(&outcome)).await?;
        }
        Ok(outcome)
    }
}

impl App {
    /// Carries out `op` for `actor` — without an idempotency key.
    pub async fn execute(&self, op: &WriteOp, actor: &Actor) -> Result<Outcome, AppError> {
        match self.perform(op, actor, None).await? {
            Performed::Done(o) => Ok(*o),
            Performed::Replayed(_) => Err(AppError::Internal("replay without a key".into())),
        }
    }

    /// Carries out `op` for `actor`. With a key, a retry gets the first answer (success or
    /// refusal) and the same key with another request is refused (`idempotency_key_reused`).
    ///
    /// A track-out with readings is one unit: the readings are stored, the lot moves, the SPC
    /// charts judge the new points and their holds and tool inhibits are placed, and the
    /// answer is remembered — in one transaction.
    pub async fn perform(
        &self,
        op: &WriteOp,
        actor: &Actor,
        key: Option<(&IdempotencyKey, &dyn Renderer)>,
    ) -> Result<Performed, AppError> {
        if let Some((k, _)) = key
            && let Some(stored) = self.store.idempotent_response(k).await?
        {
            return Ok(Performed::Replayed(stored));
        }
        let started = std::time::Instant::now();
        let result = self.perform_now(op, actor, key).await;
        self.metrics
            .record_write(op, result.is_ok(), started.elapsed());
        match result {
            Ok(outcome) => Ok(Performed::Done(Box::new(outcome))),
            Err(e) => {
                let e = AppError::from(e);
                if let (Some((k, renderer)), AppError::Refused(r)) = (key, &e)
                    && !matches!(
                        r.code(),
                        Code::IdempotencyKeyInFlight | Code::IdempotencyKeyReused
                    )
                    && r.kind().http_status() < 500
                    && let Err(err) = self.store.save_response(k, &renderer.refusal(r)).await
                {
                    tracing::warn!(error = %err, "could not remember a refused request's answer");
                }
                Err(e)
            }
        }
    }

    async fn perform_now(
        &self,
        op: &WriteOp,
        actor: &Actor,
        key: Option<(&IdempotencyKey, &dyn Renderer)>,
    ) -> Result<Outcome, StoreError> {
        let (action, what) = required_action(op);
        actor.require(action, what)?;
        let measured = measured_track_out(op);
        if measured.is_none() && key.is_none() {
            // No follow-up effect and no answer to remember: the change alone, which the
            // store may write as one statement.
            return self.store.execute(op, actor, None).await;
        }
        self.store
            .write(WriteWork {
                op,
                actor,
                key,
                measured,
            })
            .await
    }
}
