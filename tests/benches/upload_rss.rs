//! Peak memory of the server while an engineer uploads a large STDF file.
//!
//! Run: `cargo build --release -p pilotline && cargo bench -p pilotline-tests --bench upload_rss`
//! Env: `BENCH_UPLOAD_MB` (default 2048), `PILOTLINE_TEST_POSTGRES_URL` (adds the PostgreSQL
//! run).
//!
//! The file is generated with rust-stdf's writer (wafers of 10,000 dies, each a PIR, 20 PTRs and
//! a PRR, 2 % retested) until it holds the size asked for. A real `pilotline serve` process
//! is started on a fresh store; the file is sent as one `POST /api/v1/test-files` body, read
//! from disk in 64 KiB pieces, so the client holds nothing. The figure is the server's peak
//! resident set (`VmHWM` of `/proc/PID/status`) before and after, beside the file's size, and
//! the time until the import answered.

use pilotline_tests::stdf::{Until, write_probe_file};
use std::path::Path;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident set in KiB (`VmHWM`).
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Sends the file as one request body, streamed from disk; returns the answer's status line and
/// body.
async fn upload(base: &str, token: &str, file: &Path, bytes: u64) -> (String, String) {
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/test-files?name=big.stdf&create_lots=true HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {bytes}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut f = tokio::fs::File::open(file).await.unwrap();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        conn.write_all(&buf[..n]).await.unwrap();
    }
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

async fn run(label: &str, db_url: &str, blob_dir: &Path, file: &Path, bytes: u64) {
    let token = pilotline_tests::token(db_url, "erin", "engineer", None).await;
    let blobs = blob_dir.display().to_string();
    let env = [
        ("PILOTLINE_DATABASE_URL", db_url),
        ("PILOTLINE_LISTEN", "127.0.0.1:0"),
        ("PILOTLINE_BLOB_DIR", blobs.as_str()),
    ];
    let server = pilotline_tests::start(&["serve"], &env).await;
    let pid = server.child.id().expect("server pid");
    let before = peak_kib(pid);
    let t = Instant::now();
    let (status, body) = upload(&server.url, &token, file, bytes).await;
    let secs = t.elapsed().as_secs_f64();
    let after = peak_kib(pid);
    assert!(
        status.contains(" 201 ") || status.contains(" 200 "),
        "{status}: {body}"
    );
    let answer: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_default();
    println!(
        "  {label:<9} peak RSS {:>5.1} MiB before, {:>5.1} MiB after; {} part results stored in {secs:.1} s ({:.0} MB/s)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        answer["part_results"],
        bytes as f64 / 1e6 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mb = env_or("BENCH_UPLOAD_MB", 2048u64);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.stdf");
    let t = Instant::now();
    let dies = 10_000;
    let (bytes, parts) = write_probe_file(&file, "BIG-LOT", dies, 20, Until::Bytes(mb << 20));
    println!(
        "STDF upload: {:.2} GB uncompressed, wafers of {dies} dies, {parts} part results (written in {:.0} s)",
        bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let sqlite = dir.path().join("rss.db");
    let url = format!("sqlite://{}", sqlite.display());
    run(
        "sqlite",
        &url,
        &dir.path().join("blobs-sqlite"),
        &file,
        bytes,
    )
    .await;
    match pilotline_tests::postgres_url("upload_rss").await {
        Some((url, _guard)) => {
            run("postgres", &url, &dir.path().join("blobs-pg"), &file, bytes).await
        }
        None => println!("  postgres: skipped (set PILOTLINE_TEST_POSTGRES_URL)"),
    }
}
