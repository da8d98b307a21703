//! The move from the embedded default to PostgreSQL: the demo's store (lots through the whole
//! route, holds, splits, MPW shuttles and bookings, test data, the back end's units and
//! modules) plus a tool's samples, copied into a fresh PostgreSQL database. Every table has as
//! many rows on both sides, and what Pilotline reads back — every lot, its history, its
//! genealogy and yield, every test file, every tool's samples, the WIP — hashes the same.
//! A second copy into the now-filled database is refused, and leaves it as it was.

use chrono::{Duration, Utc};
use pilotline_app::{App, LotFilter, NewSample, SampleQuery};
use pilotline_domain::{Actor, Role};
use pilotline_store::testing::TestDb;
use sha2::{Digest, Sha256};

fn admin() -> Actor {
    Actor {
        user: "copy-test".into(),
        role: Role::Admin,
        tenant: None,
    }
}

/// A SHA-256 over what `app` reads back for the line: lots, histories, genealogies, yields,
/// test files, samples and WIP (as the API would serialise them).
async fn fingerprint(app: &App) -> (String, usize, usize) {
    let who = admin();
    let mut h = Sha256::new();
    let mut feed = |v: serde_json::Value| h.update(v.to_string().as_bytes());
    let mut lots = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let filter = LotFilter {
            limit: Some(500),
            after: after.clone(),
            ..LotFilter::default()
        };
        let page = app.lots(&filter, &who).await.unwrap();
        lots.extend(page.items.into_iter().map(|l| l.id.clone()));
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    for id in &lots {
        feed(serde_json::to_value(app.lot(id, &who).await.unwrap()).unwrap());
        feed(serde_json::to_value(app.history(id, &who).await.unwrap()).unwrap());
        feed(serde_json::to_value(app.genealogy(id, &who).await.unwrap()).unwrap());
        if let Ok(y) = app.lot_yield(id, &who).await {
            feed(serde_json::to_value(y).unwrap());
        }
    }
    feed(serde_json::to_value(app.test_files(None, 10_000, &who).await.unwrap()).unwrap());
    feed(serde_json::to_value(app.wip(&who).await.unwrap()).unwrap());
    let mut samples = 0;
    for tool in app.equipment_list(None, &who).await.unwrap() {
        let q = SampleQuery {
            point: None,
            from: None,
            to: None,
            after: None,
            limit: 100_000,
            resolution: pilotline_app::Resolution::Raw,
        };
        if let Ok(page) = app.samples(&tool.id, &q, &who).await {
            samples += page.samples.len();
            feed(serde_json::to_value(&page.samples).unwrap());
        }
    }
    (hex::encode(h.finalize()), lots.len(), samples)
}

/// Rows per table, read straight from each database.
async fn row_counts(url: &str, tables: &[String]) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let mut out = Vec::new();
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for t in tables {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            out.push((t.clone(), n));
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        // The tenant policies apply to the owner too: count as the platform.
        sqlx::query("SELECT set_config('pilotline.tenant', '*', false)")
            .execute(&mut c)
            .await
            .unwrap();
        for t in tables {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            out.push((t.clone(), n));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_store_moves_to_postgresql_whole() {
    let Some(pg) = TestDb::postgres("copy_store_to_postgres").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let from = App::open(&url, &Default::default()).await.unwrap();
    from.migrate().await.unwrap();
    pilotline::demo::seed(&from, dir.path()).await.unwrap();
    // The demo's tools publish samples once it runs; give two of them a day of history here.
    let tools = from.equipment_list(None, &admin()).await.unwrap();
    let start = Utc::now() - Duration::hours(24);
    let mut samples = Vec::new();
    for tool in tools.iter().take(2) {
        for i in 0..1440 {
            samples.push(NewSample {
                equipment: tool.id.clone(),
                point: "chamber_pressure".into(),
                at: pilotline_store::stored_time(start + Duration::minutes(i)),
                number: Some(1.0 + f64::from(i as u32) / 7.0),
                text: None,
            });
        }
    }
    from.record_samples(&samples).await.unwrap();

    let to = App::open(&pg.url, &Default::default()).await.unwrap();
    to.migrate().await.unwrap();
    let report = from.copy_store_into(&to, &admin()).await.unwrap();
    let tables: Vec<String> = report.tables.iter().map(|(t, _)| t.clone()).collect();
    for t in [
        "lots",
        "lot_events",
        "wafers",
        "test_files",
        "samples",
        "bookings",
        "units",
    ] {
        assert!(
            report.tables.iter().any(|(name, n)| name == t && *n > 0),
            "{t} copied with rows: {:?}",
            report.tables
        );
    }
    assert_eq!(
        row_counts(&url, &tables).await,
        row_counts(&pg.url, &tables).await
    );

    let (before, lots, stored) = fingerprint(&from).await;
    let (after, lots_after, stored_after) = fingerprint(&to).await;
    assert!(
        lots >= 10 && stored >= 2 * 1440,
        "{lots} lots, {stored} samples"
    );
    assert_eq!((lots, stored), (lots_after, stored_after));
    assert_eq!(
        before, after,
        "what Pilotline reads back differs after the copy"
    );

    // Served from PostgreSQL, the manager's and engineer's main pages render the moved line.
    pages_render(&to, &pg.url).await;

    // The copy left PostgreSQL's own numbering past the copied ids: new writes work.
    let t = to
        .create_token("after-copy", Role::Engineer, None)
        .await
        .unwrap();
    assert!(!t.is_empty());

    // A second copy is refused whole, and the database is as it was.
    let again = from.copy_store_into(&to, &admin()).await;
    assert!(
        again.is_err(),
        "a copy into a database with rows is refused"
    );
    assert_eq!(fingerprint(&to).await.0, after);

    from.close().await;
    to.close().await;
    pg.cleanup().await;
}

/// Signs a manager in to the web interface served over `app` and opens the main pages.
async fn pages_render(app: &App, url: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The server has pools of its own (it closes them when it stops).
    let own = App::open(url, &Default::default()).await.unwrap();
    let serving = tokio::spawn(pilotline::serve::run(
        own,
        listener,
        async move {
            let _ = stopped.await;
        },
        Default::default(),
    ));
    let password = "moved line manager";
    app.set_password("mona", Role::Manager, None, password)
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(format!("{base}/ui/login"))
        .header("origin", &base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name=mona&password={}", password.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    for page in [
        "/ui/dashboard",
        "/ui/wip",
        "/ui/yield",
        "/ui/tools",
        "/ui/modules",
    ] {
        let res = client
            .get(format!("{base}{page}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "{page} on PostgreSQL: {body:.400}");
    }
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}
