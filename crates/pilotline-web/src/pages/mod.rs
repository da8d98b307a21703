//! The pages, one module per persona's area, and the list every page must be entered in.

pub mod assets;
pub mod auth;
pub mod floor;
mod forms;
pub mod lot;
pub mod manager;
pub mod people;
pub mod portal;
pub mod tools;
pub mod units;
pub mod wip;

use crate::error::PageError;
use crate::session::Words;
use pilotline_domain::Code;

/// Every page (a `GET` under `/ui`), as its route is written; the page × persona test visits
/// each one as every role, and fails on a page missing here.
pub const PAGES: &[&str] = &[
    "/",
    "/login",
    "/static/{file}",
    "/wip",
    "/lots/{id}",
    "/floor",
    "/tools",
    "/tools/live",
    "/tools/{id}",
    "/portal",
    "/shuttles/{id}",
    "/bookings/{id}",
    "/dashboard",
    "/yield",
    "/wafers/{id}",
    "/spc",
    "/spc/{id}",
    "/tenants/{id}/people",
    "/modules",
    "/unit-lots/{id}",
    "/units/{serial}",
];

/// No such page.
pub async fn not_found(Words(tr): Words, uri: axum::http::Uri) -> PageError {
    PageError::new(tr, Code::PathNotFound.refusal().with("path", uri.path()))
}
