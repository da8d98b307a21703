//! PostgreSQL: a plain lot move is one version-checked statement without a transaction, and
//! the pool lends connections without pinging them. What must still hold: another writer's
//! change between the move's read and its write leaves nothing half-written and the move is
//! decided again on what was committed; a connection the server closed is not lent again.

use pilotline_domain::{Actor, Code, E10State, LotState, Role};
use pilotline_store::testing::{TestDb, flat_lot, seed_flat_line};
use pilotline_store::{LotCommand, OpenOptions, Outcome, Store, WriteOp};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

fn actor(role: Role) -> Actor {
    Actor {
        user: format!("{role:?}").to_lowercase(),
        role,
        tenant: None,
    }
}

/// A store on a fresh PostgreSQL database with the flat line, one tool (`T0`) and lot `L1`
/// waiting at its first step, and how many events `L1` has.
async fn line_with_one_lot() -> Option<(TestDb, Store, usize)> {
    let db = TestDb::postgres("pg_moves").await?;
    let store = db.store().await.expect("store");
    seed_flat_line(&store, 3, 1).await;
    store
        .execute(
            &WriteOp::StartLot(flat_lot("L1", 5)),
            &actor(Role::Admin),
            None,
        )
        .await
        .expect("start lot");
    let events = store
        .history("L1", &actor(Role::Engineer))
        .await
        .unwrap()
        .len();
    Some((db, store, events))
}

fn track_in(lot: &str, tool: &str) -> WriteOp {
    WriteOp::Lot {
        lot_id: lot.into(),
        command: LotCommand::TrackIn {
            equipment: tool.into(),
            recipe: None,
        },
        if_version: None,
    }
}

/// Waits until a backend of the database at `url` waits for a row lock while running a
/// statement that starts with `prefix` (the move's one statement, blocked by `other`).
async fn until_blocked(url: &str, prefix: &str) {
    let mut watch = PgConnection::connect(url).await.expect("watcher");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND starts_with(query, $1)",
        )
        .bind(prefix)
        .fetch_one(&mut watch)
        .await
        .expect("pg_stat_activity");
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the move never waited for the tool's lock"
        );
        tokio::task::yield_now().await;
    }
}

/// Runs a track-in of `lot` on `T0` while another transaction holds `T0` with `change` made
/// and not yet committed; commits that change once the move waits for it, and answers the
/// move's result.
async fn track_in_across(
    db: &TestDb,
    store: &Store,
    lot: &str,
    change: &'static str,
) -> Result<Outcome, pilotline_store::StoreError> {
    let mut other = PgConnection::connect(&db.url).await.expect("other writer");
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(change))
        .execute(&mut other)
        .await
        .unwrap();
    let (s, op) = (store.clone(), track_in(lot, "T0"));
    let mv = tokio::spawn(async move { s.execute(&op, &actor(Role::Operator), None).await });
    until_blocked(&db.url, "WITH tl AS").await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    mv.await.unwrap()
}

#[tokio::test]
async fn a_tool_taken_down_between_a_moves_read_and_its_write_refuses_it_with_nothing_written() {
    let Some((db, store, events_before)) = line_with_one_lot().await else {
        return;
    };
    let staff = actor(Role::Engineer);

    // The move reads T0 in standby; before its write, another writer takes T0 down.
    let result = track_in_across(
        &db,
        &store,
        "L1",
        "UPDATE equipment SET state = 'unscheduled_down', version = version + 1 WHERE id = 'T0'",
    )
    .await;
    let refusal = result.expect_err("a down tool refuses the track-in");
    assert_eq!(
        refusal.refusal().map(|r| r.code()),
        Some(Code::EquipmentUnavailable),
        "{refusal}"
    );
    let lot = store.lot("L1", &staff).await.unwrap().expect("lot");
    assert_eq!(lot.state, LotState::Waiting);
    assert_eq!(lot.equipment, None);
    assert_eq!(lot.version, 1);
    assert_eq!(
        store.history("L1", &staff).await.unwrap().len(),
        events_before
    );
    let tool = store.equipment("T0").await.unwrap().expect("tool");
    assert_eq!(tool.state, E10State::UnscheduledDown);
    assert_eq!(tool.current_lot, None);
    db.cleanup().await;
}

#[tokio::test]
async fn a_tool_changed_harmlessly_between_a_moves_read_and_its_write_is_moved_once() {
    let Some((db, store, events_before)) = line_with_one_lot().await else {
        return;
    };
    let staff = actor(Role::Engineer);

    // Another writer changes T0 (its description) in between: the move is decided again on
    // the committed tool and goes through, once.
    let result = track_in_across(
        &db,
        &store,
        "L1",
        "UPDATE equipment SET description = 'cleaned', version = version + 1 WHERE id = 'T0'",
    )
    .await;
    let Outcome::Lot(view) = result.expect("track-in") else {
        panic!("a track-in answers the lot");
    };
    assert_eq!(view.state, LotState::Running);
    assert_eq!(view.version, 2);
    let history = store.history("L1", &staff).await.unwrap();
    assert_eq!(history.len(), events_before + 1, "one track-in event");
    let tool = store.equipment("T0").await.unwrap().expect("tool");
    assert_eq!(tool.current_lot.as_deref(), Some("L1"));
    assert_eq!(tool.state, E10State::Productive);
    assert_eq!(tool.description, "cleaned");
    assert_eq!(
        tool.version, 3,
        "seeded 1, the other writer's 2, the move's 3"
    );
    let runs: i64 = {
        let mut c = PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM equipment_runs WHERE equipment_id = 'T0' AND lot_id = 'L1' \
             AND ended_at IS NULL",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
    };
    assert_eq!(runs, 1, "one open run");
    db.cleanup().await;
}

#[tokio::test]
async fn a_connection_the_server_closed_is_not_lent_again() {
    let Some(db) = TestDb::postgres("pg_moves").await else {
        return;
    };
    db.store().await.expect("migrate").close().await;
    let store = Store::open_with(
        &db.url,
        &OpenOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .expect("store");
    store.ping().await.expect("first read");
    // The server ends the pool's one connection (as a restart or failover would).
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(ended, 1, "the pool held one connection");
    // The next read may fail on the dead connection; the one after runs on a new one.
    let first = store.ping().await;
    let second = store.ping().await;
    assert!(
        second.is_ok(),
        "a dead connection was lent again: {first:?} then {second:?}"
    );
    db.cleanup().await;
}
