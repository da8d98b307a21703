//! The OpenAPI 3.1 document, generated from the handlers and types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{
    identity, lots, master, shuttles, spc, system, tenants, testdata, units, wafers,
};

/// Pilotline's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Pilotline MES API", description = "Lot tracking, routes and equipment of the Pilotline MEMS pilot line."),
    paths(
        system::healthz, system::livez, system::metrics,
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
        identity::list, identity::revoke, identity::set_status,
        tenants::list, tenants::create, tenants::set_status,
        tenants::users, tenants::add_user, tenants::set_user_status,
        shuttles::get_line, shuttles::put_line, shuttles::get_layers, shuttles::put_layers,
        shuttles::list, shuttles::create, shuttles::calendar, shuttles::get, shuttles::set_status,
        shuttles::quote, shuttles::shuttle_bookings, shuttles::book, shuttles::close,
        shuttles::approve, shuttles::start, shuttles::layout, shuttles::bookings,
        shuttles::booking, shuttles::booking_quote, shuttles::forecast, shuttles::cancel, shuttles::revisions,
        shuttles::upload, shuttles::submit, shuttles::accept, shuttles::design, shuttles::precheck,
        units::pick_list, units::dice, units::lot_unit_lots, units::lot_where_used, units::run_where_used,
        units::unit_lots, units::unit_lot, units::unit_lot_units, units::unit_transaction,
        units::unit, units::genealogy, units::calibrate, units::get_schema, units::put_schema,
        units::component_lots, units::receive_components, units::build_modules,
    ),
    components(schemas(
        wafers::MapFormat,
        pilotline_app::GroupBy,
        pilotline_app::Stage,
        pilotline_app::Resolution,
        shuttles::LayoutFormat,
        shuttles::LayoutPicture,
        units::PickFormat
    )),
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
        (name = "identity", description = "Tenants, tokens and users"),
        (name = "mpw", description = "MPW shuttles: calendar, bookings, designs, layouts"),
        (name = "back end", description = "Dicing, unit lots, parts, modules, genealogy and recall"),
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

/// The problem answers every operation may give, besides those it declares itself.
fn problem_statuses(path: &str, method: &str) -> Vec<&'static str> {
    if !path.starts_with("/api/v1") {
        return if path == "/metrics" {
            vec!["401", "403"]
        } else {
            vec![]
        };
    }
    let mut statuses = vec!["400", "401", "403", "422"];
    if path.contains('{') {
        statuses.push("404");
    }
    if method != "get" {
        statuses.extend(["409", "413", "415"]);
    }
    statuses.push("503");
    statuses
}

/// `get_lots_id_history` for `GET /api/v1/lots/{id}/history`.
fn operation_id(method: &str, path: &str) -> String {
    let rest = path.trim_start_matches("/api/v1").trim_start_matches('/');
    let words: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_matches(|c| c == '{' || c == '}')
                .replace(['-', '.'], "_")
        })
        .collect();
    format!("{method}_{}", words.join("_"))
}

/// The query parameters each operation documents, by method and path template: what the
/// query guard lets through.
pub fn query_parameters() -> std::collections::HashMap<(String, String), Vec<String>> {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut out = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let names = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            out.insert((method.to_uppercase(), path.clone()), names);
        }
    }
    out
}

/// The document served at `/api/openapi.json`: the generated description, with the problem
/// schema (its `code` lists every refusal code) and every operation's error answers.
pub fn document() -> serde_json::Value {
    use pilotline_domain::Code;
    use serde_json::{Value, json};
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let problem = json!({
        "type": "object",
        "description": "RFC 9457 problem details with Pilotline's stable refusal code.",
        "required": ["type", "title", "status", "detail", "code", "params"],
        "properties": {
            "type": {"type": "string", "description": "https://pilotline.dev/problems/{code}"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "English text rendered from code and params"},
            "code": {"type": "string", "enum": codes, "description": "The stable refusal code"},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    });
    doc["components"]["schemas"]["Problem"] = problem;
    let content =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                // Handler names repeat across modules (`list`, `get`): the id is the
                // operation's method and path, unique by construction.
                op["operationId"] = json!(operation_id(method, path));
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                for status in problem_statuses(path, method) {
                    responses
                        .entry(status)
                        .or_insert_with(|| json!({"description": "refused"}));
                }
                for (status, response) in responses.iter_mut() {
                    if status.starts_with('4') || status.starts_with('5') {
                        if response.get("description").is_none() {
                            response["description"] = json!("refused");
                        }
                        response["content"] = content.clone();
                    }
                }
            }
        }
    }
    doc
}
