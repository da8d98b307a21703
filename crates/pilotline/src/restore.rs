//! `pilotline restore FILE`: a backup put in place as the configured SQLite store.

use anyhow::{Context, Result};
use pilotline_app::App;
use pilotline_domain::Actor;
use std::path::{Path, PathBuf};

use crate::cli::sqlite_url;
use crate::config::Config;

/// The file of a `sqlite://` database URL.
fn sqlite_path(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("restore puts a backup in place as a SQLite store; for PostgreSQL use pg_restore (see the README)")?;
    let path = rest.split('?').next().unwrap_or(rest);
    anyhow::ensure!(!path.is_empty(), "the database URL names no file");
    Ok(PathBuf::from(path))
}

/// Checks `backup`, then copies it into the configured store's place (keeping a replaced
/// store beside it) and applies pending migrations.
pub async fn run(config: &Config, backup: &Path, replace: bool, admin: &Actor) -> Result<()> {
    let target = sqlite_path(&config.database_url)?;
    anyhow::ensure!(backup.is_file(), "{} is not a file", backup.display());
    let copy = App::open(&sqlite_url(backup)?, &Default::default())
        .await
        .with_context(|| format!("{} is not a Pilotline store", backup.display()))?;
    let verdict = copy.integrity_check(admin).await?;
    copy.close().await;
    anyhow::ensure!(
        verdict == "ok",
        "{} fails its integrity check: {verdict}",
        backup.display()
    );
    if target.exists() {
        anyhow::ensure!(
            replace,
            "{} exists: stop Pilotline, then restore with --replace (the store is kept beside)",
            target.display()
        );
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", target.display()));
            if from.exists() {
                let to = format!("{}.before-restore-{stamp}{suffix}", target.display());
                std::fs::rename(&from, &to)
                    .with_context(|| format!("cannot move {} aside", from.display()))?;
            }
        }
    }
    // Copied beside the target, synced, then renamed into place: a crash leaves either no
    // store or the whole backup, never half of one.
    let partial = PathBuf::from(format!("{}.restoring", target.display()));
    std::fs::copy(backup, &partial)
        .with_context(|| format!("cannot copy {} to {}", backup.display(), partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &target)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    let app = App::open(&config.database_url, &Default::default()).await?;
    app.migrate().await?;
    app.close().await;
    println!(
        "restored {} into {} (integrity ok, migrations applied)",
        backup.display(),
        target.display()
    );
    Ok(())
}
