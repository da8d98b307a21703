//! Lot reads: one lot, lists, history, genealogy, WIP, process data.

use pilotline_domain::{Actor, Code, LotEvent, LotView};
use pilotline_store::{Genealogy, LotFilter, LotPage, ProcessDataQuery, ProcessRun, WipRow};

use crate::perform::require;
use crate::reads::reads;
use crate::{App, AppError};

impl App {
    /// One lot; another tenant's lot is `lot_not_found`, as if it did not exist.
    pub async fn lot(&self, id: &str, actor: &Actor) -> Result<LotView, AppError> {
        require(actor, pilotline_domain::Action::ReadLots, "read lots")?;
        self.store
            .lot(id, actor)
            .await?
            .ok_or_else(|| Code::LotNotFound.refusal().with("lot", id).into())
    }
}

reads! {
    /// Lots the caller may see, filtered and paged by id.
    scoped fn lots(filter: &LotFilter) -> LotPage = ReadLots, "read lots";
    /// Every event of a lot, oldest first.
    scoped fn history(id: &str) -> Vec<LotEvent> = ReadLots, "read lots";
    /// The lot's split/merge family.
    scoped fn genealogy(id: &str) -> Genealogy = ReadLots, "read lots";
    /// Lots and wafers by route step and state.
    scoped fn wip() -> Vec<WipRow> = ReadLots, "read WIP";
}

impl App {
    /// Each run of the lot on a tool, with the tool's samples during it (at most `q.limit` per
    /// run, each run saying whether more remain and where to continue).
    pub async fn process_data(
        &self,
        lot: &str,
        q: ProcessDataQuery<'_>,
        actor: &Actor,
    ) -> Result<Vec<ProcessRun>, AppError> {
        require(actor, pilotline_domain::Action::ReadLots, "read lots")?;
        if q.after.is_some() && q.run.is_none() {
            return Err(Code::QueryInvalid
                .refusal()
                .with("parameter", "after")
                .with("reason", "a cursor continues one run: give `run` with it")
                .into());
        }
        Ok(self.store.process_data(lot, actor, q).await?)
    }
}

/// What a scan at the floor terminal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// The waiting lot was tracked in on the tool.
    TrackedIn,
    /// The running lot was tracked out of its tool.
    TrackedOut,
}

impl App {
    /// A scan at the floor terminal: a lot id and a tool id. A waiting lot is tracked in on the
    /// tool; a running lot is tracked out (the tool, when given, must be the one it runs on).
    /// A step that collects readings is refused here (`readings_empty`): they are entered on
    /// the lot's page. Returns what was done and the lot after it.
    pub async fn floor_scan(
        &self,
        lot_id: &str,
        tool: Option<&str>,
        actor: &Actor,
    ) -> Result<(Scanned, LotView), AppError> {
        require(
            actor,
            pilotline_domain::Action::MoveLots,
            "track lots in and out",
        )?;
        let lot = self.lot(lot_id, actor).await?;
        let (scanned, command) = match lot.state {
            pilotline_domain::LotState::Waiting => {
                let Some(tool) = tool else {
                    return Err(Code::FieldEmpty.refusal().with("field", "equipment").into());
                };
                (
                    Scanned::TrackedIn,
                    pilotline_store::LotCommand::TrackIn {
                        equipment: tool.to_string(),
                        recipe: None,
                    },
                )
            }
            pilotline_domain::LotState::Running => {
                if let (Some(tool), Some(on)) = (tool, lot.equipment.as_deref())
                    && tool != on
                {
                    return Err(Code::LotOnOtherTool
                        .refusal()
                        .with("lot", lot_id)
                        .with("equipment", tool)
                        .into());
                }
                let route = self
                    .store
                    .route(&lot.route, Some(lot.route_version))
                    .await?;
                let measured = route
                    .as_ref()
                    .and_then(|r| r.steps.get(lot.step.index))
                    .is_some_and(|s| !s.measurements.is_empty());
                if measured {
                    return Err(Code::ReadingsEmpty.into());
                }
                (
                    Scanned::TrackedOut,
                    pilotline_store::LotCommand::TrackOut {
                        scrap_wafers: Vec::new(),
                        scrap_reason: None,
                        readings: Vec::new(),
                    },
                )
            }
            other => {
                return Err(Code::LotStateForbids
                    .refusal()
                    .with("lot", lot_id)
                    .with("state", other.as_str())
                    .with(
                        "allowed",
                        "only a waiting lot is tracked in, a running one out",
                    )
                    .into());
            }
        };
        let op = pilotline_store::WriteOp::Lot {
            lot_id: lot_id.to_string(),
            command,
            if_version: Some(lot.version),
        };
        match self.execute(&op, actor).await? {
            pilotline_store::Outcome::Lot(view) => Ok((scanned, view)),
            _ => Err(AppError::Internal(
                "a lot transaction answered no lot".into(),
            )),
        }
    }
}

impl App {
    /// Refuses `actor` unless its role may do `action` (`what` names it): for a front end
    /// that asks before it offers a form (the use case checks again when it runs).
    pub fn require(
        &self,
        actor: &Actor,
        action: pilotline_domain::Action,
        what: &str,
    ) -> Result<(), AppError> {
        require(actor, action, what)
    }
}

/// The line's measured cycle time of one route step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCycleTime {
    /// Step id.
    pub step: String,
    /// Step name.
    pub name: String,
    /// Seconds from arrival at the step to track-out, a moving average over recent lots.
    pub mean_s: f64,
}

impl App {
    /// Route `route`'s measured cycle time per step, in route order (a step never measured
    /// is left out): one row per step, however many lots the line has run.
    pub async fn cycle_times(
        &self,
        route: &str,
        actor: &Actor,
    ) -> Result<Vec<StepCycleTime>, AppError> {
        let route = self.route(route, None, actor).await?;
        let measured = self.store.step_cycle_times(&route.id).await?;
        Ok(route
            .steps
            .iter()
            .filter_map(|s| {
                measured.get(&s.id).map(|m| StepCycleTime {
                    step: s.id.clone(),
                    name: s.name.clone(),
                    mean_s: *m,
                })
            })
            .collect())
    }
}

/// How many lots of each active state the work list holds at most.
pub const WORK_LIST: u32 = 200;

impl App {
    /// The line's active lots in the order they are worked: held lots first (they need
    /// someone), then by priority (hot lots), then the closest Q-time deadline, then the
    /// longest wait. At most [`WORK_LIST`] running and as many waiting lots, each read by its
    /// state's index, so the list costs the same however much history the store holds.
    pub async fn work_list(&self, actor: &Actor) -> Result<Vec<LotView>, AppError> {
        let mut lots = Vec::new();
        for state in [
            pilotline_domain::LotState::Running,
            pilotline_domain::LotState::Waiting,
        ] {
            let filter = LotFilter {
                state: Some(state),
                limit: Some(WORK_LIST),
                ..LotFilter::default()
            };
            lots.extend(self.lots(&filter, actor).await?.items);
        }
        lots.sort_by(|a, b| {
            (!a.holds.is_empty())
                .cmp(&!b.holds.is_empty())
                .reverse()
                .then(b.priority.cmp(&a.priority))
                .then_with(|| {
                    match (
                        a.qtime.as_ref().map(|q| q.deadline),
                        b.qtime.as_ref().map(|q| q.deadline),
                    ) {
                        (Some(x), Some(y)) => x.cmp(&y),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    }
                })
                .then(a.arrived_at.cmp(&b.arrived_at))
        });
        Ok(lots)
    }
}
