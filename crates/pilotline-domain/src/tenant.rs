//! Tenants: the organisations (incubated start-ups) whose people see only their own data.

use serde::{Deserialize, Serialize};

use crate::refusal::{Code, Refusal, check_text};
use crate::route::valid_id;

/// Whether a tenant's people may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Its users sign in and work.
    Active,
    /// Its users are refused until it is active again (unpaid, under review).
    Suspended,
    /// It left the platform; its records stay.
    Closed,
}

impl TenantStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Closed => "closed",
        }
    }

    /// The status with this stored name.
    pub fn parse(s: &str) -> Option<TenantStatus> {
        [
            TenantStatus::Active,
            TenantStatus::Suspended,
            TenantStatus::Closed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant as master data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Id (`acme`), as users, products and lots name it.
    pub id: String,
    /// Name shown to people.
    pub name: String,
    /// Whether its people may act.
    #[serde(default = "active")]
    pub status: TenantStatus,
}

fn active() -> TenantStatus {
    TenantStatus::Active
}

impl Tenant {
    /// Refuses a malformed id or name.
    pub fn validate(&self) -> Result<(), Refusal> {
        if !valid_id(&self.id) {
            return Err(Code::IdMalformed
                .refusal()
                .with("field", "id")
                .with("value", format!("{:?}", self.id)));
        }
        check_text("name", &self.name, 200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_needs_an_id_and_a_name() {
        let t = |id: &str, name: &str| Tenant {
            id: id.into(),
            name: name.into(),
            status: TenantStatus::Active,
        };
        assert!(t("acme", "Acme Sensing").validate().is_ok());
        assert_eq!(
            t("ac me", "x").validate().unwrap_err().code(),
            Code::IdMalformed
        );
        assert_eq!(
            t("acme", " ").validate().unwrap_err().code(),
            Code::FieldEmpty
        );
        for s in ["active", "suspended", "closed"] {
            assert_eq!(TenantStatus::parse(s).unwrap().as_str(), s);
        }
    }
}
