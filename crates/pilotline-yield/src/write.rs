//! Writing STDF V4 files with rust-stdf's writer: test data for the demo's simulated tester and
//! for tests, read back by the same [`Scanner`](crate::Scanner) as a real tester's files.

use rust_stdf::stdf_file::StdfWriter;
use rust_stdf::{ByteOrder, FAR, MIR, MRR, PIR, PRR, StdfError, WIR, WRR};
use std::io::Write;

use crate::PartResult;

/// Writes a little-endian STDF file of `parts`, in order: a WIR (and its WRR) around each run
/// of parts on one wafer — none for parts without a wafer, as final test writes them — and a
/// PIR/PRR pair per part.
pub fn write_parts(
    out: impl Write,
    lot: &str,
    part_type: &str,
    test_code: &str,
    parts: &[PartResult],
) -> Result<(), StdfError> {
    let mut w = StdfWriter::new(out, ByteOrder::LittleEndian);
    w.write_record(&FAR {
        cpu_type: 2,
        stdf_ver: 4,
    })?;
    w.write_record(&MIR {
        lot_id: lot.into(),
        part_typ: part_type.into(),
        test_cod: test_code.into(),
        ..MIR::default()
    })?;
    let end_wafer = |w: &mut StdfWriter<_>, wafer: Option<&str>| match wafer {
        Some(done) if !done.is_empty() => w.write_record(&WRR {
            head_num: 1,
            wafer_id: done.into(),
            ..WRR::default()
        }),
        _ => Ok(()),
    };
    let mut wafer: Option<&str> = None;
    for p in parts {
        if wafer != Some(p.wafer.as_str()) {
            end_wafer(&mut w, wafer)?;
            if !p.wafer.is_empty() {
                w.write_record(&WIR {
                    head_num: 1,
                    wafer_id: p.wafer.clone(),
                    ..WIR::default()
                })?;
            }
            wafer = Some(p.wafer.as_str());
        }
        w.write_record(&PIR {
            head_num: 1,
            site_num: p.site,
        })?;
        let flag = u8::from(p.failed_flag) << 3 | u8::from(p.flag_invalid) << 4;
        w.write_record(&PRR {
            head_num: 1,
            site_num: p.site,
            part_flg: [flag],
            hard_bin: p.hard_bin,
            soft_bin: p.soft_bin,
            x_coord: p.x,
            y_coord: p.y,
            test_t: p.test_time_ms,
            part_id: p.part_id.clone(),
            ..PRR::default()
        })?;
    }
    end_wafer(&mut w, wafer)?;
    w.write_record(&MRR::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_parts_read_back_the_same() {
        let part = |wafer: &str, x: i16, failed_flag: bool| PartResult {
            wafer: wafer.into(),
            x,
            y: -3,
            site: 2,
            hard_bin: if failed_flag { 5 } else { 1 },
            soft_bin: 7,
            failed_flag,
            flag_invalid: x == 4,
            test_time_ms: 99,
            part_id: String::new(),
        };
        let parts = vec![
            part("W1", 1, false),
            part("W1", 2, true),
            part("W2", 4, false),
        ];
        let mut bytes = Vec::new();
        write_parts(&mut bytes, "L1", "P1", "WS1", &parts).unwrap();
        let file = crate::read_bytes("mem", &bytes).unwrap();
        assert_eq!(
            (
                file.lot.as_str(),
                file.part_type.as_str(),
                file.test_code.as_str()
            ),
            ("L1", "P1", "WS1")
        );
        assert_eq!(file.wafers, ["W1", "W2"]);
        assert_eq!(file.parts, parts);
    }
}
