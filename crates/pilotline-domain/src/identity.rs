//! Who acts: roles and the actions each role may perform.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user's role. The role alone decides which actions a request may perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform: everything, including user and token administration.
    Admin,
    /// Process engineer: moves lots, releases holds, defines routes and equipment.
    Engineer,
    /// Operator: moves lots and places holds, cannot release them.
    Operator,
    /// Manager: reads everything, changes nothing.
    Manager,
    /// Start-up customer (a tenant's member): reads its own tenant's lots, bookings and
    /// designs, and uploads design revisions.
    Customer,
    /// A tenant's admin: what a member may, plus booking shuttle slots, submitting designs,
    /// and managing its own tenant's users and tokens — nothing outside its tenant.
    TenantAdmin,
}

/// Everything a request may want to do, checked against the caller's [`Role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read lots, history, genealogy and WIP (customers: own tenant only).
    ReadLots,
    /// Read routes, products and equipment (line master data).
    ReadMasterData,
    /// Create or change routes, products and equipment.
    WriteMasterData,
    /// Start lots and move them: track-in/out, split, merge, rework, scrap, ship.
    MoveLots,
    /// Place a hold or a future hold.
    PlaceHold,
    /// Release a hold.
    ReleaseHold,
    /// Create users and tokens.
    Administer,
    /// Read shuttles, their calendars and offers (everyone signed in).
    ReadShuttles,
    /// Create, open, close, start and deliver shuttles; set the line's configuration.
    ManageShuttles,
    /// Book, change or cancel a booking (a tenant admin for its own tenant; staff for any).
    Book,
    /// Upload a design revision (a tenant's people for their own bookings; engineers).
    UploadDesign,
    /// Accept designs, override deadlines, approve layouts (engineers).
    ReviewDesigns,
    /// Manage a tenant's users and tokens (platform admins; a tenant admin its own).
    ManageTenantUsers,
    /// Pick a die the probe map failed, or leave a good one, at dicing.
    DispositionDies,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Engineer,
        Role::Operator,
        Role::Manager,
        Role::Customer,
        Role::TenantAdmin,
    ];

    /// Whether this role may perform `action`.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => true,
            Role::Engineer => !matches!(action, Administer | ManageTenantUsers),
            Role::Operator => matches!(
                action,
                ReadLots | ReadMasterData | MoveLots | PlaceHold | ReadShuttles
            ),
            Role::Manager => matches!(action, ReadLots | ReadMasterData | ReadShuttles),
            Role::Customer => matches!(action, ReadLots | ReadShuttles | UploadDesign),
            Role::TenantAdmin => matches!(
                action,
                ReadLots | ReadShuttles | UploadDesign | Book | ManageTenantUsers
            ),
        }
    }

    /// The role's name as written in tokens, config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Operator => "operator",
            Role::Manager => "manager",
            Role::Customer => "customer",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    /// Whether this role belongs to a tenant (and so sees only that tenant's data).
    pub fn is_tenant(self) -> bool {
        matches!(self, Role::Customer | Role::TenantAdmin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?} (expected admin, engineer, operator, manager, customer or tenant_admin)"
                )
            })
    }
}

/// The authenticated caller of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User name.
    pub user: String,
    /// The user's role.
    pub role: Role,
    /// The tenant a customer belongs to; `None` for platform staff.
    pub tenant: Option<String>,
}

impl Actor {
    /// Whether this actor may see a lot owned by `lot_tenant`.
    ///
    /// Platform staff see every lot; a customer sees only its own tenant's lots.
    pub fn may_see_tenant(&self, lot_tenant: Option<&str>) -> bool {
        if !self.role.is_tenant() {
            return true;
        }
        match (&self.tenant, lot_tenant) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// Refuses (`role_forbidden`) unless the actor's role may do `action`; `what` names the
    /// action in the refusal ("track lots out").
    pub fn require(&self, action: Action, what: &str) -> Result<(), crate::Refusal> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(crate::Code::RoleForbidden
                .refusal()
                .with("role", self.role)
                .with("action", what))
        }
    }

    /// Refuses a user that could not exist: a name that is empty, over-long or holds control
    /// characters, a customer without a tenant, or staff with one.
    pub fn check_user(name: &str, role: Role, tenant: Option<&str>) -> Result<(), crate::Refusal> {
        crate::refusal::check_text("user", name, 128)?;
        let requirement = match (role, tenant) {
            (r, None) if r.is_tenant() => "must belong to a tenant (--tenant)",
            (r, Some(_)) if !r.is_tenant() => {
                "does not belong to a tenant; only customers and tenant admins do"
            }
            _ => return Ok(()),
        };
        Err(crate::Code::TenantRequired
            .refusal()
            .with("role", role)
            .with("requirement", requirement))
    }

    /// The tenant every read must be restricted to, if any.
    pub fn tenant_scope(&self) -> Option<&str> {
        if self.role.is_tenant() {
            Some(self.tenant.as_deref().unwrap_or(""))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_needs_a_tenant_and_staff_have_none() {
        use crate::Code;
        assert!(Actor::check_user("ann", Role::Customer, Some("acme")).is_ok());
        assert!(Actor::check_user("erin", Role::Engineer, None).is_ok());
        let code = |r: Result<(), crate::Refusal>| r.unwrap_err().code();
        assert_eq!(
            code(Actor::check_user("c", Role::Customer, None)),
            Code::TenantRequired
        );
        assert_eq!(
            code(Actor::check_user("e", Role::Engineer, Some("acme"))),
            Code::TenantRequired
        );
        assert_eq!(
            code(Actor::check_user(" ", Role::Operator, None)),
            Code::FieldEmpty
        );
    }

    #[test]
    fn permissions_table() {
        use Action::*;
        let table: [(Role, Action, bool); 24] = [
            (Role::Engineer, DispositionDies, true),
            (Role::Operator, DispositionDies, false),
            (Role::TenantAdmin, Book, true),
            (Role::TenantAdmin, ManageTenantUsers, true),
            (Role::TenantAdmin, ReadMasterData, false),
            (Role::TenantAdmin, ReviewDesigns, false),
            (Role::Customer, Book, false),
            (Role::Customer, UploadDesign, true),
            (Role::Engineer, ManageTenantUsers, false),
            (Role::Manager, ReadShuttles, true),
            (Role::Operator, MoveLots, true),
            (Role::Operator, PlaceHold, true),
            (Role::Operator, ReleaseHold, false),
            (Role::Operator, WriteMasterData, false),
            (Role::Engineer, ReleaseHold, true),
            (Role::Engineer, WriteMasterData, true),
            (Role::Engineer, Administer, false),
            (Role::Manager, ReadLots, true),
            (Role::Manager, MoveLots, false),
            (Role::Manager, PlaceHold, false),
            (Role::Customer, ReadLots, true),
            (Role::Customer, ReadMasterData, false),
            (Role::Customer, MoveLots, false),
            (Role::Admin, Administer, true),
        ];
        for (role, action, expected) in table {
            assert_eq!(role.may(action), expected, "{role} {action:?}");
        }
    }

    #[test]
    fn customers_see_only_their_tenant() {
        let c = Actor {
            user: "c".into(),
            role: Role::Customer,
            tenant: Some("acme".into()),
        };
        assert!(c.may_see_tenant(Some("acme")));
        assert!(!c.may_see_tenant(Some("other")));
        assert!(!c.may_see_tenant(None));
        let e = Actor {
            user: "e".into(),
            role: Role::Engineer,
            tenant: None,
        };
        assert!(e.may_see_tenant(Some("acme")) && e.may_see_tenant(None));
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
