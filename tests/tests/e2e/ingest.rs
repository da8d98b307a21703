//! The collector loses nothing it acknowledged: not through a 30 s database outage (PostgreSQL
//! behind a proxy that is cut), not through a SIGKILL (SQLite), both fed through the real
//! Mosquitto broker at QoS 1.

use pilotline_store::Store;
use pilotline_tests::{command, postgres_url};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Child;
use tokio::sync::watch;

const TYPE: &str = r#"
[device_type]
id = "counter"
equipment_type = "COUNTER"
protocol = "mqtt"

[[point]]
name = "n"
topic = "pilotline-e2e/{device}/reading"
codec = "json"
pointer = "/n"
time_pointer = "/ts"
"#;

/// A tool publishing `{"n": i, "ts": …}` and a profile directory describing it.
struct Rig {
    tool: String,
    topic: String,
    client_id: String,
    dir: tempfile::TempDir,
    base_ms: i64,
}

impl Rig {
    fn new(label: &str, url: &str) -> Rig {
        let tool = format!("COUNTER-{label}-{}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        std::fs::write(dir.path().join("profiles/counter.toml"), TYPE).unwrap();
        std::fs::write(
            dir.path().join("profiles/devices.toml"),
            format!(
                "[[device]]\nid = \"{tool}\"\ntype = \"counter\"\ntransport = {{ kind = \"mqtt\", broker = \"{url}\" }}\n"
            ),
        )
        .unwrap();
        Rig {
            topic: format!("pilotline-e2e/{tool}/reading"),
            client_id: format!("{tool}-collector"),
            tool,
            dir,
            base_ms: chrono_now_ms(),
        }
    }

    /// Creates the collector's persistent session on the broker before the collector first
    /// runs, so nothing published from now on can miss it.
    async fn open_session(&self, host: &str, port: u16) {
        pilotline_tests::open_mqtt_session(
            host,
            port,
            &self.client_id,
            std::slice::from_ref(&self.topic),
        )
        .await;
    }

    fn collector(&self, db_url: &str) -> Child {
        let profiles = self.dir.path().join("profiles");
        let spool = self.dir.path().join("spool");
        command(
            &["collect", "--profiles", profiles.to_str().unwrap()],
            &[
                ("PILOTLINE_DATABASE_URL", db_url),
                ("PILOTLINE_SPOOL_DIR", spool.to_str().unwrap()),
                ("PILOTLINE_MQTT_CLIENT_ID", &self.client_id),
            ],
        )
        .spawn()
        .expect("spawn pilotline collect")
    }

    fn spool_len(&self) -> u64 {
        std::fs::metadata(self.dir.path().join("spool/collector.spool"))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

fn chrono_now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// What a publisher needs of a rig.
#[derive(Clone)]
struct Feed {
    tool: String,
    topic: String,
    base_ms: i64,
}

impl Rig {
    fn feed(&self) -> Feed {
        Feed {
            tool: self.tool.clone(),
            topic: self.topic.clone(),
            base_ms: self.base_ms,
        }
    }
}

/// Publishes readings `range` at QoS 1, `every` apart, and returns once the broker has
/// acknowledged every one.
async fn publish(host: &str, port: u16, rig: &Feed, range: std::ops::Range<i64>, every: Duration) {
    let mut o = MqttOptions::new(format!("{}-pub-{}", rig.tool, range.start), host, port);
    o.set_inflight(100);
    let (client, mut el) = AsyncClient::new(o, 100);
    let total = (range.end - range.start) as usize;
    let pump = tokio::spawn(async move {
        let mut acked = 0;
        while acked < total {
            if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.expect("broker") {
                acked += 1;
            }
        }
    });
    let mut tick = tokio::time::interval(every);
    for i in range {
        tick.tick().await;
        let body = format!(r#"{{"n": {i}, "ts": {}}}"#, rig.base_ms + i);
        client
            .publish(&rig.topic, QoS::AtLeastOnce, false, body)
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), pump)
        .await
        .expect("broker acknowledged every publish")
        .unwrap();
}

/// The values of `n` stored for the rig's tool.
async fn stored(store: &Store, rig: &Rig) -> Vec<i64> {
    store
        .samples(&rig.tool, Some("n"), None, None, None, 100_000)
        .await
        .map(|s| s.samples.iter().map(|r| r.number.unwrap() as i64).collect())
        .unwrap_or_default()
}

/// Waits (up to `limit`) until `n` samples are stored; returns them.
async fn await_stored(store: &Store, rig: &Rig, n: usize, limit: Duration) -> Vec<i64> {
    let deadline = Instant::now() + limit;
    loop {
        let got = stored(store, rig).await;
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A TCP proxy to `target` that can be cut: while down, every connection through it is closed
/// and new ones are closed at once, as a stopped server looks to its clients.
async fn proxy(target: &str) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (down_tx, down_rx) = watch::channel(false);
    let target = target.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if *down_rx.borrow() {
                drop(inbound);
                continue;
            }
            let target = target.clone();
            let mut down = down_rx.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = down.wait_for(|d| *d) => {}
                }
            });
        }
    });
    (addr, down_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_s_database_outage_loses_no_sample() {
    let test = "a_30_s_database_outage_loses_no_sample";
    let Some((url, host, port)) = pilotline_tests::test_broker(test) else {
        return;
    };
    let Some((db_url, _guard)) = postgres_url(test).await else {
        return;
    };
    let pg = db_url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(hp, _)| hp.to_string())
        .unwrap();
    let (proxy_addr, down) = proxy(&pg).await;
    let via_proxy = db_url.replacen(&pg, &proxy_addr, 1);
    let rig = Rig::new("outage", &url);
    rig.open_session(&host, port).await;
    let mut collector = rig.collector(&via_proxy);

    const N: i64 = 900;
    let every = Duration::from_millis(50);
    let publisher = {
        let (host, feed) = (host.clone(), rig.feed());
        tokio::spawn(async move { publish(&host, port, &feed, 0..N, every).await })
    };
    let store = Store::open(&db_url).await.unwrap();
    // Data flows before the outage…
    let before = await_stored(&store, &rig, 20, Duration::from_secs(30)).await;
    assert!(
        before.len() >= 20,
        "nothing stored before the outage: {}",
        before.len()
    );
    // …then the database disappears for 30 s while the tool keeps publishing.
    down.send(true).unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let spooled = rig.spool_len();
    down.send(false).unwrap();
    assert!(
        spooled > 0,
        "the collector spooled nothing while the database was down"
    );
    publisher.await.unwrap();
    let got = await_stored(&store, &rig, N as usize, Duration::from_secs(60)).await;
    let _ = collector.start_kill();
    let _ = collector.wait().await;
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "duplicates stored");
    assert_eq!(sorted, (0..N).collect::<Vec<_>>(), "samples lost");
    assert_eq!(rig.spool_len(), 0, "the spool was replayed and emptied");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_collector_loses_nothing_it_acknowledged() {
    let test = "a_killed_collector_loses_nothing_it_acknowledged";
    let Some((url, host, port)) = pilotline_tests::test_broker(test) else {
        return;
    };
    let rig = Rig::new("crash", &url);
    let db = rig.dir.path().join("pilotline.db");
    let db_url = format!("sqlite://{}", db.display());
    rig.open_session(&host, port).await;
    let mut collector = rig.collector(&db_url);
    let store = open_when_ready(&db_url, &db).await;

    // Kill the collector in the middle of the stream, with messages in flight.
    let publisher = {
        let (host, feed) = (host.clone(), rig.feed());
        tokio::spawn(
            async move { publish(&host, port, &feed, 0..600, Duration::from_millis(3)).await },
        )
    };
    let first = await_stored(&store, &rig, 100, Duration::from_secs(30)).await;
    assert!(first.len() >= 100, "{}", first.len());
    // SIGKILL: no shutdown, no flush.
    collector.start_kill().unwrap();
    collector.wait().await.unwrap();
    // The broker keeps what was not acknowledged, and queues what arrives meanwhile.
    publisher.await.unwrap();
    let at_kill = stored(&store, &rig).await.len();
    assert!(at_kill < 600, "the kill came too late to test anything");
    let mut collector = rig.collector(&db_url);
    let got = await_stored(&store, &rig, 600, Duration::from_secs(60)).await;
    let _ = collector.start_kill();
    let _ = collector.wait().await;
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "duplicates stored");
    assert_eq!(sorted, (0..600).collect::<Vec<_>>(), "samples lost");
    store.close().await;
}

/// Opens the SQLite store once the collector has created and migrated it.
async fn open_when_ready(db_url: &str, path: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if path.exists()
            && let Ok(store) = Store::open(db_url).await
            && store.samples("x", None, None, None, None, 1).await.is_ok()
        {
            return store;
        }
        assert!(
            Instant::now() < deadline,
            "the collector never created {db_url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
