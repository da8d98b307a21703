//! SQLite's planner statistics reach every connection: a reader opened while every lot was
//! WIP must not go on scanning every lot for the WIP once the line has a history.

use pilotline_store::testing::{TestDb, reader_plans};

/// The WIP read's shape (`Store::wip` for a platform user).
const WIP_SQL: &str = "SELECT route_id, route_version, step_index, state, COUNT(*) AS lots, \
    CAST(SUM(wafer_count) AS BIGINT) AS wafers FROM lots \
    WHERE state IN ('waiting', 'running') GROUP BY route_id, route_version, step_index, state";

/// Adds lots `from..to` in `state` straight into the file (no route or product rows: the raw
/// connection has foreign keys off).
async fn add_lots(raw: &sqlx::SqlitePool, from: u32, to: u32, state: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to}) \
         INSERT INTO lots (id, product, route_id, route_version, lot_type, priority, tenant, \
         state, step_id, step_index, equipment, held, wafer_count, parent, qtime_deadline, doc, \
         version, event_seq, created_at, updated_at) \
         SELECT printf('L%07d', i), 'P', 'R', 1, 'production', 3, NULL, '{state}', \
         'S' || (i % 9), i % 9, NULL, 0, 25, NULL, NULL, '{{}}', 1, 1, \
         '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM n"
    )))
    .execute(raw)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_plans_with_the_statistics_of_the_last_optimize() {
    let db = TestDb::sqlite();
    let store = db.store().await.unwrap();
    let raw = sqlx::SqlitePool::connect_with(
        db.url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .foreign_keys(false),
    )
    .await
    .unwrap();

    // A new line: every lot is WIP, and the statistics say so.
    add_lots(&raw, 1, 1_000, "waiting").await;
    store.optimize().await.unwrap();
    let young = reader_plans(&store, WIP_SQL).await.unwrap();
    assert!(
        young.iter().all(|p| p.contains("SCAN lots")),
        "with every lot WIP the statistics make a scan the plan; a reader that opened before \
         they were taken plans otherwise: {young:?}"
    );

    // Years later: 100 finished lots for each WIP lot, then the hourly maintenance.
    add_lots(&raw, 1_001, 101_000, "scrapped").await;
    store.optimize().await.unwrap();
    let grown = reader_plans(&store, WIP_SQL).await.unwrap();
    assert!(!grown.is_empty());
    for plan in &grown {
        assert!(
            plan.contains("SEARCH lots USING INDEX"),
            "a reader still plans with the statistics of the new line: {plan}"
        );
    }
    raw.close().await;
}
