//! A real API server on an ephemeral port over a fresh database, with a token per role.

use pilotline_api::{AppState, router};
use pilotline_domain::{Role, RouteSpec};
use pilotline_store::testing::TestDb;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const ROUTE_TOML: &str = include_str!("../../../../ops/routes/mhp-gas-sensor.toml");

pub struct Server {
    pub base: String,
    pub client: Client,
    pub tokens: HashMap<&'static str, String>,
    pub label: &'static str,
    pub route: RouteSpec,
    db: Option<TestDb>,
    blobs: tempfile::TempDir,
    store: pilotline_store::Store,
    task: tokio::task::JoinHandle<()>,
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Server {
    pub async fn start(db: TestDb) -> Server {
        let store = db.store().await.expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Uploads go to a directory of the test's own, whichever backend (PostgreSQL's default
        // is relative to the working directory).
        let blobs = tempfile::tempdir().expect("blob directory");
        let app = router(AppState::new(
            pilotline_app::App::new(store.clone()).with_uploads(
                Some(blobs.path().to_path_buf()),
                pilotline_app::MAX_CONCURRENT_UPLOADS,
            ),
        ));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        for (id, name) in [("acme", "Acme Sensing"), ("beta", "Beta MEMS")] {
            let t = pilotline_domain::Tenant {
                id: id.into(),
                name: name.into(),
                status: pilotline_domain::TenantStatus::Active,
            };
            store.put_tenant(&t).await.unwrap();
        }
        let mut tokens = HashMap::new();
        for (name, role, tenant) in [
            ("admin", Role::Admin, None),
            ("engineer", Role::Engineer, None),
            ("operator", Role::Operator, None),
            ("manager", Role::Manager, None),
            ("acme", Role::Customer, Some("acme")),
            ("beta", Role::Customer, Some("beta")),
            ("acme-admin", Role::TenantAdmin, Some("acme")),
            ("beta-admin", Role::TenantAdmin, Some("beta")),
        ] {
            tokens.insert(name, store.create_token(name, role, tenant).await.unwrap());
        }
        let route: RouteSpec = toml::from_str(ROUTE_TOML).unwrap();
        Server {
            base: format!("http://{addr}"),
            client: Client::new(),
            tokens,
            label: db.label,
            route,
            db: Some(db),
            blobs,
            store,
            task,
        }
    }

    /// Issues a token for `name` with `role` straight in the store (creating the user, or
    /// changing its role), expiring at `expires_at`.
    pub async fn issue(
        &self,
        name: &str,
        role: Role,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        self.store
            .issue_token(name, role, None, expires_at)
            .await
            .unwrap()
    }

    /// The server with one more caller, `name`, signing in with `token`.
    pub fn with_token(mut self, name: &'static str, token: String) -> Server {
        self.tokens.insert(name, token);
        self
    }

    /// The server's store (for tests that set up state through the application layer).
    pub fn store(&self) -> &pilotline_store::Store {
        &self.store
    }

    /// The server's blob directory.
    pub fn blob_dir(&self) -> std::path::PathBuf {
        self.blobs.path().to_path_buf()
    }

    /// Runs `statement` on the server's database over a connection of its own: for tests that
    /// must put the store in a state no API call can (a damaged row, to make a step fail).
    pub async fn sql(&self, statement: &'static str) {
        let url = &self.db.as_ref().expect("database").url;
        if url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// Every backend this run can reach.
    pub async fn all(test: &str) -> Vec<Server> {
        let mut out = Vec::new();
        for db in TestDb::all(test).await {
            out.push(Server::start(db).await);
        }
        out
    }

    pub async fn stop(mut self) {
        self.task.abort();
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }

    pub async fn call(&self, who: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_with(who, method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        who: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = self.tokens.get(who) {
            req = req.bearer_auth(t);
        } else if !who.is_empty() {
            req = req.bearer_auth(who);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        Answer::read(res).await
    }

    pub async fn raw(
        &self,
        who: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.tokens[who])
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        Answer::read(res).await
    }

    pub async fn get(&self, who: &str, path: &str) -> Answer {
        self.call(who, Method::GET, path, None).await
    }

    pub async fn post(&self, who: &str, path: &str, body: Value) -> Answer {
        self.call(who, Method::POST, path, Some(body)).await
    }

    /// Route, products (platform, acme, beta) and two tools of every type, over HTTP.
    pub async fn seed(&self) {
        let a = self
            .post(
                "engineer",
                "/api/v1/routes",
                serde_json::to_value(&self.route).unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        for (id, tenant) in [
            ("MHP-GS200", None),
            ("ACME-GS1", Some("acme")),
            ("BETA-GS1", Some("beta")),
        ] {
            let body =
                json!({"id": id, "description": "", "default_route": "MHP-GAS", "tenant": tenant});
            let a = self.post("engineer", "/api/v1/products", body).await;
            assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        }
        let mut types: Vec<String> = self
            .route
            .steps
            .iter()
            .map(|s| s.equipment_type.clone())
            .collect();
        types.sort();
        types.dedup();
        for ty in types {
            for n in 1..=2 {
                let a = self
                    .post(
                        "engineer",
                        "/api/v1/equipment",
                        json!({"id": format!("{ty}-{n:02}"), "equipment_type": ty}),
                    )
                    .await;
                assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
            }
        }
    }

    pub async fn start_lot(&self, id: &str, product: &str, wafers: usize) -> Value {
        let body = json!({"id": id, "product": product, "route": "MHP-GAS", "wafer_count": wafers,
            "priority": 3, "lot_type": "production"});
        let a = self.post("operator", "/api/v1/lots", body).await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "{}: {:?}",
            self.label,
            a.body
        );
        a.body
    }

    /// Imports a small STDF file for `lot` (three parts on one wafer, one retest that
    /// passes), as an engineer; returns the file's id.
    pub async fn import_test_data(&self, lot: &str) -> String {
        let part = |x: i16, failed_flag: bool| pilotline_yield::PartResult {
            wafer: format!("{lot}-W01"),
            x,
            y: 0,
            site: 0,
            hard_bin: if failed_flag { 5 } else { 1 },
            soft_bin: if failed_flag { 5 } else { 1 },
            failed_flag,
            flag_invalid: false,
            test_time_ms: 10,
            part_id: String::new(),
        };
        let parts = [part(1, false), part(2, true), part(2, false)];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{lot}.stdf"));
        let mut bytes = Vec::new();
        pilotline_yield::write_parts(&mut bytes, lot, "SYNTH", "WS1", &parts).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let upload = pilotline_store::StdfUpload {
            name: &format!("{lot}.stdf"),
            path: &path,
            sha256: None,
            lot: None,
            create_lot: false,
            source: "cli",
        };
        let engineer = pilotline_domain::Actor {
            user: "engineer".into(),
            role: Role::Engineer,
            tenant: None,
        };
        self.store.import_stdf(upload, &engineer).await.unwrap().id
    }

    /// Tracks the lot in and out of its current step on the `-01` tool.
    pub async fn move_step(&self, lot: &str) -> Value {
        let view = self
            .get("operator", &format!("/api/v1/lots/{lot}"))
            .await
            .body;
        let tool = format!("{}-01", view["step"]["equipment_type"].as_str().unwrap());
        let a = self
            .post(
                "operator",
                &format!("/api/v1/lots/{lot}/track-in"),
                json!({"equipment": tool}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", self.label, a.body);
        let a = self
            .post(
                "operator",
                &format!("/api/v1/lots/{lot}/track-out"),
                json!({}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", self.label, a.body);
        a.body
    }
}

impl Answer {
    async fn read(res: reqwest::Response) -> Answer {
        let status = res.status();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        // Every refusal of every route, in every test, carries a code from the catalogue.
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(content_type, "application/problem+json", "{status} {body}");
            let code = body["code"].as_str().unwrap_or_default();
            assert!(
                pilotline_domain::Code::parse(code).is_some(),
                "{status} without a catalogued code: {body}"
            );
        }
        Answer {
            status,
            content_type,
            body,
            headers,
        }
    }

    /// Asserts a problem+json answer with `status` and the refusal code `code` (from the one
    /// catalogue), with a detail rendered for a person.
    pub fn problem(&self, status: StatusCode, code: pilotline_domain::Code) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{:?}",
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16(), "{:?}", self.body);
        assert_eq!(self.body["code"], code.as_str(), "{:?}", self.body);
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.is_empty() && !detail.contains('{'),
            "detail {detail:?} is not rendered"
        );
    }
}
