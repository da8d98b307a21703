//! The test data drop folder: a file dropped there is imported once it stops changing and
//! moved to `imported/`; an unreadable one is moved to `rejected/` with a note naming the
//! fault, and recorded as a rejection.

use pilotline::dropfolder::{DropFolder, watch};
use pilotline_app::App;
use pilotline_domain::{Actor, Role};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn sample() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/lot2.stdf.gz");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED the drop folder's import of a real file: {} is absent (it comes with ../shared) ***\n",
            p.display()
        );
        None
    }
}

/// Waits (up to 30 s) until `path` exists.
async fn appears(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_files_are_imported_or_rejected_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let app = App::open(&url, &Default::default()).await.unwrap();
    app.migrate().await.unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let folder = DropFolder {
        dir: drop.clone(),
        create_lots: true,
        interval: Duration::from_millis(50),
    };
    let leases = pilotline_app::Leases::new(
        &app,
        "drop-folder-test",
        Duration::from_secs(15),
        [pilotline_app::job::DROP_FOLDER],
    );
    leases.renew(pilotline_app::now()).await.unwrap();
    let task = tokio::spawn(watch(app.clone(), folder, leases, stop));

    std::fs::write(drop.join("broken.stdf"), b"this is not STDF").unwrap();
    appears(&drop.join("rejected/broken.stdf.error.txt")).await;
    assert!(!drop.join("broken.stdf").exists());
    let note = std::fs::read_to_string(drop.join("rejected/broken.stdf.error.txt")).unwrap();
    assert!(!note.trim().is_empty(), "the note names the fault");
    let staff = Actor {
        user: "eng".into(),
        role: Role::Engineer,
        tenant: None,
    };
    let rejections = app.rejections(10, &staff).await.unwrap();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].name, "broken.stdf");
    assert_eq!(rejections[0].source, "drop-folder");

    if let Some(sample) = sample() {
        std::fs::copy(&sample, drop.join("lot2.stdf.gz")).unwrap();
        appears(&drop.join("imported/lot2.stdf.gz")).await;
        let y = app.lot_yield("GAL-LOT", &staff).await.unwrap();
        assert_eq!(y.summary.part_results, 1569);
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
