//! Timeouts and limits, each answered the documented way.

use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUTES: &str =
    "[[routes]]\npath = \"/small/**\"\naccess = \"anonymous\"\nmax_body = 1024\n\n\
                      [[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";

fn with_server_settings(settings: &str) -> impl FnOnce(&str) -> String + '_ {
    move |upstream| {
        config(upstream, ROUTES).replace(
            "admin_listen = \"127.0.0.1:0\"",
            &format!("admin_listen = \"127.0.0.1:0\"\n{settings}"),
        )
    }
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_closed_after_the_header_timeout() {
    let h = Harness::with_config(with_server_settings("header_read_timeout = \"300ms\"")).await;
    let mut silent = TcpStream::connect(h.proxy).await.unwrap();
    let mut buffer = [0u8; 64];
    // Bounded by the test's own limit; the gateway closes first.
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer))
        .await
        .expect("never closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // A client that sends a partial head is closed too.
    let mut slow = TcpStream::connect(h.proxy).await.unwrap();
    slow.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
        .await
        .expect("never closed");
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn oversized_or_too_many_headers_are_431() {
    let h = Harness::start(ROUTES).await;
    assert_eq!(h.raw(&request_with_headers(1, 70_000)).await.status, 431);
    assert_eq!(h.raw(&request_with_headers(150, 1)).await.status, 431);
    assert!(h.seen().is_empty());
    // Within the limits, fine.
    assert_eq!(
        h.get("/x", &[("x-some", &"b".repeat(10_000))]).await.status,
        200
    );
}

/// hyper bounds a request head only while it is incomplete in its read
/// buffer, and a kept-alive connection's buffer may have grown past the
/// limit: the gateway measures every head itself.
#[tokio::test]
async fn an_oversized_head_on_a_kept_alive_connection_is_431_too() {
    for first_size in [1, 20_000, 60_000] {
        let h = Harness::start(ROUTES).await;
        one_kept_alive_then_oversized(&h, first_size).await;
    }
}

async fn one_kept_alive_then_oversized(h: &Harness, first_size: usize) {
    let mut stream = tokio::net::TcpStream::connect(h.proxy).await.unwrap();
    let small =
        "GET /x HTTP/1.1\r\nHost: a\r\nX-Some: ".to_string() + &"b".repeat(first_size) + "\r\n\r\n";
    let big = request_with_headers(1, 100_000);
    let replies = async {
        stream.write_all(small.as_bytes()).await.unwrap();
        let first = read_head_and_body(&mut stream).await;
        stream.write_all(&big).await.unwrap();
        let second = read_head_and_body(&mut stream).await;
        (first, second)
    };
    let (first, second) = tokio::time::timeout(Duration::from_secs(10), replies)
        .await
        .expect("both answered");
    assert!(first.starts_with("HTTP/1.1 200"), "{first_size}: {first}");
    assert!(second.starts_with("HTTP/1.1 431"), "{first_size}: {second}");
    // A head still incomplete when hyper's buffer fills is refused by hyper
    // itself (an empty 431); a complete one, as after a small first
    // request, reaches the gateway, which answers like any denial.
    if first_size == 1 || !second.contains("content-length: 0") {
        assert!(
            second.contains("x-portcullis-reason: headers_too_large"),
            "{first_size}: {second}"
        );
        assert!(
            second.ends_with(r#"{"detail":"Request header fields too large."}"#),
            "{first_size}: {second}"
        );
    }
    assert_eq!(h.seen().len(), 1, "only the small request was forwarded");
}

/// Reads one response with a Content-Length body from `stream`.
async fn read_head_and_body(stream: &mut tokio::net::TcpStream) -> String {
    let mut all = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while !response_complete(&all) {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a whole response");
        all.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn header_limits_are_configurable() {
    let h = Harness::with_config(with_server_settings(
        "max_header_bytes = 16384\nmax_headers = 20",
    ))
    .await;
    assert_eq!(h.raw(&request_with_headers(1, 20_000)).await.status, 431);
    assert_eq!(h.raw(&request_with_headers(25, 1)).await.status, 431);
}

#[tokio::test]
async fn a_route_max_body_is_413_and_never_forwarded() {
    let h = Harness::start(ROUTES).await;
    let body = "x".repeat(2048);
    h.send("POST", "/small/upload", &[], &body)
        .await
        .assert_denied(
            413,
            "body_too_large",
            r#"{"detail":"Request body too large."}"#,
        );
    // Chunked (no Content-Length): read up to the limit, then refused.
    let chunked = format!(
        "POST /small/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let reply = h.raw(chunked.as_bytes()).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(h.seen().is_empty(), "nothing forwarded");
    // Under the limit, forwarded whole, chunked or not.
    assert_eq!(
        h.send("POST", "/small/upload", &[], "small").await.echoed()["body"],
        "small"
    );
    let small = "POST /small/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nsmall\r\n0\r\n\r\n";
    let reply = h.raw(small.as_bytes()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.seen().last().unwrap().body.as_deref(), Some("small"));
    // Other routes have no limit.
    assert_eq!(
        h.send("POST", "/big", &[], &body).await.echoed()["body_len"],
        2048
    );
}

#[tokio::test]
async fn excess_connections_wait_for_a_free_slot() {
    let h = Harness::with_config(with_server_settings("max_connections = 2")).await;
    let first = TcpStream::connect(h.proxy).await.unwrap();
    let _second = TcpStream::connect(h.proxy).await.unwrap();
    // Wait (bounded) until both are accepted.
    let open = |text: String| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix("portcullis_open_connections "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    for _ in 0..200 {
        if open(h.admin("GET", "/metrics", None, "").await.text()) == 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A third client's request waits in the listen queue...
    let third = tokio::spawn({
        let proxy = h.proxy;
        async move {
            raw_exchange(
                proxy,
                b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
            .await
            .status
        }
    });
    tokio::task::yield_now().await;
    assert_eq!(
        open(h.admin("GET", "/metrics", None, "").await.text()),
        2.0,
        "never more than the limit"
    );
    // ...and is served as soon as a slot frees.
    drop(first);
    assert_eq!(third.await.unwrap(), 200);
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_408() {
    let h = Harness::with_config(with_server_settings("body_read_timeout = \"300ms\"")).await;
    // Streaming to the upstream: announces 100 bytes, sends 10, then stalls.
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("no answer")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        reply.contains("x-portcullis-reason: body_timeout"),
        "{reply}"
    );
    assert!(
        reply.ends_with(r#"{"detail":"Request body read timed out."}"#),
        "{reply}"
    );
    // While the gateway reads the body itself (a route's max_body, chunked).
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream
        .write_all(b"POST /small/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("no answer")
        .unwrap();
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 408"));
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout_but_slow_answers_are_not() {
    // The header timeout is far longer than the test's bound, so only the
    // idle timeout can close these connections.
    let h = Harness::with_config(with_server_settings(
        "header_read_timeout = \"60s\"\nidle_timeout = \"300ms\"",
    ))
    .await;
    // HTTP/1: an answer slower than the idle timeout still arrives whole,
    // then the kept-alive connection, now idle, is closed.
    let mut http1 = TcpStream::connect(h.proxy).await.unwrap();
    http1
        .write_all(b"GET /x?echo_delay_ms=900 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), http1.read_to_end(&mut received))
        .await
        .expect("the idle connection was never closed");
    assert!(read.is_ok(), "{read:?}");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"/x?echo_delay_ms=900\""), "{text}");

    // HTTP/2 (prior knowledge): hyper never closes a connection without
    // streams by itself; the gateway does.
    let stream = TcpStream::connect(h.proxy).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driven = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/h2", h.proxy))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    tokio::time::timeout(Duration::from_secs(10), driven)
        .await
        .expect("the idle HTTP/2 connection was never closed")
        .unwrap()
        .ok();
    assert_eq!(h.seen().len(), 2);
}
