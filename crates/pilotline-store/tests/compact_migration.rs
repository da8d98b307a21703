//! Upgrading a store that holds samples in the layout before migration 000012: every sample is
//! carried into the compact layout with its exact time and value, on SQLite and PostgreSQL, and
//! the store reads and extends it as usual afterwards.

use chrono::{DateTime, Utc};
use pilotline_store::NewSample;
use pilotline_store::testing::TestDb;
use std::path::Path;

/// The first version of the compact layout.
const COMPACT: i64 = 20261201000012;

/// Applies the backend's migrations before [`COMPACT`] from a copy of them, as an earlier
/// release of Pilotline did.
async fn migrate_before_compact(db: &TestDb, dir: &str) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dir);
    let earlier = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < COMPACT {
            std::fs::copy(&path, earlier.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(earlier.path()).await.unwrap();
    if db.label == "sqlite" {
        let url = format!("{}?mode=rwc", db.url);
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    }
}

/// A row in the layout before: tool, point, time as stored, number, text.
type OldRow = (
    &'static str,
    &'static str,
    &'static str,
    Option<f64>,
    Option<&'static str>,
);

/// The rows the earlier store holds.
const OLD: [OldRow; 5] = [
    (
        "T1",
        "temp",
        "2026-12-01T10:00:00.123456Z",
        Some(20.5),
        None,
    ),
    (
        "T1",
        "temp",
        "2026-12-01T10:00:00.999999Z",
        Some(20.6),
        None,
    ),
    (
        "T1",
        "state",
        "2026-12-01T10:00:26.999999Z",
        None,
        Some("run"),
    ),
    (
        "T1",
        "count",
        "2026-12-01T10:00:27.000000Z",
        Some(3.0),
        None,
    ),
    ("T2", "x", "2026-12-01T10:00:00.000001Z", Some(-1.25), None),
];

async fn insert_old(db: &TestDb) {
    let sql = "INSERT INTO equipment_samples (equipment_id, point, at, number, text) \
               VALUES ($1, $2, $3, $4, $5)";
    if db.label == "sqlite" {
        // SQLite kept times as text.
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        for (tool, point, at, number, text) in OLD {
            let q = sqlx::query(sql).bind(tool).bind(point).bind(at);
            q.bind(number).bind(text).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        for (tool, point, at, number, text) in OLD {
            let at: DateTime<Utc> = at.parse().unwrap();
            let q = sqlx::query(sql).bind(tool).bind(point).bind(at);
            q.bind(number).bind(text).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
}

#[tokio::test]
async fn samples_of_an_earlier_store_are_carried_into_the_compact_layout() {
    for db in TestDb::all("compact_migration").await {
        migrate_before_compact(
            &db,
            if db.label == "sqlite" {
                "sqlite"
            } else {
                "postgres"
            },
        )
        .await;
        insert_old(&db).await;
        let store = db.store().await.unwrap();
        store.migrate().await.unwrap();
        for tool in ["T1", "T2"] {
            let got: Vec<_> = store
                .samples(tool, None, None, None, None, 100)
                .await
                .unwrap()
                .samples
                .into_iter()
                .map(|s| (s.point, s.at, s.number, s.text))
                .collect();
            let mut want: Vec<_> = OLD
                .iter()
                .filter(|o| o.0 == tool)
                .map(|(_, p, at, n, t)| {
                    let at: DateTime<Utc> = at.parse().unwrap();
                    (p.to_string(), at, *n, t.map(str::to_string))
                })
                .collect();
            want.sort_by_key(|w| w.1);
            assert_eq!(got, want, "{} {tool}", db.label);
        }
        // The carried-over points keep their numbers: new samples of them and of a new point
        // are stored beside the old ones, and a replay of an old one is recognised.
        let at: DateTime<Utc> = "2026-12-01T10:01:00Z".parse().unwrap();
        let sample = |point: &str, at: DateTime<Utc>, n: f64| NewSample {
            equipment: "T1".into(),
            point: point.into(),
            at,
            number: Some(n),
            text: None,
        };
        let old_at: DateTime<Utc> = OLD[0].2.parse().unwrap();
        let done = store
            .insert_samples(&[
                sample("temp", at, 21.0),
                sample("pressure", at, 1.5),
                sample("temp", old_at, 20.5),
            ])
            .await
            .unwrap();
        assert_eq!((done.stored, done.replays), (2, 1), "{}", db.label);
        let page = store
            .samples("T1", None, None, None, None, 100)
            .await
            .unwrap();
        assert_eq!(page.samples.len(), 6, "{}", db.label);
        store.close().await;
        db.cleanup().await;
    }
}
