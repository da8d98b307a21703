//! Pilotline's test data: per-die results read from STDF files, and yields computed from them.
//!
//! Yield always comes from the per-part results (PRR), never from the file's summary records,
//! and retests are explicit: a die tested again at the same X/Y is a retest whether or not
//! the tester flagged it, so every yield is reported three ways — over all results, first pass
//! and final. [`spc`] holds the statistics of metrology charts: control limits, the Western
//! Electric and Nelson run rules, capability.

pub mod bins;
pub mod chart;
pub mod parametric;
pub mod spc;
pub mod stdf;
pub mod wafermap;
pub mod write;
pub mod yields;

pub use bins::{BinDefinition, BinTable};
pub use parametric::ParametricStats;
pub use stdf::{
    BinKind, DeclaredBin, FileHeader, FileTail, ImportError, Orientation, Scanner, TestFile,
    read_bytes, read_file,
};
pub use wafermap::{BinCount, DieResult, StackedMap, StackedSite, WaferMap};
pub use write::write_parts;
pub use yields::{
    BinResult, DieSummary, PartResult, SummaryBuilder, WaferSummary, YieldCounts, YieldSummary,
    summarise,
};
