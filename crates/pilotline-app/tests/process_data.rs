//! A run's process data is returned complete: an hour of a 50-point tool at 1 Hz (180,000
//! samples) comes back in pages that each say they were cut and where to continue, with no
//! sample lost or repeated; a contradicting sample is counted as a conflict.

use chrono::Duration;
use pilotline_app::{App, LotCommand, NewSample, ProcessDataQuery, SampleCursor, WriteOp};
use pilotline_store::testing::TestDb;

mod common;

use common::{engineer, seed_line, start_lot};

/// A lot on the route's first tool, tracked in; returns the tool.
async fn lot_on_a_tool(app: &App) -> String {
    let spec = seed_line(app, 1).await;
    start_lot(app, "P1").await;
    let tool = format!("{}-01", spec.steps[0].equipment_type);
    let track_in = WriteOp::Lot {
        lot_id: "P1".into(),
        command: LotCommand::TrackIn {
            equipment: tool.clone(),
            recipe: None,
        },
        if_version: None,
    };
    app.execute(&track_in, &engineer()).await.unwrap();
    tool
}

/// The first run's samples after `after`, 50,000 at most.
fn all(after: Option<&SampleCursor>) -> ProcessDataQuery<'_> {
    ProcessDataQuery {
        point: None,
        run: Some(0),
        after,
        limit: 50_000,
    }
}

#[tokio::test]
async fn an_hour_of_a_50_point_tool_comes_back_complete_in_pages() {
    const POINTS: usize = 50;
    const SECONDS: i64 = 3600;
    for db in TestDb::all("process_data_complete").await {
        let app = App::new(db.store().await.unwrap());
        let eng = engineer();
        let tool = lot_on_a_tool(&app).await;
        let runs = app.process_data("P1", all(None), &eng).await.unwrap();
        let t0 = runs[0].tracked_in;
        for minute in 0..SECONDS / 60 {
            let batch: Vec<NewSample> = (minute * 60..minute * 60 + 60)
                .flat_map(|s| {
                    let tool = tool.clone();
                    (0..POINTS).map(move |p| NewSample {
                        equipment: tool.clone(),
                        point: format!("p{p:02}"),
                        at: t0 + Duration::seconds(s),
                        number: Some(s as f64 + p as f64 / 100.0),
                        text: None,
                    })
                })
                .collect();
            let done = app.record_samples(&batch).await.unwrap();
            assert_eq!(done.stored, batch.len() as u64);
        }

        let mut seen = 0usize;
        let mut pages = 0;
        let mut last: Option<(i64, String)> = None;
        let mut cursor: Option<SampleCursor> = None;
        loop {
            let runs = app
                .process_data("P1", all(cursor.as_ref()), &eng)
                .await
                .unwrap();
            assert_eq!(runs.len(), 1, "{}", db.label);
            let run = &runs[0];
            pages += 1;
            assert_eq!(run.truncated, run.next.is_some(), "{}", db.label);
            for s in &run.samples {
                let key = (s.at.timestamp_micros(), s.point.clone());
                assert!(
                    last.as_ref().is_none_or(|l| *l < key),
                    "{}: samples out of order or repeated at {key:?}",
                    db.label
                );
                last = Some(key);
            }
            seen += run.samples.len();
            match &run.next {
                Some(next) => cursor = Some(next.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, POINTS * SECONDS as usize, "{}", db.label);
        assert_eq!(pages, 4, "{}: 180,000 samples in pages of 50,000", db.label);

        // A cursor continues one run only.
        let refused = app.process_data(
            "P1",
            ProcessDataQuery {
                run: None,
                ..all(cursor.as_ref())
            },
            &eng,
        );
        assert!(refused.await.is_err());

        // A contradicting sample of a stored instant: counted, the first value kept.
        let conflict = NewSample {
            equipment: tool.clone(),
            point: "p00".into(),
            at: t0,
            number: Some(-1.0),
            text: None,
        };
        let done = app.record_samples(&[conflict]).await.unwrap();
        assert_eq!((done.stored, done.conflicts), (0, 1));
        assert_eq!(app.metrics().samples("conflict"), 1);
        assert_eq!(
            app.metrics().samples("stored"),
            (POINTS * SECONDS as usize) as u64
        );
        app.close().await;
        db.cleanup().await;
    }
}
