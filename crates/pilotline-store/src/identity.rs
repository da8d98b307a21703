//! Users and API tokens. Tokens are random and high-entropy, so they are stored as SHA-256
//! hashes (a slow password hash adds nothing for them); the clear token is shown once.

use pilotline_domain::{Actor, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::conn::{Conn, RowExt, params};
use crate::error::corrupt;
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

/// Every Pilotline token starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "plt_";

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

impl Store {
    /// Creates (or updates) user `name` with `role` and `tenant`, and issues a new API token for
    /// it. Returns the clear token, which is not stored anywhere.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
    ) -> Result<String, StoreError> {
        if name.trim().is_empty() || name.len() > 128 {
            return Err(StoreError::Config(
                "user name must be 1-128 characters".into(),
            ));
        }
        if role == Role::Customer && tenant.is_none() {
            return Err(StoreError::Config(
                "a customer must belong to a tenant (--tenant)".into(),
            ));
        }
        if role != Role::Customer && tenant.is_some() {
            return Err(StoreError::Config(
                "only customers belong to a tenant".into(),
            ));
        }
        let token = new_token();
        let hash = hash_token(&token);
        let at = now();
        in_write_tx!(self, |c| {
            upsert_user(c, name, role, tenant, at).await?;
            c.execute(
                "INSERT INTO api_tokens (token_hash, user_name, created_at) VALUES ($1, $2, $3)",
                params![hash.as_str(), name, at],
            )
            .await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(token)
    }

    /// The actor a clear token belongs to, or `None` for an unknown or revoked token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Actor>, StoreError> {
        let hash = hash_token(token);
        with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "SELECT u.name, u.role, u.tenant FROM api_tokens t \
                     JOIN users u ON u.name = t.user_name \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
                    params![hash.as_str()],
                )
                .await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some(Actor {
                    user: r.text("name")?,
                    role: r.text("role")?.parse().map_err(corrupt)?,
                    tenant: r.opt_text("tenant")?,
                })),
            }
        })
    }
}

impl Store {
    /// Revokes one token (given in clear); returns whether it was live.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let hash = hash_token(token);
        let at = now();
        let n = in_write_tx!(self, |c| {
            c.execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
                params![at, hash.as_str()],
            )
            .await
            .map_err(StoreError::from)
        })?;
        Ok(n > 0)
    }

    /// Revokes every live token of `user`; returns how many.
    pub async fn revoke_user_tokens(&self, user: &str) -> Result<u64, StoreError> {
        let at = now();
        in_write_tx!(self, |c| {
            c.execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_name = $2 AND revoked_at IS NULL",
                params![at, user],
            )
            .await
            .map_err(StoreError::from)
        })
    }
}

async fn upsert_user<C: Conn>(
    c: &mut C,
    name: &str,
    role: Role,
    tenant: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO users (name, role, tenant, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, tenant = excluded.tenant",
        params![name, role.as_str(), tenant, at],
    )
    .await?;
    Ok(())
}
