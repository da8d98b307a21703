//! Users and API tokens. Tokens are random and high-entropy, so they are stored as SHA-256
//! hashes (a slow password hash adds nothing for them); the clear token is shown once.

use chrono::{DateTime, Utc};
use pilotline_domain::{Actor, Role};
use serde::Serialize;

/// How many characters of a clear token are kept to tell tokens apart in a listing.
const PREFIX_CHARS: usize = 12;

/// A token as an administrator sees it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    /// Token id.
    pub id: i64,
    /// Its first characters (`plt_1a2b3c4d`); none for tokens issued before they were kept.
    pub prefix: Option<String>,
    /// Its user.
    pub user: String,
    /// The user's role.
    pub role: Role,
    /// The user's tenant (customers).
    pub tenant: Option<String>,
    /// When issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user is disabled: the token does not work.
    pub user_disabled: bool,
}
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::conn::{Conn, Param, RowExt, params};
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
        self.issue_token(name, role, tenant, None).await
    }

    /// Like [`Store::create_token`], with an expiry.
    pub async fn issue_token(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, StoreError> {
        Actor::check_user(name, role, tenant)?;
        in_write_tx!(self, |c| {
            if let Some(t) = tenant {
                crate::tenants::require_tenant(c, "tenant", t).await?;
            }
            user_token(c, name, role, tenant, expires_at).await
        })
    }

    /// The actor a clear token belongs to, or `None` for an unknown or revoked token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Actor>, StoreError> {
        let hash = hash_token(token);
        let at = now();
        with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(
                    "SELECT u.name, u.role, u.tenant FROM api_tokens t \
                     JOIN users u ON u.name = t.user_name \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
                     AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled_at IS NULL \
                     AND (u.tenant IS NULL OR EXISTS (SELECT 1 FROM tenants n \
                     WHERE n.id = u.tenant AND n.status = 'active'))",
                    params![hash.as_str(), at],
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

    /// Revokes the token with id `id`; returns whether it was live.
    pub async fn revoke_token_id(&self, id: i64) -> Result<bool, StoreError> {
        let at = now();
        let n = in_write_tx!(self, |c| {
            c.execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                params![at, id],
            )
            .await
            .map_err(StoreError::from)
        })?;
        Ok(n > 0)
    }

    /// Disables (or enables again) user `name`: a disabled user's tokens are refused. Returns
    /// whether the user exists.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let at = disabled.then(now);
        let n = in_write_tx!(self, |c| {
            c.execute(
                "UPDATE users SET disabled_at = $1 WHERE name = $2",
                vec![Param::OptTime(at), Param::from(name)],
            )
            .await
            .map_err(StoreError::from)
        })?;
        Ok(n > 0)
    }

    /// Tokens, newest first (of one user, or all): id, the first characters, the user, and
    /// whether it is live.
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
        const SQL_ALL: &str = "SELECT t.id, t.prefix, t.user_name, u.role, u.tenant, t.created_at, \
             t.expires_at, t.revoked_at, u.disabled_at FROM api_tokens t \
             JOIN users u ON u.name = t.user_name ORDER BY t.id DESC LIMIT 1000";
        const SQL_USER: &str = "SELECT t.id, t.prefix, t.user_name, u.role, u.tenant, t.created_at, \
             t.expires_at, t.revoked_at, u.disabled_at FROM api_tokens t \
             JOIN users u ON u.name = t.user_name WHERE t.user_name = $1 ORDER BY t.id DESC LIMIT 1000";
        with_read_conn!(self, |c| {
            let rows = match user {
                Some(u) => c.fetch_all(SQL_USER, params![u]).await?,
                None => c.fetch_all(SQL_ALL, vec![]).await?,
            };
            rows.iter()
                .map(|r| {
                    Ok(TokenInfo {
                        id: r.int("id")?,
                        prefix: r.opt_text("prefix")?,
                        user: r.text("user_name")?,
                        role: r.text("role")?.parse().map_err(corrupt)?,
                        tenant: r.opt_text("tenant")?,
                        created_at: r.time("created_at")?,
                        expires_at: r.opt_time("expires_at")?,
                        revoked_at: r.opt_time("revoked_at")?,
                        user_disabled: r.opt_time("disabled_at")?.is_some(),
                    })
                })
                .collect()
        })
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

/// A tenant's user as its tenant admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantUser {
    /// User name.
    pub name: String,
    /// `tenant_admin` or `customer` (a member).
    pub role: Role,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Whether disabled (every token refused).
    pub disabled: bool,
    /// Tokens neither revoked nor expired.
    pub live_tokens: i64,
}

impl Store {
    /// Issues a token for user `name` of tenant `tenant`, creating the user with `role` (a
    /// tenant role) or changing the role of the tenant's existing user; a name that belongs to
    /// anyone outside the tenant is refused, so a tenant can never take over another's user.
    pub async fn issue_tenant_token(
        &self,
        tenant: &str,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, StoreError> {
        Actor::check_user(name, role, Some(tenant))?;
        in_write_tx!(self, |c| {
            require_own_user(c, tenant, name).await?;
            user_token(c, name, role, Some(tenant), expires_at).await
        })
    }

    /// Tenant `tenant`'s users, by name.
    pub async fn tenant_users(&self, tenant: &str) -> Result<Vec<TenantUser>, StoreError> {
        let at = now();
        with_read_conn!(self, |c| {
            let rows = c
                .fetch_all(
                    "SELECT u.name, u.role, u.created_at, u.disabled_at, \
                     (SELECT COUNT(*) FROM api_tokens t WHERE t.user_name = u.name \
                      AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)) AS live \
                     FROM users u WHERE u.tenant = $1 ORDER BY u.name LIMIT 1000",
                    params![tenant, at],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(TenantUser {
                        name: r.text("name")?,
                        role: r.text("role")?.parse().map_err(corrupt)?,
                        created_at: r.time("created_at")?,
                        disabled: r.opt_time("disabled_at")?.is_some(),
                        live_tokens: r.int("live")?,
                    })
                })
                .collect()
        })
    }

    /// Disables (or enables) user `name` of tenant `tenant`, and with `revoke` revokes its
    /// live tokens; `false` when the tenant has no such user.
    pub async fn set_tenant_user(
        &self,
        tenant: &str,
        name: &str,
        disabled: bool,
        revoke: bool,
    ) -> Result<bool, StoreError> {
        let at = now();
        in_write_tx!(self, |c| {
            let n = c
                .execute(
                    "UPDATE users SET disabled_at = $1 WHERE name = $2 AND tenant = $3",
                    vec![
                        Param::OptTime(disabled.then_some(at)),
                        Param::from(name),
                        Param::from(tenant),
                    ],
                )
                .await?;
            if n > 0 && revoke {
                c.execute(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE user_name = $2 AND revoked_at IS NULL",
                    params![at, name],
                )
                .await?;
            }
            Ok::<_, StoreError>(n > 0)
        })
    }
}

/// Refuses (`tenant_not_found`, `user_name_taken`) unless tenant `tenant` exists and user
/// `name` is new or already the tenant's own: a tenant never takes over another's user.
pub(crate) async fn require_own_user<C: Conn>(
    c: &mut C,
    tenant: &str,
    name: &str,
) -> Result<(), StoreError> {
    crate::tenants::require_tenant(c, "tenant", tenant).await?;
    let existing = c
        .fetch_optional("SELECT tenant FROM users WHERE name = $1", params![name])
        .await?;
    if let Some(r) = existing
        && r.opt_text("tenant")?.as_deref() != Some(tenant)
    {
        return Err(pilotline_domain::Code::UserTaken
            .refusal()
            .with("user", name)
            .into());
    }
    Ok(())
}

/// Creates (or updates) user `name` and issues it a new token; returns the clear token.
async fn user_token<C: Conn>(
    c: &mut C,
    name: &str,
    role: Role,
    tenant: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<String, StoreError> {
    let token = new_token();
    let hash = hash_token(&token);
    let prefix: String = token.chars().take(PREFIX_CHARS).collect();
    let at = now();
    upsert_user(c, name, role, tenant, at).await?;
    c.execute(
        "INSERT INTO api_tokens (token_hash, user_name, created_at, prefix, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        params![hash.as_str(), name, at, prefix.as_str(), expires_at],
    )
    .await?;
    Ok(token)
}

pub(crate) async fn upsert_user<C: Conn>(
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
