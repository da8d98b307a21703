//! Signing in to the web interface against a real server over real SQLite and, when
//! configured, PostgreSQL: wrong passwords and the throttle, sessions that end at sign-out
//! (here and everywhere), at the idle timeout and when the user is disabled, polling that does
//! not keep a session alive, forms from other sites refused, refusals in the viewer's language,
//! and a customer kept to its own tenant's lots.

use pilotline_app::{App, LotCommand, NewLotRequest, WriteOp};
use pilotline_domain::{Actor, LotType, Product, Role, Tenant, TenantStatus};
use pilotline_store::testing::{FLAT_PRODUCT, FLAT_ROUTE, TestDb, seed_flat_line};
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

struct Web {
    base: String,
    client: reqwest::Client,
    app: App,
    db: TestDb,
    task: tokio::task::JoinHandle<()>,
}

struct Answer {
    status: StatusCode,
    body: String,
    cookie: Option<String>,
    location: Option<String>,
}

impl Web {
    async fn start(db: TestDb) -> Web {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let store = db.store().await.expect("store");
        seed_flat_line(&store, 3, 2).await;
        for id in ["acme", "beta"] {
            store
                .put_tenant(&Tenant {
                    id: id.into(),
                    name: id.into(),
                    status: TenantStatus::Active,
                })
                .await
                .unwrap();
        }
        let app = App::new(store);
        let eng = Actor {
            user: "seed".into(),
            role: Role::Engineer,
            tenant: None,
        };
        app.execute(
            &WriteOp::PutProduct(Product {
                id: "ACME-P".into(),
                description: String::new(),
                default_route: FLAT_ROUTE.into(),
                tenant: Some("acme".into()),
            }),
            &eng,
        )
        .await
        .unwrap();
        for (id, product, tenant) in [
            ("L1", FLAT_PRODUCT, None),
            ("ACME-1", "ACME-P", Some("acme")),
        ] {
            let req = NewLotRequest {
                id: Some(id.into()),
                product: product.into(),
                route: None,
                route_version: None,
                lot_type: LotType::Production,
                priority: 3,
                tenant: tenant.map(str::to_string),
                due_date: None,
                wafer_count: 2,
                wafer_ids: None,
            };
            app.execute(&WriteOp::StartLot(req), &eng).await.unwrap();
        }
        for (name, role, tenant) in [
            ("olga", Role::Operator, None),
            ("erin", Role::Engineer, None),
            ("acme", Role::Customer, Some("acme")),
            ("beta", Role::Customer, Some("beta")),
            ("acme-admin", Role::TenantAdmin, Some("acme")),
        ] {
            app.set_password(name, role, tenant, PASSWORD)
                .await
                .unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = pilotline_web::router(pilotline_web::WebState::new(app.clone()));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Web {
            base,
            client,
            app,
            db,
            task,
        }
    }

    async fn stop(self) {
        self.task.abort();
        self.app.close().await;
        self.db.cleanup().await;
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let res = req.send().await.unwrap();
        let status = res.status();
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("pilotline_session=") && !v.contains("Max-Age=0"))
            .map(|v| v.split(';').next().unwrap().to_string());
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status,
            body: res.text().await.unwrap(),
            cookie,
            location,
        }
    }

    async fn post(&self, path: &str, cookie: Option<&str>, origin: &str, form: &str) -> Answer {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        self.send(req).await
    }

    async fn get(&self, path: &str, cookie: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    async fn sign_in(&self, name: &str, password: &str) -> Answer {
        let form = format!("name={name}&password={}", password.replace(' ', "+"));
        self.post("/ui/login", None, &self.base.clone(), &form)
            .await
    }

    async fn session(&self, name: &str) -> String {
        self.session_with(name, PASSWORD).await
    }

    async fn session_with(&self, name: &str, password: &str) -> String {
        let a = self.sign_in(name, password).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        a.cookie.expect("a session cookie")
    }

    /// Runs `sql` on the server's database over a connection of its own (to age a session
    /// without waiting for its timeout).
    async fn sql(&self, sql: String) {
        if self.db.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

fn code_of(body: &str) -> Option<&str> {
    let at = body.find("data-code=\"")? + "data-code=\"".len();
    body[at..].split('"').next()
}

fn minutes_ago(db: &TestDb, minutes: i64) -> String {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
    if db.url.starts_with("postgres") {
        format!("'{}'", at.to_rfc3339())
    } else {
        format!("'{}'", at.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_alike_and_throttled() {
    for db in TestDb::all("web_sign_in").await {
        let w = Web::start(db).await;
        let unknown = w.sign_in("nobody", PASSWORD).await;
        let wrong = w.sign_in("erin", "not the password").await;
        for a in [&unknown, &wrong] {
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
            assert_eq!(code_of(&a.body), Some("sign_in_failed"));
            assert!(a.cookie.is_none());
        }
        for _ in 0..4 {
            w.sign_in("erin", "not the password").await;
        }
        // Locked now: even the right password is refused for a while.
        let locked = w.sign_in("erin", PASSWORD).await;
        assert_eq!(
            locked.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            locked.body
        );
        assert_eq!(code_of(&locked.body), Some("sign_in_throttled"));
        // Another user is not affected.
        assert_eq!(
            w.sign_in("olga", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_sign_out_at_the_idle_timeout_and_when_its_user_is_disabled() {
    for db in TestDb::all("web_sessions").await {
        let w = Web::start(db).await;
        let base = w.base.clone();
        // Sign-out ends this session only; "everywhere" ends them all.
        let (a, b) = (w.session("erin").await, w.session("erin").await);
        assert_eq!(w.get("/ui/wip", &a, &[]).await.status, StatusCode::OK);
        let out = w.post("/ui/logout", Some(&a), &base, "").await;
        assert_eq!(out.location.as_deref(), Some("/ui/login"));
        let after = w.get("/ui/wip", &a, &[]).await;
        assert_eq!(after.status, StatusCode::SEE_OTHER);
        assert_eq!(
            after.location.as_deref(),
            Some("/ui/login?next=%2Fui%2Fwip")
        );
        assert_eq!(w.get("/ui/wip", &b, &[]).await.status, StatusCode::OK);
        let c = w.session("erin").await;
        w.post("/ui/logout", Some(&b), &base, "everywhere=on").await;
        assert_eq!(
            w.get("/ui/wip", &c, &[]).await.status,
            StatusCode::SEE_OTHER
        );

        // Idle for 20 minutes: a poll answers but does not extend the session; a page does.
        let s = w.session("olga").await;
        w.sql(format!(
            "UPDATE web_sessions SET last_seen_at = {} WHERE user_name = 'olga'",
            minutes_ago(&w.db, 20)
        ))
        .await;
        let poll = w
            .get("/ui/tools/live", &s, &[("x-pilotline-poll", "1")])
            .await;
        assert_eq!(poll.status, StatusCode::OK, "{}", poll.body);
        w.sql(format!(
            "UPDATE web_sessions SET last_seen_at = {} WHERE user_name = 'olga' AND last_seen_at < {}",
            minutes_ago(&w.db, 31),
            minutes_ago(&w.db, 19)
        ))
        .await;
        let idle = w.get("/ui/wip", &s, &[]).await;
        assert_eq!(
            idle.status,
            StatusCode::SEE_OTHER,
            "the poll kept the session alive"
        );

        let t = w.session("olga").await;
        w.sql(format!(
            "UPDATE web_sessions SET last_seen_at = {} WHERE user_name = 'olga'",
            minutes_ago(&w.db, 20)
        ))
        .await;
        assert_eq!(w.get("/ui/wip", &t, &[]).await.status, StatusCode::OK);
        w.sql(format!(
            "UPDATE web_sessions SET last_seen_at = {} WHERE user_name = 'olga' AND last_seen_at < {}",
            minutes_ago(&w.db, 31),
            minutes_ago(&w.db, 19)
        ))
        .await;
        assert_eq!(
            w.get("/ui/wip", &t, &[]).await.status,
            StatusCode::OK,
            "a page view keeps the session alive"
        );

        // A disabled user's session stops on its next request.
        let admin = Actor {
            user: "admin".into(),
            role: Role::Admin,
            tenant: None,
        };
        w.app.set_user_disabled("olga", true, &admin).await.unwrap();
        assert_eq!(
            w.get("/ui/wip", &t, &[]).await.status,
            StatusCode::SEE_OTHER
        );
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_from_another_site_are_refused_and_change_nothing() {
    for db in TestDb::all("web_csrf").await {
        let w = Web::start(db).await;
        let s = w.session("olga").await;
        let hold = "reason_code=ENG&comment=forged";
        let forged = w
            .post("/ui/lots/L1/hold", Some(&s), "https://evil.example", hold)
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert_eq!(code_of(&forged.body), Some("cross_origin_refused"));
        let cross = w
            .send(
                w.client
                    .post(format!("{}/ui/lots/L1/hold", w.base))
                    .header("cookie", &s)
                    .header("sec-fetch-site", "cross-site")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(hold),
            )
            .await;
        assert_eq!(code_of(&cross.body), Some("cross_origin_refused"));
        let reader = Actor {
            user: "r".into(),
            role: Role::Engineer,
            tenant: None,
        };
        assert!(w.app.lot("L1", &reader).await.unwrap().holds.is_empty());
        // The same form from the site itself is carried out.
        let base = w.base.clone();
        let own = w.post("/ui/lots/L1/hold", Some(&s), &base, hold).await;
        assert_eq!(own.status, StatusCode::SEE_OTHER, "{}", own.body);
        assert_eq!(w.app.lot("L1", &reader).await.unwrap().holds.len(), 1);
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_terminal_moves_lots_and_refuses_in_the_viewers_language() {
    for db in TestDb::all("web_floor").await {
        let w = Web::start(db).await;
        let base = w.base.clone();
        let s = w.session("olga").await;
        let scan = |form: &'static str| {
            let (s, base) = (s.clone(), base.clone());
            let w = &w;
            async move { w.post("/ui/floor", Some(&s), &base, form).await }
        };
        let tin = scan("lot=L1&tool=T0").await;
        assert_eq!(tin.status, StatusCode::OK, "{}", tin.body);
        assert!(
            tin.body.contains("data-outcome=\"floor-tracked-in\""),
            "{}",
            tin.body
        );
        let tout = scan("lot=L1&tool=T0").await;
        assert!(
            tout.body.contains("data-outcome=\"floor-tracked-out\""),
            "{}",
            tout.body
        );
        let eng = Actor {
            user: "erin".into(),
            role: Role::Engineer,
            tenant: None,
        };
        let lot = w.app.lot("L1", &eng).await.unwrap();
        assert_eq!(lot.step.index, 1);
        let hold = WriteOp::Lot {
            lot_id: "L1".into(),
            command: LotCommand::Hold {
                reason_code: "ENG".into(),
                comment: "look".into(),
            },
            if_version: None,
        };
        w.app.execute(&hold, &eng).await.unwrap();
        let refused = w
            .send(
                w.client
                    .post(format!("{base}/ui/floor"))
                    .header("origin", &base)
                    .header("cookie", &s)
                    .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("lot=L1&tool=T0"),
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert_eq!(code_of(&refused.body), Some("lot_held"));
        assert!(
            refused.body.contains("须先解除所有暂停"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("<html lang=\"zh-CN\">"));
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_sees_its_own_tenants_lots_only() {
    for db in TestDb::all("web_tenants").await {
        let w = Web::start(db).await;
        let acme = w.session("acme").await;
        let beta = w.session("beta").await;
        assert_eq!(
            w.get("/ui/lots/ACME-1", &acme, &[]).await.status,
            StatusCode::OK
        );
        for (who, path) in [(&beta, "/ui/lots/ACME-1"), (&acme, "/ui/lots/L1")] {
            let a = w.get(path, who, &[]).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(code_of(&a.body), Some("lot_not_found"));
        }
        let wip = w.get("/ui/wip", &beta, &[]).await;
        assert!(
            !wip.body.contains("ACME-1") && !wip.body.contains(">L1<"),
            "{}",
            wip.body
        );
        let floor = w.get("/ui/floor", &acme, &[]).await;
        assert_eq!(floor.status, StatusCode::FORBIDDEN);
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_adds_people_who_sign_in_and_cannot_take_anyone_elses_name() {
    for db in TestDb::all("web_people").await {
        let w = Web::start(db).await;
        let base = w.base.clone();
        let admin = w.session("acme-admin").await;
        let page = w.get("/ui/tenants/acme/people", &admin, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(">acme<"), "{}", page.body);
        let add = w
            .post(
                "/ui/tenants/acme/people",
                Some(&admin),
                &base,
                "name=ada&role=customer&password=ada+long+password",
            )
            .await;
        assert_eq!(add.status, StatusCode::SEE_OTHER, "{}", add.body);
        assert_eq!(
            w.sign_in("ada", "ada long password").await.status,
            StatusCode::SEE_OTHER
        );
        // Another tenant's user, and a platform user, are not the tenant admin's to take.
        for taken in ["beta", "erin"] {
            let form = format!("name={taken}&role=customer&password=a+long+password+too");
            let a = w
                .post("/ui/tenants/acme/people", Some(&admin), &base, &form)
                .await;
            assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
            assert_eq!(code_of(&a.body), Some("user_name_taken"));
        }
        assert_eq!(
            w.sign_in("beta", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        // Disabling a person ends its sessions.
        let ada = w.session_with("ada", "ada long password").await;
        let off = w
            .post(
                "/ui/tenants/acme/people/ada/status",
                Some(&admin),
                &base,
                "disabled=true",
            )
            .await;
        assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
        assert_eq!(
            w.get("/ui/portal", &ada, &[]).await.status,
            StatusCode::SEE_OTHER
        );
        // Another tenant's people, and anyone who is not an admin.
        assert_eq!(
            w.get("/ui/tenants/beta/people", &admin, &[]).await.status,
            StatusCode::NOT_FOUND
        );
        let acme = w.session("acme").await;
        let denied = w.get("/ui/tenants/acme/people", &acme, &[]).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        assert_eq!(code_of(&denied.body), Some("role_forbidden"));
        w.stop().await;
    }
}
