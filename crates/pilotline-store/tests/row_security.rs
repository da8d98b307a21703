//! PostgreSQL's row-level security is a second wall around the tenant-owned tables — the MPW
//! tables, lots and their test data: a query that forgets the tenant filter still returns no
//! other tenant's rows.

use pilotline_store::testing::TestDb;
use sqlx::Row;

#[tokio::test]
async fn a_query_without_the_tenant_filter_sees_only_its_tenants_rows() {
    let Some(db) = TestDb::postgres("row_security").await else {
        return;
    };
    let store = db.store().await.expect("store");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // The platform (scope `*`) writes one booking for each of two tenants.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('pilotline.tenant', '*', true), set_config('role', 'pilotline_tenant', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    for (id, tenant) in [("S-B1", "acme"), ("S-B2", "beta")] {
        sqlx::query(
            "INSERT INTO bookings (id, shuttle_id, tenant_id, seq, pool, claim, status, quote, created_by, created_at, updated_at) \
             VALUES ($1, 'S', $2, $3, 'slot:1x1', 1, 'confirmed', '{}', 'admin', now(), now())",
        )
        .bind(id)
        .bind(tenant)
        .bind(if tenant == "acme" { 1i64 } else { 2 })
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let visible = |tenant: Option<&'static str>| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT set_config('role', 'pilotline_tenant', true)")
                .execute(&mut *tx)
                .await
                .unwrap();
            if let Some(t) = tenant {
                sqlx::query("SELECT set_config('pilotline.tenant', $1, true)")
                    .bind(t)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            // No tenant filter in the query: the policy alone decides.
            let rows = sqlx::query("SELECT tenant_id FROM bookings ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.get::<String, _>("tenant_id"))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(visible(Some("acme")).await, ["acme"]);
    assert_eq!(visible(Some("beta")).await, ["beta"]);
    assert_eq!(visible(Some("*")).await, ["acme", "beta"]);
    // A transaction that names no tenant sees nothing: the wall fails closed.
    assert!(visible(None).await.is_empty());
    // And a tenant cannot write a row of another tenant.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('pilotline.tenant', 'acme', true), set_config('role', 'pilotline_tenant', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let forged = sqlx::query(
        "INSERT INTO bookings (id, shuttle_id, tenant_id, seq, pool, claim, status, quote, created_by, created_at, updated_at) \
         VALUES ('S-B3', 'S', 'beta', 3, 'slot:1x1', 1, 'confirmed', '{}', 'acme', now(), now())",
    )
    .execute(&mut *tx)
    .await;
    assert!(forged.is_err(), "a row of another tenant was written");
    drop(tx);
    pool.close().await;
    store.close().await;
    db.cleanup().await;
}

/// Runs `sql` in a transaction as `pilotline_tenant` with scope `tenant`; the first column of
/// every row.
async fn seen(pool: &sqlx::PgPool, tenant: &str, sql: &'static str) -> Vec<String> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('pilotline.tenant', $1, true), set_config('role', 'pilotline_tenant', true)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows = sqlx::query(sql).fetch_all(&mut *tx).await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

#[tokio::test]
async fn lots_and_test_data_without_the_tenant_filter_show_only_the_tenants_own() {
    let Some(db) = TestDb::postgres("row_security_lots").await else {
        return;
    };
    let store = db.store().await.expect("store");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // The platform's own session writes lots of acme, beta and the platform, an MPW lot of a
    // shuttle on which acme's design is in fab, and a wafer summary and test file for each.
    for (lot, tenant) in [
        ("L-ACME", Some("acme")),
        ("L-BETA", Some("beta")),
        ("L-PLAT", None),
        ("L-MPW", None),
    ] {
        sqlx::query(
            "INSERT INTO lots (id, product, route_id, route_version, lot_type, priority, tenant, state, \
             step_id, step_index, held, wafer_count, doc, version, event_seq, created_at, updated_at) \
             VALUES ($1, 'P', 'R', 1, 'production', 3, $2, 'waiting', 'S1', 0, false, 1, '{}', 1, 0, now(), now())",
        )
        .bind(lot)
        .bind(tenant)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO test_wafers (lot_id, stage, wafer, dies, results) VALUES ($1, 'probe', 'W1', ''::bytea, ''::bytea)")
            .bind(lot)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO test_files (id, name, lot_id, file_lot, part_type, stage, test_code, source, \
             bytes, part_results, imported_at, imported_by) \
             VALUES ($1, 'f.stdf', $2, $2, 'P', 'probe', 'WS1', 'test', 1, 0, now(), 'admin')",
        )
        .bind(format!("sha-{lot}"))
        .bind(lot)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO mpw_lots (lot_id, shuttle_id) VALUES ('L-MPW', 'S')")
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('pilotline.tenant', '*', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO bookings (id, shuttle_id, tenant_id, seq, pool, claim, status, quote, created_by, created_at, updated_at) \
         VALUES ('S-B1', 'S', 'acme', 1, 'slot:1x1', 1, 'in_fab', '{}', 'admin', now(), now())",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // No tenant filter in any query: the policies alone decide.
    let lots = "SELECT id FROM lots ORDER BY id";
    let wafers = "SELECT lot_id FROM test_wafers ORDER BY lot_id";
    let files = "SELECT lot_id FROM test_files ORDER BY lot_id";
    for sql in [lots, wafers, files] {
        // Acme: its own lot and the MPW lot its design is on.
        assert_eq!(seen(&pool, "acme", sql).await, ["L-ACME", "L-MPW"], "{sql}");
        assert_eq!(seen(&pool, "beta", sql).await, ["L-BETA"], "{sql}");
        assert_eq!(seen(&pool, "*", sql).await.len(), 4, "{sql}");
        assert!(
            seen(&pool, "", sql).await.is_empty(),
            "{sql}: no scope, no rows"
        );
    }
    // A tenant's session cannot write a lot of another tenant either.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('pilotline.tenant', 'acme', true), set_config('role', 'pilotline_tenant', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let forged = sqlx::query("UPDATE lots SET priority = 1 WHERE id = 'L-BETA'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        forged.rows_affected(),
        0,
        "beta's lot was changed from acme's session"
    );
    drop(tx);
    pool.close().await;
    store.close().await;
    db.cleanup().await;
}
