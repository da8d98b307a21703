//! The test data drop folder: testers (or their file movers) drop STDF files into a directory;
//! each file, once it has stopped growing, is imported whole and moved to `imported/`, or moved
//! to `rejected/` beside a `.error.txt` naming the fault. While the database is unavailable
//! files stay where they are and are tried again.

use pilotline_app::{App, AppError, StdfUpload};
use pilotline_domain::{Actor, Role};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Where and how the drop folder works.
#[derive(Debug, Clone)]
pub struct DropFolder {
    /// Directory watched.
    pub dir: PathBuf,
    /// Record external lots for files whose lot is unknown.
    pub create_lots: bool,
    /// Time between scans; a file is taken once it is unchanged across one.
    pub interval: Duration,
}

/// A file's size and modification time: unchanged across a scan means fully written.
type Seen = HashMap<PathBuf, (u64, Option<SystemTime>)>;

/// Watches the folder until `stop` changes, scanning only while this process holds the drop
/// folder's lease (a folder shared by several replicas is imported by one of them).
pub async fn watch(
    store: App,
    folder: DropFolder,
    leases: pilotline_app::Leases,
    mut stop: watch::Receiver<bool>,
) {
    let actor = Actor {
        user: "drop-folder".to_string(),
        role: Role::Engineer,
        tenant: None,
    };
    for sub in ["imported", "rejected"] {
        if let Err(e) = std::fs::create_dir_all(folder.dir.join(sub)) {
            tracing::error!(dir = %folder.dir.display(), error = %e, "cannot prepare the drop folder");
            return;
        }
    }
    tracing::info!(dir = %folder.dir.display(), "watching the test data drop folder");
    let mut seen = Seen::new();
    let mut tick = tokio::time::interval(folder.interval);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                if leases.holds(pilotline_app::job::DROP_FOLDER, pilotline_app::now()) {
                    scan(&store, &folder, &actor, &mut seen).await;
                }
            }
        }
    }
}

/// One pass: imports every file that has stopped changing since the last pass.
async fn scan(store: &App, folder: &DropFolder, actor: &Actor, seen: &mut Seen) {
    let Ok(entries) = std::fs::read_dir(&folder.dir) else {
        return;
    };
    let mut now_seen = Seen::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if !meta.is_file() || hidden {
            continue;
        }
        let stamp = (meta.len(), meta.modified().ok());
        if seen.get(&path) == Some(&stamp) {
            import_one(store, folder, actor, &path).await;
        } else {
            now_seen.insert(path, stamp);
        }
    }
    *seen = now_seen;
}

async fn import_one(store: &App, folder: &DropFolder, actor: &Actor, path: &Path) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let upload = StdfUpload {
        name: &name,
        path,
        sha256: None,
        lot: None,
        create_lot: folder.create_lots,
        source: "drop-folder",
    };
    match store.import_stdf(upload, actor).await {
        Ok(done) => {
            tracing::info!(file = %name, lot = %done.lot, parts = done.part_results,
                duplicate = done.duplicate, "dropped test file imported");
            move_to(path, &folder.dir.join("imported").join(&name));
        }
        Err(e @ AppError::Refused(_)) => {
            tracing::warn!(file = %name, error = %e, "dropped test file rejected");
            let target = folder.dir.join("rejected").join(&name);
            move_to(path, &target);
            let note = folder
                .dir
                .join("rejected")
                .join(format!("{name}.error.txt"));
            if let Err(w) = std::fs::write(&note, format!("{e}\n")) {
                tracing::warn!(file = %note.display(), error = %w, "cannot write the rejection note");
            }
        }
        // The database is unavailable or failed: leave the file to be tried again.
        Err(e) => tracing::warn!(file = %name, error = %e, "dropped test file not imported yet"),
    }
}

fn move_to(from: &Path, to: &Path) {
    if let Err(e) = std::fs::rename(from, to) {
        tracing::error!(file = %from.display(), to = %to.display(), error = %e,
            "cannot move the dropped file; it will be seen again");
    }
}
