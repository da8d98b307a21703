//! Backups of the embedded store: a consistent copy of the SQLite file taken while it serves,
//! and the integrity check a restore runs before it puts a copy in place. PostgreSQL is backed
//! up with its own tools (`pg_dump`, or base backups with WAL archiving for point-in-time
//! recovery; see the README).

use std::path::Path;

use crate::conn::{Conn, params};
use crate::{Backend, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the whole SQLite database to `path`, which must not exist
    /// (`VACUUM INTO`: one read snapshot, so writers go on while it runs, and everything
    /// committed before it began is in the copy). Returns the copy's size in bytes.
    pub async fn backup_to(&self, path: &Path) -> Result<u64, StoreError> {
        let Backend::Sqlite { read, .. } = &self.backend else {
            return Err(StoreError::Config(
                "backups of a PostgreSQL store are taken with pg_dump or a base backup".into(),
            ));
        };
        if path.exists() {
            return Err(StoreError::Config(format!(
                "{} exists: a backup never overwrites a file",
                path.display()
            )));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", path.display())))?;
        let mut conn = read.acquire().await?;
        let c: &mut sqlx::SqliteConnection = &mut conn;
        c.execute("VACUUM INTO $1", params![target]).await?;
        Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
    }

    /// SQLite's `PRAGMA integrity_check` verdict: `ok` when the file is sound, else the
    /// problems it found (PostgreSQL: always `ok`; its own checks are its tools').
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let Backend::Sqlite { read, .. } = &self.backend else {
            return Ok("ok".into());
        };
        let mut conn = read.acquire().await?;
        let c: &mut sqlx::SqliteConnection = &mut conn;
        let rows = c.fetch_all("PRAGMA integrity_check", vec![]).await?;
        let mut problems = Vec::new();
        for r in &rows {
            use crate::conn::RowExt;
            problems.push(r.text("integrity_check")?);
        }
        Ok(problems.join("; "))
    }
}
