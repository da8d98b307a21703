//! Identity: tokens resolved to actors on every request, issued and revoked.

use pilotline_domain::{Actor, Code, Role};

use crate::{App, AppError};

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
        pilotline_domain::refusal::check_text("user", name, 128)?;
        match (role, tenant) {
            (Role::Customer, None) => {
                return Err(Code::TenantRequired
                    .refusal()
                    .with("role", role)
                    .with("requirement", "must belong to a tenant (--tenant)")
                    .into());
            }
            (r, Some(_)) if r != Role::Customer => {
                return Err(Code::TenantRequired
                    .refusal()
                    .with("role", role)
                    .with(
                        "requirement",
                        "does not belong to a tenant; only customers do",
                    )
                    .into());
            }
            _ => {}
        }
        Ok(self.store.create_token(name, role, tenant).await?)
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
}
