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

fn track_in(tool: &str) -> LotCommand {
    LotCommand::TrackIn {
        equipment: tool.to_string(),
        recipe: None,
    }
}

fn track_out() -> LotCommand {
    LotCommand::TrackOut {
        scrap_wafers: Vec::new(),
        scrap_reason: None,
        readings: Vec::new(),
    }
}

/// Runs `command` on lot `lot` as the engineer.
async fn move_lot(app: &App, lot: &str, command: LotCommand) {
    let op = WriteOp::Lot {
        lot_id: lot.into(),
        command,
        if_version: None,
    };
    app.execute(&op, &engineer()).await.unwrap();
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
            // `n` samples of three points at random times in `[start, start + 19 h)`.
            let mut series = |start: DateTime<Utc>, n: usize| -> Vec<NewSample> {
                (0..n)
                    .map(|_| NewSample {
                        equipment: tool.clone(),
                        point: format!("p{}", rng.random_range(0..3)),
                        at: start + Duration::milliseconds(rng.random_range(0..19 * 3600 * 1000)),
                        number: Some((rng.random_range(-5000..5000) as f64) / 10.0),
                        text: None,
                    })
                    .collect()
            };
            // Half before a lot runs on the tool, half taken during its run (part of its
            // record): the lot of a sample is the one whose run holds the sample's time.
            let idle = series(from, 1500);
            for b in idle.chunks(300) {
                app.record_samples(b).await.unwrap();
            }
            start_lot(&app, "R1").await;
            move_lot(&app, "R1", track_in(&tool)).await;
            let tracked_in = pilotline_app::now() + Duration::seconds(1);
            let run = series(tracked_in, 1500);
            for b in run.chunks(300) {
                app.record_samples(b).await.unwrap();
            }
            let end = tracked_in + Duration::hours(19);
            app.roll_up_samples(end + Duration::hours(1), u64::MAX)
                .await
                .unwrap();
            let raw = read_all(&app, &tool, window(from, end, Resolution::Raw)).await;
            let stored: Vec<_> = raw
                .samples
                .iter()
                .map(|s| (s.point.clone(), s.at, s.number.unwrap()))
                .collect();
            let tagged = raw.samples.iter().filter(|s| s.lot.is_some()).count();
            assert_eq!(
                tagged, 1500,
                "{}: the run's samples carry its lot",
                db.label
            );
            assert_eq!(stored.len(), 3000, "{}", db.label);
            let minutes = expected(&stored, 60);
            let hours = expected(&stored, 3600);

            // Past the raw retention, with ingest going on: the raw samples outside the run go,
            // in short transactions, and every sample stored meanwhile stays.
            let ingest = {
                let (app, tool) = (app.clone(), tool.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    for i in 0..20 {
                        let batch: Vec<NewSample> = (0..50)
                            .map(|j| NewSample {
                                equipment: tool.clone(),
                                point: "live".into(),
                                at: end + Duration::milliseconds(i * 50 + j),
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
            let left = read_all(&app, &tool, window(from, end, Resolution::Raw)).await;
            assert_eq!(
                left.samples.len(),
                tagged,
                "{}: the run's samples stay",
                db.label
            );
            let live_left = read_all(
                &app,
                &tool,
                window(end, end + Duration::minutes(1), Resolution::Raw),
            )
            .await;
            assert_eq!(live_left.samples.len(), 1000, "{}", db.label);
            let m = read_all(&app, &tool, window(from, end, Resolution::Minute)).await;
            assert_same(
                &figures(&m),
                &minutes,
                &format!("{} seed {seed} 1m", db.label),
            );

            // The run ends; past the lot's retention, then the minutes': hours remain, equal to
            // the raw data.
            move_lot(&app, "R1", track_out()).await;
            // Samples of the run itself (the run's window as the lot's history has it, arriving
            // late): kept past the raw retention, deleted past the lot's.
            let runs = app
                .process_data(
                    "R1",
                    pilotline_app::ProcessDataQuery {
                        limit: 10,
                        ..Default::default()
                    },
                    &engineer(),
                )
                .await
                .unwrap();
            let (run_in, run_out) = (runs[0].tracked_in, runs[0].tracked_out.unwrap());
            let inside: Vec<NewSample> = (0..(run_out - run_in).num_milliseconds().min(100))
                .map(|i| NewSample {
                    equipment: tool.clone(),
                    point: "in-run".into(),
                    at: run_in + Duration::milliseconds(i),
                    number: Some(i as f64),
                    text: None,
                })
                .collect();
            assert!(!inside.is_empty());
            app.record_samples(&inside).await.unwrap();
            app.roll_up_samples(end + Duration::hours(2), u64::MAX)
                .await
                .unwrap();
            let in_run = |app: App| {
                let tool = tool.clone();
                async move {
                    let q = SampleQuery {
                        point: Some("in-run"),
                        ..window(run_in, run_out, Resolution::Raw)
                    };
                    read_all(&app, &tool, q).await.samples
                }
            };
            // Past the raw retention of everything (2 days after `end`, 19 h from now), not past
            // the lot's (3 days after the run).
            let raw_past = now + Duration::days(2) + Duration::hours(21);
            app.enforce_retention(raw_past, u64::MAX).await.unwrap();
            let kept = in_run(app.clone()).await;
            assert_eq!(kept.len(), inside.len(), "{}", db.label);
            assert!(kept.iter().all(|s| s.lot.as_deref() == Some("R1")));
            let left = read_all(&app, &tool, window(from, end, Resolution::Raw)).await;
            // The run's own, and those of the random series that fell within it.
            let within = stored
                .iter()
                .filter(|(_, at, _)| *at >= run_in && *at < run_out)
                .count();
            assert_eq!(
                left.samples.len(),
                inside.len() + within,
                "{}: only the run's samples",
                db.label
            );
            assert!(left.samples.iter().all(|s| s.lot.as_deref() == Some("R1")));
            let much_later = end + Duration::days(4) + Duration::hours(12);
            app.enforce_retention(much_later, u64::MAX).await.unwrap();
            let left = read_all(&app, &tool, window(from, end, Resolution::Raw)).await;
            assert!(left.samples.is_empty(), "{}", db.label);
            assert!(in_run(app.clone()).await.is_empty(), "{}", db.label);
            let m = read_all(&app, &tool, window(from, end, Resolution::Minute)).await;
            assert!(m.buckets.is_empty(), "{}: minutes expired", db.label);
            let h = read_all(&app, &tool, window(from, end, Resolution::Hour)).await;
            let mut got = figures(&h);
            got.retain(|(point, _), _| point != "in-run" && point != "live");
            assert_same(&got, &hours, &format!("{} seed {seed} 1h", db.label));
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

#[tokio::test]
async fn a_device_types_retention_replaces_the_lines_for_its_tools() {
    for db in TestDb::all("tool_retention").await {
        let app = App::new(db.store().await.unwrap());
        let spec = seed_line(&app, 2).await;
        let line_tool = format!("{}-01", spec.steps[0].equipment_type);
        let own_tool = format!("{}-01", spec.steps[1].equipment_type);
        // The line keeps raw samples 2 days; the second tool's type keeps them 6.
        let app = app
            .with_retention(policy())
            .unwrap()
            .with_tool_retention([(
                own_tool.clone(),
                policy().with_days(Some(6), Some(6), Some(7), Some(3650)),
            )])
            .unwrap();
        let now = pilotline_app::now();
        let from = now - Duration::hours(3);
        let series = |tool: &str, start: DateTime<Utc>| -> Vec<NewSample> {
            (0..600)
                .map(|i| NewSample {
                    equipment: tool.to_string(),
                    point: "p".into(),
                    at: start + Duration::seconds(i * 10),
                    number: Some(i as f64),
                    text: None,
                })
                .collect()
        };
        for tool in [&line_tool, &own_tool] {
            let done = app.record_samples(&series(tool, from)).await.unwrap();
            assert_eq!(done.stored, 600, "{}", db.label);
        }
        // A late sample nearly 2 days old: past what the line's raw retention still takes (an
        // hour inside it), within the tool's own.
        let old = now - Duration::days(2) + Duration::minutes(30);
        let late = |tool: &str| NewSample {
            equipment: tool.to_string(),
            point: "late".into(),
            at: old,
            number: Some(1.0),
            text: None,
        };
        let done = app.record_samples(&[late(&line_tool)]).await.unwrap();
        assert_eq!((done.stored, done.expired), (0, 1), "{}", db.label);
        let done = app.record_samples(&[late(&own_tool)]).await.unwrap();
        assert_eq!((done.stored, done.expired), (1, 0), "{}", db.label);

        app.roll_up_samples(now + Duration::hours(1), u64::MAX)
            .await
            .unwrap();
        // Four days on: the line's raw samples are gone, the other tool's all stay.
        let later = now + Duration::days(4);
        let done = app.enforce_retention(later, u64::MAX).await.unwrap();
        assert_eq!(done.raw, 600, "{}", db.label);
        let raw = |tool: String| {
            let app = app.clone();
            async move {
                read_all(&app, &tool, window(old, now, Resolution::Raw))
                    .await
                    .samples
                    .len()
            }
        };
        assert_eq!(raw(line_tool.clone()).await, 0, "{}", db.label);
        assert_eq!(raw(own_tool.clone()).await, 601, "{}", db.label);
        // Eight days on, the tool's own retention has passed too; its rollups stay.
        let done = app
            .enforce_retention(now + Duration::days(8), u64::MAX)
            .await
            .unwrap();
        assert_eq!(done.raw, 601, "{}", db.label);
        assert_eq!(raw(own_tool.clone()).await, 0, "{}", db.label);
        // A late sample behind retention's mark (raw data deleted there, the rollups final) is
        // not stored, though within the tool's raw horizon: it is counted expired.
        let behind = NewSample {
            equipment: own_tool.clone(),
            point: "p".into(),
            at: now - Duration::hours(1),
            number: Some(5.0),
            text: None,
        };
        let done = app.record_samples(&[behind]).await.unwrap();
        assert_eq!((done.stored, done.expired), (0, 1), "{}", db.label);
        let hours = read_all(&app, &own_tool, window(old, now, Resolution::Hour)).await;
        assert_eq!(
            hours.buckets.iter().map(|b| b.count).sum::<u64>(),
            601,
            "{}",
            db.label
        );
        app.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_retention_step_walks_a_bounded_number_of_runs() {
    for db in TestDb::all("retention_steps").await {
        let app = App::new(db.store().await.unwrap())
            .with_retention(policy())
            .unwrap();
        let spec = seed_line(&app, 1).await;
        let tool = format!("{}-01", spec.steps[0].equipment_type);
        // 60 lots run on the tool one after the other; one sample in the gap after each run.
        let lots = 60;
        for i in 0..lots {
            let lot = format!("G{i:02}");
            start_lot(&app, &lot).await;
            move_lot(&app, &lot, track_in(&tool)).await;
            move_lot(&app, &lot, track_out()).await;
            let gap = NewSample {
                equipment: tool.clone(),
                point: "p".into(),
                at: pilotline_app::now(),
                number: Some(i as f64),
                text: None,
            };
            assert_eq!(app.record_samples(&[gap]).await.unwrap().stored, 1);
        }
        let now = pilotline_app::now();
        app.roll_up_samples(now + Duration::hours(1), u64::MAX)
            .await
            .unwrap();
        // Past the raw retention (not the lots'): one step deletes the samples of at most 50
        // gaps, the next ones the rest.
        let later = now + Duration::days(2) + Duration::hours(2);
        let first = app.enforce_retention(later, 1).await.unwrap();
        assert_eq!(first.batches, 1);
        assert!((1..=50).contains(&first.raw), "{}: {first:?}", db.label);
        let rest = app.enforce_retention(later, u64::MAX).await.unwrap();
        assert_eq!(first.raw + rest.raw, lots, "{}", db.label);
        let left = read_all(
            &app,
            &tool,
            window(
                now - Duration::hours(1),
                now + Duration::hours(1),
                Resolution::Raw,
            ),
        )
        .await;
        assert!(left.samples.is_empty(), "{}", db.label);
        app.close().await;
        db.cleanup().await;
    }
}
