//! Metrology and SPC use cases: recording readings, judging the charts they feed, and carrying
//! out the charts' actions — always inside the transaction that stored the readings.

use chrono::{DateTime, Utc};
use pilotline_domain::measure::{OOC_REASON, OOS_REASON, check_reading_wafers, check_readings};
use pilotline_domain::{Action, Actor, Code, E10State, Kind, LotView, Role, WaferState};
use pilotline_store::{
    ChartSpec, ChartView, LotCommand, Measurement, MeasurementRow, NewMeasurements, Outcome,
    SpcOutcome, SpcSignal, StoreError, Tx, Work, WriteOp,
};
use pilotline_yield::chart;

use crate::perform::require;
use crate::{App, AppError};

/// The engineer acting for SPC's automatic holds and inhibits.
pub(crate) fn spc_actor() -> Actor {
    Actor {
        user: "spc".to_string(),
        role: Role::Engineer,
        tenant: None,
    }
}

/// What judging a lot's new points did.
pub(crate) struct Judged {
    /// Out-of-control points and the actions taken.
    pub signals: Vec<SpcSignal>,
    /// The lot after the last hold placed, if any was.
    pub lot: Option<LotView>,
}

/// Judges lot `lot`'s points recorded at or after `since` on every chart of the parameters
/// measured, inside `tx`: freezes a chart's first limits when it reaches its baseline, then
/// for each out-of-control point holds the lot (`SPC-OOC`) and/or takes the tool down, as the
/// chart says. A hold the lot's state does not allow (shipped, scrapped) or a tool that is
/// already down or running another lot is noted in the signal, not an error.
pub(crate) async fn judge(
    tx: &mut Tx<'_>,
    lot: &str,
    since: DateTime<Utc>,
) -> Result<Judged, StoreError> {
    let mut judged = Judged {
        signals: Vec::new(),
        lot: None,
    };
    for view in tx.charts_measured(lot, since).await? {
        let view = match chart::first_limits(&view.spec, view.version, &view.points, tx.at()) {
            Some(limits) => {
                tx.save_limits(&view.spec.id, &limits).await?;
                chart::view(view.spec, limits.version, Some(limits), view.points)
            }
            None => view,
        };
        for ooc in chart::out_of_control(&view, lot, since) {
            let mut held = false;
            if ooc.hold {
                let hold = WriteOp::Lot {
                    lot_id: lot.to_string(),
                    command: LotCommand::Hold {
                        reason_code: OOC_REASON.to_string(),
                        comment: ooc.comment.clone(),
                    },
                    if_version: None,
                };
                match tx.execute(&hold, &spc_actor()).await {
                    Ok(Outcome::Hold { lot, .. }) => {
                        held = true;
                        judged.lot = Some(lot);
                    }
                    Ok(_) => held = true,
                    Err(StoreError::Refused(r)) if r.kind() == Kind::Illegal => {
                        tracing::warn!(lot, code = %r.code(), "SPC hold not placed");
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut inhibited = None;
            if let Some(tool) = &ooc.inhibit {
                let down = WriteOp::SetEquipmentState {
                    id: tool.clone(),
                    state: E10State::UnscheduledDown,
                    reason: format!("SPC inhibit: {}", ooc.comment),
                };
                match tx.execute(&down, &spc_actor()).await {
                    Ok(_) => inhibited = Some(tool.clone()),
                    Err(StoreError::Refused(r))
                        if matches!(
                            r.code(),
                            Code::EquipmentRunning | Code::EquipmentSameState
                        ) =>
                    {
                        tracing::warn!(equipment = %tool, code = %r.code(), "SPC inhibit not applied");
                    }
                    Err(e) => return Err(e),
                }
            }
            judged.signals.push(SpcSignal {
                chart: view.spec.id.clone(),
                version: view.version,
                rule: ooc.rule,
                lot: lot.to_string(),
                wafer: ooc.point.wafer.clone(),
                value: ooc.point.value,
                held,
                inhibited,
            });
        }
    }
    Ok(judged)
}

/// A request checked against its step's plan.
struct Checked {
    lot: LotView,
    step: pilotline_domain::Step,
    out_of_spec: Vec<String>,
}

/// Readings, their out-of-spec holds and the charts' judgement: one transaction.
struct RecordWork<'c> {
    requests: &'c [NewMeasurements],
    checked: &'c [Checked],
    actor: &'c Actor,
}

impl Work for RecordWork<'_> {
    type Output = SpcOutcome;
    async fn run(&mut self, tx: &mut Tx<'_>) -> Result<SpcOutcome, StoreError> {
        let since = tx.at();
        for (req, c) in self.requests.iter().zip(self.checked) {
            let equipment = req.equipment.as_deref().or(c.lot.equipment.as_deref());
            let rows: Vec<MeasurementRow<'_>> = req
                .readings
                .iter()
                .map(|reading| MeasurementRow {
                    lot: &c.lot.id,
                    product: &c.lot.product,
                    step: &c.step.id,
                    equipment,
                    recipe: Some(c.step.recipe.as_str()),
                    reading,
                    source: &req.source,
                    by: &self.actor.user,
                })
                .collect();
            tx.insert_measurements(&rows).await?;
        }
        let mut outcome = SpcOutcome {
            stored: self.requests.iter().map(|r| r.readings.len() as u64).sum(),
            ..SpcOutcome::default()
        };
        let mut lots: Vec<&str> = Vec::new();
        for c in self.checked {
            if !lots.contains(&c.lot.id.as_str()) {
                lots.push(&c.lot.id);
            }
            if c.out_of_spec.is_empty() {
                continue;
            }
            let hold = WriteOp::Lot {
                lot_id: c.lot.id.clone(),
                command: LotCommand::Hold {
                    reason_code: OOS_REASON.to_string(),
                    comment: c.out_of_spec.join("; "),
                },
                if_version: None,
            };
            match tx.execute(&hold, &spc_actor()).await {
                Ok(_) => {}
                Err(StoreError::Refused(r)) if r.kind() == Kind::Illegal => {
                    tracing::warn!(lot = %c.lot.id, code = %r.code(), "out-of-spec hold not placed");
                }
                Err(e) => return Err(e),
            }
            outcome.out_of_spec.extend(c.out_of_spec.iter().cloned());
        }
        for lot in lots {
            outcome.signals.extend(judge(tx, lot, since).await?.signals);
        }
        Ok(outcome)
    }
}

impl App {
    /// Checks one request of readings against its lot's step plan: the lot (as the caller may
    /// see it), the step, implausible readings refused, wafers that must be the lot's.
    async fn plan_check(&self, req: &NewMeasurements, actor: &Actor) -> Result<Checked, AppError> {
        if req.readings.is_empty() {
            return Err(Code::ReadingsEmpty.into());
        }
        let lot = self
            .store
            .lot(&req.lot, actor)
            .await?
            .ok_or_else(|| Code::LotNotFound.refusal().with("lot", &req.lot))?;
        let route = self
            .store
            .route(&lot.route, Some(lot.route_version))
            .await?
            .ok_or_else(|| AppError::Internal(format!("route {} of lot {}", lot.route, lot.id)))?;
        let step_id = req.step.clone().unwrap_or_else(|| lot.step.id.clone());
        let step = route
            .steps
            .iter()
            .find(|s| s.id == step_id)
            .cloned()
            .ok_or_else(|| {
                Code::StepUnknown
                    .refusal()
                    .with("field", "step")
                    .with("route", &route.id)
                    .with("version", route.version)
                    .with("step", &step_id)
            })?;
        let oos = check_readings(&step.id, &step.measurements, &req.readings)?;
        check_reading_wafers(
            &lot.id,
            lot.wafers
                .iter()
                .filter(|w| w.state == WaferState::Active)
                .map(|w| w.id.as_str()),
            &req.readings,
        )?;
        Ok(Checked {
            out_of_spec: oos.iter().map(|o| o.describe(&step.id)).collect(),
            lot,
            step,
        })
    }

    /// Records readings taken outside a track-out (operators and engineers), one request per
    /// lot and step. Every request is checked against its step's plan first — an implausible
    /// reading refuses them all, to be measured again — then in one transaction: all are
    /// stored, an out-of-spec reading holds its lot (`SPC-OOS`), and the charts judge the new
    /// points and carry out their actions.
    pub async fn record_measurements(
        &self,
        requests: &[NewMeasurements],
        actor: &Actor,
    ) -> Result<SpcOutcome, AppError> {
        require(actor, Action::MoveLots, "record measurements")?;
        let mut checked = Vec::with_capacity(requests.len());
        for req in requests {
            checked.push(self.plan_check(req, actor).await?);
        }
        let outcome = self
            .store
            .write(RecordWork {
                requests,
                checked: &checked,
                actor,
            })
            .await?;
        Ok(outcome)
    }

    /// Readings stored, newest first (a customer sees its own lots' only).
    pub async fn measurements(
        &self,
        lot: Option<&str>,
        parameter: Option<&str>,
        limit: u32,
        actor: &Actor,
    ) -> Result<Vec<Measurement>, AppError> {
        Ok(self
            .store
            .measurements(lot, parameter, limit, actor)
            .await?)
    }

    /// Creates a chart (engineers).
    pub async fn create_chart(
        &self,
        spec: ChartSpec,
        actor: &Actor,
    ) -> Result<ChartView, AppError> {
        Ok(self.store.create_chart(spec, actor).await?)
    }

    /// Every chart's definition and version (staff).
    pub async fn charts(&self, actor: &Actor) -> Result<Vec<ChartView>, AppError> {
        Ok(self.store.charts(actor).await?)
    }

    /// One chart with its points, limits, violations and capability (staff).
    pub async fn chart(&self, id: &str, actor: &Actor) -> Result<ChartView, AppError> {
        self.store
            .chart(id, actor)
            .await?
            .ok_or_else(|| Code::ChartNotFound.refusal().with("chart", id).into())
    }

    /// Recomputes a chart's limits as a new version (engineers).
    pub async fn recompute_limits(&self, id: &str, actor: &Actor) -> Result<ChartView, AppError> {
        Ok(self.store.recompute_limits(id, actor).await?)
    }
}
