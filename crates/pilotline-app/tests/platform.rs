//! The platform's yearly figures on both backends: lots and wafers shipped in the year come from
//! the per-day counters the ship keeps (not from a count of the year's shipped lots), so a
//! completed lot that is not shipped, a lot shipped in another year and a customer's request
//! are each answered as a fab manager expects.

use chrono::Datelike;
use pilotline_app::{App, LotCommand, NewLotRequest, WriteOp};
use pilotline_domain::{Actor, Code, LotType, Role};
use pilotline_store::testing::{FLAT_PRODUCT, TestDb, seed_flat_line};

fn engineer() -> Actor {
    Actor {
        user: "erin".into(),
        role: Role::Engineer,
        tenant: None,
    }
}

async fn start(app: &App, id: &str, wafers: usize) {
    let start = NewLotRequest {
        id: Some(id.into()),
        product: FLAT_PRODUCT.into(),
        route: None,
        route_version: None,
        lot_type: LotType::Production,
        priority: 3,
        tenant: None,
        due_date: None,
        wafer_count: wafers,
        wafer_ids: None,
    };
    app.execute(&WriteOp::StartLot(start), &engineer())
        .await
        .unwrap();
}

async fn command(app: &App, lot: &str, command: LotCommand) {
    let op = WriteOp::Lot {
        lot_id: lot.into(),
        command,
        if_version: None,
    };
    app.execute(&op, &engineer())
        .await
        .unwrap_or_else(|e| panic!("{lot}: {e}"));
}

/// Runs `lot` through the flat route's two steps on `T0` (it is then completed).
async fn complete(app: &App, lot: &str) {
    for _ in 0..2 {
        let track_in = LotCommand::TrackIn {
            equipment: "T0".into(),
            recipe: None,
        };
        command(app, lot, track_in).await;
        let track_out = LotCommand::TrackOut {
            scrap_wafers: vec![],
            scrap_reason: None,
            readings: vec![],
        };
        command(app, lot, track_out).await;
    }
}

#[tokio::test]
async fn the_year_counts_the_lots_and_wafers_shipped_in_it() {
    for db in TestDb::all("platform_year").await {
        let label = db.label;
        let store = db.store().await.unwrap();
        seed_flat_line(&store, 2, 1).await;
        let app = App::new(store);
        let eng = engineer();
        let year = pilotline_app::now().year();

        let before = app.platform_year(year, &eng).await.unwrap();
        assert_eq!((before.lots_delivered, before.wafers_delivered), (0, 0));

        for (lot, wafers) in [("S1", 2), ("S2", 3), ("KEPT", 4)] {
            start(&app, lot, wafers).await;
            complete(&app, lot).await;
        }
        command(&app, "S1", LotCommand::Ship).await;
        command(&app, "S2", LotCommand::Ship).await;

        let figures = app.platform_year(year, &eng).await.unwrap();
        assert_eq!(
            (figures.lots_delivered, figures.wafers_delivered),
            (2, 5),
            "{label}: two lots of 2 and 3 wafers shipped; the completed lot KEPT is not"
        );
        for other in [year - 1, year + 1] {
            let f = app.platform_year(other, &eng).await.unwrap();
            assert_eq!(
                (f.lots_delivered, f.wafers_delivered),
                (0, 0),
                "{label}: nothing shipped in {other}"
            );
        }

        // A ship refused (the lot is not completed) counts nothing.
        start(&app, "OPEN", 1).await;
        let ship = WriteOp::Lot {
            lot_id: "OPEN".into(),
            command: LotCommand::Ship,
            if_version: None,
        };
        let refused = app.execute(&ship, &eng).await.unwrap_err();
        assert_eq!(refused.code(), Some(Code::LotStateForbids), "{label}");
        let after = app.platform_year(year, &eng).await.unwrap();
        assert_eq!((after.lots_delivered, after.wafers_delivered), (2, 5));

        // The figures are the platform's: a start-up's user is refused by code.
        let customer = Actor {
            user: "cleo".into(),
            role: Role::Customer,
            tenant: Some("acme".into()),
        };
        let denied = app.platform_year(year, &customer).await.unwrap_err();
        assert_eq!(denied.code(), Some(Code::RoleForbidden), "{label}");
        db.cleanup().await;
    }
}
