//! Store errors.

use pilotline_domain::Refusal;
use thiserror::Error;

/// Why a store call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The domain refused the transaction; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Something named does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// Another transaction got there first, or the thing already exists.
    #[error("{0}")]
    Conflict(String),
    /// The same `Idempotency-Key` was sent with a different request.
    #[error("Idempotency-Key {0:?} was already used for a different request")]
    IdempotencyMismatch(String),
    /// A request with the same `Idempotency-Key` is being processed right now.
    #[error("a request with Idempotency-Key {0:?} is being processed concurrently; retry")]
    IdempotencyInFlight(String),
    /// The configuration or URL is unusable.
    #[error("{0}")]
    Config(String),
    /// Stored data could not be read back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database reported a unique-constraint violation.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
    }

    /// Whether the database could not be reached at all (pool timeout, I/O error, closed pool).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
            )
        )
    }

    /// Whether this is a transient database failure worth retrying (serialization failure,
    /// deadlock, busy database).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                matches!(
                    db.code().as_deref(),
                    Some("40001" | "40P01" | "5" | "6" | "517")
                )
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => true,
            _ => false,
        }
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
