//! STDF files written by an independent writer (Semi-ATE-STDF from PyPI, driven by
//! `tests/peers/stdf_writer.py`) in both byte orders, with known bins and a retest, read with
//! exactly the expected counts and yields. CI installs the writer; elsewhere the test says
//! loudly that it skipped.

use pilotline_yield::{read_file, summarise};
use std::process::Command;

const WRITER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/peers/stdf_writer.py"
);

fn writer_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "from Semi_ATE import STDF"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("PILOTLINE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("Semi-ATE-STDF is missing: pip install -r tests/peers/requirements.txt");
        }
        eprintln!(
            "\n*** SKIPPED the independent STDF writer test: pip install -r tests/peers/requirements.txt ***\n"
        );
    }
    ok
}

const SPEC: &str = r#"{
  "wafers": [
    {"id": "W01", "parts": [
      {"x": 0, "y": 0, "hard_bin": 1, "soft_bin": 1, "pass": true, "site": 0, "test_time_ms": 120},
      {"x": 1, "y": 0, "hard_bin": 5, "soft_bin": 51, "pass": false, "site": 1, "test_time_ms": 130},
      {"x": -2, "y": 0, "hard_bin": 7, "soft_bin": 70, "pass": false, "site": 0, "test_time_ms": 110},
      {"x": 1, "y": 0, "hard_bin": 1, "soft_bin": 1, "pass": true, "site": 1, "test_time_ms": 125}
    ]},
    {"id": "W02", "parts": [
      {"x": 0, "y": 0, "hard_bin": 1, "soft_bin": 1, "pass": true},
      {"x": 1, "y": 1, "hard_bin": 1, "soft_bin": 1, "pass": true}
    ]}
  ],
  "bins": [
    {"number": 1, "name": "PASS", "pass": true},
    {"number": 5, "name": "OPEN", "pass": false},
    {"number": 7, "name": "SHORT", "pass": false},
    {"number": 51, "name": "OPEN-HEATER", "pass": false},
    {"number": 70, "name": "SHORT-IDE", "pass": false}
  ]
}"#;

#[test]
fn files_from_an_independent_writer_in_both_byte_orders() {
    if !writer_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, SPEC).unwrap();
    for endian in ["little", "big"] {
        let out = dir.path().join(format!("{endian}.stdf"));
        let run = Command::new("python3")
            .args([WRITER, "--out", out.to_str().unwrap(), "--endian", endian])
            .args(["--lot", "IND-LOT", "--part-type", "MHP-GS200", "--spec"])
            .arg(&spec)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let file = read_file(&out).unwrap_or_else(|e| panic!("{endian}: {e}"));
        assert_eq!(file.lot, "IND-LOT", "{endian}");
        assert_eq!(file.part_type, "MHP-GS200");
        assert_eq!(file.wafers, ["W01", "W02"]);
        assert_eq!(file.parts.len(), 6, "{endian}");
        let negative = file.parts.iter().find(|p| p.hard_bin == 7).unwrap();
        assert_eq!((negative.x, negative.y, negative.soft_bin), (-2, 0, 70));
        assert_eq!(file.parts[1].site, 1);
        assert_eq!(file.parts[1].test_time_ms, 130);
        let y = summarise(&file.parts, |r| r.flag == Some(true));
        assert_eq!((y.part_results, y.dies, y.retests), (6, 5, 1), "{endian}");
        assert!((y.all_results - 4.0 / 6.0).abs() < 1e-12, "{endian}: {y:?}");
        assert!((y.first_pass - 3.0 / 5.0).abs() < 1e-12, "{endian}: {y:?}");
        assert!((y.final_yield - 4.0 / 5.0).abs() < 1e-12, "{endian}: {y:?}");
    }
}
