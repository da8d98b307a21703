//! A backup taken while eight clients move lots is a sound SQLite file holding every lot
//! transaction acknowledged before the backup began.

use pilotline_domain::{Actor, LotType, Role};
use pilotline_store::testing::TestDb;
use pilotline_store::{LotCommand, NewLotRequest, Store, WriteOp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const CLIENTS: usize = 8;

fn engineer() -> Actor {
    Actor {
        user: "erin".into(),
        role: Role::Engineer,
        tenant: None,
    }
}

async fn seed(store: &Store) {
    pilotline_store::testing::seed_flat_line(store, 10, CLIENTS).await;
}

/// Client `c` starts lots and moves them step by step until `stop`; every acknowledged
/// transaction counts one event of its lot in `acked` and adds a permit to `progress`.
async fn client(
    store: Store,
    c: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<HashMap<String, usize>>>,
    progress: Arc<tokio::sync::Semaphore>,
) {
    let eng = engineer();
    let mut generation = 0;
    while !stop.load(Ordering::Relaxed) {
        let lot = format!("K{c}x{generation}");
        let start = WriteOp::StartLot(NewLotRequest {
            id: Some(lot.clone()),
            product: pilotline_store::testing::FLAT_PRODUCT.into(),
            route: None,
            route_version: None,
            lot_type: LotType::Production,
            priority: 3,
            tenant: None,
            due_date: None,
            wafer_count: 5,
            wafer_ids: None,
        });
        store.execute(&start, &eng, None).await.unwrap();
        acked.lock().unwrap().insert(lot.clone(), 1);
        progress.add_permits(1);
        for _ in 0..10 {
            for command in [
                LotCommand::TrackIn {
                    equipment: format!("T{c}"),
                    recipe: None,
                },
                LotCommand::TrackOut {
                    scrap_wafers: vec![],
                    scrap_reason: None,
                    readings: vec![],
                },
            ] {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let op = WriteOp::Lot {
                    lot_id: lot.clone(),
                    command,
                    if_version: None,
                };
                store.execute(&op, &eng, None).await.unwrap();
                *acked.lock().unwrap().get_mut(&lot).unwrap() += 1;
                progress.add_permits(1);
            }
        }
        generation += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_while_lots_move_holds_every_acknowledged_transaction() {
    let db = TestDb::sqlite();
    let store = db.store().await.unwrap();
    seed(&store).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let progress = Arc::new(tokio::sync::Semaphore::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (store, stop, acked, progress) =
                (store.clone(), stop.clone(), acked.clone(), progress.clone());
            tokio::spawn(client(store, c, stop, acked, progress))
        })
        .collect();
    // Let the clients get going: 30 acknowledged transactions each, on average.
    progress
        .acquire_many((CLIENTS * 30) as u32)
        .await
        .unwrap()
        .forget();
    let before = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let bytes = store.backup_to(&copy).await.unwrap();
    assert!(bytes > 0);
    // The clients were still moving lots while the copy was taken.
    let during: usize = acked.lock().unwrap().values().sum();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        during > before.values().sum::<usize>(),
        "no move overlapped the backup"
    );
    // A second backup to the same file is refused: a backup never overwrites.
    assert!(store.backup_to(&copy).await.is_err());

    let restored = Store::open(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    assert_eq!(restored.integrity_check().await.unwrap(), "ok");
    restored.migrate().await.unwrap();
    let eng = engineer();
    for (lot, n) in &before {
        let history = restored.history(lot, &eng).await.unwrap();
        assert!(
            history.len() >= *n,
            "{lot}: {} events restored, {n} acknowledged before the backup",
            history.len()
        );
    }
    restored.close().await;
    store.close().await;
}
