//! MPW shuttles over HTTP, as a start-up and the platform's engineers use them: the line's
//! configuration, a shuttle, a booking with its quote, design uploads with prechecks and
//! hashes, acceptance, the layout, the start of the MPW lot, its probe data seen per design and
//! its delivery forecast; 200 concurrent bookings for 50 slots; prechecks that name each
//! fault; the calendar feed.

use crate::harness::Server;
use pilotline_domain::Code;
use pilotline_mpw::precheck::sample;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The line's configuration, the route's layer table and an open shuttle `id` selling
/// `slots` 1×1 slots of a 4 × 4 grid on a 20 mm field, plus area.
pub async fn open_shuttle(s: &Server, id: &str, slots: u32) {
    let line = json!({
        "stepper_field": {"width_um": 20000, "height_um": 20000},
        "wafer": {"diameter_um": 200000, "edge_exclusion_um": 3000, "orientation": {"kind": "notch"}},
        "time_zone": "Asia/Shanghai",
        "test_structures": [{"name": "PCM", "width_um": 4000, "height_um": 4000}]
    });
    let a = s
        .call("engineer", reqwest::Method::PUT, "/api/v1/line", Some(line))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let layers = json!([{"layer": 1, "datatype": 0, "name": "POLY1"}, {"layer": 2, "datatype": 0, "name": "METAL"}]);
    let a = s
        .call(
            "engineer",
            reqwest::Method::PUT,
            "/api/v1/routes/MHP-GAS/layers",
            Some(layers),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let now = chrono::Utc::now();
    let d = |days: i64| (now + chrono::Duration::days(days)).to_rfc3339();
    let shuttle = json!({
        "id": id, "name": format!("Shuttle {id}"), "route": "MHP-GAS", "product": "MHP-GS200", "wafer_count": 2,
        "calendar": {"booking_opens": d(-1), "booking_closes": d(10), "design_deadline": d(20),
                     "drc_freeze": d(25), "fab_start": d(30), "expected_delivery": d(120)},
        "offer": {"currency": "CNY", "seal_ring_um": 20, "scribe_um": 80,
                  "slots": {"columns": 8, "rows": 8, "shapes": [
                      {"id": "1x1", "columns": 1, "rows": 1, "count": slots, "price_minor": 1000000, "dies_delivered": 40}]},
                  "area": {"price_per_mm2_minor": 150000, "min_area_um2": 1000000, "capacity_um2": 50000000, "dies_delivered": 25},
                  "options": [{"id": "dicing", "name": "Dicing", "price_minor": 200000}]}
    });
    let a = s.post("engineer", "/api/v1/shuttles", shuttle).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["status"], "planned");
    let a = s
        .post(
            "engineer",
            &format!("/api/v1/shuttles/{id}/status"),
            json!({"status": "open"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

async fn upload(s: &Server, who: &str, booking: &str, bytes: Vec<u8>) -> crate::harness::Answer {
    s.raw(
        who,
        &format!("/api/v1/bookings/{booking}/designs?name=sensor.gds"),
        "application/octet-stream",
        bytes,
    )
    .await
}

fn failed_checks(verdict: &Value) -> Vec<String> {
    verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_up_books_uploads_and_follows_its_design_into_fab() {
    for s in Server::all("mpw_booking_flow").await {
        s.seed().await;
        open_shuttle(&s, "MPW-1", 10).await;
        // The start-up sees the shuttle, and the price before it books.
        let a = s.get("acme-admin", "/api/v1/shuttles?upcoming=true").await;
        assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.body);
        let ask = json!({"space": {"kind": "slot", "slot": "1x1"}, "options": ["dicing"]});
        let q = s
            .post("acme-admin", "/api/v1/shuttles/MPW-1/quote", ask.clone())
            .await;
        assert_eq!(q.status, StatusCode::OK, "{}", q.body);
        assert_eq!(q.body["total_minor"], 1_200_000);
        // A member may read but not book.
        let a = s
            .post("acme", "/api/v1/shuttles/MPW-1/bookings", ask.clone())
            .await;
        assert_eq!(a.body["code"], Code::RoleForbidden.as_str());
        let b = s
            .post("acme-admin", "/api/v1/shuttles/MPW-1/bookings", ask)
            .await;
        assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
        assert_eq!(b.body["status"], "confirmed");
        assert_eq!(b.body["quote"], q.body);
        let id = b.body["id"].as_str().unwrap().to_string();
        // Design limit: a 2.5 mm cell less the 80 µm scribe is 2,420 µm with the seal ring.
        assert_eq!(
            b.body["quote"]["design_limit"],
            json!({"width_um": 2420, "height_um": 2420})
        );

        // A member uploads a design too large for the slot: recorded, failed, named.
        let big = sample::design(2_400, 1_000, &[1]);
        let r1 = upload(&s, "acme", &id, big).await;
        assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.body);
        assert_eq!(r1.body["revision"], 1);
        assert_eq!(failed_checks(&r1.body["verdict"]), vec!["fits"]);
        // Then a good one; its SHA-256 is that of the bytes sent.
        let good = sample::design(2_000, 1_500, &[1, 2]);
        let sha = hex::encode(Sha256::digest(&good));
        let r2 = upload(&s, "acme", &id, good).await;
        assert_eq!(r2.body["sha256"], sha.as_str());
        assert_eq!(r2.body["verdict"]["passed"], true, "{}", r2.body);
        let design = r2.body["id"].as_str().unwrap().to_string();
        let v = s
            .get("acme", &format!("/api/v1/designs/{design}/precheck"))
            .await;
        assert_eq!(v.body["checks"].as_array().unwrap().len(), 5);
        // Submitting the failed revision moves the booking to precheck_failed; an engineer
        // cannot accept it.
        let a = s
            .post(
                "acme-admin",
                &format!("/api/v1/bookings/{id}/submit"),
                json!({"revision": 1}),
            )
            .await;
        assert_eq!(a.body["status"], "precheck_failed", "{}", a.body);
        let a = s
            .post(
                "engineer",
                &format!("/api/v1/bookings/{id}/accept"),
                json!({}),
            )
            .await;
        assert_eq!(a.body["code"], Code::BookingStateForbids.as_str());
        let a = s
            .post(
                "acme-admin",
                &format!("/api/v1/bookings/{id}/submit"),
                json!({"revision": 2}),
            )
            .await;
        assert_eq!(a.body["status"], "precheck_passed", "{}", a.body);
        // A customer cannot accept its own design.
        let a = s
            .post(
                "acme-admin",
                &format!("/api/v1/bookings/{id}/accept"),
                json!({}),
            )
            .await;
        assert_eq!(a.body["code"], Code::RoleForbidden.as_str());
        let a = s
            .post(
                "engineer",
                &format!("/api/v1/bookings/{id}/accept"),
                json!({}),
            )
            .await;
        assert_eq!(a.body["status"], "accepted", "{}", a.body);
        assert_eq!(a.body["fabricated_sha256"], sha.as_str());

        // Booking closes: the layout places the design; the start creates the MPW lot.
        let l = s
            .post("engineer", "/api/v1/shuttles/MPW-1/close", json!({}))
            .await;
        assert_eq!(l.status, StatusCode::OK, "{}", l.body);
        assert!(
            l.body["bookings"][0]["per_wafer"].as_u64().unwrap() > 50,
            "{}",
            l.body["bookings"]
        );
        let svg = s
            .get("acme", "/api/v1/shuttles/MPW-1/layout?format=svg")
            .await;
        assert_eq!(svg.content_type, "image/svg+xml");
        assert!(svg.body.as_str().unwrap().starts_with("<svg"));
        let st = s
            .post("engineer", "/api/v1/shuttles/MPW-1/start", json!({}))
            .await;
        assert_eq!(st.status, StatusCode::OK, "{}", st.body);
        let lot = st.body["lot"].as_str().unwrap().to_string();
        let lv = s.get("engineer", &format!("/api/v1/lots/{lot}")).await;
        assert_eq!(lv.status, StatusCode::OK, "{}", lv.body);

        // The start-up follows its booking: in fab, the pinned hash, the whole timeline.
        let v = s.get("acme", &format!("/api/v1/bookings/{id}")).await;
        assert_eq!(v.body["status"], "in_fab", "{}", v.body);
        assert_eq!(v.body["fabricated_sha256"], sha.as_str());
        assert_eq!(v.body["lot"], lot.as_str());
        let kinds: Vec<&str> = v.body["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "requested",
                "confirmed",
                "revision_uploaded",
                "revision_uploaded",
                "design_submitted",
                "precheck_failed",
                "design_submitted",
                "precheck_passed",
                "accepted",
                "in_fab"
            ]
        );
        assert!(
            v.body["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["actor"].is_string() && e["at"].is_string())
        );
        // Probe data arrives for the MPW lot: the start-up sees its own design's yield, equal
        // to a count over the file it could not see, and its own dies on the wafer map.
        let layout = s.get("engineer", "/api/v1/shuttles/MPW-1/layout").await;
        let owned = crate::mpw_results::owners(&layout.body["layout"]);
        let wafer = format!("{lot}-W01");
        let fails = |x: i16, y: i16| (x + 2 * y).rem_euclid(5) == 0;
        let parts: Vec<_> = owned
            .values()
            .flatten()
            .map(|&(x, y)| crate::mpw_results::part(&wafer, x, y, fails(x, y)))
            .collect();
        let mut stdf = Vec::new();
        pilotline_yield::write_parts(&mut stdf, &lot, "MHP-GS200", "WS1", &parts).unwrap();
        let a = s
            .raw(
                "engineer",
                &format!("/api/v1/test-files?name=ws1.stdf&lot={lot}"),
                "application/octet-stream",
                stdf,
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let mine = &owned[&id];
        let good = mine.iter().filter(|&&(x, y)| !fails(x, y)).count();
        let y = s
            .get("acme", &format!("/api/v1/yield?group_by=design&lot={lot}"))
            .await;
        assert_eq!(y.body.as_array().unwrap().len(), 1, "{}", y.body);
        assert_eq!(y.body[0]["key"], format!("acme/{id}"));
        assert_eq!(y.body[0]["summary"]["dies"], mine.len());
        assert_eq!(y.body[0]["summary"]["final_pass_dies"], good);
        let map = s
            .get("acme", &format!("/api/v1/wafers/{wafer}/map?lot={lot}"))
            .await;
        assert_eq!(&crate::mpw_results::map_dies(&map.body), mine);
        // It follows the lot's progress and the forecast, which moves as the lot moves.
        let f0 = s
            .get("acme", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        assert_eq!(f0.body["progress"]["steps_done"], 0, "{}", f0.body);
        s.move_step(&lot).await;
        let f1 = s
            .get("acme", &format!("/api/v1/bookings/{id}/forecast"))
            .await;
        assert_eq!(f1.body["progress"]["steps_done"], 1, "{}", f1.body);
        assert_ne!(
            f1.body["forecast"]["expected"],
            f0.body["forecast"]["expected"]
        );
        assert_eq!(f1.body["promised"], f0.body["promised"]);

        // Another tenant sees none of it.
        for path in [
            format!("/api/v1/bookings/{id}"),
            format!("/api/v1/designs/{design}"),
            format!("/api/v1/bookings/{id}/designs"),
        ] {
            let a = s.get("beta-admin", &path).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
        }
        let masked = s.get("beta", "/api/v1/shuttles/MPW-1/layout").await;
        assert!(
            masked.body["layout"]["bookings"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{}",
            masked.body
        );
        assert!(!masked.body.to_string().contains(&id));
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_bookings_for_fifty_slots() {
    for s in Server::all("mpw_capacity").await {
        s.seed().await;
        open_shuttle(&s, "MPW-C", 50).await;
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let who = if i % 2 == 0 {
                    "acme-admin"
                } else {
                    "beta-admin"
                };
                s.post(
                    who,
                    "/api/v1/shuttles/MPW-C/bookings",
                    json!({"space": {"kind": "slot", "slot": "1x1"}}),
                )
                .await
            }));
        }
        let mut confirmed = 0;
        let mut waitlisted = Vec::new();
        for t in tasks {
            let a = t.await.unwrap();
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
            match a.body["status"].as_str().unwrap() {
                "confirmed" => confirmed += 1,
                "waitlisted" => waitlisted.push((
                    a.body["seq"].as_i64().unwrap(),
                    a.body["id"].as_str().unwrap().to_string(),
                )),
                other => panic!("{other}"),
            }
        }
        assert_eq!((confirmed, waitlisted.len()), (50, 150), "{}", s.label);
        let cap = s.get("engineer", "/api/v1/shuttles/MPW-C").await;
        assert_eq!(
            cap.body["capacity"][1],
            json!({"pool": "slot:1x1", "capacity": 50, "taken": 50, "left": 0})
        );
        // Cancelling a confirmed booking promotes the first waitlisted, no other.
        waitlisted.sort();
        let all = s.get("engineer", "/api/v1/shuttles/MPW-C/bookings").await;
        let a_confirmed = all
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["status"] == "confirmed" && b["tenant"] == "acme")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let c = s
            .post(
                "acme-admin",
                &format!("/api/v1/bookings/{a_confirmed}/cancel"),
                json!({"reason": "design not ready"}),
            )
            .await;
        assert_eq!(c.body["status"], "cancelled", "{}", c.body);
        let first = s
            .get("engineer", &format!("/api/v1/bookings/{}", waitlisted[0].1))
            .await;
        assert_eq!(first.body["status"], "confirmed", "{}", first.body);
        assert_eq!(
            first.body["timeline"].as_array().unwrap().last().unwrap()["kind"],
            "promoted"
        );
        let second = s
            .get("engineer", &format!("/api/v1/bookings/{}", waitlisted[1].1))
            .await;
        assert_eq!(second.body["status"], "waitlisted");
        let cap = s.get("engineer", "/api/v1/shuttles/MPW-C").await;
        assert_eq!(cap.body["capacity"][1]["taken"], 50);
        match Arc::try_unwrap(s) {
            Ok(s) => s.stop().await,
            Err(_) => panic!("server still shared"),
        }
    }
}

#[tokio::test]
async fn prechecks_name_each_fault() {
    for s in Server::all("mpw_prechecks").await {
        s.seed().await;
        open_shuttle(&s, "MPW-P", 10).await;
        let b = s
            .post(
                "acme-admin",
                "/api/v1/shuttles/MPW-P/bookings",
                json!({"space": {"kind": "slot", "slot": "1x1"}}),
            )
            .await;
        let id = b.body["id"].as_str().unwrap().to_string();
        let good = sample::design(1_000, 1_000, &[1]);
        let two_tops = {
            use gds21::GdsStruct;
            let mut a = GdsStruct::new("A");
            a.elems.push(sample::rect(1, 0, 0, 100, 100));
            let mut b = GdsStruct::new("B");
            b.elems.push(sample::rect(1, 0, 0, 100, 100));
            sample::library(vec![a, b])
        };
        let empty = sample::library(vec![gds21::GdsStruct::new("TOP")]);
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            (
                "not GDS",
                b"PK\x03\x04 a zip, not a layout".to_vec(),
                "readable",
                "HEADER",
            ),
            (
                "truncated",
                good[..good.len() - 40].to_vec(),
                "readable",
                "truncated",
            ),
            ("two top cells", two_tops, "one_top_cell", "A, B"),
            (
                "too large",
                sample::design(2_500, 100, &[1]),
                "fits",
                "larger than the booked",
            ),
            ("empty", empty, "not_empty", "empty"),
            (
                "unknown layer",
                sample::design(100, 100, &[1, 47]),
                "known_layers",
                "47/0",
            ),
        ];
        for (what, bytes, check, words) in cases {
            let a = upload(&s, "acme", &id, bytes).await;
            assert_eq!(a.status, StatusCode::CREATED, "{what}: {}", a.body);
            let v = &a.body["verdict"];
            assert_eq!(v["passed"], false, "{what}: {v}");
            let c = v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["check"] == check)
                .unwrap();
            assert_eq!(c["passed"], false, "{what}: {v}");
            assert!(c["reason"].as_str().unwrap().contains(words), "{what}: {c}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn late_bookings_need_an_engineers_override_with_a_reason() {
    for s in Server::all("mpw_deadlines").await {
        s.seed().await;
        open_shuttle(&s, "MPW-D", 10).await;
        s.sql("UPDATE shuttles SET booking_closes = booking_opens WHERE id = 'MPW-D'")
            .await;
        let ask = json!({"space": {"kind": "slot", "slot": "1x1"}});
        let a = s
            .post("acme-admin", "/api/v1/shuttles/MPW-D/bookings", ask.clone())
            .await;
        assert_eq!(a.body["code"], Code::DeadlinePassed.as_str(), "{}", a.body);
        let a = s.post("engineer", "/api/v1/shuttles/MPW-D/bookings", json!({"space": {"kind": "slot", "slot": "1x1"}, "tenant": "acme", "override_reason": " "})).await;
        assert_eq!(
            a.body["code"],
            Code::OverrideReasonRequired.as_str(),
            "{}",
            a.body
        );
        let a = s.post("engineer", "/api/v1/shuttles/MPW-D/bookings", json!({"space": {"kind": "slot", "slot": "1x1"}, "tenant": "acme", "override_reason": "agreed at review"})).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let v = s
            .get(
                "acme",
                &format!("/api/v1/bookings/{}", a.body["id"].as_str().unwrap()),
            )
            .await;
        let ov = v.body["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "deadline_overridden")
            .expect("override recorded");
        assert_eq!(ov["detail"]["reason"], "agreed at review");
        assert_eq!(ov["actor"], "engineer");
        s.stop().await;
    }
}

#[tokio::test]
async fn the_calendar_feed_lists_every_date() {
    for s in Server::all("mpw_calendar").await {
        s.seed().await;
        open_shuttle(&s, "MPW-ICS", 10).await;
        let a = s.get("beta", "/api/v1/shuttles/calendar.ics").await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(
            a.content_type.starts_with("text/calendar"),
            "{}",
            a.content_type
        );
        let text = a.body.as_str().unwrap();
        assert_eq!(text.matches("BEGIN:VEVENT").count(), 6, "{text}");
        assert!(text.contains("UID:MPW-ICS-design_deadline@"));
        parsed_by_icalendar(text, 6);
        s.stop().await;
    }
}

/// Every MPW operation, with what a tenant (acme's admin) gets when it names beta's booking,
/// design or the shuttle's staff actions. Routes that carry no tenant's data, or whose answer
/// is filtered to the caller, are checked below the table.
pub const MPW_OPERATIONS: [&str; 30] = [
    "GET /api/v1/line",
    "PUT /api/v1/line",
    "GET /api/v1/routes/{id}/layers",
    "PUT /api/v1/routes/{id}/layers",
    "GET /api/v1/shuttles",
    "POST /api/v1/shuttles",
    "GET /api/v1/shuttles/calendar.ics",
    "GET /api/v1/shuttles/{id}",
    "POST /api/v1/shuttles/{id}/status",
    "POST /api/v1/shuttles/{id}/quote",
    "GET /api/v1/shuttles/{id}/bookings",
    "POST /api/v1/shuttles/{id}/bookings",
    "POST /api/v1/shuttles/{id}/close",
    "GET /api/v1/shuttles/{id}/layout",
    "POST /api/v1/shuttles/{id}/layout/approve",
    "POST /api/v1/shuttles/{id}/start",
    "GET /api/v1/bookings",
    "GET /api/v1/bookings/{id}",
    "GET /api/v1/bookings/{id}/quote",
    "GET /api/v1/bookings/{id}/forecast",
    "POST /api/v1/bookings/{id}/cancel",
    "GET /api/v1/bookings/{id}/designs",
    "POST /api/v1/bookings/{id}/designs",
    "POST /api/v1/bookings/{id}/submit",
    "POST /api/v1/bookings/{id}/accept",
    "GET /api/v1/designs/{id}",
    "GET /api/v1/designs/{id}/precheck",
    "GET /api/v1/tenants/{id}/users",
    "POST /api/v1/tenants/{id}/users",
    "POST /api/v1/tenants/{id}/users/{name}/status",
];

/// A request a tenant tries, and the statuses that count as refused.
type Attempt = (
    reqwest::Method,
    &'static str,
    String,
    Option<Value>,
    &'static [u16],
);

#[tokio::test]
async fn a_tenant_sees_nothing_of_another_tenants_bookings_designs_or_dies() {
    use reqwest::Method;
    for s in Server::all("mpw_tenancy").await {
        s.seed().await;
        open_shuttle(&s, "MPW-T", 10).await;
        let slot = json!({"space": {"kind": "slot", "slot": "1x1"}});
        let mine = s
            .post(
                "acme-admin",
                "/api/v1/shuttles/MPW-T/bookings",
                slot.clone(),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let theirs = s
            .post(
                "beta-admin",
                "/api/v1/shuttles/MPW-T/bookings",
                slot.clone(),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let rev = upload(&s, "beta", &theirs, sample::design(1_000, 1_000, &[1])).await;
        let design = rev.body["id"].as_str().unwrap().to_string();
        let b = |p: &str| p.replace("{b}", &theirs).replace("{d}", &design);
        let attempts: Vec<Attempt> = vec![
            (
                Method::PUT,
                "/api/v1/line",
                b("/api/v1/line"),
                Some(json!({})),
                &[403, 422],
            ),
            (
                Method::GET,
                "/api/v1/routes/{id}/layers",
                b("/api/v1/routes/MHP-GAS/layers"),
                None,
                &[403],
            ),
            (
                Method::PUT,
                "/api/v1/routes/{id}/layers",
                b("/api/v1/routes/MHP-GAS/layers"),
                Some(json!([])),
                &[403],
            ),
            (
                Method::POST,
                "/api/v1/shuttles",
                b("/api/v1/shuttles"),
                Some(json!({})),
                &[403, 422],
            ),
            (
                Method::POST,
                "/api/v1/shuttles/{id}/status",
                b("/api/v1/shuttles/MPW-T/status"),
                Some(json!({"status": "cancelled"})),
                &[403],
            ),
            (
                Method::POST,
                "/api/v1/shuttles/{id}/bookings",
                b("/api/v1/shuttles/MPW-T/bookings"),
                Some(json!({"space": {"kind": "slot", "slot": "1x1"}, "tenant": "beta"})),
                &[403],
            ),
            (
                Method::POST,
                "/api/v1/shuttles/{id}/close",
                b("/api/v1/shuttles/MPW-T/close"),
                Some(json!({})),
                &[403],
            ),
            (
                Method::POST,
                "/api/v1/shuttles/{id}/layout/approve",
                b("/api/v1/shuttles/MPW-T/layout/approve"),
                Some(json!({})),
                &[403],
            ),
            (
                Method::POST,
                "/api/v1/shuttles/{id}/start",
                b("/api/v1/shuttles/MPW-T/start"),
                Some(json!({})),
                &[403],
            ),
            (
                Method::GET,
                "/api/v1/bookings/{id}",
                b("/api/v1/bookings/{b}"),
                None,
                &[404],
            ),
            (
                Method::GET,
                "/api/v1/bookings/{id}/quote",
                b("/api/v1/bookings/{b}/quote"),
                None,
                &[404],
            ),
            (
                Method::GET,
                "/api/v1/bookings/{id}/forecast",
                b("/api/v1/bookings/{b}/forecast"),
                None,
                &[404],
            ),
            (
                Method::GET,
                "/api/v1/tenants/{id}/users",
                b("/api/v1/tenants/beta/users"),
                None,
                &[403, 404],
            ),
            (
                Method::POST,
                "/api/v1/tenants/{id}/users",
                b("/api/v1/tenants/beta/users"),
                Some(json!({"name": "mole", "role": "tenant_admin"})),
                &[403, 404],
            ),
            (
                Method::POST,
                "/api/v1/tenants/{id}/users/{name}/status",
                b("/api/v1/tenants/beta/users/beta-admin/status"),
                Some(json!({"disabled": true, "revoke_tokens": true})),
                &[403, 404],
            ),
            (
                Method::POST,
                "/api/v1/bookings/{id}/cancel",
                b("/api/v1/bookings/{b}/cancel"),
                Some(json!({})),
                &[403, 404],
            ),
            (
                Method::GET,
                "/api/v1/bookings/{id}/designs",
                b("/api/v1/bookings/{b}/designs"),
                None,
                &[404],
            ),
            (
                Method::POST,
                "/api/v1/bookings/{id}/designs",
                b("/api/v1/bookings/{b}/designs"),
                Some(json!({})),
                &[404],
            ),
            (
                Method::POST,
                "/api/v1/bookings/{id}/submit",
                b("/api/v1/bookings/{b}/submit"),
                Some(json!({"revision": 1})),
                &[403, 404],
            ),
            (
                Method::POST,
                "/api/v1/bookings/{id}/accept",
                b("/api/v1/bookings/{b}/accept"),
                Some(json!({})),
                &[403, 404],
            ),
            (
                Method::GET,
                "/api/v1/designs/{id}",
                b("/api/v1/designs/{d}"),
                None,
                &[404],
            ),
            (
                Method::GET,
                "/api/v1/designs/{id}/precheck",
                b("/api/v1/designs/{d}/precheck"),
                None,
                &[404],
            ),
        ];
        // Shown to every tenant alike (no tenant's data), or filtered to the caller.
        let shared = [
            "GET /api/v1/line",
            "GET /api/v1/shuttles",
            "GET /api/v1/shuttles/calendar.ics",
            "GET /api/v1/shuttles/{id}",
            "POST /api/v1/shuttles/{id}/quote",
            "GET /api/v1/shuttles/{id}/bookings",
            "GET /api/v1/shuttles/{id}/layout",
            "GET /api/v1/bookings",
        ];
        let covered: std::collections::BTreeSet<String> = attempts
            .iter()
            .map(|(m, t, ..)| format!("{m} {t}"))
            .chain(shared.iter().map(|x| x.to_string()))
            .collect();
        let listed: std::collections::BTreeSet<String> =
            MPW_OPERATIONS.iter().map(|x| x.to_string()).collect();
        assert_eq!(covered, listed, "every MPW operation has a tenant test");
        let before = s
            .get("engineer", &format!("/api/v1/bookings/{theirs}"))
            .await
            .body;
        for who in ["acme", "acme-admin"] {
            for (method, template, path, body, refused) in &attempts {
                let a = s.call(who, method.clone(), path, body.clone()).await;
                assert!(
                    refused.contains(&a.status.as_u16()),
                    "{} {who}: {method} {template} answered {} {}",
                    s.label,
                    a.status,
                    a.body
                );
                let text = a.body.to_string();
                assert!(
                    !text.contains(&theirs) || path.contains(&theirs),
                    "{template} leaked {text}"
                );
            }
        }
        assert_eq!(
            s.get("engineer", &format!("/api/v1/bookings/{theirs}"))
                .await
                .body,
            before,
            "beta's booking changed"
        );
        // Filtered lists show acme its own booking only.
        for path in ["/api/v1/bookings", "/api/v1/shuttles/MPW-T/bookings"] {
            let a = s.get("acme", path).await;
            let ids: Vec<&str> = a
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, [mine.as_str()], "{path}");
        }
        for path in [
            "/api/v1/shuttles",
            "/api/v1/shuttles/MPW-T",
            "/api/v1/shuttles/calendar.ics",
            "/api/v1/line",
        ] {
            let a = s.get("acme", path).await;
            assert_eq!(a.status, StatusCode::OK, "{path}");
            assert!(!a.body.to_string().contains(&theirs), "{path}");
        }
        let q = s
            .post("acme", "/api/v1/shuttles/MPW-T/quote", slot.clone())
            .await;
        assert_eq!(q.status, StatusCode::OK);
        // After booking closes the layout names acme's design and masks beta's.
        s.post("engineer", "/api/v1/shuttles/MPW-T/close", json!({}))
            .await;
        for format in ["", "?format=svg", "?format=svg&view=reticle"] {
            let a = s
                .get("acme", &format!("/api/v1/shuttles/MPW-T/layout{format}"))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{format}: {}", a.body);
            let text = a.body.to_string();
            assert!(
                !text.contains(&theirs) && !text.contains("beta"),
                "{format} leaked: {text}"
            );
            assert!(text.contains(&mine), "{format}: own design missing");
        }
        s.stop().await;
    }
}

/// The feed read by an independent implementation (`icalendar` from PyPI), strictly: every
/// event has a UID, a DTSTAMP and a start.
fn parsed_by_icalendar(text: &str, events: usize) {
    let available = std::process::Command::new("python3")
        .args(["-c", "import icalendar"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        if std::env::var("PILOTLINE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("icalendar is missing: pip install -r tests/peers/requirements.txt");
        }
        eprintln!(
            "\n*** SKIPPED the icalendar half of the calendar test: pip install -r tests/peers/requirements.txt ***\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shuttles.ics");
    std::fs::write(&file, text).unwrap();
    let script = r#"
import sys, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
assert cal.errors == [], cal.errors
evs = list(cal.walk('VEVENT'))
for e in evs:
    assert not e.errors, e.errors
    for p in ('UID', 'DTSTAMP', 'DTSTART'):
        assert p in e, p
print(len(evs))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        events.to_string()
    );
}
