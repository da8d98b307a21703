//! What a use case answers when it does not succeed.

use pilotline_domain::{Code, Refusal};
use pilotline_store::StoreError;
use thiserror::Error;

/// Why a use case did not succeed.
#[derive(Debug, Error)]
pub enum AppError {
    /// Refused, with a stable code; nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The database cannot be reached; the request can be retried as it is.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Something failed inside (the text is for the log, not for the caller).
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The refusal a caller is shown: the refusal itself, or `unavailable` / `internal`.
    pub fn refusal(&self) -> Refusal {
        match self {
            AppError::Refused(r) => r.clone(),
            AppError::Unavailable(_) => Code::Unavailable.refusal(),
            AppError::Internal(_) => Code::Internal.refusal(),
        }
    }

    /// The code, when refused.
    pub fn code(&self) -> Option<Code> {
        match self {
            AppError::Refused(r) => Some(r.code()),
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(r) => AppError::Refused(r),
            e if e.is_unavailable() => AppError::Unavailable(e.to_string()),
            e => AppError::Internal(e.to_string()),
        }
    }
}

impl From<Code> for AppError {
    fn from(c: Code) -> Self {
        AppError::Refused(c.refusal())
    }
}
