//! Helpers for end-to-end tests that start the real `pilotline` binary.

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
