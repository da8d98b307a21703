//! Lot events: the append-only log that is the audit trail, the genealogy and the history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Role;
use crate::lot::{FutureHold, Hold, LotState};

/// What a transaction changed, with the facts needed to understand it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// The lot was started on its route.
    Started {
        /// Route id.
        route: String,
        /// Route version.
        route_version: u32,
        /// First step.
        step: String,
        /// Wafer ids.
        wafers: Vec<String>,
    },
    /// The lot was tracked in on a tool.
    TrackedIn {
        /// Step id.
        step: String,
        /// Tool id.
        equipment: String,
        /// Recipe run.
        recipe: String,
        /// The lot arrived after its Q-time window closed (action `warn`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        qtime_exceeded: bool,
    },
    /// The lot was tracked out of a tool.
    TrackedOut {
        /// Step completed.
        step: String,
        /// Tool id.
        equipment: String,
        /// Wafers scrapped at track-out.
        scrapped_wafers: Vec<String>,
        /// Next step, `None` when the route is complete or every wafer was scrapped.
        next_step: Option<String>,
        /// Readings taken at track-out (the step's data-collection plan).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        readings: Vec<crate::measure::Reading>,
    },
    /// A hold was placed.
    HoldPlaced {
        /// The hold.
        hold: Hold,
    },
    /// A hold was released.
    HoldReleased {
        /// The hold as it was.
        hold: Hold,
        /// Release comment.
        comment: String,
        /// The engineer's disposition (required for out-of-spec holds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disposition: Option<String>,
    },
    /// A future hold was placed.
    FutureHoldPlaced {
        /// The future hold.
        future_hold: FutureHold,
    },
    /// Wafers were split off into a child lot.
    SplitOut {
        /// Child lot id.
        child: String,
        /// Wafers moved.
        wafers: Vec<String>,
    },
    /// This lot was created by a split.
    SplitFrom {
        /// Parent lot id.
        parent: String,
        /// Wafers received.
        wafers: Vec<String>,
    },
    /// Another lot's wafers were merged into this one.
    MergedIn {
        /// Lot merged away.
        from: String,
        /// Wafers received.
        wafers: Vec<String>,
    },
    /// This lot's wafers were merged into another lot.
    MergedInto {
        /// Surviving lot.
        into: String,
        /// Wafers given.
        wafers: Vec<String>,
    },
    /// The lot was sent back to an earlier step.
    Reworked {
        /// Step it was at.
        from_step: String,
        /// Step it goes back to.
        to_step: String,
        /// Reworks so far, this one included.
        rework_count: u32,
    },
    /// Wafers (or the whole lot) were scrapped.
    Scrapped {
        /// Wafers scrapped by this transaction.
        wafers: Vec<String>,
        /// Whether the lot as a whole is now scrapped.
        lot_scrapped: bool,
    },
    /// The lot was shipped.
    Shipped,
}

impl Change {
    /// Short machine name of the change, as stored in the event's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Started { .. } => "started",
            Change::TrackedIn { .. } => "tracked_in",
            Change::TrackedOut { .. } => "tracked_out",
            Change::HoldPlaced { .. } => "hold_placed",
            Change::HoldReleased { .. } => "hold_released",
            Change::FutureHoldPlaced { .. } => "future_hold_placed",
            Change::SplitOut { .. } => "split_out",
            Change::SplitFrom { .. } => "split_from",
            Change::MergedIn { .. } => "merged_in",
            Change::MergedInto { .. } => "merged_into",
            Change::Reworked { .. } => "reworked",
            Change::Scrapped { .. } => "scrapped",
            Change::Shipped => "shipped",
        }
    }
}

/// A short summary of a lot's state, recorded before and after every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotSnapshot {
    /// Process state.
    pub state: LotState,
    /// Current step id.
    pub step: String,
    /// Active wafer count.
    pub wafer_count: usize,
    /// Active hold ids.
    pub holds: Vec<u32>,
    /// Tool, while running.
    pub equipment: Option<String>,
    /// Lot version.
    pub version: u64,
}

/// One entry of a lot's history: who did what, when, why, and the state before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotEvent {
    /// Lot the event belongs to.
    pub lot_id: String,
    /// Position in the lot's history; equals the lot version after the event.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub user: String,
    /// The user's role at the time.
    pub role: Role,
    /// Why (reason code or comment), when given.
    pub why: Option<String>,
    /// What changed.
    pub change: Change,
    /// State before (`None` for the event that created the lot).
    pub before: Option<LotSnapshot>,
    /// State after.
    pub after: LotSnapshot,
}
