//! Lots, wafers and holds.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::route::{Route, Stage};

/// Maximum wafers in one lot (one 200 mm cassette).
pub const MAX_WAFERS: usize = 25;

/// What a lot is for; decides E10 productive versus engineering time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LotType {
    /// Product for a customer or the platform.
    Production,
    /// Engineering experiment.
    Engineering,
    /// Multi-project-wafer shuttle lot.
    Mpw,
    /// Qualification or monitor lot.
    Qualification,
}

impl LotType {
    /// The type's name as written in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            LotType::Production => "production",
            LotType::Engineering => "engineering",
            LotType::Mpw => "mpw",
            LotType::Qualification => "qualification",
        }
    }
}

/// The process state of a lot; holds are kept apart, as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LotState {
    /// Waiting at its current step.
    Waiting,
    /// Running on a tool at its current step.
    Running,
    /// Finished the last step of its route.
    Completed,
    /// Every wafer scrapped, or the lot scrapped as a whole.
    Scrapped,
    /// Completed and shipped.
    Shipped,
    /// Merged into another lot; its wafers live on there.
    Merged,
}

impl LotState {
    /// Every state.
    pub const ALL: [LotState; 6] = [
        LotState::Waiting,
        LotState::Running,
        LotState::Completed,
        LotState::Scrapped,
        LotState::Shipped,
        LotState::Merged,
    ];

    /// The state's name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LotState::Waiting => "waiting",
            LotState::Running => "running",
            LotState::Completed => "completed",
            LotState::Scrapped => "scrapped",
            LotState::Shipped => "shipped",
            LotState::Merged => "merged",
        }
    }

    /// Whether the lot is still work in progress.
    pub fn is_wip(self) -> bool {
        matches!(self, LotState::Waiting | LotState::Running)
    }
}

impl fmt::Display for LotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LotState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LotState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown lot state {s:?}"))
    }
}

/// Whether a wafer is still in the lot's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WaferState {
    /// In process with its lot.
    Active,
    /// Scrapped; kept for genealogy.
    Scrapped,
}

impl WaferState {
    /// The state's name as written in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            WaferState::Active => "active",
            WaferState::Scrapped => "scrapped",
        }
    }
}

/// One wafer of a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wafer {
    /// Wafer id (scribe), unique across the line; it never changes when lots split or merge.
    pub id: String,
    /// Slot in the carrier, 1..=25.
    pub slot: u8,
    /// Active or scrapped.
    pub state: WaferState,
    /// Why it was scrapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrap_reason: Option<String>,
}

/// A hold on a lot. A lot moves only when it has no holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hold {
    /// Hold id, unique within the lot.
    pub id: u32,
    /// Reason code (e.g. `ENG-REVIEW`, `QTIME`, `OOS`).
    pub reason_code: String,
    /// Free text.
    pub comment: String,
    /// Who placed it.
    pub placed_by: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
}

impl Hold {
    /// Whether this is a plain hold `actor` placed itself, which whoever may place holds may
    /// take back (an operator's hold placed to check something). SPC and Q-time holds, and
    /// anyone else's, need `ReleaseHold` (an engineer's disposition).
    pub fn own_plain_hold_of(&self, actor: &crate::Actor) -> bool {
        self.placed_by == actor.user
            && !crate::measure::needs_disposition(&self.reason_code)
            && self.reason_code != crate::transaction::QTIME_REASON
    }
}

/// A hold that will be placed when the lot reaches a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FutureHold {
    /// Id, shared with the hold it becomes.
    pub id: u32,
    /// Step id at which it fires.
    pub step: String,
    /// Reason code of the hold it places.
    pub reason_code: String,
    /// Comment of the hold it places.
    pub comment: String,
    /// Who placed it.
    pub placed_by: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
}

/// A Q-time window the lot is inside: it must be tracked in before `deadline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QTimeWindow {
    /// The step whose track-out opened the window.
    pub from_step: String,
    /// Latest allowed track-in at the next step.
    pub deadline: DateTime<Utc>,
    /// What a violation does.
    pub action: crate::route::QTimeAction,
}

/// A lot: up to 25 wafers following one route version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lot {
    /// Lot id (`A1234`; split children `A1234.1`).
    pub id: String,
    /// Product made.
    pub product: String,
    /// Route id followed.
    pub route_id: String,
    /// Route version followed (fixed for the lot's life).
    pub route_version: u32,
    /// What the lot is for.
    pub lot_type: LotType,
    /// 1 (hot) to 5 (low).
    pub priority: u8,
    /// Owning tenant (start-up); `None` for the platform's own lots.
    pub tenant: Option<String>,
    /// Promised completion date.
    pub due_date: Option<NaiveDate>,
    /// Process state.
    pub state: LotState,
    /// Index of the current step in the route.
    pub step_index: usize,
    /// Tool the lot is running on.
    pub equipment: Option<String>,
    /// Recipe of the current run.
    pub recipe: Option<String>,
    /// Wafers, active and scrapped.
    pub wafers: Vec<Wafer>,
    /// Active holds.
    pub holds: Vec<Hold>,
    /// Holds waiting for the lot to reach a step.
    pub future_holds: Vec<FutureHold>,
    /// Open Q-time window, if the previous step started one.
    pub qtime: Option<QTimeWindow>,
    /// Reworks done so far.
    pub rework_count: u32,
    /// Parent lot for a split child.
    pub parent: Option<String>,
    /// Children split off so far (the next child is `id.(n+1)`).
    pub children: u32,
    /// Next hold id.
    pub next_hold_id: u32,
    /// When the lot arrived at its current step (or started its run there).
    pub arrived_at: DateTime<Utc>,
    /// When the lot was started.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, incremented by every transaction.
    pub version: u64,
}

impl Lot {
    /// Wafers still in process.
    pub fn active_wafers(&self) -> impl Iterator<Item = &Wafer> {
        self.wafers.iter().filter(|w| w.state == WaferState::Active)
    }

    /// Number of wafers still in process.
    pub fn wafer_count(&self) -> usize {
        self.active_wafers().count()
    }

    /// Whether the lot has at least one hold.
    pub fn is_held(&self) -> bool {
        !self.holds.is_empty()
    }
}

/// The current step of a lot as shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    /// Position in the route, from 0.
    pub index: usize,
    /// Step id.
    pub id: String,
    /// Step name.
    pub name: String,
    /// Stage of the chain.
    pub stage: Stage,
    /// Equipment type that may run it.
    pub equipment_type: String,
    /// Recipe.
    pub recipe: String,
}

/// A lot as the API shows it: the lot plus its current step spelled out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotView {
    /// Lot id.
    pub id: String,
    /// Product.
    pub product: String,
    /// Route id.
    pub route: String,
    /// Route version.
    pub route_version: u32,
    /// Lot type.
    pub lot_type: LotType,
    /// Priority, 1 (hot) to 5.
    pub priority: u8,
    /// Owning tenant.
    pub tenant: Option<String>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// Process state.
    pub state: LotState,
    /// Current step (the last step once completed).
    pub step: StepView,
    /// Tool the lot runs on.
    pub equipment: Option<String>,
    /// Recipe of the current run.
    pub recipe: Option<String>,
    /// Active wafer count.
    pub wafer_count: usize,
    /// Wafers, active and scrapped.
    pub wafers: Vec<Wafer>,
    /// Active holds.
    pub holds: Vec<Hold>,
    /// Future holds.
    pub future_holds: Vec<FutureHold>,
    /// Open Q-time window.
    pub qtime: Option<QTimeWindow>,
    /// Reworks done.
    pub rework_count: u32,
    /// Parent lot (split child).
    pub parent: Option<String>,
    /// When the lot reached its current step.
    pub arrived_at: DateTime<Utc>,
    /// Start time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Version; send it back as `If-Match` to act only on this exact state.
    pub version: u64,
}

impl LotView {
    /// Builds the view of `lot`, which follows `route`.
    pub fn new(lot: &Lot, route: &Route) -> Self {
        let index = lot.step_index.min(route.steps.len().saturating_sub(1));
        let step = &route.steps[index];
        LotView {
            id: lot.id.clone(),
            product: lot.product.clone(),
            route: lot.route_id.clone(),
            route_version: lot.route_version,
            lot_type: lot.lot_type,
            priority: lot.priority,
            tenant: lot.tenant.clone(),
            due_date: lot.due_date,
            state: lot.state,
            step: StepView {
                index,
                id: step.id.clone(),
                name: step.name.clone(),
                stage: step.stage,
                equipment_type: step.equipment_type.clone(),
                recipe: step.recipe.clone(),
            },
            equipment: lot.equipment.clone(),
            recipe: lot.recipe.clone(),
            wafer_count: lot.wafer_count(),
            wafers: lot.wafers.clone(),
            holds: lot.holds.clone(),
            future_holds: lot.future_holds.clone(),
            qtime: lot.qtime.clone(),
            rework_count: lot.rework_count,
            parent: lot.parent.clone(),
            arrived_at: lot.arrived_at,
            created_at: lot.created_at,
            updated_at: lot.updated_at,
            version: lot.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_form() {
        for t in [
            LotType::Production,
            LotType::Engineering,
            LotType::Mpw,
            LotType::Qualification,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for w in [WaferState::Active, WaferState::Scrapped] {
            assert_eq!(serde_json::to_value(w).unwrap(), w.as_str());
        }
        for s in LotState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
