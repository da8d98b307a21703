//! Request handlers, one module per resource family.

pub mod lots;
pub mod master;
pub mod system;
pub mod wafers;
