//! Tenants: created and suspended by admins, read by staff; a tenant's people managed by
//! platform admins and by the tenant's own admins — never by anyone of another tenant.

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor, Code, Role, Tenant, TenantStatus};
use pilotline_store::TenantUser;

use crate::{App, AppError};

impl App {
    /// Creates a tenant (admins; the CLI acts as the machine's administrator).
    pub async fn create_tenant(&self, tenant: &Tenant, actor: &Actor) -> Result<Tenant, AppError> {
        actor.require(Action::Administer, "create tenants")?;
        Ok(self.store.put_tenant(tenant).await?)
    }

    /// Every tenant (staff).
    pub async fn tenants(&self, actor: &Actor) -> Result<Vec<Tenant>, AppError> {
        actor.require(Action::ReadMasterData, "read tenants")?;
        Ok(self.store.tenants().await?)
    }

    /// One tenant (staff).
    pub async fn tenant(&self, id: &str, actor: &Actor) -> Result<Tenant, AppError> {
        actor.require(Action::ReadMasterData, "read tenants")?;
        self.store
            .tenant(id)
            .await?
            .ok_or_else(|| Code::TenantNotFound.refusal().with("tenant", id).into())
    }

    /// Suspends, closes or reactivates a tenant (admins): its people are refused, or let in
    /// again, from their next request on.
    pub async fn set_tenant_status(
        &self,
        id: &str,
        status: TenantStatus,
        actor: &Actor,
    ) -> Result<Tenant, AppError> {
        actor.require(Action::Administer, "change tenants")?;
        Ok(self.store.set_tenant_status(id, status).await?)
    }

    /// Checks that `actor` may manage tenant `tenant`'s people: a platform admin any existing
    /// tenant's, a tenant admin its own only (another tenant does not exist for it).
    pub(crate) async fn may_manage_people(
        &self,
        tenant: &str,
        actor: &Actor,
    ) -> Result<(), AppError> {
        actor.require(Action::ManageTenantUsers, "manage a tenant's users")?;
        let not_found = || AppError::from(Code::TenantNotFound.refusal().with("tenant", tenant));
        if actor.role == Role::TenantAdmin && actor.tenant.as_deref() != Some(tenant) {
            return Err(not_found());
        }
        self.store.tenant(tenant).await?.ok_or_else(not_found)?;
        Ok(())
    }

    /// Tenant `tenant`'s users (its admins and platform admins).
    pub async fn tenant_users(
        &self,
        tenant: &str,
        actor: &Actor,
    ) -> Result<Vec<TenantUser>, AppError> {
        self.may_manage_people(tenant, actor).await?;
        Ok(self.store.tenant_users(tenant).await?)
    }

    /// Creates user `name` of tenant `tenant` with a tenant role (`tenant_admin` or
    /// `customer`), or changes the role of the tenant's own user, and issues a token; returns
    /// the clear token, stored nowhere.
    pub async fn add_tenant_user(
        &self,
        tenant: &str,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<String, AppError> {
        self.may_manage_people(tenant, actor).await?;
        crate::identity::check_expiry(expires_at)?;
        Ok(self
            .store
            .issue_tenant_token(tenant, name, role, expires_at)
            .await?)
    }

    /// Disables or enables user `name` of tenant `tenant`, revoking its tokens with `revoke`.
    pub async fn set_tenant_user(
        &self,
        tenant: &str,
        name: &str,
        disabled: bool,
        revoke: bool,
        actor: &Actor,
    ) -> Result<(), AppError> {
        self.may_manage_people(tenant, actor).await?;
        if self
            .store
            .set_tenant_user(tenant, name, disabled, revoke)
            .await?
        {
            Ok(())
        } else {
            Err(Code::UserNotFound.refusal().with("user", name).into())
        }
    }
}
