//! The Q-time monitor's use case on a clock the test sets: a lot whose window after the clean
//! step closed is held (`QTIME`) once, and not a minute before — once also when two replicas'
//! monitors run at the same time.

use chrono::Duration;
use pilotline_app::{App, LotCommand, WriteOp};
use pilotline_store::testing::TestDb;

mod common;

use common::{engineer, seed_line, start_lot};

#[tokio::test]
async fn a_closed_qtime_window_holds_the_lot_once_on_the_monitors_clock() {
    for db in TestDb::all("qtime_monitor").await {
        let app = App::new(db.store().await.unwrap());
        let eng = engineer();
        let spec = seed_line(&app, 5).await;
        start_lot(&app, "Q1").await;
        let lot = |command| WriteOp::Lot {
            lot_id: "Q1".into(),
            command,
            if_version: None,
        };
        // Through the RCA clean (FB040), whose track-out opens a 240-minute window.
        for step in spec.steps.iter().take(4) {
            let equipment = format!("{}-01", step.equipment_type);
            app.execute(
                &lot(LotCommand::TrackIn {
                    equipment,
                    recipe: None,
                }),
                &eng,
            )
            .await
            .unwrap();
            let out = LotCommand::TrackOut {
                scrap_wafers: vec![],
                scrap_reason: None,
                readings: vec![],
            };
            app.execute(&lot(out), &eng).await.unwrap();
        }
        let view = app.lot("Q1", &eng).await.unwrap();
        let deadline = view.qtime.expect("a Q-time window is open").deadline;

        let early = deadline - Duration::minutes(1);
        assert!(
            app.expire_qtime(early).await.unwrap().is_empty(),
            "{}",
            db.label
        );
        assert!(app.lot("Q1", &eng).await.unwrap().holds.is_empty());
        let late = deadline + Duration::minutes(1);
        // Two replicas whose monitors overlap (a lease handed over while the old holder's
        // round still runs) hold the lot once between them.
        let other = App::new(db.store().await.unwrap());
        let (mine, theirs) = tokio::join!(app.expire_qtime(late), other.expire_qtime(late));
        let mut held_by_both = mine.unwrap();
        held_by_both.extend(theirs.unwrap());
        assert_eq!(held_by_both, ["Q1"], "{}", db.label);
        other.close().await;
        let held = app.lot("Q1", &eng).await.unwrap();
        assert_eq!(held.holds.len(), 1);
        assert_eq!(held.holds[0].reason_code, "QTIME");
        // Held once: the next round of the monitor leaves it be.
        assert!(app.expire_qtime(late).await.unwrap().is_empty());
        assert_eq!(app.lot("Q1", &eng).await.unwrap().holds.len(), 1);
        app.close().await;
        db.cleanup().await;
    }
}
