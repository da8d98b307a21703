//! Server render time of each persona's main pages on the demo's data, beside the API call that
//! serves the same data, in the same run, over a real socket.
//!
//! The store is the demo's own (`pilotline::demo::seed` on a fresh embedded store), so the pages
//! show what a newcomer sees in `pilotline demo`. The figure for a page is the time from the
//! request sent to the whole HTML read; for its API twin, to the whole JSON read.
//!
//! Env: `BENCH_REQUESTS` (timed requests per figure, default 200).
//!
//! Run: `cargo bench -p pilotline-tests --bench web_pages`.

use pilotline_app::App;
use pilotline_domain::Role;
use serde_json::Value;
use std::time::Instant;

/// Untimed requests before each figure.
const WARM_UP: usize = 10;

struct Bench {
    base: String,
    client: reqwest::Client,
    requests: usize,
}

/// One persona: its session cookie (pages) and token (API).
struct Persona {
    cookie: String,
    token: String,
}

impl Bench {
    async fn sign_in(&self, app: &App, user: &str, role: Role, tenant: Option<&str>) -> Persona {
        let password = format!("{user} bench password");
        app.set_password(user, role, tenant, &password)
            .await
            .unwrap();
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/ui/login", self.base))
            .header("origin", &self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            // Names and passwords here are letters, digits, hyphens and spaces.
            .body(format!(
                "name={user}&password={}",
                password.replace(' ', "+")
            ))
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        let token = app
            .create_token(&format!("{user}-api"), role, tenant)
            .await
            .unwrap();
        Persona { cookie, token }
    }

    async fn get(&self, path: &str, who: &Persona, page: bool) -> String {
        let req = self.client.get(format!("{}{path}", self.base));
        let req = if page {
            req.header("cookie", &who.cookie)
        } else {
            req.bearer_auth(&who.token)
        };
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        assert!(status == 200, "{path}: {status} {body:.300}");
        body
    }

    async fn json(&self, path: &str, who: &Persona) -> Value {
        serde_json::from_str(&self.get(path, who, false).await).unwrap()
    }

    /// p50 and p99 in ms of `path`.
    async fn time(&self, path: &str, who: &Persona, page: bool) -> (f64, f64) {
        for _ in 0..WARM_UP {
            self.get(path, who, page).await;
        }
        let mut lat = Vec::with_capacity(self.requests);
        for _ in 0..self.requests {
            let t = Instant::now();
            self.get(path, who, page).await;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        let at = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1];
        (at(0.50), at(0.99))
    }
}

#[tokio::main]
async fn main() {
    let requests = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200usize);
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(
        &format!("sqlite://{}", dir.path().join("demo.db").display()),
        &Default::default(),
    )
    .await
    .unwrap();
    app.migrate().await.unwrap();
    pilotline::demo::seed(&app, dir.path()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = app.clone();
    tokio::spawn(async move {
        pilotline::serve::run(
            server,
            listener,
            std::future::pending::<()>(),
            Default::default(),
        )
        .await
        .unwrap();
    });
    let b = Bench {
        base,
        client: reqwest::Client::new(),
        requests,
    };
    let operator = b.sign_in(&app, "bench-otto", Role::Operator, None).await;
    let engineer = b.sign_in(&app, "bench-erin", Role::Engineer, None).await;
    let manager = b.sign_in(&app, "bench-maya", Role::Manager, None).await;
    let customer = b
        .sign_in(&app, "bench-acme", Role::Customer, Some("acme"))
        .await;

    // The objects the pages are about: the demo's busiest lot, its first tool, a wafer with a
    // probe map, the oxide chart, and the start-up's first booking.
    let lots = b.json("/api/v1/lots?limit=500", &engineer).await;
    assert!(!lots["items"].as_array().unwrap().is_empty());
    // A lot that was split (a family to draw), has been measured and moved.
    let lot = "A26005".to_string();
    let tools = b.json("/api/v1/equipment", &engineer).await;
    let tool = tools[0]["id"].as_str().unwrap().to_string();
    let yields = b
        .json("/api/v1/yield?group_by=wafer&stage=probe", &manager)
        .await;
    let (wafer, wafer_lot) = yields
        .as_array()
        .and_then(|rows| rows.first())
        .and_then(|r| r["key"].as_str())
        .and_then(|key| key.split_once('/'))
        .map(|(lot, wafer)| (wafer.to_string(), lot.to_string()))
        .expect("the demo has probed wafers");
    let bookings = b.json("/api/v1/bookings", &customer).await;
    let booking = bookings[0]["id"].as_str().unwrap().to_string();
    let shuttles = b.json("/api/v1/shuttles", &customer).await;
    let shuttle = shuttles[0]["id"].as_str().unwrap().to_string();

    let rows: Vec<(&str, &Persona, String, Option<String>)> = vec![
        ("operator", &operator, "/ui/floor".into(), None),
        (
            "operator",
            &operator,
            "/ui/wip".into(),
            Some("/api/v1/wip".into()),
        ),
        (
            "engineer",
            &engineer,
            format!("/ui/lots/{lot}"),
            Some(format!("/api/v1/lots/{lot}")),
        ),
        (
            "engineer",
            &engineer,
            "/ui/tools".into(),
            Some("/api/v1/equipment".into()),
        ),
        (
            "engineer",
            &engineer,
            format!("/ui/tools/{tool}"),
            Some(format!("/api/v1/equipment/{tool}/states")),
        ),
        ("manager", &manager, "/ui/dashboard".into(), None),
        (
            "manager",
            &manager,
            "/ui/yield".into(),
            Some("/api/v1/yield?group_by=product".into()),
        ),
        (
            "manager",
            &manager,
            format!("/ui/wafers/{wafer}?lot={wafer_lot}"),
            Some(format!("/api/v1/wafers/{wafer}/map?lot={wafer_lot}")),
        ),
        (
            "manager",
            &manager,
            "/ui/spc/OX-THK".into(),
            Some("/api/v1/spc/charts/OX-THK".into()),
        ),
        (
            "customer",
            &customer,
            "/ui/portal".into(),
            Some("/api/v1/shuttles".into()),
        ),
        (
            "customer",
            &customer,
            format!("/ui/shuttles/{shuttle}"),
            Some(format!("/api/v1/shuttles/{shuttle}")),
        ),
        (
            "customer",
            &customer,
            format!("/ui/bookings/{booking}"),
            Some(format!("/api/v1/bookings/{booking}")),
        ),
    ];
    println!("demo data, SQLite, one client, {requests} requests per figure (ms)");
    for (persona, who, page, api) in rows {
        let (p50, p99) = b.time(&page, who, true).await;
        println!("  {persona:<9} page {page:<44} p50 {p50:6.2}  p99 {p99:6.2}");
        if let Some(api) = api {
            let (p50, p99) = b.time(&api, who, false).await;
            println!("  {persona:<9}  API {api:<44} p50 {p50:6.2}  p99 {p99:6.2}");
        }
    }
}
