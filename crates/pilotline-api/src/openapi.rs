//! The OpenAPI 3.1 document, generated from the handlers and types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{lots, master, spc, system, testdata, wafers};

/// Pilotline's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Pilotline MES API", description = "Lot tracking, routes and equipment of the Pilotline MEMS pilot line."),
    paths(
        system::healthz, system::metrics,
        master::create_route, master::list_routes, master::get_route,
        master::create_product, master::list_products,
        master::create_equipment, master::list_equipment, master::get_equipment,
        master::set_equipment_state, master::equipment_states, master::equipment_samples,
        lots::start, lots::list, lots::get, lots::history, lots::process_data, lots::lot_yield, lots::genealogy, wafers::map, wafers::rollup, wafers::stacked, lots::wip,
        testdata::upload, testdata::list, testdata::get, testdata::rejections, testdata::get_bins, testdata::put_bins,
        testdata::pareto, testdata::parametrics,
        spc::record, spc::list, spc::charts, spc::create, spc::chart, spc::recompute,
        lots::track_in, lots::track_out, lots::hold, lots::release, lots::future_hold,
        lots::split, lots::merge, lots::rework, lots::scrap, lots::ship,
    ),
    modifiers(&Security),
    tags(
        (name = "lots", description = "Lots, history, genealogy, WIP"),
        (name = "lot transactions", description = "Every move of a lot; all honour Idempotency-Key"),
        (name = "routes", description = "Versioned process flows"),
        (name = "products", description = "Products"),
        (name = "equipment", description = "Tools and their SEMI E10 states"),
        (name = "yield", description = "Test data, yields and wafer maps"),
        (name = "spc", description = "Metrology readings and SPC charts"),
        (name = "system", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
