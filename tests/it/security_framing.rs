//! SECURITY_CASES section C: request framings that smuggle a second request
//! past a proxy, sent as raw bytes so no client library cleans them up
//! first. Each is refused with 400 and the connection closed, and the
//! upstream (which records every request it gets) sees nothing — except
//! Content-Length together with chunked Transfer-Encoding, which hyper
//! handles as RFC 9112 §6.1 says: the body is read as chunked, the
//! Content-Length dropped, and the connection closed after the answer, so
//! whatever follows the chunked body (the smuggled request) is never read.

use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPEN: &str = "[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";

/// Sends `bytes`, reads until the gateway closes (bounded); the status of
/// the first answer, and whether the connection closed.
async fn send_raw(h: &Harness, bytes: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut all))
        .await
        .expect("the gateway kept a broken framing's connection open");
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn refused(name: &str, bytes: &[u8]) {
    let h = Harness::start(OPEN).await;
    let (status, text) = send_raw(&h, bytes).await;
    assert_eq!(status, 400, "{name}: {text}");
    assert!(h.seen().is_empty(), "{name}: forwarded {:?}", h.seen());
}

#[tokio::test]
async fn c18_content_length_and_transfer_encoding_never_smuggle() {
    for (name, bytes) in [
        ("CL then TE", &b"POST /a HTTP/1.1\r\nHost: g\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: g\r\n\r\n"[..]),
        ("TE then CL", &b"POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: g\r\n\r\n"[..]),
    ] {
        let h = Harness::start(OPEN).await;
        let (status, text) = send_raw(&h, bytes).await;
        let seen = h.seen();
        if status != 400 {
            // Read as chunked (an empty body), answered once, then closed.
            assert_eq!(status, 200, "{name}: {text}");
            assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{name}: {text}");
            assert!(text.to_ascii_lowercase().contains("connection: close"), "{name}: {text}");
            assert_eq!(seen.len(), 1, "{name}: {seen:?}");
            assert_eq!(seen[0].target, "/a", "{name}");
            assert_eq!(seen[0].body_len, 0, "{name}");
            let names: Vec<&str> = seen[0].headers.iter().map(|(n, _)| n.as_str()).collect();
            assert!(
                !(names.contains(&"content-length") && names.contains(&"transfer-encoding")),
                "{name}: both framings forwarded: {names:?}"
            );
        }
        assert!(seen.iter().all(|s| s.target != "/admin"), "{name}: smuggled {seen:?}");
    }
}

#[tokio::test]
async fn c18_odd_transfer_encodings() {
    refused(
        "two TE headers",
        b"POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    )
    .await;
    refused(
        "space before the colon",
        b"POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    refused(
        "chunked not last",
        b"POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    )
    .await;
}

#[tokio::test]
async fn c18_malformed_content_lengths() {
    refused(
        "plus sign",
        b"POST /a HTTP/1.1\r\nHost: g\r\nContent-Length: +4\r\n\r\nabcd",
    )
    .await;
    refused(
        "differing duplicates",
        b"POST /a HTTP/1.1\r\nHost: g\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    )
    .await;
    refused(
        "a list",
        b"POST /a HTTP/1.1\r\nHost: g\r\nContent-Length: 4, 5\r\n\r\nabcde",
    )
    .await;
}

#[tokio::test]
async fn c18_overflowing_chunk_size() {
    let h = Harness::start(OPEN).await;
    let (status, text) = send_raw(
        &h,
        b"POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    // The head was fine, so the request may have started upstream; the
    // body is refused and never completed there.
    assert!(matches!(status, 400 | 502 | 0), "{text}");
    assert!(h.seen().iter().all(|s| s.body_len == 0), "{:?}", h.seen());
}
