//! Passwords and web sessions. A password is kept as the PHC string the application layer
//! hashed it to (argon2id), never in clear; a session by the SHA-256 of its random cookie value
//! (high-entropy, like a token). Every lookup joins the user, so a disabled user, a changed role
//! or a suspended tenant applies on the next request.

use chrono::{DateTime, Utc};
use pilotline_domain::{Actor, Role};

use crate::conn::{Conn, RowExt, params};
use crate::error::corrupt;
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// A live user's stored password and its sign-in throttle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRecord {
    /// Whom it signs in.
    pub actor: Actor,
    /// The argon2id PHC string.
    pub phc: String,
    /// Failed sign-ins since the last good one (or the last lock).
    pub failures: i64,
    /// Sign-ins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// The condition that user `u` may act: not disabled, and its tenant (if any) active.
macro_rules! live_user {
    () => {
        "u.disabled_at IS NULL AND (u.tenant IS NULL OR EXISTS \
         (SELECT 1 FROM tenants n WHERE n.id = u.tenant AND n.status = 'active'))"
    };
}

fn actor_of(r: &impl RowExt) -> Result<Actor, StoreError> {
    Ok(Actor {
        user: r.text("name")?,
        role: r.text("role")?.parse().map_err(corrupt)?,
        tenant: r.opt_text("tenant")?,
    })
}

impl Store {
    /// Creates (or updates) user `name` with `role` and `tenant` and sets its password's PHC
    /// string, clearing its throttle. Its live sessions end: a new password signs out
    /// everywhere.
    pub async fn set_password(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
        phc: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Actor::check_user(name, role, tenant)?;
        in_write_tx!(self, |c| {
            if let Some(t) = tenant {
                crate::tenants::require_tenant(c, "tenant", t).await?;
            }
            write_password(c, name, role, tenant, phc, at).await
        })
    }

    /// Like [`Store::set_password`] for a tenant's own people: a name that belongs to anyone
    /// outside tenant `tenant` is refused (`user_name_taken`), so a tenant can never take over
    /// another's user.
    pub async fn set_tenant_password(
        &self,
        tenant: &str,
        name: &str,
        role: Role,
        phc: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Actor::check_user(name, role, Some(tenant))?;
        in_write_tx!(self, |c| {
            crate::identity::require_own_user(c, tenant, name).await?;
            write_password(c, name, role, Some(tenant), phc, at).await
        })
    }

    /// The password of live user `name`, if it has one.
    pub async fn password_record(&self, name: &str) -> Result<Option<PasswordRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT u.name, u.role, u.tenant, p.phc, p.failures, p.locked_until \
             FROM user_passwords p JOIN users u ON u.name = p.user_name \
             WHERE p.user_name = $1 AND ",
            live_user!()
        );
        with_read_conn!(self, |c| {
            let row = c.fetch_optional(SQL, params![name]).await?;
            row.map(|r| {
                Ok(PasswordRecord {
                    actor: actor_of(&r)?,
                    phc: r.text("phc")?,
                    failures: r.int("failures")?,
                    locked_until: r.opt_time("locked_until")?,
                })
            })
            .transpose()
        })
    }

    /// Counts a failed sign-in of `name`; with `lock_until`, its sign-ins are refused until
    /// then and the count starts again.
    pub async fn record_sign_in_failure(
        &self,
        name: &str,
        lock_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            match lock_until {
                Some(until) => {
                    c.execute(
                        "UPDATE user_passwords SET failures = 0, locked_until = $2 \
                         WHERE user_name = $1",
                        params![name, until],
                    )
                    .await?
                }
                None => {
                    c.execute(
                        "UPDATE user_passwords SET failures = failures + 1 WHERE user_name = $1",
                        params![name],
                    )
                    .await?
                }
            };
            Ok::<_, StoreError>(())
        })
    }

    /// Opens a session (kept by `id_hash`) for `name` and clears its sign-in throttle, in
    /// one transaction.
    pub async fn start_session(
        &self,
        name: &str,
        id_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            c.execute(
                "UPDATE user_passwords SET failures = 0, locked_until = NULL WHERE user_name = $1",
                params![name],
            )
            .await?;
            c.execute(
                "INSERT INTO web_sessions (id_hash, user_name, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $3)",
                params![id_hash, name, at],
            )
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// The live user of session `id_hash` and when it was last seen, if the session was
    /// opened after `created_after` and seen after `seen_after`.
    pub async fn session(
        &self,
        id_hash: &str,
        created_after: DateTime<Utc>,
        seen_after: DateTime<Utc>,
    ) -> Result<Option<(Actor, DateTime<Utc>)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT u.name, u.role, u.tenant, s.last_seen_at FROM web_sessions s \
             JOIN users u ON u.name = s.user_name \
             WHERE s.id_hash = $1 AND s.created_at > $2 AND s.last_seen_at > $3 AND ",
            live_user!()
        );
        with_read_conn!(self, |c| {
            let row = c
                .fetch_optional(SQL, params![id_hash, created_after, seen_after])
                .await?;
            row.map(|r| Ok((actor_of(&r)?, r.time("last_seen_at")?)))
                .transpose()
        })
    }

    /// Marks session `id_hash` as seen at `at` (the idle timeout counts from then).
    pub async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        in_write_tx!(self, |c| {
            c.execute(
                "UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1",
                params![id_hash, at],
            )
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Ends session `id_hash`; with `everywhere`, every session of its user. Returns how many
    /// ended.
    pub async fn end_session(&self, id_hash: &str, everywhere: bool) -> Result<u64, StoreError> {
        in_write_tx!(self, |c| {
            let n = if everywhere {
                c.execute(
                    "DELETE FROM web_sessions WHERE user_name = \
                     (SELECT user_name FROM web_sessions WHERE id_hash = $1)",
                    params![id_hash],
                )
                .await?
            } else {
                c.execute(
                    "DELETE FROM web_sessions WHERE id_hash = $1",
                    params![id_hash],
                )
                .await?
            };
            Ok::<_, StoreError>(n)
        })
    }

    /// Deletes the sessions opened before `created_before` or last seen before
    /// `seen_before` (they no longer sign anyone in); returns how many.
    pub async fn expire_sessions(
        &self,
        created_before: DateTime<Utc>,
        seen_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        in_write_tx!(self, |c| {
            c.execute(
                "DELETE FROM web_sessions WHERE created_at <= $1 OR last_seen_at <= $2",
                params![created_before, seen_before],
            )
            .await
            .map_err(StoreError::from)
        })
    }
}

/// Creates or updates the user, sets its password's PHC string (clearing the throttle) and ends
/// its sessions.
async fn write_password<C: Conn>(
    c: &mut C,
    name: &str,
    role: Role,
    tenant: Option<&str>,
    phc: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    crate::identity::upsert_user(c, name, role, tenant, at).await?;
    c.execute(
        "INSERT INTO user_passwords (user_name, phc, updated_at, failures, locked_until) \
         VALUES ($1, $2, $3, 0, NULL) ON CONFLICT (user_name) DO UPDATE SET \
         phc = excluded.phc, updated_at = excluded.updated_at, failures = 0, \
         locked_until = NULL",
        params![name, phc, at],
    )
    .await?;
    c.execute(
        "DELETE FROM web_sessions WHERE user_name = $1",
        params![name],
    )
    .await?;
    Ok(())
}
