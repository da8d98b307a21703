//! Wafer probe STDF files for the benchmarks, written with rust-stdf's writer: per die a PIR,
//! its PTRs and a PRR, 2 % of dies retested, every 17th die failing its first test.

use rust_stdf::stdf_file::StdfWriter;
use rust_stdf::*;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// When a generated file stops.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many wafers.
    Wafers(usize),
    /// After the first wafer that brings it to this many bytes.
    Bytes(u64),
}

/// A writer that counts the bytes it passed on.
struct Counting {
    inner: std::fs::File,
    written: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes lot `lot`'s wafers (`{lot}-01`, …) of `dies` dies with `ptrs` PTRs each to `path`
/// until `until`; returns (bytes, part results).
pub fn write_probe_file(
    path: &Path,
    lot: &str,
    dies: usize,
    ptrs: u32,
    until: Until,
) -> (u64, u64) {
    let written = Arc::new(AtomicU64::new(0));
    let file = Counting {
        inner: std::fs::File::create(path).expect("create the STDF file"),
        written: written.clone(),
    };
    let mut w = StdfWriter::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        ByteOrder::LittleEndian,
    );
    let ok = |r: Result<(), StdfError>| r.expect("write an STDF record");
    ok(w.write_record(&FAR {
        cpu_type: 2,
        stdf_ver: 4,
    }));
    ok(w.write_record(&MIR {
        lot_id: lot.into(),
        part_typ: "MHP-GS200".into(),
        test_cod: "WS1".into(),
        ..MIR::default()
    }));
    let side = (dies as f64).sqrt().ceil() as usize;
    let (mut wafer, mut parts) = (0, 0u64);
    while match until {
        Until::Wafers(n) => wafer < n,
        Until::Bytes(n) => written.load(Ordering::Relaxed) < n,
    } {
        wafer += 1;
        let id = format!("{lot}-{wafer:02}");
        ok(w.write_record(&WIR {
            head_num: 1,
            wafer_id: id.clone(),
            ..WIR::default()
        }));
        for d in 0..dies {
            let (x, y) = ((d % side) as i16, (d / side) as i16);
            let site = (d % 4) as u8;
            let tests = if d % 50 == 7 { 2 } else { 1 };
            for t in 0..tests {
                ok(w.write_record(&PIR {
                    head_num: 1,
                    site_num: site,
                }));
                for n in 0..ptrs {
                    ok(w.write_record(&PTR {
                        test_num: 1000 + n,
                        head_num: 1,
                        site_num: site,
                        result: (d as f32) * 0.001 + n as f32,
                        test_txt: "heater_resistance".into(),
                        ..PTR::default()
                    }));
                }
                let fail = d % 17 == 3 && t == 0;
                ok(w.write_record(&PRR {
                    head_num: 1,
                    site_num: site,
                    part_flg: [if fail { 0x08 } else { 0 }],
                    hard_bin: if fail { 5 } else { 1 },
                    soft_bin: if fail { 5 } else { 1 },
                    x_coord: x,
                    y_coord: y,
                    test_t: 120,
                    ..PRR::default()
                }));
                parts += 1;
            }
        }
        ok(w.write_record(&WRR {
            head_num: 1,
            wafer_id: id,
            ..WRR::default()
        }));
    }
    ok(w.write_record(&MRR::default()));
    drop(w);
    (std::fs::metadata(path).expect("the STDF file").len(), parts)
}
