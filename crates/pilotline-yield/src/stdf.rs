//! Reading STDF V4 / V4-2007 files (plain or gzipped, told apart by content) with rust-stdf.

use rust_stdf::stdf_file::StdfReader;
use rust_stdf::stdf_record_type::{REC_HBR, REC_MIR, REC_PRR, REC_PTR, REC_SBR, REC_WCR, REC_WIR};
use rust_stdf::{CompressType, StdfRecord};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

use crate::parametric::{ParametricAccumulator, ParametricStats, TestLimits};
use crate::yields::PartResult;

/// What one STDF file holds, as far as yield is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// MIR lot id.
    pub lot: String,
    /// MIR part type (product).
    pub part_type: String,
    /// Wafer ids in file order (WIR).
    pub wafers: Vec<String>,
    /// Every part result in file order.
    pub parts: Vec<PartResult>,
    /// Wafer orientation from the WCR, when the file has one.
    pub orientation: Option<Orientation>,
    /// MIR TEST_COD: the test phase or step code as the tester names it (e.g. `WS1`, `FT`).
    pub test_code: String,
    /// MIR START_T: when the first part was tested (seconds since 1970, 0 when absent).
    pub started: u32,
    /// Bin names and pass/fail as the file declares them (HBR/SBR). Shown where the product has
    /// no bin table of its own; never used to count yield.
    pub bins: Vec<DeclaredBin>,
    /// Parametric results (PTR) summarised per wafer and test.
    pub parametrics: Vec<ParametricStats>,
}

impl TestFile {
    /// Whether this is wafer probe (the file has wafers) rather than final test.
    pub fn is_wafer_probe(&self) -> bool {
        !self.wafers.is_empty()
    }
}

/// Whether a declared bin counts hard (HBR) or soft (SBR) bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BinKind {
    /// Hardware bin.
    Hard,
    /// Software bin.
    Soft,
}

impl BinKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            BinKind::Hard => "hard",
            BinKind::Soft => "soft",
        }
    }
}

/// A bin as an HBR or SBR record names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeclaredBin {
    /// Hard or soft.
    pub kind: BinKind,
    /// Bin number.
    pub bin: u16,
    /// Name (may be empty).
    pub name: String,
    /// `P`, `F` or blank (unknown), as written.
    pub pass_fail: String,
}

/// How a wafer's coordinates lie (STDF WCR): where the flat or notch is (`U`, `D`, `L`, `R`,
/// or blank) and which way X and Y grow (`L`/`R`, `U`/`D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Orientation {
    /// Flat or notch position.
    pub flat: char,
    /// Direction of positive X.
    pub pos_x: char,
    /// Direction of positive Y.
    pub pos_y: char,
}

/// Why a file could not be read. Nothing of a failed file is kept.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be opened or is not STDF.
    #[error("{path}: {message}")]
    Open {
        /// File.
        path: String,
        /// Reader's message.
        message: String,
    },
    /// A record could not be read or decoded.
    #[error("{path}: record {record}{}: {message}", offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Record {
        /// File.
        path: String,
        /// 1-based record number (the FAR is record 1).
        record: u64,
        /// Byte offset of the record's header (in the decompressed stream), when known.
        offset: Option<u64>,
        /// Reader's message.
        message: String,
    },
}

/// Reads `path` whole; any bad record rejects the whole file.
pub fn read_file(path: &Path) -> Result<TestFile, ImportError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ImportError::Open {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    read_bytes(&shown, &bytes)
}

/// Reads a whole STDF file held in memory (plain or gzipped, told by its first bytes); `name`
/// names it in errors. Any bad record rejects the whole file.
pub fn read_bytes(name: &str, bytes: &[u8]) -> Result<TestFile, ImportError> {
    let shown = name.to_string();
    let open_err = |message: String| ImportError::Open {
        path: shown.clone(),
        message,
    };
    // Compression is told by content (the gzip magic), not by the file's name.
    let compression = if bytes.starts_with(&[0x1f, 0x8b]) {
        CompressType::GzipCompressed
    } else {
        CompressType::Uncompressed
    };
    let mut reader = StdfReader::from(std::io::Cursor::new(bytes), &compression)
        .map_err(|e| open_err(e.to_string()))?;
    let mut file = TestFile {
        lot: String::new(),
        part_type: String::new(),
        wafers: Vec::new(),
        parts: Vec::new(),
        orientation: None,
        test_code: String::new(),
        started: 0,
        bins: Vec::new(),
        parametrics: Vec::new(),
    };
    let mut bins: BTreeMap<(BinKind, u16), DeclaredBin> = BTreeMap::new();
    // Per test: the defaults its first PTR set (limits, units, name); per (wafer, test): stats.
    let mut limits: BTreeMap<u32, TestLimits> = BTreeMap::new();
    let mut stats: BTreeMap<(usize, u32), ParametricAccumulator> = BTreeMap::new();
    let mut wafer = String::new();
    // The FAR (6 bytes) was read when the reader opened; rust-stdf's offsets count from the
    // file's start (of the decompressed stream for gzip) and point after a record's header.
    const FAR_BYTES: u64 = 6;
    // Where the next record starts: a record that cannot be read is reported there.
    let mut next_at = FAR_BYTES;
    for (i, raw) in reader.get_rawdata_iter().enumerate() {
        let record = i as u64 + 2;
        let raw = raw.map_err(|e| ImportError::Record {
            path: shown.clone(),
            record,
            offset: Some(next_at),
            message: e.to_string(),
        })?;
        let offset = raw.offset.saturating_sub(4);
        next_at = raw.offset + u64::from(raw.header.len);
        let wanted = REC_MIR | REC_WIR | REC_WCR | REC_PRR | REC_PTR | REC_HBR | REC_SBR;
        if !raw.is_type(wanted) {
            continue;
        }
        let rec = std::panic::catch_unwind(|| StdfRecord::from(&raw)).map_err(|_| {
            ImportError::Record {
                path: shown.clone(),
                record,
                offset: Some(offset),
                message: format!(
                    "record type {}/{} cannot be decoded",
                    raw.header.typ, raw.header.sub
                ),
            }
        })?;
        match rec {
            StdfRecord::MIR(m) => {
                file.lot = m.lot_id;
                file.part_type = m.part_typ;
                file.test_code = m.test_cod;
                file.started = m.start_t;
            }
            StdfRecord::PTR(p) => {
                let test = limits
                    .entry(p.test_num)
                    .or_insert_with(|| TestLimits::from_first(&p));
                let key = (file.wafers.len(), p.test_num);
                stats
                    .entry(key)
                    .or_insert_with(|| ParametricAccumulator::new(&wafer, p.test_num, test))
                    .add(p.test_flg[0], p.result);
            }
            StdfRecord::HBR(b) => {
                declare(&mut bins, BinKind::Hard, b.hbin_num, b.hbin_nam, b.hbin_pf)
            }
            StdfRecord::SBR(b) => {
                declare(&mut bins, BinKind::Soft, b.sbin_num, b.sbin_nam, b.sbin_pf)
            }
            StdfRecord::WCR(w) => {
                file.orientation = Some(Orientation {
                    flat: w.wf_flat,
                    pos_x: w.pos_x,
                    pos_y: w.pos_y,
                })
            }
            StdfRecord::WIR(w) => {
                wafer = w.wafer_id;
                file.wafers.push(wafer.clone());
            }
            StdfRecord::PRR(p) => file.parts.push(PartResult {
                wafer: wafer.clone(),
                x: p.x_coord,
                y: p.y_coord,
                site: p.site_num,
                hard_bin: p.hard_bin,
                soft_bin: p.soft_bin,
                failed_flag: p.part_flg[0] & 0x08 != 0,
                flag_invalid: p.part_flg[0] & 0x10 != 0,
                test_time_ms: p.test_t,
            }),
            _ => {}
        }
    }
    file.bins = bins.into_values().collect();
    file.parametrics = stats
        .into_values()
        .map(ParametricAccumulator::finish)
        .collect();
    Ok(file)
}

/// Keeps the first non-empty name and pass/fail a file gives a bin (per-site and summary
/// HBR/SBR repeat them).
fn declare(
    bins: &mut BTreeMap<(BinKind, u16), DeclaredBin>,
    kind: BinKind,
    bin: u16,
    name: String,
    pass_fail: char,
) {
    let e = bins.entry((kind, bin)).or_insert_with(|| DeclaredBin {
        kind,
        bin,
        name: String::new(),
        pass_fail: String::new(),
    });
    if e.name.is_empty() {
        e.name = name;
    }
    if e.pass_fail.trim().is_empty() && matches!(pass_fail, 'P' | 'F') {
        e.pass_fail = pass_fail.to_string();
    }
}
