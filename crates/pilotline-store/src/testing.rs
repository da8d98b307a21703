//! Support for tests that run against real databases: a fresh SQLite file, and a fresh
//! PostgreSQL database on the server named by `PILOTLINE_TEST_POSTGRES_URL`.
//!
//! Without that variable the PostgreSQL half of a test is skipped and says so loudly on stderr;
//! with `PILOTLINE_REQUIRE_POSTGRES=1` (set by CI) a missing server fails the test instead.

use rand::RngCore;
use std::path::PathBuf;

use crate::{Store, StoreError};

/// Environment variable naming the PostgreSQL server tests use.
pub const POSTGRES_URL_VAR: &str = "PILOTLINE_TEST_POSTGRES_URL";
/// Environment variable that turns a skipped PostgreSQL test into a failure.
pub const REQUIRE_POSTGRES_VAR: &str = "PILOTLINE_REQUIRE_POSTGRES";

/// A database created for one test; dropped (PostgreSQL) or deleted (SQLite) by [`TestDb::cleanup`].
#[derive(Debug)]
pub struct TestDb {
    /// URL to open the database with.
    pub url: String,
    /// Short name for messages: `sqlite` or `postgres`.
    pub label: &'static str,
    admin_url: Option<String>,
    db_name: Option<String>,
    _dir: Option<tempfile_dir::Dir>,
}

mod tempfile_dir {
    /// A directory removed on drop.
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl TestDb {
    /// A fresh SQLite database file in a new temporary directory.
    pub fn sqlite() -> TestDb {
        let dir: PathBuf = std::env::temp_dir().join(format!("pilotline-test-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let url = format!("sqlite://{}", dir.join("pilotline.db").display());
        TestDb {
            url,
            label: "sqlite",
            admin_url: None,
            db_name: None,
            _dir: Some(tempfile_dir::Dir(dir)),
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a loud note) when no server is configured.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {POSTGRES_URL_VAR} is not set but {REQUIRE_POSTGRES_VAR}=1");
            }
            eprintln!(
                "\n*** SKIPPED the PostgreSQL half of {test}: set {POSTGRES_URL_VAR} \
                 (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it ***\n"
            );
            return None;
        };
        let name = format!("pilotline_test_{}", random_suffix());
        let pool = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("{test}: cannot reach PostgreSQL at {POSTGRES_URL_VAR}: {e}")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create test database");
        pool.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _))
                if base.contains("://")
                    && base.split("://").nth(1).is_some_and(|r| !r.is_empty()) =>
            {
                format!("{base}/{name}")
            }
            _ => format!("{admin_url}/{name}"),
        };
        Some(TestDb {
            url,
            label: "postgres",
            admin_url: Some(admin_url),
            db_name: Some(name),
            _dir: None,
        })
    }

    /// Every backend available to this test run: SQLite always, PostgreSQL when configured.
    pub async fn all(test: &str) -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres(test).await);
        dbs
    }

    /// Opens and migrates a store on this database.
    pub async fn store(&self) -> Result<Store, StoreError> {
        let store = Store::open(&self.url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Drops the PostgreSQL database (the SQLite directory goes when `self` is dropped).
    pub async fn cleanup(self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.db_name)
            && let Ok(pool) = sqlx::PgPool::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&pool)
            .await;
            pool.close().await;
        }
    }
}

/// A route `id` of `steps` fabrication steps (`S000`, `S001`, …), every one run on tools of
/// type `equipment_type`: the flow load tests and benchmarks move lots through.
pub fn flat_route(id: &str, equipment_type: &str, steps: usize) -> pilotline_domain::RouteSpec {
    pilotline_domain::RouteSpec {
        id: id.into(),
        name: format!("{id} ({steps} steps)"),
        description: None,
        rework_limit: 3,
        steps: (0..steps)
            .map(|i| pilotline_domain::Step {
                id: format!("S{i:03}"),
                name: format!("step {i}"),
                stage: pilotline_domain::Stage::Fabrication,
                equipment_type: equipment_type.into(),
                recipe: "R".into(),
                qtime_max_minutes: None,
                qtime_action: Default::default(),
                bom: vec![],
                measurements: vec![],
            })
            .collect(),
    }
}

/// The route [`seed_flat_line`] stores.
pub const FLAT_ROUTE: &str = "FLAT";
/// The product [`seed_flat_line`] stores, made on [`FLAT_ROUTE`].
pub const FLAT_PRODUCT: &str = "FLAT-P";

/// Stores a line load tests and benchmarks move lots on: [`FLAT_ROUTE`] of `steps` steps,
/// [`FLAT_PRODUCT`], and `tools` tools `T0`, `T1`, … that run every step, so client `c` can
/// move its own lots on `T{c}` without waiting for anyone's tool.
pub async fn seed_flat_line(store: &Store, steps: usize, tools: usize) {
    let eng = pilotline_domain::Actor {
        user: "load".into(),
        role: pilotline_domain::Role::Engineer,
        tenant: None,
    };
    let route = flat_route(FLAT_ROUTE, FLAT_ROUTE, steps);
    store
        .execute(&crate::WriteOp::PutRoute(route), &eng, None)
        .await
        .expect("route");
    let product = pilotline_domain::Product {
        id: FLAT_PRODUCT.into(),
        description: String::new(),
        default_route: FLAT_ROUTE.into(),
        tenant: None,
    };
    store
        .execute(&crate::WriteOp::PutProduct(product), &eng, None)
        .await
        .expect("product");
    for t in 0..tools {
        let tool = crate::WriteOp::PutEquipment {
            id: format!("T{t}"),
            equipment_type: FLAT_ROUTE.into(),
            description: String::new(),
        };
        store.execute(&tool, &eng, None).await.expect("tool");
    }
}

/// A production lot of `wafer_count` wafers of [`FLAT_PRODUCT`] with the id `id`, to start on
/// the line [`seed_flat_line`] stores.
pub fn flat_lot(id: &str, wafer_count: usize) -> crate::NewLotRequest {
    crate::NewLotRequest {
        id: Some(id.into()),
        product: FLAT_PRODUCT.into(),
        route: None,
        route_version: None,
        lot_type: pilotline_domain::LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count,
        wafer_ids: None,
    }
}

/// SQLite's plan for `sql` on every reader of `store` at once (so no reader is left out):
/// `EXPLAIN QUERY PLAN`'s lines, joined, one string per reader. Empty on PostgreSQL.
pub async fn reader_plans(store: &Store, sql: &str) -> Result<Vec<String>, StoreError> {
    let crate::Backend::Sqlite { read, .. } = &store.backend else {
        return Ok(Vec::new());
    };
    let mut held = Vec::new();
    for _ in 0..read.options().get_max_connections() {
        held.push(read.acquire().await?);
    }
    let mut plans = Vec::new();
    for conn in &mut held {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&mut **conn)
                .await?;
        plans.push(rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; "));
    }
    Ok(plans)
}
