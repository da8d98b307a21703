//! Opening a store from a database URL, and applying migrations.

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::{Backend, Store, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Maximum pooled connections (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Store {
    /// Opens the store at `url`: `sqlite://PATH` (created if missing) or `postgres://…`.
    ///
    /// Migrations are not applied; call [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// Opens the store at `url` with explicit pool options.
    pub async fn open_with(url: &str, opts: &OpenOptions) -> Result<Store, StoreError> {
        let (backend, blob_dir) =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                let connect = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
                let pool = crate::pg_pool::PgPool::connect(
                    connect,
                    opts.max_connections,
                    opts.acquire_timeout,
                )
                .await?;
                (Backend::Postgres(pool), PathBuf::from("pilotline-blobs"))
            } else if url.starts_with("sqlite:") {
                let connect = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // Lot transactions must survive a crash or power loss once acknowledged.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let path = connect.get_filename().to_path_buf();
                let stats = Arc::new(StatsClock::default());
                let clock = stats.clone();
                let read = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.clamp(1, 8))
                    .acquire_timeout(opts.acquire_timeout)
                    // A file connection does not go away: no ping (a hop to its worker thread
                    // and back) before lending it.
                    .test_before_acquire(false)
                    // A SQLite connection reads the planner's statistics once, when it opens:
                    // one opened before `optimize` changed them would keep planning with the
                    // old ones (a scan of every lot for the WIP, planned when every lot was
                    // WIP). Such a connection is closed instead of lent; the pool opens a new
                    // one.
                    .before_acquire(move |_, meta| {
                        let fresh = !clock.changed_since_opened(meta.age);
                        Box::pin(async move { Ok(fresh) })
                    })
                    .connect_with(connect)
                    .await?;
                // One writer: SQLite serialises writers anyway; queueing them on one connection
                // instead of on the file lock keeps latency predictable and avoids SQLITE_BUSY.
                let writer = crate::sqlite_writer::open(&path)?;
                let mut blobs = path.clone().into_os_string();
                blobs.push(".blobs");
                (
                    Backend::Sqlite {
                        writer: Arc::new(tokio::sync::Mutex::new(writer)),
                        read,
                        stats,
                    },
                    PathBuf::from(blobs),
                )
            } else {
                return Err(StoreError::Config(format!(
                    "unsupported database URL {:?}: use sqlite://FILE or postgres://…",
                    redact_url(url)
                )));
            };
        Ok(Store {
            backend,
            routes: Arc::new(RwLock::new(HashMap::new())),
            sample_ids: Arc::default(),
            blob_dir,
        })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { read, .. } => SQLITE_MIGRATIONS.run(read).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(&mut *pool.acquire().await?).await?,
        }
        // Test data stored before per-wafer summaries were kept gets them now.
        let rebuilt = self.rebuild_test_summaries().await?;
        if rebuilt > 0 {
            tracing::info!(lots = rebuilt, "rebuilt test data summaries");
        }
        self.optimize().await
    }

    /// Brings the query planner's statistics up to date where they are stale: SQLite's
    /// `PRAGMA optimize=0x10002` (analyses every table that has grown or shrunk much since it
    /// was last analysed — not only those the running connection happened to query, which a
    /// plain `PRAGMA optimize` on a pooled connection would miss); PostgreSQL's autovacuum
    /// analyses by itself. Run after migrations and by the hourly maintenance job.
    ///
    /// On SQLite every connection then plans with the new statistics: the writer reloads them
    /// (`ANALYZE sqlite_schema`), and readers opened before are replaced as they are next
    /// acquired (a SQLite connection reads the statistics only when it opens).
    pub async fn optimize(&self) -> Result<(), StoreError> {
        if let Backend::Sqlite { writer, stats, .. } = &self.backend {
            let mut guard = writer.lock().await;
            let conn: &mut rusqlite::Connection = &mut guard;
            crate::sqlite_writer::blocking(|| {
                conn.execute_batch("PRAGMA optimize=0x10002; ANALYZE sqlite_schema;")
            })
            .map_err(|e| StoreError::from(crate::sqlite_writer::db_err(e)))?;
            stats.changed();
        }
        Ok(())
    }
}

/// When a SQLite store's planner statistics last changed.
#[derive(Debug, Default)]
pub(crate) struct StatsClock(std::sync::Mutex<Option<std::time::Instant>>);

impl StatsClock {
    /// The statistics changed now.
    fn changed(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    }

    /// Whether they changed after a connection of age `age` opened.
    fn changed_since_opened(&self, age: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < age)
    }
}

/// A database URL with any password replaced by `***`, safe to log.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let mut out = match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => format!("{scheme}://{rest}"),
    };
    if let Some(q) = query {
        // `?password=…` (and `sslpassword`, …) is a secret too.
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted_in_userinfo_and_in_the_query() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=hunter2&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://h/db?sslpassword=x"),
            "postgres://h/db?sslpassword=***"
        );
        assert_eq!(redact_url("sqlite://pilotline.db"), "sqlite://pilotline.db");
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
