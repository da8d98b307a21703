//! The back end of the line: the form change at dicing, unit lots, packaged parts, final test,
//! calibration and modules.
//!
//! At dicing a wafer lot becomes **unit lots** (one per tray) whose **units** are its dies,
//! each keeping its origin (wafer, x, y, probe bins, and for MPW dies the design). Only the
//! dies the stored probe map calls good are picked, unless an engineer's recorded override
//! says otherwise ([`pick`]). From there on quantities are counted in units: a unit lot is
//! tracked in and out of the back-end route's steps as one tray, and each track-out records
//! the units that went in, came out and were scrapped at that step ([`StepCount`]), so units
//! in = units out + scrapped holds at every step. Packaging gives each part a serial; a module
//! route's step consumes parts and supplier components by its bill of materials ([`bom`]) and
//! produces module serials. Each part's calibration coefficients follow its product's schema
//! ([`calibration`]).
//!
//! As for wafer lots, every transaction here is a plain function of the state it is given
//! (the unit lot, the units a request names as the store found them) and the clock.

pub mod bom;
pub mod calibration;
pub mod dice;
pub mod e142;
pub mod integrate;
pub mod pick;
mod transaction;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use transaction::{
    UnitApplied, UnitLotEvent, UnitLotEventKind, UnitMove, merge, scrap, split, track_in, track_out,
};

/// Most units a request may name (a tray or a strip is far smaller).
pub const MAX_BATCH: usize = 1_000;

/// Most units a unit lot (one tray or reel) is cut to at dicing.
pub const MAX_TRAY: u32 = 10_000;

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A die from a wafer; once packaged it carries a serial (a part).
    Die,
    /// A module built from parts and components by a bill of materials.
    Module,
}

impl UnitKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Die => "die",
            UnitKind::Module => "module",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [UnitKind::Die, UnitKind::Module]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitState {
    /// In process, in its unit lot.
    Active,
    /// Scrapped at a step (the step and reason are in its lot's events).
    Scrapped,
    /// Built into a module.
    Consumed,
}

impl UnitState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Active => "active",
            UnitState::Scrapped => "scrapped",
            UnitState::Consumed => "consumed",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [UnitState::Active, UnitState::Scrapped, UnitState::Consumed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The process state of a unit lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitLotState {
    /// Waiting at its current step.
    Waiting,
    /// Running on a tool at its current step.
    Running,
    /// Past the last step of its route.
    Completed,
    /// Every unit scrapped.
    Scrapped,
    /// Every remaining unit built into modules.
    Consumed,
    /// Merged into another unit lot; its units live on there.
    Merged,
}

impl UnitLotState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitLotState::Waiting => "waiting",
            UnitLotState::Running => "running",
            UnitLotState::Completed => "completed",
            UnitLotState::Scrapped => "scrapped",
            UnitLotState::Consumed => "consumed",
            UnitLotState::Merged => "merged",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [
            UnitLotState::Waiting,
            UnitLotState::Running,
            UnitLotState::Completed,
            UnitLotState::Scrapped,
            UnitLotState::Consumed,
            UnitLotState::Merged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A lot of units (a tray of dies or parts, or a batch of modules) following a back-end or
/// module route. Its units are rows of their own; the lot counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitLot {
    /// Id (`{wafer lot}-U001` from dicing, `{id}.1` for a split child, `M…` for modules).
    pub id: String,
    /// What its units are.
    pub kind: UnitKind,
    /// Product of its units.
    pub product: String,
    /// Owning tenant; `None` for the platform's own.
    pub tenant: Option<String>,
    /// Route followed.
    pub route_id: String,
    /// Route version followed.
    pub route_version: u32,
    /// Index of the current step.
    pub step_index: usize,
    /// Process state.
    pub state: UnitLotState,
    /// Tool of the current run.
    pub equipment: Option<String>,
    /// Recipe of the current run.
    pub recipe: Option<String>,
    /// The wafer lot its dies were diced from (`None` for modules).
    pub source_lot: Option<String>,
    /// The lot it was split from.
    pub parent: Option<String>,
    /// Children split off so far.
    pub children: u32,
    /// Units in process.
    pub units: u32,
    /// Units scrapped while in this lot.
    pub scrapped: u32,
    /// Units built into modules from this lot.
    pub consumed: u32,
    /// Units at the last track-in (what the current step's count starts from).
    pub units_at_track_in: u32,
    /// When it arrived at its current step (or started its run there).
    pub arrived_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: u64,
}

/// A unit a request names, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRef {
    /// The unit's id (`{wafer}:{x}:{y}` for a die, its serial for a module).
    pub uid: String,
    /// The unit lot it is in.
    pub lot: String,
    /// Its state.
    pub state: UnitState,
}

/// The count of one step's run of a unit lot: units in = units out + scrapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepCount {
    /// The unit lot.
    pub lot: String,
    /// Index of the step in the route.
    pub step_index: usize,
    /// Step id.
    pub step: String,
    /// Tool it ran on.
    pub equipment: String,
    /// Recipe run.
    pub recipe: String,
    /// Units tracked in.
    pub units_in: u32,
    /// Units tracked out.
    pub units_out: u32,
    /// Units scrapped at the step.
    pub scrapped: u32,
    /// Track-in.
    pub started_at: DateTime<Utc>,
    /// Track-out.
    pub ended_at: DateTime<Utc>,
}

/// A die's id: its wafer and position (`W01:12:-3`). It moves with the die through every lot.
pub fn die_uid(wafer: &str, x: i16, y: i16) -> String {
    format!("{wafer}:{x}:{y}")
}

/// The serial `n` under `prefix` (`M-000123`).
pub fn serial(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n:06}")
}
