//! Pilotline's multi-project-wafer (MPW) shuttles, as pure rules and computations: no I/O
//! beyond reading a design's bytes.
//!
//! - [`line`]: the line's configuration shuttles are laid out on (stepper field, wafer, test
//!   structures).
//! - [`offer`]: what a shuttle sells (slot menu, area, options) and the [`Quote`].
//! - [`shuttle`]: a shuttle's calendar and status, and the deadlines the server clock enforces.
//! - [`booking`]: a booking's statuses and timeline events.
//! - [`precheck`]: the checks of an uploaded GDSII design (read with gds21).
//! - [`layout`]: placement in the field and stepping over the wafer; [`svg`] draws it.
//! - [`ics`]: the iCalendar feed of deadlines; [`forecast`]: an MPW lot's expected delivery.

pub mod booking;
pub mod forecast;
pub mod ics;
pub mod layout;
pub mod line;
pub mod offer;
pub mod phrase;
pub mod precheck;
pub mod shuttle;
pub mod svg;

pub use booking::{BookingEventKind, BookingStatus};
pub use forecast::{Forecast, StepAhead};
pub use layout::{Layout, Occupant};
pub use line::{Field, LineConfig};
pub use offer::{Offer, Quote, Space};
pub use phrase::Phrase;
pub use precheck::{LayerKey, Requirements, Verdict};
pub use shuttle::{Calendar, Shuttle, ShuttleSpec, ShuttleStatus};
