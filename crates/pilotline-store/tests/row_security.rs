//! PostgreSQL's row-level security is a second wall around the tenant-owned MPW tables: a
//! query that forgets the tenant filter still returns no other tenant's rows.

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
