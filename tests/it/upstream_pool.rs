//! The upstream's keep-alive connections (`src/keepalive.rs`): one
//! connection carries request after request, whatever the answers' bodies
//! (large, none for HEAD, after a request body); and a response a client
//! leaves half-read never lends its connection to the next request.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::routes::public;
use crate::common::*;

/// The address the upstream saw each request come from, in order.
fn peers(h: &Harness) -> Vec<SocketAddr> {
    h.upstream.seen().iter().filter_map(|s| s.peer).collect()
}

#[tokio::test]
async fn one_connection_carries_request_after_request() {
    let h = Harness::start(public!()).await;
    assert_eq!(h.get("/public/a", &[]).await.status, 200);
    let big = h.get("/public/b?echo_bytes=300000", &[]).await;
    assert_eq!((big.status.as_u16(), big.body.len()), (200, 300_000));
    let head = h.send("HEAD", "/public/c", &[], "").await;
    assert_eq!(head.status, 200);
    let posted = h.send("POST", "/public/d", &[], "a body to send").await;
    assert_eq!(posted.status, 200);
    assert_eq!(h.get("/public/e", &[]).await.status, 200);
    let seen = peers(&h);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(
        seen.windows(2).all(|pair| pair[0] == pair[1]),
        "one pooled connection: {seen:?}"
    );
}

#[tokio::test]
async fn a_response_left_half_read_never_serves_the_next_request() {
    let h = Harness::start(public!()).await;
    // A client reads the start of a large answer and goes away.
    let mut client = TcpStream::connect(h.proxy).await.unwrap();
    client
        .write_all(b"GET /public/big?echo_bytes=8000000 HTTP/1.1\r\nHost: pool.test\r\n\r\n")
        .await
        .unwrap();
    let mut start = vec![0u8; 16 * 1024];
    let read = client.read(&mut start).await.unwrap();
    assert!(String::from_utf8_lossy(&start[..read]).starts_with("HTTP/1.1 200"));
    drop(client);
    // The next requests get whole answers of their own.
    for n in 0..5 {
        let reply = h
            .get(&format!("/public/next{n}?echo_bytes=1000"), &[])
            .await;
        assert_eq!(
            (reply.status.as_u16(), reply.body.len()),
            (200, 1000),
            "request {n}"
        );
    }
    let json = h.get("/public/json", &[]).await;
    assert_eq!(json.json()["target"], "/public/json");
}
