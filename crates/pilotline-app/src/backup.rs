//! Backups of the embedded store, and its copy into PostgreSQL (the machine administrator's).

use pilotline_domain::{Action, Actor};
use std::path::Path;

use crate::{App, AppError};

impl App {
    /// Writes a consistent copy of the SQLite store to `path` while it serves (everything
    /// committed before the copy began is in it); returns its size in bytes. Admins only;
    /// PostgreSQL stores are backed up with `pg_dump` or base backups.
    pub async fn backup(&self, path: &Path, actor: &Actor) -> Result<u64, AppError> {
        actor.require(Action::Administer, "back up the store")?;
        Ok(self.store.backup_to(path).await?)
    }

    /// The store's integrity check: `ok`, or the problems found.
    pub async fn integrity_check(&self, actor: &Actor) -> Result<String, AppError> {
        actor.require(Action::Administer, "check the store")?;
        Ok(self.store.integrity_check().await?)
    }

    /// Copies every row of this (SQLite) store into `target`, a PostgreSQL store just
    /// migrated and empty, in one transaction: the move from the embedded default to the
    /// cluster shape. Admins only.
    pub async fn copy_store_into(
        &self,
        target: &App,
        actor: &Actor,
    ) -> Result<pilotline_store::CopyReport, AppError> {
        actor.require(Action::Administer, "copy the store")?;
        Ok(self.store.copy_into(&target.store).await?)
    }
}
