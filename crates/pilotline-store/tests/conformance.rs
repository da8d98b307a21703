//! The store conformance suite: the same lot stories against every backend — SQLite always,
//! PostgreSQL when `PILOTLINE_TEST_POSTGRES_URL` is set.

use pilotline_domain::Code;
use pilotline_domain::{Actor, Change, LotState, LotType, Product, Role, RouteSpec};
use pilotline_store::testing::TestDb;
use pilotline_store::{
    IdempotencyKey, LotCommand, LotFilter, NewLotRequest, Outcome, Store, StoreError,
    StoredResponse, WriteOp,
};
use std::sync::Arc;

/// The refusal code of a store error (none for a database failure).
fn code(e: &StoreError) -> Option<Code> {
    e.refusal().map(|r| r.code())
}

const ROUTE_TOML: &str = include_str!("../../../ops/routes/mhp-gas-sensor.toml");

fn actor(name: &str, role: Role, tenant: Option<&str>) -> Actor {
    Actor {
        user: name.into(),
        role,
        tenant: tenant.map(Into::into),
    }
}

fn engineer() -> Actor {
    actor("erin", Role::Engineer, None)
}

fn operator() -> Actor {
    actor("otto", Role::Operator, None)
}

/// Stores the example route, a platform product, a tenant product and one tool per type.
async fn seed(store: &Store) -> Arc<pilotline_domain::Route> {
    let spec: RouteSpec = toml::from_str(ROUTE_TOML).unwrap();
    let eng = engineer();
    store
        .execute(&WriteOp::PutRoute(spec.clone()), &eng, None)
        .await
        .unwrap();
    for id in ["acme", "beta"] {
        let t = pilotline_domain::Tenant {
            id: id.into(),
            name: id.to_uppercase(),
            status: pilotline_domain::TenantStatus::Active,
        };
        store.put_tenant(&t).await.unwrap();
    }
    for (id, tenant) in [
        ("MHP-GS200", None),
        ("ACME-GS1", Some("acme")),
        ("BETA-GS1", Some("beta")),
    ] {
        let p = Product {
            id: id.into(),
            description: String::new(),
            default_route: "MHP-GAS".into(),
            tenant: tenant.map(Into::into),
        };
        store
            .execute(&WriteOp::PutProduct(p), &eng, None)
            .await
            .unwrap();
    }
    let mut types: Vec<&str> = spec
        .steps
        .iter()
        .map(|s| s.equipment_type.as_str())
        .collect();
    types.dedup();
    for ty in types {
        for n in 1..=2 {
            let op = WriteOp::PutEquipment {
                id: format!("{ty}-{n:02}"),
                equipment_type: ty.into(),
                description: String::new(),
            };
            store.execute(&op, &eng, None).await.unwrap();
        }
    }
    store.route("MHP-GAS", None).await.unwrap().unwrap()
}

fn new_lot(id: &str, product: &str, wafers: usize) -> NewLotRequest {
    NewLotRequest {
        id: Some(id.into()),
        product: product.into(),
        route: None,
        route_version: None,
        lot_type: LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count: wafers,
        wafer_ids: None,
    }
}

async fn start(store: &Store, id: &str, product: &str, wafers: usize) {
    store
        .execute(
            &WriteOp::StartLot(new_lot(id, product, wafers)),
            &operator(),
            None,
        )
        .await
        .unwrap();
}

async fn cmd(
    store: &Store,
    lot: &str,
    command: LotCommand,
    who: &Actor,
) -> Result<Outcome, StoreError> {
    let op = WriteOp::Lot {
        lot_id: lot.into(),
        command,
        if_version: None,
    };
    store.execute(&op, who, None).await
}

fn track_in(tool: String) -> LotCommand {
    LotCommand::TrackIn {
        equipment: tool,
        recipe: None,
    }
}

fn track_out() -> LotCommand {
    LotCommand::TrackOut {
        scrap_wafers: vec![],
        scrap_reason: None,
        readings: vec![],
    }
}

/// Moves `lot` through `n` steps on the `-01` tool of each step's type.
async fn advance(store: &Store, route: &pilotline_domain::Route, lot: &str, n: usize) {
    for _ in 0..n {
        let view = store.lot(lot, &engineer()).await.unwrap().unwrap();
        let ty = &route.steps[view.step.index].equipment_type;
        cmd(store, lot, track_in(format!("{ty}-01")), &operator())
            .await
            .unwrap();
        cmd(store, lot, track_out(), &operator()).await.unwrap();
    }
}

#[tokio::test]
async fn a_lot_runs_the_whole_route_and_its_history_is_complete() {
    for db in TestDb::all("a_lot_runs_the_whole_route").await {
        let store = db.store().await.unwrap();
        let route = seed(&store).await;
        start(&store, "A1000", "MHP-GS200", 25).await;
        advance(&store, &route, "A1000", route.steps.len()).await;
        let lot = store.lot("A1000", &engineer()).await.unwrap().unwrap();
        assert_eq!(lot.state, LotState::Completed, "{}", db.label);
        assert_eq!(lot.wafer_count, 25);
        let history = store.history("A1000", &engineer()).await.unwrap();
        assert_eq!(history.len(), 1 + 2 * route.steps.len(), "{}", db.label);
        for (i, e) in history.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1);
            assert!(!e.user.is_empty());
        }
        assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(matches!(history[0].change, Change::Started { .. }));
        assert_eq!(history[1].change.kind(), "tracked_in");
        assert_eq!(history.last().unwrap().after.state, LotState::Completed);
        // Every tool is idle again, with its E10 history recorded.
        let tool = format!("{}-01", route.steps[0].equipment_type);
        let states = store.equipment_states(&tool).await.unwrap();
        assert_eq!(states.len(), 2);
        assert_eq!(
            store.equipment(&tool).await.unwrap().unwrap().current_lot,
            None
        );
        cmd(&store, "A1000", LotCommand::Ship, &operator())
            .await
            .unwrap();
        let lot = store.lot("A1000", &engineer()).await.unwrap().unwrap();
        assert_eq!(lot.state, LotState::Shipped);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn holds_block_moves_until_each_is_released() {
    for db in TestDb::all("holds_block_moves").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        start(&store, "H1", "MHP-GS200", 5).await;
        let hold = |code: &str| LotCommand::Hold {
            reason_code: code.into(),
            comment: "check".into(),
        };
        let Outcome::Hold { hold: h1, .. } =
            cmd(&store, "H1", hold("ENG"), &operator()).await.unwrap()
        else {
            panic!("hold outcome")
        };
        let Outcome::Hold { hold: h2, .. } =
            cmd(&store, "H1", hold("QA"), &operator()).await.unwrap()
        else {
            panic!("hold outcome")
        };
        let tin = || track_in("DESIGN-SIGNOFF-01".into());
        let err = cmd(&store, "H1", tin(), &operator()).await.unwrap_err();
        assert_eq!(code(&err), Some(Code::LotHeld), "{err}");
        let release = |id| LotCommand::Release {
            hold_id: id,
            comment: "ok".into(),
            disposition: None,
        };
        // Only the operator who placed it (or an engineer) releases an operator's hold.
        let other_operator = Actor {
            user: "other-operator".into(),
            ..operator()
        };
        let err = cmd(&store, "H1", release(h1.id), &other_operator)
            .await
            .unwrap_err();
        assert_eq!(code(&err), Some(Code::RoleForbidden), "{err}");
        cmd(&store, "H1", release(h1.id), &engineer())
            .await
            .unwrap();
        assert!(
            cmd(&store, "H1", tin(), &operator()).await.is_err(),
            "second hold still active"
        );
        cmd(&store, "H1", release(h2.id), &engineer())
            .await
            .unwrap();
        cmd(&store, "H1", tin(), &operator()).await.unwrap();
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn split_merge_rework_scrap_future_hold_and_genealogy() {
    for db in TestDb::all("split_merge_rework").await {
        let store = db.store().await.unwrap();
        let route = seed(&store).await;
        start(&store, "S1", "MHP-GS200", 10).await;
        advance(&store, &route, "S1", 3).await;
        let wafers = vec!["S1-W02".to_string(), "S1-W03".to_string()];
        let Outcome::Split { parent, child } =
            cmd(&store, "S1", LotCommand::Split { wafers }, &operator())
                .await
                .unwrap()
        else {
            panic!("split")
        };
        assert_eq!(
            (parent.wafer_count, child.wafer_count, child.id.as_str()),
            (8, 2, "S1.1")
        );
        assert_eq!(child.step.id, parent.step.id);
        let g = store.genealogy("S1.1", &engineer()).await.unwrap();
        assert_eq!(g.parents, vec!["S1".to_string()]);

        let Outcome::Merged { lot, merged } = cmd(
            &store,
            "S1",
            LotCommand::Merge {
                from_lot: "S1.1".into(),
            },
            &operator(),
        )
        .await
        .unwrap() else {
            panic!("merge")
        };
        assert_eq!((lot.wafer_count, merged.state), (10, LotState::Merged));
        let g = store.genealogy("S1", &engineer()).await.unwrap();
        assert_eq!(g.links.len(), 2, "{g:?}");
        assert_eq!(g.children, vec!["S1.1".to_string()]);
        assert_eq!(g.parents, vec!["S1.1".to_string()]);

        // Future hold two steps ahead fires on arrival.
        let ahead = route.steps[5].id.clone();
        let fh = LotCommand::FutureHold {
            step: ahead.clone(),
            reason_code: "PRE-LPCVD".into(),
            comment: "inspect".into(),
        };
        cmd(&store, "S1", fh, &engineer()).await.unwrap();
        advance(&store, &route, "S1", 2).await;
        let l = store.lot("S1", &engineer()).await.unwrap().unwrap();
        assert_eq!(l.step.id, ahead);
        assert_eq!(l.holds.len(), 1);
        assert_eq!(l.holds[0].reason_code, "PRE-LPCVD");
        let rework = LotCommand::Rework {
            to_step: route.steps[3].id.clone(),
            reason: "particles".into(),
        };
        assert!(
            cmd(&store, "S1", rework.clone(), &engineer())
                .await
                .is_err(),
            "held lot"
        );
        cmd(
            &store,
            "S1",
            LotCommand::Release {
                hold_id: l.holds[0].id,
                comment: "ok".into(),
                disposition: None,
            },
            &engineer(),
        )
        .await
        .unwrap();
        cmd(&store, "S1", rework, &engineer()).await.unwrap();
        let l = store.lot("S1", &engineer()).await.unwrap().unwrap();
        assert_eq!((l.step.index, l.rework_count), (3, 1));

        let scrap = LotCommand::Scrap {
            wafers: Some(vec!["S1-W01".into()]),
            reason: "cracked".into(),
        };
        cmd(&store, "S1", scrap, &operator()).await.unwrap();
        let l = store.lot("S1", &engineer()).await.unwrap().unwrap();
        assert_eq!(l.wafer_count, 9);
        cmd(
            &store,
            "S1",
            LotCommand::Scrap {
                wafers: None,
                reason: "contaminated".into(),
            },
            &operator(),
        )
        .await
        .unwrap();
        let l = store.lot("S1", &engineer()).await.unwrap().unwrap();
        assert_eq!(l.state, LotState::Scrapped);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_track_ins_exactly_one_wins() {
    for db in TestDb::all("concurrent_track_ins").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        start(&store, "C1", "MHP-GS200", 5).await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            // Half race for the same tool, half for the other tool of the type.
            let tool = format!("DESIGN-SIGNOFF-0{}", 1 + i % 2);
            tasks.push(tokio::spawn(async move {
                cmd(&store, "C1", track_in(tool), &operator()).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Refused(_)) => {}
                Err(e) => panic!("{}: unexpected error {e}", db.label),
            }
        }
        assert_eq!(ok, 1, "{}", db.label);
        let busy: Vec<_> = store
            .equipment_list(Some("DESIGN-SIGNOFF"))
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.current_lot.is_some())
            .collect();
        assert_eq!(busy.len(), 1, "exactly one tool runs the lot");
        assert_eq!(store.history("C1", &engineer()).await.unwrap().len(), 2);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer() {
    for db in TestDb::all("idempotency_keys").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        start(&store, "I1", "MHP-GS200", 5).await;
        let key = IdempotencyKey {
            user: "otto".into(),
            key: "k-1".into(),
            fingerprint: "f1".into(),
        };
        let render = |o: &Outcome| StoredResponse {
            status: 200,
            body: serde_json::to_string(o).unwrap(),
        };
        let op = WriteOp::Lot {
            lot_id: "I1".into(),
            command: track_in("DESIGN-SIGNOFF-01".into()),
            if_version: None,
        };
        assert!(store.idempotent_response(&key).await.unwrap().is_none());
        let first = store
            .execute(&op, &operator(), Some((&key, &render)))
            .await
            .unwrap();
        let stored = store.idempotent_response(&key).await.unwrap().unwrap();
        assert_eq!(stored.body, serde_json::to_string(&first).unwrap());
        let other = IdempotencyKey {
            fingerprint: "f2".into(),
            ..key.clone()
        };
        assert_eq!(
            code(&store.idempotent_response(&other).await.unwrap_err()),
            Some(Code::IdempotencyKeyReused)
        );
        // Using the key again inside a transaction is refused and changes nothing.
        let again = store.execute(&op, &operator(), Some((&key, &render))).await;
        assert!(again.is_err());
        assert_eq!(store.history("I1", &engineer()).await.unwrap().len(), 2);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn customers_see_only_their_tenant() {
    for db in TestDb::all("customers_see_only_their_tenant").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        start(&store, "ACME1", "ACME-GS1", 5).await;
        start(&store, "BETA1", "BETA-GS1", 5).await;
        start(&store, "PLAT1", "MHP-GS200", 5).await;
        let acme = actor("alice", Role::Customer, Some("acme"));
        assert!(store.lot("ACME1", &acme).await.unwrap().is_some());
        assert!(store.lot("BETA1", &acme).await.unwrap().is_none());
        assert!(store.lot("PLAT1", &acme).await.unwrap().is_none());
        assert_eq!(
            code(&store.history("BETA1", &acme).await.unwrap_err()),
            Some(Code::LotNotFound)
        );
        assert!(matches!(
            store.genealogy("BETA1", &acme).await,
            Err(StoreError::Refused(r)) if r.code() == Code::LotNotFound
        ));
        let page = store.lots(&LotFilter::default(), &acme).await.unwrap();
        assert_eq!(
            page.items.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["ACME1"]
        );
        let wip = store.wip(&acme).await.unwrap();
        assert_eq!(wip.iter().map(|r| r.lots).sum::<u64>(), 1);
        let all = store.wip(&engineer()).await.unwrap();
        assert_eq!(all.iter().map(|r| r.lots).sum::<u64>(), 3);
        let err = cmd(&store, "BETA1", LotCommand::Ship, &acme)
            .await
            .unwrap_err();
        assert_eq!(code(&err), Some(Code::LotNotFound), "{err}");
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn routes_are_versioned_and_immutable() {
    for db in TestDb::all("routes_are_versioned").await {
        let store = db.store().await.unwrap();
        let route = seed(&store).await;
        assert_eq!(route.version, 1);
        let mut spec: RouteSpec = toml::from_str(ROUTE_TOML).unwrap();
        let same = store
            .execute(&WriteOp::PutRoute(spec.clone()), &engineer(), None)
            .await
            .unwrap();
        assert!(matches!(same, Outcome::Route { created: false, ref route } if route.version == 1));
        start(&store, "V1", "MHP-GS200", 2).await;
        spec.steps[0].recipe = "MHP-GS-REVC".into();
        let Outcome::Route {
            route: v2,
            created: true,
        } = store
            .execute(&WriteOp::PutRoute(spec), &engineer(), None)
            .await
            .unwrap()
        else {
            panic!("new version")
        };
        assert_eq!(v2.version, 2);
        let v1 = store.route("MHP-GAS", Some(1)).await.unwrap().unwrap();
        assert_eq!(v1.steps[0].recipe, "MHP-GS-REVB");
        assert_eq!(
            store
                .lot("V1", &engineer())
                .await
                .unwrap()
                .unwrap()
                .route_version,
            1
        );
        start(&store, "V2", "MHP-GS200", 2).await;
        assert_eq!(
            store
                .lot("V2", &engineer())
                .await
                .unwrap()
                .unwrap()
                .route_version,
            2
        );
        let err = store
            .execute(
                &WriteOp::PutRoute(toml::from_str("id='x y'\nname=''\nsteps=[]").unwrap()),
                &engineer(),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("id:") && err.to_string().contains("steps:"),
            "{err}"
        );
        let denied = store
            .execute(
                &WriteOp::PutRoute(toml::from_str(ROUTE_TOML).unwrap()),
                &operator(),
                None,
            )
            .await;
        assert_eq!(code(&denied.unwrap_err()), Some(Code::RoleForbidden));
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn tokens_authenticate_and_are_stored_hashed() {
    for db in TestDb::all("tokens_authenticate").await {
        let store = db.store().await.unwrap();
        let acme = pilotline_domain::Tenant {
            id: "acme".into(),
            name: "Acme".into(),
            status: pilotline_domain::TenantStatus::Active,
        };
        store.put_tenant(&acme).await.unwrap();
        let token = store
            .create_token("alice", Role::Customer, Some("acme"))
            .await
            .unwrap();
        assert!(token.starts_with(pilotline_store::TOKEN_PREFIX));
        let who = store.authenticate(&token).await.unwrap().unwrap();
        assert_eq!(
            (who.user.as_str(), who.role, who.tenant.as_deref()),
            ("alice", Role::Customer, Some("acme"))
        );
        assert!(store.authenticate("plt_wrong").await.unwrap().is_none());
        assert!(
            store
                .create_token("bob", Role::Customer, None)
                .await
                .is_err()
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn generated_lot_ids_and_paging() {
    for db in TestDb::all("generated_lot_ids_and_paging").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        for _ in 0..5 {
            let req = NewLotRequest {
                id: None,
                ..new_lot("", "MHP-GS200", 1)
            };
            store
                .execute(&WriteOp::StartLot(req), &operator(), None)
                .await
                .unwrap();
        }
        let first = store
            .lots(
                &LotFilter {
                    limit: Some(3),
                    ..Default::default()
                },
                &engineer(),
            )
            .await
            .unwrap();
        assert_eq!(first.items.len(), 3);
        assert!(first.items[0].id.starts_with("PL"));
        let next = LotFilter {
            limit: Some(3),
            after: first.next_cursor.clone(),
            ..Default::default()
        };
        let second = store.lots(&next, &engineer()).await.unwrap();
        assert_eq!(second.items.len(), 2);
        assert!(second.next_cursor.is_none());
        let filtered = LotFilter {
            state: Some(LotState::Running),
            ..Default::default()
        };
        assert!(
            store
                .lots(&filtered, &engineer())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn samples_are_stored_tied_to_the_running_lot_and_queried() {
    use pilotline_store::NewSample;
    for db in TestDb::all("samples_are_stored").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        start(&store, "T1", "MHP-GS200", 5).await;
        let t0 = pilotline_store::now();
        let sample = |point: &str, secs: i64, number: Option<f64>, text: Option<&str>| NewSample {
            equipment: "DESIGN-SIGNOFF-01".into(),
            point: point.into(),
            at: t0 + chrono::Duration::seconds(secs),
            number,
            text: text.map(Into::into),
        };
        store
            .insert_samples(&[sample("temp", 0, Some(20.5), None)])
            .await
            .unwrap();
        cmd(
            &store,
            "T1",
            track_in("DESIGN-SIGNOFF-01".into()),
            &operator(),
        )
        .await
        .unwrap();
        let batch = [
            sample("temp", 1, Some(21.5), None),
            sample("state", 1, None, Some("run")),
            sample("temp", 2, Some(22.5), None),
        ];
        assert_eq!(store.insert_samples(&batch).await.unwrap().stored, 3);
        let latest = store.latest_samples("DESIGN-SIGNOFF-01").await.unwrap();
        assert_eq!(latest.len(), 2, "{}", db.label);
        assert_eq!(
            (latest[0].point.as_str(), latest[0].text.as_deref()),
            ("state", Some("run"))
        );
        assert_eq!(
            (latest[1].point.as_str(), latest[1].number),
            ("temp", Some(22.5))
        );
        assert_eq!(
            latest[1].lot.as_deref(),
            Some("T1"),
            "samples of a run carry its lot"
        );
        let all = store
            .samples("DESIGN-SIGNOFF-01", Some("temp"), None, None, None, 100)
            .await
            .unwrap()
            .samples;
        assert_eq!(
            all.iter().map(|s| s.number.unwrap()).collect::<Vec<_>>(),
            vec![20.5, 21.5, 22.5]
        );
        assert_eq!(all[0].lot, None);
        let window = store
            .samples(
                "DESIGN-SIGNOFF-01",
                Some("temp"),
                Some(t0 + chrono::Duration::seconds(1)),
                Some(t0 + chrono::Duration::seconds(2)),
                None,
                100,
            )
            .await
            .unwrap()
            .samples;
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].number, Some(21.5));
        assert!(
            !store
                .comm_state("DESIGN-SIGNOFF-01")
                .await
                .unwrap()
                .unwrap()
                .stale
        );
        store
            .set_comm_state("DESIGN-SIGNOFF-01", true, t0)
            .await
            .unwrap();
        let state = store
            .comm_state("DESIGN-SIGNOFF-01")
            .await
            .unwrap()
            .unwrap();
        assert!(state.stale);
        assert_eq!(state.since, Some(t0));
        assert!(store.comm_state("NOPE").await.unwrap().is_none());
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_point_has_one_value_per_instant_in_history_and_latest() {
    use pilotline_store::NewSample;
    for db in TestDb::all("one_value_per_instant").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        let t0 = pilotline_store::now();
        let sample = |secs: i64, number: f64| NewSample {
            equipment: "DESIGN-SIGNOFF-01".into(),
            point: "temp".into(),
            at: t0 + chrono::Duration::seconds(secs),
            number: Some(number),
            text: None,
        };
        let first = store.insert_samples(&[sample(0, 20.0)]).await.unwrap();
        assert_eq!((first.stored, first.replays, first.conflicts), (1, 0, 0));
        // The same value again is a replay; another value at that instant is a conflict.
        let again = store
            .insert_samples(&[sample(0, 20.0), sample(0, 99.0)])
            .await
            .unwrap();
        assert_eq!(
            (again.stored, again.replays, again.conflicts),
            (0, 1, 1),
            "{}",
            db.label
        );
        assert_eq!(again.examples.len(), 1);
        // Two values of one instant in one batch: the first is stored, in both places.
        let batch = store
            .insert_samples(&[sample(5, 30.0), sample(5, 31.0)])
            .await
            .unwrap();
        assert_eq!((batch.stored, batch.conflicts), (1, 1), "{}", db.label);
        let history = store
            .samples("DESIGN-SIGNOFF-01", Some("temp"), None, None, None, 100)
            .await
            .unwrap()
            .samples;
        assert_eq!(
            history
                .iter()
                .map(|s| s.number.unwrap())
                .collect::<Vec<_>>(),
            vec![20.0, 30.0],
            "{}",
            db.label
        );
        let latest = store.latest_samples("DESIGN-SIGNOFF-01").await.unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!(
            (latest[0].at, latest[0].number),
            (history[1].at, history[1].number),
            "{}: the latest value is the history's",
            db.label
        );
        // A contradicting sample of the latest instant leaves the latest value alone.
        store.insert_samples(&[sample(5, 77.0)]).await.unwrap();
        let latest = store.latest_samples("DESIGN-SIGNOFF-01").await.unwrap();
        assert_eq!(latest[0].number, Some(30.0), "{}", db.label);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn sample_pages_say_when_they_are_cut_and_continue_without_gaps_or_repeats() {
    use pilotline_store::{NewSample, SampleCursor};
    for db in TestDb::all("sample_pages").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        let t0 = pilotline_store::now();
        // Three points sharing each instant, so pages end inside an instant.
        let batch: Vec<NewSample> = (0..40)
            .flat_map(|i| {
                ["a", "b", "c"].map(|p| NewSample {
                    equipment: "DESIGN-SIGNOFF-01".into(),
                    point: p.into(),
                    at: t0 + chrono::Duration::milliseconds(i * 250),
                    number: Some(i as f64),
                    text: None,
                })
            })
            .collect();
        store.insert_samples(&batch).await.unwrap();
        let mut seen = Vec::new();
        let mut after: Option<SampleCursor> = None;
        let mut pages = 0;
        loop {
            let page = store
                .samples("DESIGN-SIGNOFF-01", None, None, None, after.as_ref(), 7)
                .await
                .unwrap();
            pages += 1;
            assert_eq!(page.truncated, page.next.is_some());
            seen.extend(page.samples.iter().map(|s| (s.at, s.point.clone())));
            match page.next {
                Some(next) => after = Some(SampleCursor::decode(&next).unwrap()),
                None => break,
            }
        }
        let want: Vec<_> = batch
            .iter()
            .map(|s| (pilotline_store::stored_time(s.at), s.point.clone()))
            .collect();
        assert_eq!(seen.len(), want.len(), "{}", db.label);
        let micros = |v: &[(chrono::DateTime<chrono::Utc>, String)]| {
            v.iter()
                .map(|(t, p)| (t.timestamp_micros(), p.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(micros(&seen), micros(&want), "{}", db.label);
        assert_eq!(pages, 120usize.div_ceil(7), "{}", db.label);
        // A page that holds everything is not cut.
        let all = store
            .samples("DESIGN-SIGNOFF-01", None, None, None, None, 1000)
            .await
            .unwrap();
        assert!(!all.truncated && all.next.is_none());
        assert!(SampleCursor::decode("nonsense").is_none());
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_get_distinct_generated_ids() {
    for db in TestDb::all("concurrent_generated_ids").await {
        let store = db.store().await.unwrap();
        seed(&store).await;
        let mut tasks = Vec::new();
        let label = db.label;
        for _ in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let req = NewLotRequest {
                    id: None,
                    ..new_lot("", "MHP-GS200", 1)
                };
                match store
                    .execute(&WriteOp::StartLot(req), &operator(), None)
                    .await
                {
                    Ok(Outcome::LotStarted(l)) => l.id,
                    other => panic!("{label}: {other:?}"),
                }
            }));
        }
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            ids.insert(t.await.unwrap());
        }
        assert_eq!(ids.len(), 16, "{}: {ids:?}", db.label);
        store.close().await;
        db.cleanup().await;
    }
}
