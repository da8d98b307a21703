//! Helpers for end-to-end tests that start the real `pilotline` binary.

pub mod cpu;
pub mod profiles;
pub mod stdf;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `pilotline` binary built alongside these tests (`cargo test --workspace` builds it).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(format!("pilotline{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the workspace tests (`cargo test --workspace`), which build it",
        bin.display()
    );
    bin
}

/// A command running the binary with a clean `PILOTLINE_*` environment plus `env`.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("PILOTLINE_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("PILOTLINE_LOG", "warn");
    cmd.kill_on_drop(true);
    cmd
}

/// Runs the binary to completion; returns (success, stdout, stderr).
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = command(args, env).output().await.expect("run pilotline");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running server process and what it printed before it started answering.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Base URL, `http://HOST:PORT`.
    pub url: String,
    /// Lines printed on stdout up to the listening line.
    pub printed: Vec<String>,
}

/// Starts the binary with `args` and waits (up to 60 s) for its "listening on http://…" line.
pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn pilotline");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            printed.push(line.clone());
            if let Some(pos) = line.find("listening on http://") {
                return line[pos + "listening on ".len()..].trim().to_string();
            }
        }
        panic!("pilotline exited before listening; printed {printed:?}");
    })
    .await
    .expect("pilotline did not start listening within 60 s");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running {
        child,
        url,
        printed,
    }
}

/// Creates a token through the CLI and returns it (the last line of the output).
pub async fn token(db_url: &str, user: &str, role: &str, tenant: Option<&str>) -> String {
    let mut args = vec!["token", "create", "--user", user, "--role", role];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let (ok, out, err) = run(&args, &[("PILOTLINE_DATABASE_URL", db_url)]).await;
    assert!(ok, "token create failed: {err}");
    out.lines().last().expect("token line").trim().to_string()
}

/// A fresh PostgreSQL database URL for an end-to-end test, or `None` (with a loud note).
pub async fn postgres_url(test: &str) -> Option<(String, PostgresGuard)> {
    let Ok(admin) = std::env::var("PILOTLINE_TEST_POSTGRES_URL") else {
        if std::env::var("PILOTLINE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!(
                "{test}: PILOTLINE_TEST_POSTGRES_URL is not set but PILOTLINE_REQUIRE_POSTGRES=1"
            );
        }
        eprintln!(
            "\n*** SKIPPED the PostgreSQL half of {test}: set PILOTLINE_TEST_POSTGRES_URL ***\n"
        );
        return None;
    };
    let name = format!("pilotline_e2e_{}_{}", std::process::id(), rand_suffix());
    let status = std::process::Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql");
    assert!(status.success(), "CREATE DATABASE failed");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.clone());
    Some((format!("{base}/{name}"), PostgresGuard { admin, name }))
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

/// Drops the test database when dropped.
pub struct PostgresGuard {
    admin: String,
    name: String,
}

impl Drop for PostgresGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}

/// GETs `url` with a bearer token and parses the JSON answer, failing the test on any error.
pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let res = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    assert!(res.status().is_success(), "GET {url}: {}", res.status());
    res.json().await.expect("JSON body")
}

/// A Mosquitto of this machine started with the settings in `conf` (e.g.
/// `ops/mosquitto/pilotline.conf`) on a free local port, its persistence in a temporary
/// directory; stopped when dropped.
pub struct OwnBroker {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl OwnBroker {
    /// Starts it; panics when `mosquitto` cannot be started or does not listen within 10 s.
    pub fn start(conf: &std::path::Path) -> OwnBroker {
        let settings = std::fs::read_to_string(conf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", conf.display()));
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {}/\n",
            dir.path().display()
        );
        text.push_str(&settings);
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, text).unwrap();
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cannot start mosquitto");
        // Ready once it accepts connections.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OwnBroker {
            child,
            _dir: dir,
            port,
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sql` with `psql` against `admin` (notices quiet); panics when it fails.
pub fn psql(admin: &str, sql: &str) {
    let ok = std::process::Command::new("psql")
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .args([admin, "-qc", sql])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "psql {sql} failed");
}

/// The URL of database `db` on the server of `admin` (its last path segment replaced).
pub fn with_db(admin: &str, db: &str) -> String {
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.to_string());
    format!("{base}/{db}")
}

/// The broker named by `PILOTLINE_TEST_MQTT_URL` as (URL, host, port), or `None` with a loud
/// note naming `test` (a failure when `PILOTLINE_REQUIRE_BROKER=1`).
pub fn test_broker(test: &str) -> Option<(String, String, u16)> {
    match std::env::var("PILOTLINE_TEST_MQTT_URL") {
        Ok(url) => {
            let rest = url.trim_start_matches("mqtt://");
            let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
            Some((
                url.clone(),
                host.to_string(),
                port.parse().expect("broker port"),
            ))
        }
        Err(_) if std::env::var("PILOTLINE_REQUIRE_BROKER").is_ok_and(|v| v == "1") => {
            panic!("{test}: PILOTLINE_TEST_MQTT_URL is not set but PILOTLINE_REQUIRE_BROKER=1")
        }
        Err(_) => {
            eprintln!(
                "\n*** SKIPPED {test}: set PILOTLINE_TEST_MQTT_URL (mqtt://127.0.0.1:1883) ***\n"
            );
            None
        }
    }
}

/// Creates `client_id`'s persistent session on the broker, subscribed to `topics` at QoS 1,
/// before its collector first runs, so nothing published from now on can miss it.
pub async fn open_mqtt_session(host: &str, port: u16, client_id: &str, topics: &[String]) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_clean_session(false);
    // Room for every SUBSCRIBE before the event loop is first polled.
    let (client, mut el) = AsyncClient::new(o, topics.len() + 10);
    for t in topics {
        client
            .subscribe(t, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }
    let mut acks = 0;
    while acks < topics.len() {
        if let Event::Incoming(Packet::SubAck(ack)) = el.poll().await.expect("broker") {
            assert!(
                ack.return_codes
                    .iter()
                    .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure)),
                "the broker refused a subscription of {client_id}: {ack:?}"
            );
            acks += 1;
        }
    }
    client.disconnect().await.expect("disconnect");
    while !matches!(
        el.poll().await,
        Err(_) | Ok(Event::Outgoing(Outgoing::Disconnect))
    ) {}
}

/// pgbench TPC-B (scale 10) with `clients` clients for `seconds` on a scratch database of the
/// server of `admin`: prints tps, p50 and p99 (and, on Linux, the CPU each transaction cost
/// PostgreSQL and pgbench), and answers the tps (`None` when pgbench cannot run).
pub fn pgbench(admin: &str, seconds: u64, clients: usize) -> Option<f64> {
    psql(
        admin,
        "DROP DATABASE IF EXISTS pilotline_pgbench WITH (FORCE)",
    );
    psql(admin, "CREATE DATABASE pilotline_pgbench");
    // Pilotline's sqlx client speaks plain TCP; pgbench's libpq would prefer TLS. Same footing.
    let url = format!("{}?sslmode=disable", with_db(admin, "pilotline_pgbench"));
    let init = std::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", &url])
        .output()
        .ok()?;
    if !init.status.success() {
        eprintln!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        return None;
    }
    let logs = tempfile::tempdir().ok()?;
    let prefix = logs.path().join("pgbench");
    let cpu_before = cpu::read("-");
    let out = std::process::Command::new("pgbench")
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-l",
        ])
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(&url)
        .output()
        .ok()?;
    let cpu = cpu::read("-").since(&cpu_before);
    let text = String::from_utf8_lossy(&out.stdout);
    let tps: Option<f64> = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| {
            l.trim_start_matches("tps = ")
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
    // Per-transaction log lines: client, transaction, latency (µs), script, epoch, µs.
    let mut latencies: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(logs.path()).ok()?.flatten() {
        let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
        latencies.extend(
            body.lines()
                .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()),
        );
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(f64::NAN, |v| *v as f64 / 1000.0)
    };
    if let Some(t) = tps {
        println!(
            "   pgbench: {t:>8.0} TPC-B tps  p50 {:>6.2} ms  p99 {:>6.2} ms  ({clients} clients, 2 threads, scale 10, {seconds} s)",
            pct(0.50),
            pct(0.99)
        );
        let n = t * seconds as f64;
        if cpu.postgres > 0.0 && n > 0.0 {
            println!(
                "       CPU per TPC-B transaction: PostgreSQL {:.2} ms, pgbench {:.2} ms",
                cpu.postgres / n * 1e3,
                cpu.children / n * 1e3
            );
        }
    }
    psql(
        admin,
        "DROP DATABASE IF EXISTS pilotline_pgbench WITH (FORCE)",
    );
    tps
}
