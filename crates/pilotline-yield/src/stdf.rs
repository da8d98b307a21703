//! Reading STDF V4 / V4-2007 files (plain or gzipped, told apart by content) with rust-stdf.

use rust_stdf::stdf_file::StdfReader;
use rust_stdf::stdf_record_type::{REC_MIR, REC_PRR, REC_WCR, REC_WIR};
use rust_stdf::{CompressType, StdfRecord};
use std::path::Path;
use thiserror::Error;

use crate::yields::PartResult;

/// What one STDF file holds, as far as yield is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let open_err = |message: String| ImportError::Open {
        path: shown.clone(),
        message,
    };
    // Compression is told by content (the gzip magic), not by the file's name.
    let mut magic = [0u8; 2];
    let gzipped = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|()| magic == [0x1f, 0x8b])
        .unwrap_or(false);
    let input = std::fs::File::open(path).map_err(|e| open_err(e.to_string()))?;
    let compression = if gzipped {
        CompressType::GzipCompressed
    } else {
        CompressType::Uncompressed
    };
    let mut reader = StdfReader::from(
        std::io::BufReader::with_capacity(2 << 20, input),
        &compression,
    )
    .map_err(|e| open_err(e.to_string()))?;
    let mut file = TestFile {
        lot: String::new(),
        part_type: String::new(),
        wafers: Vec::new(),
        parts: Vec::new(),
        orientation: None,
    };
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
        let wanted = REC_MIR | REC_WIR | REC_WCR | REC_PRR;
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
    Ok(file)
}
