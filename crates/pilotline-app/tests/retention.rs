//! Retention on a clock the test sets, on both backends, for random series: raw samples past
//! their retention disappear (those of a lot's run later than the rest), the rollups remain and
//! equal the aggregates of the raw data they replaced, samples stored while retention runs are
//! all kept, and each retention transaction is short.

use chrono::{DateTime, Duration, Utc};
use pilotline_app::{
    App, LotCommand, NewSample, Resolution, RetentionPolicy, SampleQuery, WriteOp,
};
use pilotline_store::testing::TestDb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

mod common;

use common::{Expected, engineer, expected, read_all, seed_line, start_lot};

fn policy() -> RetentionPolicy {
    RetentionPolicy {
        raw: Duration::days(2),
        lot_raw: Duration::days(3),
        minute: Duration::days(4),
        hour: Duration::days(10),
    }
}

fn window(from: DateTime<Utc>, to: DateTime<Utc>, resolution: Resolution) -> SampleQuery<'static> {
    SampleQuery {
        point: None,
        from: Some(from),
        to: Some(to),
        after: None,
        limit: 5000,
        resolution,
    }
}

/// The buckets of a page as (point, start) → figures; sums compared apart (float order).
fn figures(page: &pilotline_app::SamplePage) -> BTreeMap<(String, i64), Expected> {
    page.buckets
        .iter()
        .map(|b| {
            let e = (b.count, b.min, b.max, b.sum, b.first, b.last);
            ((b.point.clone(), b.bucket.timestamp()), e)
        })
        .collect()
}

fn assert_same(
    got: &BTreeMap<(String, i64), Expected>,
    want: &BTreeMap<(String, i64), Expected>,
    what: &str,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (k, w) in want {
        let g = got[k];
        assert_eq!(
            (g.0, g.1, g.2, g.4, g.5),
            (w.0, w.1, w.2, w.4, w.5),
            "{what} {k:?}"
        );
        assert!(
            (g.3 - w.3).abs() < 1e-6 * w.3.abs().max(1.0),
            "{what} {k:?} sum"
        );
    }
}

#[tokio::test]
async fn raw_samples_expire_and_their_rollups_remain_equal_to_them() {
    for seed in [3u64, 11] {
        for db in TestDb::all("retention").await {
            let app = App::new(db.store().await.unwrap())
                .with_retention(policy())
                .unwrap();
            let spec = seed_line(&app, 1).await;
            let tool = format!("{}-01", spec.steps[0].equipment_type);
            let now = pilotline_app::now();
            let from = now - Duration::hours(20);
            let mut rng = StdRng::seed_from_u64(seed);
            let mut series = |n: usize| -> Vec<NewSample> {
                (0..n)
                    .map(|_| NewSample {
                        equipment: tool.clone(),
                        point: format!("p{}", rng.random_range(0..3)),
                        at: from + Duration::milliseconds(rng.random_range(0..19 * 3600 * 1000)),
                        number: Some((rng.random_range(-5000..5000) as f64) / 10.0),
                        text: None,
                    })
                    .collect()
            };
            // Half before a lot runs on the tool, half during the run (part of its record).
            let idle = series(1500);
            let run = series(1500);
            for b in idle.chunks(300) {
                app.record_samples(b).await.unwrap();
            }
            start_lot(&app, "R1").await;
            let track_in = WriteOp::Lot {
                lot_id: "R1".into(),
                command: LotCommand::TrackIn {
                    equipment: tool.clone(),
                    recipe: None,
                },
                if_version: None,
            };
            app.execute(&track_in, &engineer()).await.unwrap();
            for b in run.chunks(300) {
                app.record_samples(b).await.unwrap();
            }
            app.roll_up_samples(now + Duration::hours(1), u64::MAX)
                .await
                .unwrap();
            let raw = read_all(&app, &tool, window(from, now, Resolution::Raw)).await;
            let stored: Vec<_> = raw
                .samples
                .iter()
                .map(|s| (s.point.clone(), s.at, s.number.unwrap()))
                .collect();
            let tagged = raw.samples.iter().filter(|s| s.lot.is_some()).count();
            assert!(tagged > 0 && tagged < stored.len(), "{}", db.label);
            let minutes = expected(&stored, 60);
            let hours = expected(&stored, 3600);

            // Past the raw retention, with ingest going on: untagged raw samples go, in short
            // transactions, and every sample stored meanwhile stays.
            let ingest = {
                let (app, tool) = (app.clone(), tool.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    for i in 0..20 {
                        let batch: Vec<NewSample> = (0..50)
                            .map(|j| NewSample {
                                equipment: tool.clone(),
                                point: "live".into(),
                                at: now + Duration::milliseconds(i * 50 + j),
                                number: Some(1.0),
                                text: None,
                            })
                            .collect();
                        n += app.record_samples(&batch).await.unwrap().stored;
                        tokio::task::yield_now().await;
                    }
                    n
                })
            };
            let later = now + Duration::days(2) + Duration::hours(1);
            let done = app.enforce_retention(later, u64::MAX).await.unwrap();
            let live = ingest.await.unwrap();
            assert_eq!(live, 1000);
            assert_eq!(done.raw as usize, stored.len() - tagged, "{}", db.label);
            assert!(
                done.longest < std::time::Duration::from_millis(500),
                "{done:?}"
            );
            let left = read_all(&app, &tool, window(from, now, Resolution::Raw)).await;
            assert_eq!(
                left.samples.len(),
                tagged,
                "{}: the run's samples stay",
                db.label
            );
            let live_left = read_all(
                &app,
                &tool,
                window(now, now + Duration::minutes(1), Resolution::Raw),
            )
            .await;
            assert_eq!(live_left.samples.len(), 1000, "{}", db.label);
            let m = read_all(&app, &tool, window(from, now, Resolution::Minute)).await;
            assert_same(
                &figures(&m),
                &minutes,
                &format!("{} seed {seed} 1m", db.label),
            );

            // Past the lot's retention, then the minutes': hours remain, equal to the raw data.
            let much_later = now + Duration::days(4) + Duration::hours(12);
            app.enforce_retention(much_later, u64::MAX).await.unwrap();
            let left = read_all(&app, &tool, window(from, now, Resolution::Raw)).await;
            assert!(left.samples.is_empty(), "{}", db.label);
            let m = read_all(&app, &tool, window(from, now, Resolution::Minute)).await;
            assert!(m.buckets.is_empty(), "{}: minutes expired", db.label);
            let h = read_all(&app, &tool, window(from, now, Resolution::Hour)).await;
            assert_same(
                &figures(&h),
                &hours,
                &format!("{} seed {seed} 1h", db.label),
            );
            // A sample older than the raw retention (a spool replayed too late) is not stored.
            let stale = NewSample {
                equipment: tool.clone(),
                point: "p0".into(),
                at: now - Duration::days(2),
                number: Some(1.0),
                text: None,
            };
            let done = app.record_samples(&[stale]).await.unwrap();
            assert_eq!((done.stored, done.expired), (0, 1), "{}", db.label);
            assert_eq!(app.metrics().samples("expired"), 1);
            app.close().await;
            db.cleanup().await;
        }
    }
}

#[test]
fn an_inconsistent_policy_is_refused() {
    let mut p = policy();
    p.minute = Duration::days(1);
    assert!(!p.problems().is_empty());
    assert!(policy().problems().is_empty());
}
