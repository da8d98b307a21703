//! `pilotline import stdf`: test data files into the store, linked to their lots.

use anyhow::{Result, bail};
use pilotline_app::{App, StdfUpload};
use pilotline_domain::{Actor, Role};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Imports every file (each whole or not at all) and prints what each lot now yields. Stops at
/// the first file that cannot be read or linked, naming it; files before it stay imported.
pub async fn stdf(
    store: &App,
    files: &[PathBuf],
    lot: Option<String>,
    create_lots: bool,
    user: &str,
) -> Result<()> {
    let actor = Actor {
        user: user.to_string(),
        role: Role::Engineer,
        tenant: None,
    };
    let mut lots = BTreeSet::new();
    for path in files {
        let name = path.display().to_string();
        let upload = StdfUpload {
            name: &name,
            path,
            sha256: None,
            lot: lot.as_deref(),
            create_lot: create_lots,
            source: "cli",
        };
        let done = match store.import_stdf(upload, &actor).await {
            Ok(done) => done,
            Err(e) => bail!("{}: {e}", path.display()),
        };
        if done.duplicate {
            println!(
                "{}: already imported for lot {} (file {}); not counted again",
                path.display(),
                done.lot,
                &done.id[..12]
            );
        } else {
            println!(
                "{}: {} part results stored for lot {} ({} test, {} wafers, {} parametric test summaries)",
                path.display(),
                done.part_results,
                done.lot,
                done.stage.as_str(),
                done.wafers,
                done.parametric_tests
            );
        }
        lots.insert(done.lot);
    }
    for lot in lots {
        let y = match store.lot_yield(&lot, &actor).await {
            Ok(y) => y,
            Err(e) if e.code() == Some(pilotline_domain::Code::NoTestData) => continue,
            Err(e) => return Err(e.into()),
        };
        let s = &y.summary;
        println!(
            "lot {lot}: {} part results, {} dies ({} retests); yield {:.1} % all results, {:.1} % first pass, {:.1} % final",
            s.part_results,
            s.dies,
            s.retests,
            100.0 * s.all_results,
            100.0 * s.first_pass,
            100.0 * s.final_yield
        );
    }
    Ok(())
}
