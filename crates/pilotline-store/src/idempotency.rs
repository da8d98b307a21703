//! Idempotency keys: the first answer to a mutating request is stored with the change it made,
//! in the same transaction, and replayed for every retry with the same key.

use chrono::Duration;
use pilotline_domain::Code;

use crate::conn::{Conn, RowExt, params};
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

/// How long a key is remembered.
pub const KEY_LIFETIME_HOURS: i64 = 24;

/// A client's `Idempotency-Key` with the fingerprint of the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The user who sent it (keys are scoped per user).
    pub user: String,
    /// The key as sent.
    pub key: String,
    /// Hash of method, path and body: the same key with another fingerprint is refused.
    pub fingerprint: String,
}

/// A stored first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status of the first answer.
    pub status: u16,
    /// Body of the first answer.
    pub body: String,
}

pub(crate) async fn insert<C: Conn>(
    c: &mut C,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM idempotency_keys WHERE user_name = $1 AND key = $2 AND created_at <= $3",
        params![
            key.user.as_str(),
            key.key.as_str(),
            now() - Duration::hours(KEY_LIFETIME_HOURS)
        ],
    )
    .await?;
    let result = c
        .execute(
            "INSERT INTO idempotency_keys (user_name, key, fingerprint, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                key.user.as_str(),
                key.key.as_str(),
                key.fingerprint.as_str(),
                i64::from(response.status),
                response.body.as_str(),
                now()
            ],
        )
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if StoreError::is_unique_violation(&e) => Err(Code::IdempotencyKeyInFlight
            .refusal()
            .with("key", &key.key)
            .into()),
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// The stored answer for `key`, if the key was seen within its lifetime.
    ///
    /// Refuses (`idempotency_key_reused`) when the key was used for another request.
    pub async fn idempotent_response(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let since = now() - Duration::hours(KEY_LIFETIME_HOURS);
        with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "SELECT fingerprint, status, body FROM idempotency_keys \
                     WHERE user_name = $1 AND key = $2 AND created_at > $3",
                    params![key.user.as_str(), key.key.as_str(), since],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            if row.text("fingerprint")? != key.fingerprint {
                return Err(Code::IdempotencyKeyReused
                    .refusal()
                    .with("key", &key.key)
                    .into());
            }
            Ok(Some(StoredResponse {
                status: row.int("status")? as u16,
                body: row.text("body")?,
            }))
        })
    }

    /// Records the answer to a request that failed without changing anything, so that its
    /// retries get the same answer.
    pub async fn save_response(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |c| insert(c, key, response).await)
    }

    /// Forgets keys older than their lifetime; returns how many were removed.
    pub async fn expire_idempotency_keys(&self) -> Result<u64, StoreError> {
        let before = now() - Duration::hours(KEY_LIFETIME_HOURS);
        in_write_tx!(self, |c| {
            Ok::<_, StoreError>(
                c.execute(
                    "DELETE FROM idempotency_keys WHERE created_at <= $1",
                    params![before],
                )
                .await?,
            )
        })
    }
}
