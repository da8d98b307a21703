//! HTTP tests of the API against a real server on port 0 over real SQLite and, when
//! configured, PostgreSQL.

mod concurrency;
mod errors;
mod harness;
mod identity;
mod lot_flow;
mod mpw;
mod mpw_results;
mod openapi;
mod spc;
mod spc_atomic;
mod tenancy;
mod units;
mod uploads;
