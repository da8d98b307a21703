//! Identity: tokens resolved to actors on every request, issued and revoked.

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor, Code, Role};
use pilotline_store::TokenInfo;

use crate::{App, AppError};

/// Refuses a token expiry that is not in the future.
pub(crate) fn check_expiry(expires_at: Option<DateTime<Utc>>) -> Result<(), AppError> {
    match expires_at {
        Some(at) if at <= pilotline_store::now() => Err(Code::OutOfRange
            .refusal()
            .with("field", "expires_at")
            .with("value", at.to_rfc3339())
            .with("range", "the future")
            .into()),
        _ => Ok(()),
    }
}

impl App {
    /// The actor a clear token belongs to. Asked on every request: a revoked token or a
    /// changed role applies on the very next one.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, AppError> {
        self.store
            .authenticate(token)
            .await?
            .ok_or_else(|| Code::AuthInvalid.into())
    }

    /// Creates (or updates) user `name` with `role` and `tenant` and issues a new token for
    /// it; returns the clear token, which is stored nowhere.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
    ) -> Result<String, AppError> {
        self.issue_token(name, role, tenant, None).await
    }

    /// Issues a token (the CLI, which acts for the machine's administrator), with an expiry.
    pub async fn issue_token(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, AppError> {
        check_expiry(expires_at)?;
        Ok(self
            .store
            .issue_token(name, role, tenant, expires_at)
            .await?)
    }

    /// Revokes one token (given in clear).
    pub async fn revoke_token(&self, token: &str) -> Result<(), AppError> {
        if self.store.revoke_token(token).await? {
            Ok(())
        } else {
            let shown: String = token.chars().take(8).collect();
            Err(Code::TokenNotFound
                .refusal()
                .with("token", format!("{shown}…"))
                .into())
        }
    }

    /// Revokes every token of `user`; returns how many were live.
    pub async fn revoke_user_tokens(&self, user: &str) -> Result<u64, AppError> {
        Ok(self.store.revoke_user_tokens(user).await?)
    }

    /// Issues a token for user `name` (admins, through the API).
    pub async fn issue_token_as(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<String, AppError> {
        actor.require(Action::Administer, "issue tokens")?;
        self.issue_token(name, role, tenant, expires_at).await
    }

    /// Tokens, newest first, of one user or all (admins): ids and first characters only.
    pub async fn tokens(
        &self,
        user: Option<&str>,
        actor: &Actor,
    ) -> Result<Vec<TokenInfo>, AppError> {
        actor.require(Action::Administer, "list tokens")?;
        Ok(self.store.tokens(user).await?)
    }

    /// Revokes the token with id `id` (admins); it stops working on the next request.
    pub async fn revoke_token_id(&self, id: i64, actor: &Actor) -> Result<(), AppError> {
        actor.require(Action::Administer, "revoke tokens")?;
        if self.store.revoke_token_id(id).await? {
            Ok(())
        } else {
            Err(Code::TokenNotFound.refusal().with("token", id).into())
        }
    }

    /// Disables or enables again user `name` (admins through the API; the CLI passes the
    /// machine administrator). A disabled user's every token is refused from the next request.
    pub async fn set_user_disabled(
        &self,
        name: &str,
        disabled: bool,
        actor: &Actor,
    ) -> Result<(), AppError> {
        actor.require(Action::Administer, "disable users")?;
        if self.store.set_user_disabled(name, disabled).await? {
            Ok(())
        } else {
            Err(Code::UserNotFound.refusal().with("user", name).into())
        }
    }
}
