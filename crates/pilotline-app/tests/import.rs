//! Streaming STDF import on both backends: a file of several batches is stored whole, with the
//! same yields as its parts counted in memory; a file whose fault lies past the first batches
//! is refused whole — nothing of it stays — and the refusal names the record and its offset.

use pilotline_app::{App, AppError, IMPORT_BATCH, StdfUpload};
use pilotline_domain::Code;
use pilotline_store::testing::TestDb;
use pilotline_yield::{PartResult, summarise, write_parts};

mod common;

use common::engineer;

/// Three wafers of 6,000 dies, every 7th die retested (its first test failing).
fn parts() -> Vec<PartResult> {
    let mut out = Vec::new();
    for w in 1..=3 {
        for d in 0..6000i16 {
            let part = |failed_flag: bool| PartResult {
                wafer: format!("BIG-W{w:02}"),
                x: d % 64,
                y: d / 64,
                site: (d % 4) as u8,
                hard_bin: if failed_flag { 5 } else { 1 },
                soft_bin: if failed_flag { 51 } else { 1 },
                failed_flag,
                flag_invalid: false,
                test_time_ms: 100,
                part_id: String::new(),
            };
            if d % 7 == 0 {
                out.push(part(true));
            }
            out.push(part(d % 13 == 5));
        }
    }
    out
}

fn upload<'a>(name: &'a str, path: &'a std::path::Path) -> StdfUpload<'a> {
    StdfUpload {
        name,
        path,
        sha256: None,
        lot: None,
        create_lot: true,
        source: "cli",
    }
}

#[tokio::test]
async fn a_file_of_many_batches_is_stored_whole_or_not_at_all() {
    let parts = parts();
    assert!(
        parts.len() > 2 * IMPORT_BATCH,
        "the file spans several batches"
    );
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("big.stdf");
    let mut bytes = Vec::new();
    write_parts(&mut bytes, "BIG", "MHP-GS200", "WS1", &parts).unwrap();
    std::fs::write(&good, &bytes).unwrap();
    // A copy of another lot cut inside its last part result: the fault lies past every batch.
    let cut = dir.path().join("cut.stdf");
    let mut other = Vec::new();
    write_parts(&mut other, "CUT", "MHP-GS200", "WS1", &parts).unwrap();
    let mrr = 4 + 1 + 4 + 1 + 1;
    let cut_at = other.len() - mrr - 3;
    std::fs::write(&cut, &other[..cut_at]).unwrap();

    for db in TestDb::all("streaming_import").await {
        let app = App::new(db.store().await.unwrap());
        let eng = engineer();
        let done = app
            .import_stdf(upload("big.stdf", &good), &eng)
            .await
            .unwrap();
        assert_eq!(done.part_results, parts.len() as u64);
        assert_eq!((done.wafers, done.duplicate), (3, false));
        let y = app.lot_yield("BIG", &eng).await.unwrap();
        let want = summarise(&parts, |r| r.flag == Some(true));
        assert_eq!(
            (
                y.summary.part_results,
                y.summary.dies,
                y.summary.retests,
                y.summary.first_pass_dies,
                y.summary.final_pass_dies
            ),
            (
                want.part_results,
                want.dies,
                want.retests,
                want.first_pass_dies,
                want.final_pass_dies
            )
        );
        let again = app
            .import_stdf(upload("big.stdf", &good), &eng)
            .await
            .unwrap();
        assert!(again.duplicate);

        let refused = app.import_stdf(upload("cut.stdf", &cut), &eng).await;
        match refused {
            Err(AppError::Refused(r)) => {
                assert_eq!(r.code(), Code::TestFileInvalid);
                let reason = r.param("reason").unwrap_or_default();
                assert!(
                    reason.contains("cut.stdf") && reason.contains("at byte"),
                    "{reason}"
                );
            }
            other => panic!("a cut file must be refused, got {other:?}"),
        }
        // Nothing of it stayed: no file, no lot, no part results; the refusal is recorded.
        assert!(
            app.test_files(Some("CUT"), 10, &eng)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(app.lot_yield("CUT", &eng).await.is_err());
        let files = app.test_files(None, 10, &eng).await.unwrap();
        assert_eq!(files.len(), 1, "only the good file is stored");
        let rejections = app.rejections(10, &eng).await.unwrap();
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].name, "cut.stdf");
        db.cleanup().await;
    }
}
