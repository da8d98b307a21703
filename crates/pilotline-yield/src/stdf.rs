//! Reading STDF V4 / V4-2007 files (plain or gzipped, told apart by content) with rust-stdf.

use rust_stdf::stdf_file::StdfReader;
use rust_stdf::stdf_record_type::{REC_HBR, REC_MIR, REC_PRR, REC_PTR, REC_SBR, REC_WCR, REC_WIR};
use rust_stdf::{CompressType, StdfRecord};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
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

/// The facts of a file's MIR, known before its first part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHeader {
    /// MIR lot id.
    pub lot: String,
    /// MIR part type (product).
    pub part_type: String,
    /// MIR TEST_COD: the test phase or step code as the tester names it (e.g. `WS1`, `FT`).
    pub test_code: String,
    /// MIR START_T: when the first part was tested (seconds since 1970, 0 when absent).
    pub started: u32,
}

/// What a file holds besides its part results, known once it has been read to the end: all of
/// it is bounded by the file's wafers and tests, never by its parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileTail {
    /// Wafer ids in file order (WIR).
    pub wafers: Vec<String>,
    /// Wafer orientation from the WCR, when the file has one.
    pub orientation: Option<Orientation>,
    /// Bin names and pass/fail as the file declares them (HBR/SBR).
    pub bins: Vec<DeclaredBin>,
    /// Parametric results (PTR) summarised per wafer and test.
    pub parametrics: Vec<ParametricStats>,
    /// Part results read.
    pub parts: u64,
}

/// Reads an STDF file record by record, handing out its part results in batches, so a file of
/// any size is read in bounded memory. Any bad record is an error naming the record and its
/// byte offset; a caller storing the batches rolls them back on it.
pub struct Scanner<R: BufRead + Seek> {
    reader: StdfReader<R>,
    state: ScanState,
}

/// Everything a scan keeps between records.
struct ScanState {
    name: String,
    header: FileHeader,
    seen_mir: bool,
    /// 1-based number of the next record (the FAR is record 1).
    record: u64,
    /// Byte offset (in the decompressed stream) where the next record starts.
    at: u64,
    wafer: String,
    wafers: Vec<String>,
    orientation: Option<Orientation>,
    bins: BTreeMap<(BinKind, u16), DeclaredBin>,
    // Per test: the defaults its first PTR set (limits, units, name); per (wafer, test): stats.
    limits: BTreeMap<u32, TestLimits>,
    stats: BTreeMap<(usize, u32), ParametricAccumulator>,
    /// Parts read but not yet handed out.
    pending: Vec<PartResult>,
    parts: u64,
    done: bool,
}

/// Records the scan decodes; the rest are skipped undecoded.
const WANTED: u64 = REC_MIR | REC_WIR | REC_WCR | REC_PRR | REC_PTR | REC_HBR | REC_SBR;

impl Scanner<BufReader<File>> {
    /// Opens the file at `path` (plain or gzipped, told by content) and reads up to its MIR.
    pub fn open_path(path: &Path) -> Result<Self, ImportError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| ImportError::Open {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Scanner::open(&shown, BufReader::with_capacity(1 << 20, file))
    }
}

impl<R: BufRead + Seek> Scanner<R> {
    /// Starts reading `input` (plain or gzipped, told by its first bytes, not by `name`, which
    /// names it in errors) and reads up to its MIR — or its first part, when a MIR is missing.
    pub fn open(name: &str, mut input: R) -> Result<Self, ImportError> {
        let open_err = |message: String| ImportError::Open {
            path: name.to_string(),
            message,
        };
        let gzip = input
            .fill_buf()
            .map_err(|e| open_err(e.to_string()))?
            .starts_with(&[0x1f, 0x8b]);
        let compression = if gzip {
            CompressType::GzipCompressed
        } else {
            CompressType::Uncompressed
        };
        let reader = StdfReader::from(input, &compression).map_err(|e| open_err(e.to_string()))?;
        let mut scan = Scanner {
            reader,
            state: ScanState {
                name: name.to_string(),
                header: FileHeader::default(),
                seen_mir: false,
                record: 1,
                at: 0,
                wafer: String::new(),
                wafers: Vec::new(),
                orientation: None,
                bins: BTreeMap::new(),
                limits: BTreeMap::new(),
                stats: BTreeMap::new(),
                pending: Vec::new(),
                parts: 0,
                done: false,
            },
        };
        scan.read_until(|s| s.seen_mir || !s.pending.is_empty())?;
        Ok(scan)
    }

    /// The file's MIR facts (empty fields when it has no MIR).
    pub fn header(&self) -> &FileHeader {
        &self.state.header
    }

    /// Wafers seen so far (WIR), in file order.
    pub fn wafers(&self) -> &[String] {
        &self.state.wafers
    }

    /// Replaces `out` with the next part results, at most `max` (at least one); `false` once
    /// the file has no more.
    pub fn next_parts(
        &mut self,
        max: usize,
        out: &mut Vec<PartResult>,
    ) -> Result<bool, ImportError> {
        let max = max.max(1);
        self.read_until(|s| s.pending.len() >= max)?;
        out.clear();
        let n = self.state.pending.len().min(max);
        out.extend(self.state.pending.drain(..n));
        Ok(!out.is_empty())
    }

    /// Reads the rest of the file (its remaining parts are counted, not kept) and returns what
    /// it holds besides its parts.
    pub fn finish(mut self) -> Result<FileTail, ImportError> {
        let mut sink = Vec::new();
        while self.next_parts(1 << 12, &mut sink)? {}
        let s = self.state;
        Ok(FileTail {
            wafers: s.wafers,
            orientation: s.orientation,
            bins: s.bins.into_values().collect(),
            parametrics: s
                .stats
                .into_values()
                .map(ParametricAccumulator::finish)
                .collect(),
            parts: s.parts,
        })
    }

    /// Reads records until `enough` holds or the file ends.
    fn read_until(&mut self, enough: impl Fn(&ScanState) -> bool) -> Result<(), ImportError> {
        let Scanner { reader, state } = self;
        if state.done {
            return Ok(());
        }
        let mut records = reader.get_rawdata_view_iter();
        while !enough(state) {
            let Some(raw) = records.next() else {
                state.done = true;
                break;
            };
            let raw = raw.map_err(|e| state.fault(state.at, e.to_string()))?;
            let at = state.at;
            state.at += 4 + u64::from(raw.header.len);
            state.record += 1;
            if !raw.is_type(WANTED) {
                continue;
            }
            let rec = std::panic::catch_unwind(|| StdfRecord::from(&raw)).map_err(|_| {
                let message = format!(
                    "record type {}/{} cannot be decoded",
                    raw.header.typ, raw.header.sub
                );
                ImportError::Record {
                    path: state.name.clone(),
                    record: state.record - 1,
                    offset: Some(at),
                    message,
                }
            })?;
            state.take(rec);
        }
        Ok(())
    }
}

impl ScanState {
    /// The error for the record starting at `at` (the next one to be read).
    fn fault(&self, at: u64, message: String) -> ImportError {
        ImportError::Record {
            path: self.name.clone(),
            record: self.record,
            offset: Some(at),
            message,
        }
    }

    /// Takes one decoded record into the scan.
    fn take(&mut self, rec: StdfRecord) {
        match rec {
            StdfRecord::MIR(m) => {
                self.seen_mir = true;
                self.header = FileHeader {
                    lot: m.lot_id,
                    part_type: m.part_typ,
                    test_code: m.test_cod,
                    started: m.start_t,
                };
            }
            StdfRecord::PTR(p) => {
                let test = self
                    .limits
                    .entry(p.test_num)
                    .or_insert_with(|| TestLimits::from_first(&p));
                let key = (self.wafers.len(), p.test_num);
                let wafer = &self.wafer;
                self.stats
                    .entry(key)
                    .or_insert_with(|| ParametricAccumulator::new(wafer, p.test_num, test))
                    .add(p.test_flg[0], p.result);
            }
            StdfRecord::HBR(b) => declare(
                &mut self.bins,
                BinKind::Hard,
                b.hbin_num,
                b.hbin_nam,
                b.hbin_pf,
            ),
            StdfRecord::SBR(b) => declare(
                &mut self.bins,
                BinKind::Soft,
                b.sbin_num,
                b.sbin_nam,
                b.sbin_pf,
            ),
            StdfRecord::WCR(w) => {
                self.orientation = Some(Orientation {
                    flat: w.wf_flat,
                    pos_x: w.pos_x,
                    pos_y: w.pos_y,
                })
            }
            StdfRecord::WIR(w) => {
                self.wafer = w.wafer_id;
                self.wafers.push(self.wafer.clone());
            }
            StdfRecord::PRR(p) => {
                self.parts += 1;
                self.pending.push(PartResult {
                    wafer: self.wafer.clone(),
                    x: p.x_coord,
                    y: p.y_coord,
                    site: p.site_num,
                    hard_bin: p.hard_bin,
                    soft_bin: p.soft_bin,
                    failed_flag: p.part_flg[0] & 0x08 != 0,
                    flag_invalid: p.part_flg[0] & 0x10 != 0,
                    test_time_ms: p.test_t,
                    part_id: p.part_id.clone(),
                })
            }
            _ => {}
        }
    }
}

/// Reads `path` whole; any bad record rejects the whole file.
pub fn read_file(path: &Path) -> Result<TestFile, ImportError> {
    collect(Scanner::open_path(path)?)
}

/// Reads a whole STDF file held in memory (plain or gzipped, told by its first bytes); `name`
/// names it in errors. Any bad record rejects the whole file.
pub fn read_bytes(name: &str, bytes: &[u8]) -> Result<TestFile, ImportError> {
    collect(Scanner::open(name, std::io::Cursor::new(bytes))?)
}

/// Every part of a scan, kept in memory (for files known to be small).
fn collect<R: BufRead + Seek>(mut scan: Scanner<R>) -> Result<TestFile, ImportError> {
    let header = scan.header().clone();
    let mut parts = Vec::new();
    let mut batch = Vec::new();
    while scan.next_parts(1 << 12, &mut batch)? {
        parts.append(&mut batch);
    }
    let tail = scan.finish()?;
    Ok(TestFile {
        lot: header.lot,
        part_type: header.part_type,
        wafers: tail.wafers,
        parts,
        orientation: tail.orientation,
        test_code: header.test_code,
        started: header.started,
        bins: tail.bins,
        parametrics: tail.parametrics,
    })
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
