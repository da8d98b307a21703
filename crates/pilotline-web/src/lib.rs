//! Pilotline's web interface: pages rendered on the server for the fab floor (WIP, lots, the
//! floor terminal, tools), the start-ups (shuttles, bookings, designs, their dies' results)
//! and managers (yield, SPC, WIP, utilisation), in Chinese and English.
//!
//! Like the HTTP API it is an adapter: every page asks [`pilotline_app::App`] and renders what
//! it answers, and every form calls the same use case the API calls, so roles, tenant scope and
//! refusals are the application layer's. It adds only what a browser needs: a password
//! sign-in with sessions in the store, cookies, protection against forms posted from other
//! sites, message catalogues, and charts drawn as SVG.

pub mod charts;
mod csrf;
mod error;
pub mod genealogy_graph;
pub mod i18n;
mod layout;
mod pages;
mod session;

pub use error::PageError;
pub use i18n::{Catalogues, Lang};
pub use pages::PAGES;
pub use session::{LANG_COOKIE, POLL_HEADER, SESSION_COOKIE};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use pilotline_app::App;
use std::sync::Arc;

/// What every page shares.
#[derive(Clone)]
pub struct WebState {
    /// The application layer: every page calls it, and nothing else.
    pub app: App,
    /// The message catalogues.
    pub catalogues: Arc<Catalogues>,
}

impl WebState {
    /// The web interface over `app`.
    pub fn new(app: App) -> Self {
        Self {
            app,
            catalogues: Catalogues::shared(),
        }
    }
}

/// The largest form body read (a sign-in, a track-out's readings); a design file streams.
pub const MAX_FORM: usize = 64 * 1024;

/// The web interface's routes, under `/ui`, and `/` sending a browser there.
pub fn router(state: WebState) -> Router {
    use pages::{assets, auth, floor, lot, manager, people, portal, tools, units, wip};
    let ui = Router::new()
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/lang", post(auth::switch_lang))
        .route("/static/{file}", get(assets::file))
        .route("/wip", get(wip::page))
        .route("/lots/{id}", get(lot::page))
        .route("/lots/{id}/{action}", post(lot::act))
        .route("/floor", get(floor::page).post(floor::scan))
        .route("/tools", get(tools::board))
        .route("/tools/live", get(tools::live))
        .route("/tools/{id}", get(tools::tool))
        .route("/portal", get(portal::home))
        .route("/shuttles/{id}", get(portal::shuttle))
        .route("/shuttles/{id}/book", post(portal::book))
        .route("/bookings/{id}", get(portal::booking))
        .route(
            "/bookings/{id}/designs",
            post(portal::upload).layer(DefaultBodyLimit::max(
                usize::try_from(pilotline_app::MAX_DESIGN_FILE).unwrap_or(usize::MAX),
            )),
        )
        .route("/modules", get(units::list))
        .route("/unit-lots/{id}", get(units::unit_lot))
        .route("/units/{serial}", get(units::unit))
        .route("/dashboard", get(manager::dashboard))
        .route("/yield", get(manager::yields))
        .route("/wafers/{id}", get(manager::wafer))
        .route("/spc", get(manager::charts))
        .route("/spc/{id}", get(manager::chart))
        .route("/tenants/{id}/people", get(people::page).post(people::add))
        .route("/tenants/{id}/people/{name}/status", post(people::status))
        .route("/bookings/{id}/submit", post(portal::submit))
        .route("/bookings/{id}/accept", post(portal::accept))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::guard,
        ));
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/ui/") }))
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::to("/ui/") }),
        )
        .route("/ui/", get(auth::home))
        .nest("/ui", ui)
        .with_state(state)
}
