//! Why a transaction was refused.

use thiserror::Error;

/// A transaction the rules do not allow, or input that cannot be accepted.
///
/// A refusal is data: it carries the reason in words an operator understands. Nothing has been
/// changed when a refusal is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The transition is illegal in the current state (HTTP 409).
    #[error("{0}")]
    Illegal(String),
    /// The request itself is invalid regardless of state (HTTP 422).
    #[error("{0}")]
    Invalid(String),
    /// The caller's role may not perform this action (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// Something the request names does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
}

impl Refusal {
    /// An illegal transition with the given reason.
    pub fn illegal(reason: impl Into<String>) -> Self {
        Self::Illegal(reason.into())
    }

    /// Invalid input with the given reason.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(reason.into())
    }

    /// Something named that does not exist.
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::NotFound(reason.into())
    }

    /// A role that may not act, with the given reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden(reason.into())
    }
}
