//! Pilotline's test data: per-die results read from STDF files, and yields computed from them.
//!
//! Yield always comes from the per-part results (PRR), never from the file's summary records,
//! and retests are explicit: a die tested again at the same X/Y is a retest whether or not
//! the tester flagged it, so every yield is reported three ways — over all results, first pass
//! and final. [`spc`] holds the statistics of metrology charts: control limits, the Western
//! Electric and Nelson run rules, capability.

pub mod spc;
pub mod stdf;
pub mod wafermap;
pub mod yields;

pub use stdf::{ImportError, Orientation, TestFile, read_file};
pub use wafermap::{DieResult, WaferMap};
pub use yields::{PartResult, YieldSummary, summarise};
