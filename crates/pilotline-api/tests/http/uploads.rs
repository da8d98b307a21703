//! Uploads are checked before their body is read — the caller's role, the declared size, a
//! free upload place — and stream to the blob store, never whole in memory.

use crate::harness::Server;
use pilotline_domain::Code;
use pilotline_store::testing::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends the head of an upload declaring `length` bytes, and `body` (maybe far less); returns
/// the open connection.
async fn start_upload(s: &Server, who: &str, length: u64, body: &[u8]) -> TcpStream {
    let addr = s.base.trim_start_matches("http://");
    let mut c = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/test-files?create_lots=true HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {length}\r\n\r\n",
        s.tokens[who]
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(body).await.unwrap();
    c
}

/// The status and body of the answer on `c` (the server answers without the rest of the body).
async fn answer(c: &mut TcpStream) -> (u16, serde_json::Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed without answering");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head[9..12].parse().unwrap();
                return (status, serde_json::from_str(&body[..length]).unwrap());
            }
        }
    }
}

#[tokio::test]
async fn uploads_are_refused_before_their_body_is_read() {
    let s = Server::start(TestDb::sqlite()).await;
    // A customer's 512 MB upload: 403 at once, not a byte of the body sent or read.
    let mut c = start_upload(&s, "acme", 512 << 20, b"").await;
    let (status, body) = answer(&mut c).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], Code::RoleForbidden.as_str());
    // An engineer declaring more than the limit: 413 at once.
    let mut c = start_upload(&s, "engineer", 8 << 30, b"").await;
    let (status, body) = answer(&mut c).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], Code::BodyTooLarge.as_str());
    // Two uploads streaming (each still waiting for its body) take both places: once both
    // are writing into the blob store's incoming files, a third is 429 at once; once one goes
    // away, its place is free again.
    let incoming = s.blob_dir().join("incoming");
    let writing = || std::fs::read_dir(&incoming).map_or(0, |d| d.count());
    let first = start_upload(&s, "engineer", 1 << 20, b"STDF...").await;
    let second = start_upload(&s, "engineer", 1 << 20, b"STDF...").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while writing() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the two uploads never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut third = start_upload(&s, "engineer", 4, b"junk").await;
    let (status, body) = answer(&mut third).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], Code::TooManyUploads.as_str());
    drop((first, second));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut again = start_upload(&s, "engineer", 4, b"junk").await;
        let (status, body) = answer(&mut again).await;
        if status == 422 {
            assert_eq!(body["code"], Code::TestFileInvalid.as_str(), "{body}");
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the places were never freed"
        );
        tokio::task::yield_now().await;
    }
    s.stop().await;
}
