//! Faults around the gateway, each answered as documented and bounded in
//! time: an upstream that answers garbage (502) or dies mid-body (the
//! client's response ends, nothing hangs, the next request works), and a
//! slowloris client dribbling its head one byte at a time (cut off by
//! `header_read_timeout` however steadily it sends).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OPEN: &str = "[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";

/// An upstream that reads each request head and answers with `answer`
/// (then closes the connection), for as long as the test runs.
async fn misbehaving_upstream(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = stream.write_all(answer).await;
                // Dropped: the connection closes (a reset if unread data remains).
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_upstream_answering_garbage_is_502() {
    let upstream = misbehaving_upstream(b"this is not HTTP at all\r\n\r\n").await;
    let h = Harness::with_config(|_| config(&format!("http://{upstream}"), OPEN)).await;
    h.get("/x", &[]).await.assert_denied(
        502,
        "upstream_unavailable",
        r#"{"detail":"Upstream unavailable."}"#,
    );
}

#[tokio::test]
async fn an_upstream_dying_mid_body_ends_the_response_without_a_hang() {
    // Promises a megabyte, sends a kilobyte, and goes away.
    static PARTIAL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n\
        0123456789012345678901234567890123456789012345678901234567890123\
        0123456789012345678901234567890123456789012345678901234567890123";
    let upstream = misbehaving_upstream(PARTIAL).await;
    let h = Harness::with_config(|_| config(&format!("http://{upstream}"), OPEN)).await;
    let started = Instant::now();
    let mut client = TcpStream::connect(h.proxy).await.unwrap();
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut received))
        .await
        .expect("the client's response never ended");
    let text = String::from_utf8_lossy(&received);
    // The head was already on its way: the client sees 200, then the
    // connection closes short of the promised length (never a hang, never
    // a body padded or retried).
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        read.is_err() || received.len() < 1_048_576,
        "{}",
        received.len()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The gateway itself is fine.
    let after = h.admin("GET", "/healthz", None, "").await;
    assert_eq!(after.status, 200);
}

#[tokio::test]
async fn a_slowloris_head_is_cut_off_by_the_header_timeout_however_steady() {
    let h = Harness::with_config(|upstream| {
        config(upstream, OPEN).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\nheader_read_timeout = \"1s\"",
        )
    })
    .await;
    let mut client = TcpStream::connect(h.proxy).await.unwrap();
    let head = b"GET /x HTTP/1.1\r\nHost: gateway.test\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut cut_off = false;
    // One byte every 100 ms: the whole head would take about 10 s.
    for byte in head.iter() {
        if client.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut probe = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(100), client.read(&mut probe)).await {
            // Closed, or answered (408) and closed: cut off either way.
            Ok(Ok(_)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    assert!(cut_off, "the dribbled head was read to the end");
    assert!(
        elapsed < Duration::from_secs(4),
        "cut off only after {elapsed:?}"
    );
    assert!(h.seen().is_empty(), "nothing may be forwarded");
}
