//! The back end of the line in the store: unit lots and their units (dies, packaged parts,
//! modules), what each module consumed, final-test results and calibration per part, and the
//! reads that trace a module down to its wafer's runs and a lot or tool run up to every module.
//!
//! The use cases' order of steps is the application layer's; here are the steps: one
//! statement or a few, each inside the caller's transaction ([`crate::Tx`]), and the reads.

use chrono::{DateTime, Utc};
use pilotline_domain::unit::{UnitKind, UnitLot, UnitLotState, UnitState};
use serde::Serialize;

use crate::StoreError;
use crate::conn::RowExt;
use crate::error::corrupt;

pub use read::{
    ModulePart, RunTrace, UnitGenealogy, UnitLotTrace, UnitPage, WaferLotTrace, WhereUsed,
    WhereUsedModule,
};

/// Where a die came from: its wafer lot, wafer and position, and what probe said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DieOrigin {
    /// The wafer lot it was diced from.
    pub wafer_lot: String,
    /// Wafer id.
    pub wafer: String,
    /// Column.
    pub x: i16,
    /// Row.
    pub y: i16,
    /// Hard bin of its final probe result.
    pub probe_hard_bin: u16,
    /// Soft bin of its final probe result.
    pub probe_soft_bin: u16,
    /// Why it was picked (`good`, or `override_pick` with the engineer's reason).
    pub pick: String,
    /// The MPW design (booking) it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<String>,
}

/// A part's final-test result, linked from its PRR's PART_ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FinalResult {
    /// Hard bin of its last final-test result.
    pub hard_bin: u16,
    /// Soft bin.
    pub soft_bin: u16,
    /// Whether the product's bin table (or the part flag) calls it good.
    pub pass: bool,
    /// The test file (SHA-256) of the last result.
    pub file: String,
    /// Times tested.
    pub tests: u32,
}

/// A part's calibration coefficients.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalibrationRecord {
    /// The document, as its product's schema checked it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub coefficients: serde_json::Value,
    /// When it was stored.
    pub at: DateTime<Utc>,
    /// Who stored it.
    pub by: String,
}

/// A unit as stored: a die (with its origin), a packaged part (with its serial) or a module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitRecord {
    /// Its id: `wafer:x:y` for a die, its serial for a module.
    pub uid: String,
    /// Its serial, once it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Die (part) or module.
    pub kind: UnitKind,
    /// The unit lot it is (or was last) in.
    pub lot: String,
    /// Active, scrapped or consumed.
    pub state: UnitState,
    /// Product.
    pub product: String,
    /// Owning tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// A die's origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<DieOrigin>,
    /// Its place in its tray (from 1), until it has a serial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Final test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_test: Option<FinalResult>,
    /// Calibration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationRecord>,
    /// Why it was scrapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrap_reason: Option<String>,
    /// Created (diced, or built).
    pub created_at: DateTime<Utc>,
    /// Row number (internal, for joins and cursors).
    #[serde(skip)]
    pub(crate) num: i64,
}

/// `SELECT` of the columns [`unit_from_row`] reads (with the final-test file's id) from
/// `units u`, followed by the rest of the statement.
macro_rules! select_units {
    ($rest:literal) => {
        concat!(
            "SELECT u.num, u.uid, u.serial, u.kind, u.lot_id, u.state, u.product, u.tenant, \
             u.source_lot, u.wafer, u.x, u.y, u.probe_hard_bin, u.probe_soft_bin, u.pick_reason, \
             u.booking, u.position, u.final_hard_bin, u.final_soft_bin, u.final_pass, \
             (SELECT f.id FROM test_files f WHERE f.num = u.final_file) AS final_file_id, \
             u.final_tests, u.calibration, u.calibrated_at, u.calibrated_by, u.scrap_reason, \
             u.created_at FROM units u ",
            $rest
        )
    };
}

pub(crate) fn unit_from_row<R: RowExt>(r: &R) -> Result<UnitRecord, StoreError> {
    let kind = r.text("kind")?;
    let state = r.text("state")?;
    let origin = match (r.opt_text("source_lot")?, r.opt_text("wafer")?) {
        (Some(wafer_lot), Some(wafer)) => Some(DieOrigin {
            wafer_lot,
            wafer,
            x: r.opt_int("x")?.unwrap_or_default() as i16,
            y: r.opt_int("y")?.unwrap_or_default() as i16,
            probe_hard_bin: r.opt_int("probe_hard_bin")?.unwrap_or_default() as u16,
            probe_soft_bin: r.opt_int("probe_soft_bin")?.unwrap_or_default() as u16,
            pick: r.opt_text("pick_reason")?.unwrap_or_default(),
            booking: r.opt_text("booking")?,
        }),
        _ => None,
    };
    let final_test = match (r.opt_int("final_hard_bin")?, r.opt_text("final_file_id")?) {
        (Some(hard), Some(file)) => Some(FinalResult {
            hard_bin: hard as u16,
            soft_bin: r.opt_int("final_soft_bin")?.unwrap_or_default() as u16,
            pass: r.opt_int("final_pass")?.unwrap_or_default() != 0,
            file,
            tests: r.int("final_tests")? as u32,
        }),
        _ => None,
    };
    let calibration = match r.opt_time("calibrated_at")? {
        Some(at) => Some(CalibrationRecord {
            coefficients: r.json("calibration")?,
            at,
            by: r.opt_text("calibrated_by")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(UnitRecord {
        num: r.int("num")?,
        uid: r.text("uid")?,
        serial: r.opt_text("serial")?,
        kind: UnitKind::parse(&kind).ok_or_else(|| corrupt(format!("unit kind {kind}")))?,
        lot: r.text("lot_id")?,
        state: UnitState::parse(&state).ok_or_else(|| corrupt(format!("unit state {state}")))?,
        product: r.text("product")?,
        tenant: r.opt_text("tenant")?,
        origin,
        position: r.opt_int("position")?.map(|p| p as u32),
        final_test,
        calibration,
        scrap_reason: r.opt_text("scrap_reason")?,
        created_at: r.time("created_at")?,
    })
}

/// `SELECT` of the columns [`unit_lot_from_row`] reads from `unit_lots`, followed by the rest
/// of the statement.
macro_rules! select_unit_lots {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, product, tenant, route_id, route_version, step_index, state, \
             equipment, recipe, source_lot, parent, children, units, scrapped, consumed, \
             units_at_track_in, arrived_at, created_at, updated_at, version FROM unit_lots ",
            $rest
        )
    };
}

pub(crate) fn unit_lot_from_row<R: RowExt>(r: &R) -> Result<UnitLot, StoreError> {
    let kind = r.text("kind")?;
    let state = r.text("state")?;
    Ok(UnitLot {
        id: r.text("id")?,
        kind: UnitKind::parse(&kind).ok_or_else(|| corrupt(format!("unit kind {kind}")))?,
        product: r.text("product")?,
        tenant: r.opt_text("tenant")?,
        route_id: r.text("route_id")?,
        route_version: r.int("route_version")? as u32,
        step_index: r.int("step_index")? as usize,
        state: UnitLotState::parse(&state)
            .ok_or_else(|| corrupt(format!("unit lot state {state}")))?,
        equipment: r.opt_text("equipment")?,
        recipe: r.opt_text("recipe")?,
        source_lot: r.opt_text("source_lot")?,
        parent: r.opt_text("parent")?,
        children: r.int("children")? as u32,
        units: r.int("units")? as u32,
        scrapped: r.int("scrapped")? as u32,
        consumed: r.int("consumed")? as u32,
        units_at_track_in: r.int("units_at_track_in")? as u32,
        arrived_at: r.time("arrived_at")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        version: r.int("version")? as u64,
    })
}

mod read;
mod write;
