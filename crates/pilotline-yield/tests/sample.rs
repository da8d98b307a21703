//! The public sample `../shared/samples/lot2.stdf.gz` (lot GAL-LOT): counts and yields from
//! per-die data. Read in place, never copied; skipped loudly where `../shared` is absent.

use pilotline_yield::{read_file, summarise};
use std::path::PathBuf;

fn sample() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/lot2.stdf.gz");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED: {} is absent (it comes with ../shared) ***\n",
            p.display()
        );
        None
    }
}

#[test]
fn lot2_counts_and_yields_from_per_die_data() {
    let Some(path) = sample() else { return };
    let file = read_file(&path).unwrap();
    assert_eq!(file.lot, "GAL-LOT");
    let y = summarise(&file.parts, |r| r.flag == Some(true));
    assert_eq!((y.part_results, y.dies, y.retests), (1569, 1456, 113));
    assert_eq!(format!("{:.1}", 100.0 * y.all_results), "88.5");
    assert_eq!(format!("{:.1}", 100.0 * y.first_pass), "92.2");
    assert_eq!(format!("{:.1}", 100.0 * y.final_yield), "95.4");
}

#[test]
fn truncated_and_corrupted_files_are_rejected_whole_with_record_and_offset() {
    let Some(path) = sample() else { return };
    let dir = std::env::temp_dir().join(format!("pilotline-stdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Decompress, cut in the middle of a record, and read the plain file.
    let mut raw = Vec::new();
    {
        use std::io::Read;
        let gz = std::fs::File::open(&path).unwrap();
        let mut d = flate2::read::GzDecoder::new(gz);
        d.read_to_end(&mut raw).unwrap();
    }
    let cut = dir.join("cut.stdf");
    let cut_len = raw.len() / 2 + 3;
    std::fs::write(&cut, &raw[..cut_len]).unwrap();
    let err = read_file(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.stdf") && err.contains("record"), "{err}");
    // The offset named is where the record the cut went through starts.
    let cut_record = records(&raw)
        .into_iter()
        .find(|&(at, len)| at + 4 + len > cut_len)
        .unwrap();
    assert!(
        err.contains(&format!("at byte {}", cut_record.0)),
        "{err} vs {cut_record:?} cut at {cut_len}"
    );

    // Corrupted: the last part result's length runs past the end of the file.
    let prrs: Vec<(usize, usize)> = records(&raw)
        .into_iter()
        .filter(|&(at, _)| raw[at + 2] == 5 && raw[at + 3] == 20)
        .collect();
    let (at, _) = *prrs.last().unwrap();
    let mut bad = raw.clone();
    bad[at] = 0xFF;
    bad[at + 1] = 0xFF;
    let corrupt = dir.join("corrupt.stdf");
    std::fs::write(&corrupt, &bad).unwrap();
    let err = read_file(&corrupt).unwrap_err().to_string();
    assert!(err.contains(&format!("at byte {at}")), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// (offset, data length) of every record of a big-endian STDF stream (the sample's order).
fn records(raw: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= raw.len() {
        let len = usize::from(u16::from_be_bytes([raw[at], raw[at + 1]]));
        out.push((at, len));
        at += 4 + len;
    }
    out
}

#[test]
fn gzip_is_told_by_content_not_by_name() {
    let Some(path) = sample() else { return };
    // The same gzipped bytes under a name without .gz (in a temporary directory).
    let dir = std::env::temp_dir().join(format!("pilotline-stdf-name-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let renamed = dir.join("lot2.stdf");
    std::fs::copy(&path, &renamed).unwrap();
    let file = read_file(&renamed).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(file.lot, "GAL-LOT");
    assert_eq!(file.parts.len(), 1569);
}
