//! Request handlers, one module per resource family.

pub mod identity;
pub mod lots;
pub mod master;
pub mod shuttles;
pub mod spc;
pub mod system;
pub mod tenants;
pub mod testdata;
pub mod units;
pub mod wafers;
