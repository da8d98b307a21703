//! Singleton jobs under leases, with two (and eight) replicas on one store and a clock the test
//! sets: each job is held by exactly one replica at a time; a dead replica's jobs are taken over
//! once its leases lapse, and at once when it stops cleanly; a replica that comes back after
//! losing its leases does not believe it still holds them.

use chrono::{DateTime, Duration, Utc};
use pilotline_app::{App, Leases, job};
use pilotline_store::testing::TestDb;

const JOBS: [&str; 3] = [job::QTIME, job::ROLLUPS, job::DROP_FOLDER];

fn lease_of(app: &App, holder: &str) -> Leases {
    Leases::new(app, holder, std::time::Duration::from_secs(15), JOBS)
}

fn holders(replicas: &[&Leases], job: &str, at: DateTime<Utc>) -> Vec<String> {
    replicas
        .iter()
        .filter(|r| r.holds(job, at))
        .map(|r| r.holder().to_string())
        .collect()
}

#[tokio::test]
async fn each_job_has_one_holder_and_a_dead_ones_jobs_are_taken_over() {
    for db in TestDb::all("job_leases").await {
        // Two replicas: two pools on one database.
        let a_app = App::new(db.store().await.unwrap());
        let b_app = App::new(db.store().await.unwrap());
        let (a, b) = (lease_of(&a_app, "replica-a"), lease_of(&b_app, "replica-b"));
        let t0: DateTime<Utc> = "2026-12-07T08:00:00Z".parse().unwrap();

        a.renew(t0).await.unwrap();
        b.renew(t0).await.unwrap();
        for j in JOBS {
            assert_eq!(holders(&[&a, &b], j, t0), ["replica-a"], "{} {j}", db.label);
        }
        // Heartbeats keep the lease where it is, however often the other asks.
        let t1 = t0 + Duration::seconds(5);
        b.renew(t1).await.unwrap();
        a.renew(t1).await.unwrap();
        b.renew(t1).await.unwrap();
        assert_eq!(holders(&[&a, &b], job::QTIME, t1), ["replica-a"]);
        let epoch = a.epoch(job::QTIME).unwrap();

        // Replica a dies after its heartbeat at t1: its leases last until t1 + 15 s.
        let before = t1 + Duration::seconds(14);
        b.renew(before).await.unwrap();
        assert_eq!(
            holders(&[&b], job::QTIME, before),
            Vec::<String>::new(),
            "{}: taken over before the lease lapsed",
            db.label
        );
        let after = t1 + Duration::seconds(15);
        b.renew(after).await.unwrap();
        for j in JOBS {
            // a's own view lapses with the lease: it never runs past it, even unaware.
            assert_eq!(
                holders(&[&a, &b], j, after),
                ["replica-b"],
                "{} {j}",
                db.label
            );
        }
        assert_eq!(
            b.epoch(job::QTIME),
            Some(epoch + 1),
            "a new holder, a new epoch"
        );

        // a comes back: it learns it lost them, and leaves them be.
        a.renew(after + Duration::seconds(1)).await.unwrap();
        assert_eq!(
            holders(&[&a, &b], job::QTIME, after + Duration::seconds(1)),
            ["replica-b"]
        );

        // A clean stop gives the leases back: a takes over at its next heartbeat.
        b.release_all().await;
        let t2 = after + Duration::seconds(2);
        a.renew(t2).await.unwrap();
        for j in JOBS {
            assert_eq!(holders(&[&a, &b], j, t2), ["replica-a"], "{} {j}", db.label);
        }
        let on_record = a_app.leases().await.unwrap();
        assert_eq!(on_record.len(), JOBS.len());
        assert!(on_record.iter().all(|l| l.holder == "replica-a"));

        a_app.close().await;
        b_app.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn replicas_racing_for_a_free_lease_get_exactly_one_holder() {
    for db in TestDb::all("job_lease_race").await {
        let mut apps = Vec::new();
        for _ in 0..8 {
            apps.push(App::new(db.store().await.unwrap()));
        }
        let replicas: Vec<Leases> = apps
            .iter()
            .enumerate()
            .map(|(i, app)| lease_of(app, &format!("replica-{i}")))
            .collect();
        let at: DateTime<Utc> = "2026-12-07T09:00:00Z".parse().unwrap();
        let mut racing = tokio::task::JoinSet::new();
        for r in &replicas {
            let r = r.clone();
            racing.spawn(async move { r.renew(at).await });
        }
        for done in racing.join_all().await {
            done.unwrap();
        }
        let all: Vec<&Leases> = replicas.iter().collect();
        for j in JOBS {
            assert_eq!(holders(&all, j, at).len(), 1, "{} {j}", db.label);
        }
        for app in &apps {
            app.close().await;
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn collectors_share_the_modbus_tools_and_take_a_dead_ones_over() {
    use pilotline_app::ToolShare;
    for db in TestDb::all("tool_share").await {
        let a_app = App::new(db.store().await.unwrap());
        let b_app = App::new(db.store().await.unwrap());
        let tools = ["ETCH-01", "FURNACE-01", "FURNACE-02", "PROBER-01"];
        let length = std::time::Duration::from_secs(15);
        let a = ToolShare::new(&a_app, "collector-a", length, tools);
        let b = ToolShare::new(&b_app, "collector-b", length, tools);
        let t0: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let sec = |s: i64| t0 + Duration::seconds(s);

        // Alone, a collector polls every tool.
        a.renew(t0).await.unwrap();
        assert_eq!(a.tools().len(), 4, "{}", db.label);
        // A second one joins: a gives back its share's excess, b takes it.
        b.renew(sec(1)).await.unwrap();
        assert!(b.tools().is_empty(), "nothing is free yet");
        a.renew(sec(5)).await.unwrap();
        b.renew(sec(6)).await.unwrap();
        let (mine, theirs) = (a.tools(), b.tools());
        assert_eq!(
            (mine.len(), theirs.len()),
            (2, 2),
            "{}: {mine:?} {theirs:?}",
            db.label
        );
        assert!(
            mine.iter().all(|t| !theirs.contains(t)),
            "no tool polled twice"
        );
        let mut all: Vec<String> = mine.iter().chain(&theirs).cloned().collect();
        all.sort();
        assert_eq!(all, tools);
        // The heartbeats go on; nothing moves.
        a.renew(sec(10)).await.unwrap();
        b.renew(sec(11)).await.unwrap();
        assert_eq!((a.tools(), b.tools()), (mine.clone(), theirs.clone()));

        // a dies after its heartbeat at 10 s: its presence and tools lapse at 25 s.
        b.renew(sec(24)).await.unwrap();
        assert_eq!(
            b.tools(),
            theirs,
            "{}: taken before a's leases lapsed",
            db.label
        );
        b.renew(sec(25)).await.unwrap();
        assert_eq!(b.tools().len(), 4, "{}: b polls a's tools too", db.label);

        // a comes back: it finds its tools taken and takes none until b gives two back.
        a.renew(sec(26)).await.unwrap();
        assert!(a.tools().is_empty(), "{}: {:?}", db.label, a.tools());
        b.renew(sec(30)).await.unwrap();
        a.renew(sec(31)).await.unwrap();
        assert_eq!((a.tools().len(), b.tools().len()), (2, 2), "{}", db.label);

        // A clean stop hands the tools over at the other's next heartbeat.
        a.release_all().await;
        b.renew(sec(32)).await.unwrap();
        assert_eq!(b.tools().len(), 4, "{}", db.label);

        a_app.close().await;
        b_app.close().await;
        db.cleanup().await;
    }
}
