//! Cost as the store grows: the requests a fab makes all day, timed at 1k, 10k, 100k and 1M
//! lots of realistic history, on SQLite and PostgreSQL, and a tool's 1-hour samples with a day
//! and with a month of its history. A line that runs for years must not slow down.
//!
//! Run: `cargo bench -p pilotline-tests --bench scale`
//! Env: `BENCH_SIZES` (comma-separated lot counts, default `1000,10000,100000,1000000`),
//! `BENCH_REQUESTS` (timed requests per figure, default 200), `BENCH_BACKENDS` (default
//! `sqlite,postgres`), `BENCH_SAMPLE_POINTS` (points of the sampled tool, default 5, at 1 Hz),
//! `PILOTLINE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! The store is grown with copies of eleven template lots made through the API, so each
//! generated lot has the documents, wafers, events and readings a real one has: the first
//! 1,000 are WIP, waiting at one of the first nine steps of the example route (1 to 17 events);
//! every later one is finished — one in eight shipped after all 27 steps (56 events), the rest
//! scrapped after FB050 (12 events); each past FB050 has its 15 readings, their times spread a
//! minute apart per lot. Generation is bulk SQL, not timed. Every figure is then
//! measured through the real HTTP server (`pilotline::serve::run`) by one client, request sent
//! to body read, over `BENCH_REQUESTS` requests.

use pilotline_app::App;
use pilotline_domain::Role;
use pilotline_store::testing::TestDb;
use serde_json::{Value, json};
use std::time::Instant;

const ROUTE: &str = include_str!("../../ops/routes/mhp-gas-sensor.toml");
/// Generated lots in WIP (waiting at one of the first nine steps); every later one is finished
/// — a WIP that grows with history is no fab's, it is bounded by the line's capacity.
const WIP_LOTS: usize = 1_000;
/// Untimed requests before each figure.
const WARM_UP: usize = 5;
/// The steps a lot goes through before FB050 (its readings), by tool type.
const BEFORE_FB050: usize = 4;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    base: String,
    client: reqwest::Client,
    eng: String,
    /// The engineer's web session cookie.
    web: String,
    /// A start-up's (customer's) token and web session cookie: its own tenant's data only.
    customer: (String, String),
    db: Db,
    requests: usize,
}

/// A raw connection for generating data.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn exec(&self, sql: String) {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Db::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        }
        .expect("generate data");
    }

    fn pg(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }
}

fn reading(wafer: &str, site: u32, value: f64) -> Value {
    json!({"parameter": "oxide_thickness", "wafer": wafer, "site": site, "value": value})
}

/// The 15 readings of a measured track-out: 5 wafers × 3 sites, in spec and in control.
fn fifteen(lot: &str, k: usize) -> Value {
    let mut r = Vec::new();
    for w in 1..=5 {
        for site in 1..=3 {
            let v = 500.0 + ((k * 7 + w * 3 + site as usize) % 5) as f64 * 0.2 - 0.4;
            r.push(reading(&format!("{lot}-W{w:02}"), site, v));
        }
    }
    json!({"readings": r})
}

impl Bench {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.eng);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// A web page as the signed-in engineer sees it (the whole HTML read).
    async fn page(&self, path: &str) {
        self.page_as(path, &self.web).await
    }

    /// A web page as the session `cookie` sees it (the whole HTML read).
    async fn page_as(&self, path: &str, cookie: &str) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        // An expired session is redirected to the sign-in page, which answers 200 too.
        let landed = res.url().path().to_string();
        let body = res.text().await.unwrap_or_default();
        assert!(status == 200, "page {path}: {status} {body:.300}");
        assert_eq!(
            landed,
            path.split('?').next().unwrap_or(path),
            "page {path} was redirected (session expired?)"
        );
    }

    /// `GET path` as the start-up's token (the whole JSON read).
    async fn customer_get(&self, path: &str) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.customer.0)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        assert!(status == 200, "GET {path}: {status} {body:.300}");
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "POST {path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert!(status < 300, "GET {path}: {status} {body}");
        body
    }

    /// Moves lot `id` through its current step on the step's first tool.
    async fn move_step(&self, id: &str, readings: Option<Value>) {
        let view = self.get(&format!("/api/v1/lots/{id}")).await;
        let tool = format!("{}-01", view["step"]["equipment_type"].as_str().unwrap());
        self.post(
            &format!("/api/v1/lots/{id}/track-in"),
            json!({"equipment": tool}),
        )
        .await;
        self.post(
            &format!("/api/v1/lots/{id}/track-out"),
            readings.unwrap_or(json!({})),
        )
        .await;
    }

    /// p50 and p99 in ms of `f` over the bench's request count.
    async fn time<F, Fut>(&self, mut f: F) -> (f64, f64)
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        // A few untimed requests first: the figure is the steady state, not the first read of
        // pages a bulk load has just written.
        for i in 0..WARM_UP {
            f(self.requests + i).await;
        }
        let mut lat = Vec::with_capacity(self.requests);
        for i in 0..self.requests {
            let t = Instant::now();
            f(i).await;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        percentiles(lat)
    }
}

async fn setup(db: &TestDb, requests: usize) -> (Bench, App) {
    let app = App::open(&db.url, &Default::default()).await.unwrap();
    app.migrate().await.unwrap();
    let eng = app
        .create_token("bench-engineer", Role::Engineer, None)
        .await
        .unwrap();
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
    let web = sign_in(&app, &base, "bench-web", Role::Engineer, None).await;
    let admin = pilotline_domain::Actor {
        user: "bench".into(),
        role: Role::Admin,
        tenant: None,
    };
    let startup = pilotline_domain::Tenant {
        id: "bench-startup".into(),
        name: "Bench start-up".into(),
        status: pilotline_domain::TenantStatus::Active,
    };
    app.create_tenant(&startup, &admin).await.unwrap();
    let customer = (
        app.create_token("bench-customer", Role::Customer, Some("bench-startup"))
            .await
            .unwrap(),
        sign_in(
            &app,
            &base,
            "bench-customer-web",
            Role::Customer,
            Some("bench-startup"),
        )
        .await,
    );
    let raw = if db.url.starts_with("postgres") {
        Db::Postgres(sqlx::PgPool::connect(&db.url).await.unwrap())
    } else {
        Db::Sqlite(sqlx::SqlitePool::connect(&db.url).await.unwrap())
    };
    let b = Bench {
        base,
        client: reqwest::Client::new(),
        eng,
        web,
        customer,
        db: raw,
        requests,
    };
    let spec: pilotline_domain::RouteSpec = toml::from_str(ROUTE).unwrap();
    b.post("/api/v1/routes", serde_json::to_value(&spec).unwrap())
        .await;
    b.post(
        "/api/v1/products",
        json!({"id": "MHP-GS200", "default_route": "MHP-GAS"}),
    )
    .await;
    let mut types: Vec<&str> = spec
        .steps
        .iter()
        .map(|s| s.equipment_type.as_str())
        .collect();
    types.sort_unstable();
    types.dedup();
    for ty in types {
        for n in 1..=2 {
            b.post(
                "/api/v1/equipment",
                json!({"id": format!("{ty}-{n:02}"), "equipment_type": ty, "description": ""}),
            )
            .await;
        }
    }
    b.post(
        "/api/v1/spc/charts",
        json!({"id": "OX-FB050", "parameter": "oxide_thickness", "step": "FB050",
               "chart_type": "xbar_s", "rules": ["nelson1", "nelson2", "nelson3", "nelson5"],
               "action": "hold", "lsl": 480.0, "usl": 520.0, "baseline_points": 20}),
    )
    .await;
    // The templates: TPL0..TPL8 waiting at steps 1..9, TPL9 shipped after the whole route,
    // TPL10 scrapped after FB050.
    for t in 0..=10 {
        let id = format!("TPL{t}");
        b.post(
            "/api/v1/lots",
            json!({"id": id, "product": "MHP-GS200", "wafer_count": 5}),
        )
        .await;
        let steps = match t {
            9 => spec.steps.len(),
            10 => BEFORE_FB050 + 1,
            _ => t,
        };
        for k in 0..steps {
            let readings = (k == BEFORE_FB050).then(|| fifteen(&id, t));
            b.move_step(&id, readings).await;
        }
        match t {
            9 => drop(b.post(&format!("/api/v1/lots/{id}/ship"), json!({})).await),
            10 => drop(
                b.post(
                    &format!("/api/v1/lots/{id}/scrap"),
                    json!({"reason": "engineering lot ended"}),
                )
                .await,
            ),
            _ => {}
        }
    }
    // TPL5's test data: the public sample, when ../shared is here.
    let sample =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/lot2.stdf.gz");
    match sample.exists() {
        true => {
            let admin = pilotline_domain::Actor {
                user: "bench".into(),
                role: Role::Admin,
                tenant: None,
            };
            let upload = pilotline_app::StdfUpload {
                name: "lot2.stdf.gz",
                path: &sample,
                sha256: None,
                lot: Some("TPL5"),
                create_lot: false,
                source: "bench",
            };
            app.import_stdf(upload, &admin).await.unwrap();
        }
        false => println!(
            "*** the lot yield figure has no test data: {} is absent ***",
            sample.display()
        ),
    }
    (b, app)
}

/// Sets `user`'s password and signs in through the login form; answers the session cookie.
async fn sign_in(app: &App, base: &str, user: &str, role: Role, tenant: Option<&str>) -> String {
    app.set_password(user, role, tenant, "bench web password")
        .await
        .unwrap();
    let signed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/ui/login"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name={user}&password=bench+web+password"))
        .send()
        .await
        .unwrap();
    signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// Each template's number and the generated lots (`n.i`) copied from it, as in `grow`'s
/// template expression.
fn templates() -> Vec<(usize, String)> {
    let mut t: Vec<(usize, String)> = (0..9)
        .map(|k| (k, format!("n.i <= {WIP_LOTS} AND n.i % 9 = {k}")))
        .collect();
    t.push((9, format!("n.i > {WIP_LOTS} AND n.i % 8 = 0")));
    t.push((10, format!("n.i > {WIP_LOTS} AND n.i % 8 <> 0")));
    t
}

/// Grows the store from `from` to `to` generated lots (copies of the templates).
async fn grow(b: &Bench, from: usize, to: usize) {
    const BATCH: usize = 50_000;
    b.db.exec(
        "CREATE TABLE IF NOT EXISTS bench_template_runs AS SELECT equipment_id, started_at, \
         lot_id, ended_at FROM equipment_runs WHERE lot_id LIKE 'TPL%'"
            .into(),
    )
    .await;
    b.db.exec(
        "CREATE INDEX IF NOT EXISTS bench_template_runs_lot ON bench_template_runs (lot_id)".into(),
    )
    .await;
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        let (lo, hi) = (start + 1, end);
        let tpl = format!(
            "(CASE WHEN n.i <= {WIP_LOTS} THEN 'TPL' || (n.i % 9) \
             WHEN n.i % 8 = 0 THEN 'TPL9' ELSE 'TPL10' END)"
        );
        let (series, name, at) = if b.db.pg() {
            (
                format!("generate_series({lo}, {hi}) AS n(i)"),
                "('G' || lpad(n.i::text, 8, '0'))".to_string(),
                "m.at - make_interval(mins => n.i)".to_string(),
            )
        } else {
            (
                format!(
                    "(WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}) SELECT i FROM s) AS n"
                ),
                "printf('G%08d', n.i)".to_string(),
                "strftime('%Y-%m-%dT%H:%M:%S', m.at, '-' || n.i || ' minutes') || substr(m.at, 20)"
                    .to_string(),
            )
        };
        let doc = if b.db.pg() {
            format!("replace(t.doc::text, t.id, {name})::jsonb")
        } else {
            format!("replace(t.doc, t.id, {name})")
        };
        let tx = |sql: String| {
            if b.db.pg() {
                sql
            } else {
                format!("BEGIN; {sql}; COMMIT;")
            }
        };
        b.db.exec(tx(format!(
            "INSERT INTO lots (id, product, route_id, route_version, lot_type, priority, tenant, \
             state, step_id, step_index, equipment, held, wafer_count, parent, qtime_deadline, doc, \
             version, created_at, updated_at, event_seq) \
             SELECT {name}, t.product, t.route_id, t.route_version, t.lot_type, t.priority, t.tenant, \
             t.state, t.step_id, t.step_index, t.equipment, t.held, t.wafer_count, t.parent, \
             t.qtime_deadline, {doc}, t.version, t.created_at, t.updated_at, t.event_seq \
             FROM {series} JOIN lots t ON t.id = {tpl}"
        )))
        .await;
        b.db.exec(tx(format!(
            "INSERT INTO wafers (id, lot_id, slot, state) \
             SELECT replace(w.id, w.lot_id, {name}), {name}, w.slot, w.state \
             FROM {series} JOIN wafers w ON w.lot_id = {tpl}"
        )))
        .await;
        b.db.exec(tx(format!(
            "INSERT INTO lot_events (lot_id, seq, at, user_name, role, kind, why, change, \
             before_state, after_state) \
             SELECT {name}, e.seq, e.at, e.user_name, e.role, e.kind, e.why, e.change, \
             e.before_state, e.after_state FROM {series} JOIN lot_events e ON e.lot_id = {tpl}"
        )))
        .await;
        // The templates' tool runs, as the store wrote them for the templates' track-ins and
        // track-outs (from a small copy of them: `equipment_runs` has no index by lot).
        b.db.exec(tx(format!(
            "INSERT INTO equipment_runs (equipment_id, started_at, lot_id, ended_at) \
             SELECT r.equipment_id, r.started_at, {name}, r.ended_at \
             FROM {series} JOIN bench_template_runs r ON r.lot_id = {tpl}"
        )))
        .await;
        // Readings one template at a time, its (few) readings the outer loop: a join on the
        // template expression lets SQLite's planner pick the generated series as the inner
        // table and stall for minutes.
        for (k, which) in templates() {
            b.db.exec(tx(format!(
                "INSERT INTO measurements (lot_id, product, step_id, equipment, recipe, parameter, \
                 wafer, site, value, at, source, by_user) \
                 SELECT {name}, m.product, m.step_id, m.equipment, m.recipe, m.parameter, \
                 replace(m.wafer, m.lot_id, {name}), m.site, m.value, {at}, m.source, m.by_user \
                 FROM measurements m CROSS JOIN {series} WHERE m.lot_id = 'TPL{k}' AND {which}"
            )))
            .await;
        }
        start = end;
    }
    // After a bulk load, fresh statistics on both (years of growth arrive in seconds here; a
    // running line gets them from the hourly maintenance job and autovacuum). On PostgreSQL
    // the bulk load also leaves autovacuum a backlog of millions of fresh rows to visit and
    // gigabytes of dirty buffers to flush, work a running line spreads over months: it is
    // done here, before the timing, so that the figures are the requests' and not a
    // maintenance storm's on two shared cores.
    if b.db.pg() {
        b.db.exec("VACUUM (ANALYZE)".into()).await;
        b.db.exec("CHECKPOINT".into()).await;
    } else {
        b.db.exec("ANALYZE".into()).await;
    }
}

/// What PostgreSQL's background workers are doing (printed around the timed requests, so a
/// figure taken while autovacuum worked through a table says so); `None` on SQLite.
async fn pg_background(b: &Bench) -> Option<String> {
    let Db::Postgres(pool) = &b.db else {
        return None;
    };
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT coalesce(query, '') FROM pg_stat_activity \
         WHERE backend_type = 'autovacuum worker' ORDER BY pid",
    )
    .fetch_all(pool)
    .await
    .expect("read pg_stat_activity");
    Some(if rows.is_empty() {
        "no autovacuum worker running".into()
    } else {
        rows.into_iter()
            .map(|(q,)| q)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// `days` more days of 1 Hz samples of `points` points for FURNACE-01, ending now, in the
/// stored layout (the tool and points numbered first, times in microseconds).
async fn sample_days(b: &Bench, already: u32, days: u32, points: u32) {
    let now = chrono::Utc::now();
    let tool = "(SELECT id FROM sample_tools WHERE equipment_id = 'FURNACE-01')";
    if b.db.pg() {
        b.db.exec(format!(
            "INSERT INTO sample_tools (equipment_id) VALUES ('FURNACE-01') ON CONFLICT DO NOTHING; \
             INSERT INTO sample_points (tool, id, name) SELECT {tool}, p, 'p' || p \
             FROM generate_series(1, {points}) AS p ON CONFLICT DO NOTHING"
        ))
        .await;
    } else {
        b.db.exec(format!(
            "BEGIN; INSERT OR IGNORE INTO sample_tools (equipment_id) VALUES ('FURNACE-01'); \
             WITH RECURSIVE q(p) AS (SELECT 1 UNION ALL SELECT p + 1 FROM q WHERE p < {points}) \
             INSERT OR IGNORE INTO sample_points (tool, id, name) SELECT {tool}, p, 'p' || p FROM q; \
             COMMIT;"
        ))
        .await;
    }
    for d in already..already + days {
        let day_start = (now - chrono::Duration::days(i64::from(d + 1))).timestamp() * 1_000_000;
        let sql = if b.db.pg() {
            format!(
                "INSERT INTO samples (tool, at, point, number) \
                 SELECT {tool}, {day_start} + s::bigint * 1000000, p, random() * 100 \
                 FROM generate_series(0, 86399) AS s, generate_series(1, {points}) AS p \
                 ON CONFLICT DO NOTHING"
            )
        } else {
            format!(
                "BEGIN; WITH RECURSIVE t(s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM t WHERE s < 86399), \
                 q(p) AS (SELECT 1 UNION ALL SELECT p + 1 FROM q WHERE p < {points}) \
                 INSERT OR IGNORE INTO samples (tool, at, point, value) \
                 SELECT {tool}, {day_start} + s * 1000000, p, abs(random() % 10000) / 100.0 FROM t, q; COMMIT;"
            )
        };
        b.db.exec(sql).await;
    }
    b.db.exec("ANALYZE samples".into()).await;
}

/// Lots at FB050 ready for a measured track-in/track-out, made through the API.
async fn at_fb050(b: &Bench, tag: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("{tag}{i:04}");
        b.post(
            "/api/v1/lots",
            json!({"id": id, "product": "MHP-GS200", "wafer_count": 5}),
        )
        .await;
        for _ in 0..BEFORE_FB050 {
            b.move_step(&id, None).await;
        }
        ids.push(id);
    }
    ids
}

fn line(label: &str, what: &str, (p50, p99): (f64, f64)) {
    println!("{label:>9} {what:<44} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms");
}

async fn run_backend(db: TestDb, sizes: &[usize], requests: usize, points: u32) {
    let label = db.label;
    let (mut b, app) = setup(&db, requests).await;
    // The sampled tool: a day, a week, then a month, of its history, rolled up by the job.
    let mut history = Vec::new();
    for (already, days, what) in [(0, 1, "a day"), (1, 6, "a week"), (7, 23, "a month")] {
        sample_days(&b, already, days, points).await;
        let t = Instant::now();
        let run = roll_up(&b, &app).await;
        let rolled = t.elapsed().as_secs_f64();
        let hour = b.time(|_| hour_of_samples(&b, points)).await;
        let thirty = b.time(|_| auto_window(&b, points, 30)).await;
        let day = b.time(|_| auto_window(&b, points, 1)).await;
        println!(
            "{label:>9} rollup job: {days} day(s) of {points} points in {rolled:.1} s \
             ({} transactions, {} buckets)",
            run.slices, run.buckets
        );
        line(
            label,
            &format!("tool's 1-hour samples, {what} of history"),
            hour,
        );
        line(
            label,
            &format!("tool's 30 days, auto, {what} of history"),
            thirty,
        );
        line(
            label,
            &format!("tool's last day, auto, {what} of history"),
            day,
        );
        history.push((hour, thirty, day));
    }
    // Two days later, the default retention (raw 30 days) deletes the oldest two days.
    let t = Instant::now();
    let run = app
        .enforce_retention(chrono::Utc::now() + chrono::Duration::days(2), u64::MAX)
        .await
        .unwrap();
    println!(
        "{label:>9} retention: {} raw samples deleted in {} transactions ({:.1} s), \
         the longest {:.1} ms",
        run.raw,
        run.batches,
        t.elapsed().as_secs_f64(),
        run.longest.as_secs_f64() * 1000.0
    );
    let (day, month) = (history[0], history[2]);
    println!(
        "{label:>9} ratio month / day: 1-hour raw p50 {:.2}, p99 {:.2}; 30-day auto p50 {:.2}, p99 {:.2}; \
         last day auto p50 {:.2}, p99 {:.2}",
        month.0.0 / day.0.0,
        month.0.1 / day.0.1,
        month.1.0 / day.1.0,
        month.1.1 / day.1.1,
        month.2.0 / day.2.0,
        month.2.1 / day.2.1
    );

    let mut grown = 0;
    for &size in sizes {
        let t = Instant::now();
        grow(&b, grown, size).await;
        // The hourly maintenance a running line has had since (on SQLite it is what makes
        // the server's own connections plan with the new statistics).
        app.expire_idempotency_keys().await.unwrap();
        // A growth to 1M lots outlasts the web sessions' 30-minute idle timeout.
        b.web = sign_in(&app, &b.base, "bench-web", Role::Engineer, None).await;
        b.customer.1 = sign_in(
            &app,
            &b.base,
            "bench-customer-web",
            Role::Customer,
            Some("bench-startup"),
        )
        .await;
        grown = size;
        eprintln!(
            "{label}: grown to {size} lots in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        println!("{label:>9} --- {size} lots");
        if let Some(workers) = pg_background(&b).await {
            println!("{label:>9} before timing: {workers}");
        }
        // The same lots at every size: the WIP lots (1–17 events each), so a figure compares
        // one answer as the store grows, not a 56-event history of a shipped lot at 1M with a
        // 9-event one at 1k. `any` reaches over the whole store, finished lots included.
        let pick = |i: usize| format!("G{:08}", 1 + (i * 7919) % WIP_LOTS.min(size));
        let any = |i: usize| format!("G{:08}", 1 + (i * 7919) % size);
        // One untimed read of every WIP lot and its history: a running line reads its WIP all
        // day, so those pages are in the cache; right after a bulk load of 1M lots they are
        // not, and the first timed figure of each would measure the disk, not the query.
        for i in 1..=WIP_LOTS.min(size) {
            drop(b.get(&format!("/api/v1/lots/G{i:08}")).await);
            drop(b.get(&format!("/api/v1/lots/G{i:08}/history")).await);
        }
        line(
            label,
            "GET /lots?state=waiting",
            b.time(|_| async { drop(b.get("/api/v1/lots?state=waiting").await) })
                .await,
        );
        line(
            label,
            "GET /lots/{id}",
            b.time(|i| {
                let p = format!("/api/v1/lots/{}", pick(i));
                let b = &b;
                async move { drop(b.get(&p).await) }
            })
            .await,
        );
        line(
            label,
            "page /ui/lots/{id}",
            b.time(|i| {
                let p = format!("/ui/lots/{}", pick(i));
                let b = &b;
                async move { b.page(&p).await }
            })
            .await,
        );
        line(
            label,
            "GET /lots/{id}/history",
            b.time(|i| {
                let p = format!("/api/v1/lots/{}/history", pick(i));
                let b = &b;
                async move { drop(b.get(&p).await) }
            })
            .await,
        );
        line(
            label,
            "GET /lots/{id}/history, any lot",
            b.time(|i| {
                let p = format!("/api/v1/lots/{}/history", any(i));
                let b = &b;
                async move { drop(b.get(&p).await) }
            })
            .await,
        );
        line(
            label,
            "GET /wip",
            b.time(|_| async { drop(b.get("/api/v1/wip").await) }).await,
        );
        line(
            label,
            "page /ui/wip",
            b.time(|_| async { b.page("/ui/wip").await }).await,
        );
        line(
            label,
            "GET /spc/charts/{id}",
            b.time(|_| async { drop(b.get("/api/v1/spc/charts/OX-FB050").await) })
                .await,
        );
        line(
            label,
            "page /ui/spc/{id}",
            b.time(|_| async { b.page("/ui/spc/OX-FB050").await }).await,
        );
        line(
            label,
            "page /ui/dashboard",
            b.time(|_| async { b.page("/ui/dashboard").await }).await,
        );
        line(
            label,
            "page /ui/floor",
            b.time(|_| async { b.page("/ui/floor").await }).await,
        );
        line(
            label,
            "GET /equipment",
            b.time(|_| async { drop(b.get("/api/v1/equipment").await) })
                .await,
        );
        line(
            label,
            "page /ui/tools",
            b.time(|_| async { b.page("/ui/tools").await }).await,
        );
        line(
            label,
            "GET /yield?group_by=product",
            b.time(|_| async { drop(b.get("/api/v1/yield?group_by=product").await) })
                .await,
        );
        line(
            label,
            "page /ui/yield",
            b.time(|_| async { b.page("/ui/yield").await }).await,
        );
        line(
            label,
            "GET /shuttles (start-up)",
            b.time(|_| async { b.customer_get("/api/v1/shuttles").await })
                .await,
        );
        line(
            label,
            "page /ui/portal (start-up)",
            b.time(|_| async { b.page_as("/ui/portal", &b.customer.1).await })
                .await,
        );
        line(
            label,
            "GET /lots/{id}/yield",
            b.time(|_| async {
                let (s, _) = b
                    .call(reqwest::Method::GET, "/api/v1/lots/TPL5/yield", None)
                    .await;
                assert!(s == 200 || s == 404);
            })
            .await,
        );
        let started = std::sync::Mutex::new(Vec::new());
        line(
            label,
            "POST /lots (generated id)",
            b.time(|_| async {
                let lot = b
                    .post(
                        "/api/v1/lots",
                        json!({"product": "MHP-GS200", "wafer_count": 5}),
                    )
                    .await;
                let id = lot["id"].as_str().expect("a started lot's id").to_string();
                started.lock().unwrap().push(id);
            })
            .await,
        );
        let tag = format!("M{}x", size / 1000);
        let ready = at_fb050(&b, &tag, requests).await;
        let (track_in, track_out) = track_in_and_out(&b, &ready).await;
        line(label, "POST /lots/{id}/track-in", track_in);
        line(label, "POST /lots/{id}/track-out, 15 readings", track_out);
        // The lots the timing started are scrapped, so the WIP of the next size is the same
        // 1,000 lots (a line's WIP is bounded by its capacity).
        let mut done = started.into_inner().unwrap();
        done.extend(ready);
        retire(&b, &done).await;
        if let Some(workers) = pg_background(&b).await {
            println!("{label:>9} after timing: {workers}");
        }
    }
    app.close().await;
    db.cleanup().await;
}

/// Marks the sampled tool's bulk-loaded history as to be rolled up (as storing it through the
/// collector does) and runs the rollup job until it has caught up.
async fn roll_up(b: &Bench, app: &pilotline_app::App) -> pilotline_app::RollupRun {
    let least = if b.db.pg() { "LEAST" } else { "min" };
    // The first sample's time, as the progress marks hold times.
    let first = if b.db.pg() {
        "to_timestamp(MIN(at) / 1000000.0)"
    } else {
        "strftime('%Y-%m-%dT%H:%M:%S', MIN(at) / 1000000, 'unixepoch') || '.000000Z'"
    };
    b.db.exec(format!(
        "INSERT INTO rollup_progress (equipment_id, rolled_1m, rolled_1h) \
         SELECT 'FURNACE-01', {first}, {first} FROM samples \
         WHERE tool = (SELECT id FROM sample_tools WHERE equipment_id = 'FURNACE-01') \
         ON CONFLICT (equipment_id) DO UPDATE SET \
         rolled_1m = {least}(rollup_progress.rolled_1m, excluded.rolled_1m), \
         rolled_1h = {least}(rollup_progress.rolled_1h, excluded.rolled_1h)"
    ))
    .await;
    app.roll_up_samples(chrono::Utc::now(), u64::MAX)
        .await
        .unwrap()
}

/// The sampled tool's last `days` days at the automatic resolution: 1-minute buckets for a day
/// (the same answer whatever the history's length), 1-hour buckets for 30 days.
async fn auto_window(b: &Bench, points: u32, days: i64) {
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::days(days);
    let path = format!(
        "/api/v1/equipment/FURNACE-01/samples?from={}&to={}&resolution=auto&limit=100000",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let v = b.get(&path).await;
    let (resolution, per_point) = if days == 1 {
        ("1m", 1441)
    } else {
        ("1h", 24 * days + 1)
    };
    assert_eq!(v["resolution"], resolution);
    let n = v["buckets"].as_array().unwrap().len();
    assert!(
        n > 0 && n <= per_point as usize * points as usize,
        "{n} buckets"
    );
}

/// One hour of the sampled tool, 12 hours ago.
async fn hour_of_samples(b: &Bench, points: u32) {
    let to = chrono::Utc::now() - chrono::Duration::hours(12);
    let from = to - chrono::Duration::hours(1);
    let path = format!(
        "/api/v1/equipment/FURNACE-01/samples?from={}&to={}&resolution=raw&limit=100000",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let v = b.get(&path).await;
    assert_eq!(
        v["samples"].as_array().unwrap().len(),
        3600 * points as usize
    );
    assert_eq!(v["truncated"], false);
}

/// Scraps `lots` through the API (each a lot the timing started).
async fn retire(b: &Bench, lots: &[String]) {
    for id in lots {
        let (status, body) = b
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/lots/{id}/scrap"),
                Some(json!({"reason": "BENCH"})),
            )
            .await;
        assert!(status < 300, "scrap {id}: {status} {body}");
    }
}

/// Times the track-in on a furnace and the track-out with 15 readings of each lot of `ready`.
async fn track_in_and_out(b: &Bench, ready: &[String]) -> ((f64, f64), (f64, f64)) {
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for (i, id) in ready.iter().enumerate() {
        let t = Instant::now();
        b.post(
            &format!("/api/v1/lots/{id}/track-in"),
            json!({"equipment": "FURNACE-02"}),
        )
        .await;
        ins.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        b.post(&format!("/api/v1/lots/{id}/track-out"), fifteen(id, i))
            .await;
        outs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (percentiles(ins), percentiles(outs))
}

fn percentiles(mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (pct(0.5), pct(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let requests = env_or("BENCH_REQUESTS", 200usize);
    let points = env_or("BENCH_SAMPLE_POINTS", 5u32);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!("Pilotline cost as the store grows: {requests} requests per figure, 2 cores");
    if backends.contains("sqlite") {
        run_backend(TestDb::sqlite(), &sizes, requests, points).await;
    }
    if backends.contains("postgres") {
        match TestDb::postgres("scale_bench").await {
            Some(db) => run_backend(db, &sizes, requests, points).await,
            None => println!("*** SKIPPED PostgreSQL: set PILOTLINE_TEST_POSTGRES_URL ***"),
        }
    }
}
