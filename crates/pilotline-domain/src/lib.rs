//! Pilotline's pure domain.
//!
//! Routes, products, equipment, lots, wafers and holds, and the rules of every lot transaction
//! (start, track-in, track-out, hold, release, future hold, split, merge, rework, scrap, ship).
//!
//! Every transaction is a plain function of its inputs: it takes the current state and a clock
//! reading and returns either the new state with the events that explain it, or a [`Refusal`]
//! saying why the transition is illegal. Nothing here performs I/O; the store and the HTTP API
//! live in other crates.

pub mod equipment;
pub mod event;
pub mod identity;
pub mod lot;
pub mod measure;
pub mod refusal;
pub mod route;
pub mod tenant;
pub mod transaction;
pub mod unit;
pub mod utilisation;

pub use equipment::{E10State, Equipment};
pub use event::{Change, LotEvent};
pub use identity::{Action, Actor, Role};
pub use lot::{FutureHold, Hold, Lot, LotState, LotType, LotView, StepView, Wafer, WaferState};
pub use refusal::{Code, Kind, Refusal, check_text};
pub use route::valid_id;
pub use route::{Product, Route, RouteSpec, Stage, Step, StepSpec};
pub use tenant::{Tenant, TenantStatus};
pub use transaction::{Applied, NewLot};
