//! Store errors. No driver type crosses this boundary: a database failure is described by
//! [`DatabaseError`], which keeps what callers need to decide (retry, unavailable) and the text
//! for the log.

use pilotline_domain::Refusal;
use thiserror::Error;

/// Why a store call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The request was refused (by the domain rules or the store's own checks: not found,
    /// changed concurrently, exists with other content, Idempotency-Key reused); nothing was
    /// written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The configuration or URL is unusable.
    #[error("{0}")]
    Config(String),
    /// The blob store (files on disk) failed.
    #[error("blob store: {0}")]
    Blob(String),
    /// Stored data could not be read back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(DatabaseError),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(String),
}

/// A database failure, without the driver's types.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct DatabaseError {
    message: String,
    /// The database's own error code (SQLSTATE, or SQLite's extended result code).
    code: Option<String>,
    /// The database could not be reached at all (pool timeout, I/O error, closed pool).
    unavailable: bool,
    /// Worth retrying as it is (serialization failure, deadlock, busy database, pool timeout).
    transient: bool,
}

impl DatabaseError {
    /// Whether the database could not be reached at all (pool timeout, I/O error, closed pool).
    pub(crate) fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The database's own error code, if it gave one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let code = match &e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        let unavailable = matches!(
            e,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
        );
        let transient = matches!(e, sqlx::Error::PoolTimedOut)
            || matches!(
                code.as_deref(),
                Some("40001" | "40P01" | "5" | "6" | "517" | "261" | "262")
            );
        StoreError::Database(DatabaseError {
            message: e.to_string(),
            code,
            unavailable,
            transient,
        })
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e.to_string())
    }
}

impl StoreError {
    /// Whether the database reported a unique-constraint violation.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
    }

    /// Whether the database could not be reached at all (pool timeout, I/O error, closed pool).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(d) if d.is_unavailable())
    }

    /// Whether this is a transient database failure worth retrying (serialization failure,
    /// deadlock, busy database).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(d) if d.transient)
    }

    /// The refusal, when this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            StoreError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
