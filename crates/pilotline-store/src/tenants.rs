//! Tenants as master data.

use pilotline_domain::{Code, Tenant, TenantStatus};

use crate::conn::{Conn, RowExt, params};
use crate::{Store, StoreError, in_write_tx, now, with_read_conn};

fn tenant_from_row<R: RowExt>(r: &R) -> Result<Tenant, StoreError> {
    let status = r.text("status")?;
    Ok(Tenant {
        id: r.text("id")?,
        name: r.text("name")?,
        status: TenantStatus::parse(&status)
            .ok_or_else(|| crate::error::corrupt(format!("tenant status {status:?}")))?,
    })
}

/// Tenant `id`, inside a transaction or on a read connection.
pub(crate) async fn tenant_in<C: Conn>(c: &mut C, id: &str) -> Result<Option<Tenant>, StoreError> {
    c.fetch_optional(
        "SELECT id, name, status FROM tenants WHERE id = $1",
        params![id],
    )
    .await?
    .map(|r| tenant_from_row(&r))
    .transpose()
}

/// Refuses (`tenant_unknown` naming `field`) a tenant that does not exist.
pub(crate) async fn require_tenant<C: Conn>(
    c: &mut C,
    field: &str,
    id: &str,
) -> Result<Tenant, StoreError> {
    tenant_in(c, id).await?.ok_or_else(|| {
        Code::TenantUnknown
            .refusal()
            .with("field", field)
            .with("tenant", id)
            .into()
    })
}

impl Store {
    /// Creates tenant `t`; the same content again answers it, other content is refused
    /// (`already_exists`).
    pub async fn put_tenant(&self, t: &Tenant) -> Result<Tenant, StoreError> {
        t.validate()?;
        let at = now();
        in_write_tx!(self, |c| {
            if let Some(existing) = tenant_in(c, &t.id).await? {
                return if existing.name == t.name {
                    Ok(existing)
                } else {
                    Err(Code::AlreadyExists
                        .refusal()
                        .with("what", "tenant")
                        .with("id", &t.id)
                        .into())
                };
            }
            c.execute(
                "INSERT INTO tenants (id, name, status, created_at) VALUES ($1, $2, $3, $4)",
                params![t.id.as_str(), t.name.as_str(), t.status.as_str(), at],
            )
            .await?;
            Ok(t.clone())
        })
    }

    /// Every tenant, by id.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        with_read_conn!(self, |c| {
            c.fetch_all("SELECT id, name, status FROM tenants ORDER BY id", vec![])
                .await?
                .iter()
                .map(tenant_from_row)
                .collect()
        })
    }

    /// Tenant `id`.
    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        with_read_conn!(self, |c| tenant_in(c, id).await)
    }

    /// Sets tenant `id`'s status; a suspended or closed tenant's people are refused from their
    /// next request on.
    pub async fn set_tenant_status(
        &self,
        id: &str,
        status: TenantStatus,
    ) -> Result<Tenant, StoreError> {
        in_write_tx!(self, |c| {
            let n = c
                .execute(
                    "UPDATE tenants SET status = $1 WHERE id = $2",
                    params![status.as_str(), id],
                )
                .await?;
            if n == 0 {
                return Err(Code::TenantNotFound.refusal().with("tenant", id).into());
            }
            tenant_in(c, id)
                .await?
                .ok_or_else(|| crate::error::corrupt("tenant vanished"))
        })
    }
}
