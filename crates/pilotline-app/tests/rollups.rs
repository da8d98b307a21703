//! Rollups equal the aggregates of the raw samples they summarise, on both backends, for
//! random series: several points, random instants over three hours, repeated instants with
//! other values (conflicts: the first value counts), and late batches stored after a roll-up
//! ran (they move the tool's marks back and are rolled up again). The job runs on a clock the
//! test sets.

use chrono::{DateTime, Duration, Utc};
use pilotline_app::{App, NewSample, Resolution, SampleQuery};
use pilotline_store::testing::TestDb;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

mod common;

use common::{Expected, expected, read_all, seed_line};

#[tokio::test]
async fn rollups_equal_the_aggregates_of_their_raw_samples() {
    // Two days back, on the hour: well inside the raw retention (samples older than it are
    // refused as expired), whatever day the test runs.
    let t0 = {
        let back = Utc::now() - Duration::days(2);
        back - Duration::seconds(back.timestamp().rem_euclid(3600))
            - Duration::nanoseconds(i64::from(back.timestamp_subsec_nanos()))
    };
    for seed in [1u64, 7, 42] {
        for db in TestDb::all("rollups_equal_raw").await {
            let app = App::new(db.store().await.unwrap());
            let spec = seed_line(&app, 1).await;
            let tool = format!("{}-01", spec.steps[0].equipment_type);
            let mut rng = StdRng::seed_from_u64(seed);
            let mut samples: Vec<NewSample> = (0..3000)
                .map(|_| NewSample {
                    equipment: tool.clone(),
                    point: format!("p{}", rng.random_range(0..4)),
                    at: t0 + Duration::milliseconds(rng.random_range(0..3 * 3600 * 1000)),
                    number: Some((rng.random_range(-10_000..10_000) as f64) / 100.0),
                    text: None,
                })
                .collect();
            // Repeated instants with other values.
            for i in 0..100 {
                let mut again = samples[i * 7].clone();
                again.number = Some(again.number.unwrap() + 1.0);
                samples.push(again);
            }
            samples.shuffle(&mut rng);
            let (early, late) = samples.split_at(2000);
            for batch in early.chunks(250) {
                app.record_samples(batch).await.unwrap();
            }
            // The job runs, then late data arrives for buckets it already rolled up.
            let clock = t0 + Duration::hours(3) + Duration::minutes(10);
            app.roll_up_samples(clock, 100_000).await.unwrap();
            for batch in late.chunks(250) {
                app.record_samples(batch).await.unwrap();
            }
            let run = app.roll_up_samples(clock, 100_000).await.unwrap();
            assert!(
                run.buckets > 0,
                "{}: late data is rolled up again",
                db.label
            );

            let window = |resolution| SampleQuery {
                point: None,
                from: Some(t0),
                to: Some(t0 + Duration::hours(3)),
                after: None,
                limit: 997,
                resolution,
            };
            let raw = read_all(&app, &tool, window(Resolution::Raw)).await;
            let stored: Vec<(String, DateTime<Utc>, f64)> = raw
                .samples
                .iter()
                .map(|s| (s.point.clone(), s.at, s.number.unwrap()))
                .collect();
            assert!(stored.len() >= 2900, "{}: {}", db.label, stored.len());
            for (resolution, width) in [(Resolution::Minute, 60), (Resolution::Hour, 3600)] {
                let page = read_all(&app, &tool, window(resolution)).await;
                assert_eq!(page.resolution, resolution);
                assert!(page.rolled_until.unwrap() >= t0 + Duration::hours(3));
                let want = expected(&stored, width);
                let got: BTreeMap<(String, i64), Expected> = page
                    .buckets
                    .iter()
                    .map(|b| {
                        let e = (b.count, b.min, b.max, b.sum, b.first, b.last);
                        ((b.point.clone(), b.bucket.timestamp()), e)
                    })
                    .collect();
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "{} seed {seed} {}: the same buckets",
                    db.label,
                    resolution.as_str()
                );
                for (k, w) in &want {
                    let g = got[k];
                    assert_eq!(
                        (g.0, g.1, g.2, g.4, g.5),
                        (w.0, w.1, w.2, w.4, w.5),
                        "{} seed {seed} {} {k:?}",
                        db.label,
                        resolution.as_str()
                    );
                    assert!((g.3 - w.3).abs() < 1e-6 * w.3.abs().max(1.0), "{k:?} sum");
                }
            }
            // Auto: three hours read as 1-minute buckets, a few hundred rows.
            let auto = read_all(&app, &tool, window(Resolution::Auto)).await;
            assert_eq!(auto.resolution, Resolution::Minute);
            assert!(auto.buckets.len() <= 4 * 180);
            app.close().await;
            db.cleanup().await;
        }
    }
}
