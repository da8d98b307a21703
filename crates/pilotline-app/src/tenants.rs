//! Tenants: created and suspended by admins, read by staff.

use pilotline_domain::{Action, Actor, Code, Tenant, TenantStatus};

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
}
