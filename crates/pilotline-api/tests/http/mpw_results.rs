//! What start-ups get back from an MPW shuttle, over HTTP: per-design yields, Paretos and
//! wafer maps from a probe file of the MPW lot (each tenant sees its own dies only), the lot's
//! progress and delivery forecast, and a tenant admin managing its own people.

use crate::harness::Server;
use crate::mpw::open_shuttle;
use pilotline_domain::Code;
use pilotline_mpw::precheck::sample;
use pilotline_yield::PartResult;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Books a 1×1 slot for the tenant of admin `who`, uploads a good design, submits it and has
/// the engineer accept it; returns the booking id.
async fn accepted_booking(s: &Server, shuttle: &str, who: &str) -> String {
    let b = s
        .post(
            who,
            &format!("/api/v1/shuttles/{shuttle}/bookings"),
            json!({"space": {"kind": "slot", "slot": "1x1"}}),
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED, "{who}: {}", b.body);
    let id = b.body["id"].as_str().unwrap().to_string();
    let r = s
        .raw(
            who,
            &format!("/api/v1/bookings/{id}/designs?name=die.gds"),
            "application/octet-stream",
            sample::design(2_000, 2_000, &[1]),
        )
        .await;
    assert_eq!(r.body["verdict"]["passed"], true, "{}", r.body);
    let a = s
        .post(
            who,
            &format!("/api/v1/bookings/{id}/submit"),
            json!({"revision": 1}),
        )
        .await;
    assert_eq!(a.body["status"], "precheck_passed", "{}", a.body);
    let a = s
        .post(
            "engineer",
            &format!("/api/v1/bookings/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(a.body["status"], "accepted", "{}", a.body);
    id
}

/// A die's first test in the generated probe file fails when `(3x + 5y) % 7 == 0`.
fn fails_first(x: i16, y: i16) -> bool {
    (3 * i32::from(x) + 5 * i32::from(y)).rem_euclid(7) == 0
}

pub fn part(wafer: &str, x: i16, y: i16, failed: bool) -> PartResult {
    PartResult {
        wafer: wafer.into(),
        x,
        y,
        site: 0,
        hard_bin: if failed { 7 } else { 1 },
        soft_bin: if failed { 7 } else { 1 },
        failed_flag: failed,
        flag_invalid: false,
        test_time_ms: 5,
        part_id: String::new(),
    }
}

/// Per occupant key (booking id, or `platform` for test structures): its die positions.
pub fn owners(layout: &Value) -> BTreeMap<String, BTreeSet<(i16, i16)>> {
    let placements = layout["placements"].as_array().unwrap();
    let mut out: BTreeMap<String, BTreeSet<(i16, i16)>> = BTreeMap::new();
    for d in layout["dies"].as_array().unwrap() {
        let p = &placements[d["placement"].as_u64().unwrap() as usize];
        let key = p["occupant"]["booking"]
            .as_str()
            .unwrap_or("platform")
            .to_string();
        out.entry(key).or_default().insert((
            d["x"].as_i64().unwrap() as i16,
            d["y"].as_i64().unwrap() as i16,
        ));
    }
    out
}

/// An SVG checked as a renderer would take it: well-formed XML, an `svg` root in the SVG
/// namespace with a view box, every die and design drawn inside it (field outlines may run
/// past the wafer's edge and are clipped); returns the `die …` titles.
fn rendered_dies(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let vb: Vec<f64> = root
        .attribute("viewBox")
        .expect("a view box")
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let mut dies = Vec::new();
    for r in root.descendants().filter(|n| n.has_tag_name("rect")) {
        let Some(title) = r.children().find(|c| c.has_tag_name("title")) else {
            continue;
        };
        let num = |a: &str| r.attribute(a).unwrap().parse::<f64>().unwrap();
        let (x, y, w, h) = (num("x"), num("y"), num("width"), num("height"));
        assert!(
            w > 0.0 && h > 0.0 && x >= vb[0] - 0.01 && y >= vb[1] - 0.01,
            "{x} {y} {w} {h}"
        );
        assert!(x + w <= vb[0] + vb[2] + 0.01 && y + h <= vb[1] + vb[3] + 0.01);
        if let Some(text) = title.text().filter(|t| t.starts_with("die ")) {
            dies.push(text.to_string());
        }
    }
    dies
}

/// The die positions of a wafer map answer.
pub fn map_dies(map: &Value) -> BTreeSet<(i16, i16)> {
    map["dies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["x"].as_i64().unwrap() as i16,
                d["y"].as_i64().unwrap() as i16,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_design_yield_and_maps_match_a_hand_count() {
    for s in Server::all("mpw_per_design").await {
        s.seed().await;
        open_shuttle(&s, "MPW-Y", 10).await;
        // A third start-up, with an admin the platform admin creates for it.
        let a = s
            .post(
                "admin",
                "/api/v1/tenants",
                json!({"id": "gamma", "name": "Gamma Micro", "status": "active"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let a = s
            .post(
                "admin",
                "/api/v1/tenants/gamma/users",
                json!({"name": "gamma-admin", "role": "tenant_admin"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let gamma = a.body["token"].as_str().unwrap().to_string();
        let s = s.with_token("gamma-admin", gamma);

        let mut bookings = BTreeMap::new();
        for (tenant, who) in [
            ("acme", "acme-admin"),
            ("beta", "beta-admin"),
            ("gamma", "gamma-admin"),
        ] {
            bookings.insert(tenant, accepted_booking(&s, "MPW-Y", who).await);
        }
        let l = s
            .post("engineer", "/api/v1/shuttles/MPW-Y/close", json!({}))
            .await;
        assert_eq!(l.status, StatusCode::OK, "{}", l.body);
        let st = s
            .post("engineer", "/api/v1/shuttles/MPW-Y/start", json!({}))
            .await;
        assert_eq!(st.status, StatusCode::OK, "{}", st.body);
        let lot = st.body["lot"].as_str().unwrap().to_string();
        let layout = s.get("engineer", "/api/v1/shuttles/MPW-Y/layout").await;
        let owned = owners(&layout.body["layout"]);
        assert_eq!(owned.len(), 4, "three designs and the test structures");
        // The layout's pictures: every die drawn on the wafer, each design's slot on the
        // reticle; a tenant's names its own design only.
        let all_dies = layout.body["layout"]["dies"].as_array().unwrap().len();
        for who in ["engineer", "acme"] {
            let wafer_svg = s
                .get(who, "/api/v1/shuttles/MPW-Y/layout?format=svg&view=wafer")
                .await;
            assert_eq!(wafer_svg.content_type, "image/svg+xml");
            let text = wafer_svg.body.as_str().unwrap();
            assert_eq!(rendered_dies(text).len(), all_dies, "{who}");
            let reticle = s
                .get(who, "/api/v1/shuttles/MPW-Y/layout?format=svg&view=reticle")
                .await;
            let text = reticle.body.as_str().unwrap().to_string();
            rendered_dies(&text);
            for (tenant, b) in &bookings {
                let named = text.contains(&format!(">{b}<"));
                assert_eq!(named, who == "engineer" || *tenant == "acme", "{who}: {b}");
            }
        }

        // One probe file: wafer 1 every die, some retested.
        let wafer = format!("{lot}-W01");
        let mut parts = Vec::new();
        for dies in owned.values() {
            for &(x, y) in dies {
                parts.push(part(&wafer, x, y, fails_first(x, y)));
            }
        }
        // Every other failing die of each design is retested and passes.
        let mut retested = BTreeSet::new();
        for dies in owned.values() {
            for &(x, y) in dies.iter().filter(|&&(x, y)| fails_first(x, y)).step_by(2) {
                retested.insert((x, y));
                parts.push(part(&wafer, x, y, false));
            }
        }
        let mut bytes = Vec::new();
        pilotline_yield::write_parts(&mut bytes, &lot, "MHP-GS200", "WS1", &parts).unwrap();
        let a = s
            .raw(
                "engineer",
                &format!("/api/v1/test-files?name=probe.stdf&lot={lot}"),
                "application/octet-stream",
                bytes,
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);

        // Hand count per design: dies, passing at first test, passing at the end.
        let count = |dies: &BTreeSet<(i16, i16)>| {
            let n = dies.len() as u64;
            let first = dies.iter().filter(|&&(x, y)| !fails_first(x, y)).count() as u64;
            let last = dies
                .iter()
                .filter(|&&(x, y)| !fails_first(x, y) || retested.contains(&(x, y)))
                .count() as u64;
            (n, first, last)
        };
        let rollup = s
            .get(
                "engineer",
                &format!("/api/v1/yield?group_by=design&lot={lot}"),
            )
            .await;
        assert_eq!(rollup.status, StatusCode::OK, "{}", rollup.body);
        let got: BTreeMap<String, (u64, u64, u64)> = rollup
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let y = &g["summary"];
                (
                    g["key"].as_str().unwrap().to_string(),
                    (
                        y["dies"].as_u64().unwrap(),
                        y["first_pass_dies"].as_u64().unwrap(),
                        y["final_pass_dies"].as_u64().unwrap(),
                    ),
                )
            })
            .collect();
        let mut want: BTreeMap<String, (u64, u64, u64)> = bookings
            .iter()
            .map(|(t, b)| (format!("{t}/{b}"), count(&owned[b])))
            .collect();
        want.insert("platform/MHP-GS200".into(), count(&owned["platform"]));
        assert_eq!(got, want, "{}", s.label);
        assert!(
            want.values()
                .all(|&(n, first, last)| n > 0 && first < n && last > first),
            "the generated file fails and retests some dies of every design: {want:?}"
        );

        for (tenant, who) in [("acme", "acme"), ("beta", "beta"), ("gamma", "gamma-admin")] {
            let mine = &bookings[tenant];
            // Each tenant's roll-up holds its own design only.
            let y = s
                .get(who, &format!("/api/v1/yield?group_by=design&lot={lot}"))
                .await;
            let keys: Vec<&str> = y
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["key"].as_str().unwrap())
                .collect();
            assert_eq!(keys, [format!("{tenant}/{mine}")], "{who}: {}", y.body);
            // Its wafer map, stacked map and lot yield: its own dies, every other one masked.
            let map = s
                .get(who, &format!("/api/v1/wafers/{wafer}/map?lot={lot}"))
                .await;
            assert_eq!(map.status, StatusCode::OK, "{who}: {}", map.body);
            assert_eq!(map_dies(&map.body), owned[mine], "{who}'s wafer map");
            let svg = s
                .get(
                    who,
                    &format!("/api/v1/wafers/{wafer}/map?lot={lot}&format=svg"),
                )
                .await;
            assert!(svg.body.as_str().unwrap().starts_with("<svg"), "{who}");
            let stacked = s.get(who, &format!("/api/v1/lots/{lot}/map")).await;
            assert_eq!(
                stacked.body["sites"].as_array().map(Vec::len),
                Some(owned[mine].len()),
                "{who}: {}",
                stacked.body
            );
            let ly = s.get(who, &format!("/api/v1/lots/{lot}/yield")).await;
            assert_eq!(ly.body["summary"]["dies"], owned[mine].len(), "{}", ly.body);
            assert_eq!(ly.body["files"], json!([]), "the file holds others' dies");
            let pareto = s.get(who, &format!("/api/v1/bins/pareto?lot={lot}")).await;
            assert_eq!(pareto.body["dies"], owned[mine].len(), "{}", pareto.body);
            // Another tenant's design, asked for by name, is not there.
            let other = if tenant == "acme" {
                &bookings["beta"]
            } else {
                &bookings["acme"]
            };
            let a = s
                .get(
                    who,
                    &format!("/api/v1/wafers/{wafer}/map?lot={lot}&design={other}"),
                )
                .await;
            a.problem(StatusCode::NOT_FOUND, Code::WaferNotFound);
            let a = s
                .get(
                    who,
                    &format!("/api/v1/yield?group_by=design&design={other}"),
                )
                .await;
            assert_eq!(a.body, json!([]), "{who}");
            // The lot itself stays the platform's.
            let a = s.get(who, &format!("/api/v1/lots/{lot}")).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND);
        }
        // Staff narrow a map to one design.
        let b = &bookings["beta"];
        let map = s
            .get(
                "manager",
                &format!("/api/v1/wafers/{wafer}/map?lot={lot}&design={b}"),
            )
            .await;
        assert_eq!(map_dies(&map.body), owned[b]);
        let full = s
            .get("manager", &format!("/api/v1/wafers/{wafer}/map?lot={lot}"))
            .await;
        let all: BTreeSet<(i16, i16)> = owned.values().flatten().copied().collect();
        assert_eq!(map_dies(&full.body), all);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecast_moves_as_the_lot_moves_and_is_held() {
    for s in Server::all("mpw_forecast").await {
        s.seed().await;
        open_shuttle(&s, "MPW-F", 10).await;
        let id = accepted_booking(&s, "MPW-F", "acme-admin").await;
        // Before the shuttle starts: the promise, no progress yet.
        let f = s
            .get("acme", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        assert_eq!(f.status, StatusCode::OK, "{}", f.body);
        assert!(f.body["progress"].is_null() && f.body["forecast"].is_null());
        let promised = f.body["promised"].clone();
        s.post("engineer", "/api/v1/shuttles/MPW-F/close", json!({}))
            .await;
        let st = s
            .post("engineer", "/api/v1/shuttles/MPW-F/start", json!({}))
            .await;
        let lot = st.body["lot"].as_str().unwrap().to_string();
        let steps = s.route.steps.len() as u64;

        let f0 = s
            .get("acme", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        assert_eq!(f0.body["promised"], promised);
        assert_eq!(f0.body["progress"]["lot"], lot.as_str());
        assert_eq!(f0.body["progress"]["steps_done"], 0);
        assert_eq!(f0.body["progress"]["steps_total"], steps);
        assert_eq!(f0.body["forecast"]["steps_left"], steps);
        assert_eq!(
            f0.body["forecast"]["unmeasured_steps"], steps,
            "{}",
            f0.body
        );

        // One step done: the line has measured it, one step fewer is left.
        s.move_step(&lot).await;
        let f1 = s
            .get("acme", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        assert_eq!(f1.body["progress"]["steps_done"], 1, "{}", f1.body);
        assert_eq!(f1.body["forecast"]["steps_left"], steps - 1);
        // The step just done is no longer ahead.
        assert_eq!(f1.body["forecast"]["unmeasured_steps"], steps - 1);
        let e0: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(f0.body["forecast"]["expected"].clone()).unwrap();
        let e1: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(f1.body["forecast"]["expected"].clone()).unwrap();
        // The unmeasured steps now count at the line's measured mean (seconds here) instead
        // of a day each: the forecast comes in by days.
        assert!(e1 < e0 - chrono::Duration::days(1), "{e0} → {e1}");
        // The booking view carries the same.
        let v = s.get("acme", &format!("/api/v1/bookings/{id}")).await;
        assert_eq!(v.body["delivery"]["progress"]["steps_done"], 1);

        // A hold shows.
        let h = s
            .post(
                "engineer",
                &format!("/api/v1/lots/{lot}/holds"),
                json!({"reason_code": "ENG-REVIEW", "comment": "check the oxide"}),
            )
            .await;
        assert_eq!(h.status, StatusCode::CREATED, "{}", h.body);
        let f2 = s
            .get("acme", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        assert_eq!(f2.body["progress"]["held"], true);
        assert_eq!(f2.body["forecast"]["held"], true);
        // Another tenant cannot follow acme's booking.
        let a = s
            .get("beta-admin", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        a.problem(StatusCode::NOT_FOUND, Code::BookingNotFound);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_tenant_admin_manages_its_own_people_only() {
    for s in Server::all("mpw_tenant_people").await {
        // Acme's admin adds a member; the token works, as a member.
        let a = s
            .post(
                "acme-admin",
                "/api/v1/tenants/acme/users",
                json!({"name": "acme-lab", "role": "customer"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let token = a.body["token"].as_str().unwrap().to_string();
        let s = s.with_token("acme-lab", token);
        let a = s.get("acme-lab", "/api/v1/bookings").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let a = s.get("acme-admin", "/api/v1/tenants/acme/users").await;
        let names: Vec<&str> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["acme", "acme-admin", "acme-lab"], "{}", a.body);
        // It cannot give a platform role, take over another's user, or touch beta.
        let a = s
            .post(
                "acme-admin",
                "/api/v1/tenants/acme/users",
                json!({"name": "x", "role": "admin"}),
            )
            .await;
        a.problem(StatusCode::UNPROCESSABLE_ENTITY, Code::TenantRequired);
        for name in ["engineer", "beta"] {
            let a = s
                .post(
                    "acme-admin",
                    "/api/v1/tenants/acme/users",
                    json!({"name": name, "role": "tenant_admin"}),
                )
                .await;
            a.problem(StatusCode::CONFLICT, Code::UserTaken);
        }
        let a = s.get("engineer", "/api/v1/lots").await;
        assert_eq!(a.status, StatusCode::OK, "the engineer keeps its role");
        for (method, path, body) in [
            (reqwest::Method::GET, "/api/v1/tenants/beta/users", None),
            (
                reqwest::Method::POST,
                "/api/v1/tenants/beta/users",
                Some(json!({"name": "mole", "role": "customer"})),
            ),
            (
                reqwest::Method::POST,
                "/api/v1/tenants/beta/users/beta/status",
                Some(json!({"disabled": true})),
            ),
        ] {
            let a = s
                .call("acme-admin", method.clone(), path, body.clone())
                .await;
            a.problem(StatusCode::NOT_FOUND, Code::TenantNotFound);
            // A member manages nobody.
            let a = s.call("acme", method, path, body).await;
            a.problem(StatusCode::FORBIDDEN, Code::RoleForbidden);
        }
        // Disabling its member with its tokens revoked: refused from the next request on.
        let a = s
            .post(
                "acme-admin",
                "/api/v1/tenants/acme/users/acme-lab/status",
                json!({"disabled": true, "revoke_tokens": true}),
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
        let a = s.get("acme-lab", "/api/v1/bookings").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        // A user of another tenant is not acme's to disable.
        let a = s
            .post(
                "acme-admin",
                "/api/v1/tenants/acme/users/beta/status",
                json!({"disabled": true}),
            )
            .await;
        a.problem(StatusCode::NOT_FOUND, Code::UserNotFound);
        let a = s.get("beta", "/api/v1/bookings").await;
        assert_eq!(a.status, StatusCode::OK);
        s.stop().await;
    }
}
