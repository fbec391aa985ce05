//! Forwarding through a real gateway to a real upstream: what the upstream
//! receives, streaming, HTTP/2 from clients, and upstream failures.

use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const OPEN: &str = r#"
[[routes]]
path = "/**"
access = "anonymous"
"#;

#[tokio::test]
async fn forwards_method_target_body_and_host() {
    let h = Harness::start(OPEN).await;
    let reply = h
        .send(
            "POST",
            "/api/items/?page=2&q=a%20b",
            &[("host", "app.example"), ("content-type", "text/plain")],
            "hello",
        )
        .await;
    let echo = reply.echoed();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["target"], "/api/items/?page=2&q=a%20b");
    assert_eq!(echo["body"], "hello");
    assert_eq!(echoed_header(&echo, "host"), ["app.example"]);
    assert_eq!(echoed_header(&echo, "content-type"), ["text/plain"]);
}

const CLIENT_FORWARDING_CLAIMS: &[(&str, &str)] = &[
    ("host", "app.example"),
    ("x-forwarded-for", "203.0.113.7"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-proto", "https"),
    ("forwarded", "for=203.0.113.7;proto=https"),
    ("x-real-ip", "203.0.113.7"),
    ("x-forwarded-port", "443"),
];

#[tokio::test]
async fn forwarding_headers_from_clients_are_replaced() {
    let h = Harness::start(OPEN).await;
    let echo = h.get("/", CLIENT_FORWARDING_CLAIMS).await.echoed();
    assert_eq!(echoed_header(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(echoed_header(&echo, "x-forwarded-host"), ["app.example"]);
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["http"]);
    for dropped in ["forwarded", "x-real-ip", "x-forwarded-port"] {
        assert!(
            echoed_header(&echo, dropped).is_empty(),
            "{dropped} was forwarded"
        );
    }
}

#[tokio::test]
async fn forwarding_headers_from_trusted_proxies_are_kept_and_appended_to() {
    let h = Harness::with_config(|upstream| {
        config(upstream, OPEN).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]",
        )
    })
    .await;
    let echo = h.get("/", CLIENT_FORWARDING_CLAIMS).await.echoed();
    assert_eq!(
        echoed_header(&echo, "x-forwarded-for"),
        ["203.0.113.7, 127.0.0.1"]
    );
    assert_eq!(echoed_header(&echo, "x-forwarded-host"), ["evil.example"]);
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["https"]);
    assert_eq!(echoed_header(&echo, "x-real-ip"), ["203.0.113.7"]);
}

#[tokio::test]
async fn lower_case_methods_are_forwarded_upper_cased() {
    let h = Harness::start(OPEN).await;
    let reply = h
        .raw(b"delete /x HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(h.seen()[0].method, "DELETE");
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let h = Harness::start(OPEN).await;
    let reply = h
        .raw(
            b"GET /x HTTP/1.1\r\nHost: gw.test\r\nConnection: close, X-Private\r\nX-Private: 1\r\n\
              Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
        )
        .await;
    assert_eq!(reply.status, 200);
    let seen = &h.seen()[0];
    for gone in ["x-private", "keep-alive", "proxy-connection", "te"] {
        assert!(seen.header_values(gone).is_empty(), "{gone} was forwarded");
    }
    assert_eq!(seen.header_values("x-kept"), ["yes"]);
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    let h = Harness::start(OPEN).await;
    let upload = "u".repeat(20 * 1024 * 1024);
    let echo = h.send("PUT", "/upload", &[], &upload).await.echoed();
    assert_eq!(echo["body_len"], 20 * 1024 * 1024);

    let size: u64 = 64 * 1024 * 1024;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let url = format!("http://{}/download?echo_bytes={size}", h.proxy);
    let response = client.get(url.parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = 0u64;
    let mut frames = 0u32;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len() as u64;
            frames += 1;
        }
    }
    assert_eq!(received, size);
    assert!(
        frames > 1,
        "the response arrived in one piece: it was buffered"
    );
}

#[tokio::test]
async fn upstream_refusing_connections_is_502() {
    // A port that was free a moment ago and now has no listener.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let h = Harness::with_config(|_| config(&format!("http://{closed}"), OPEN)).await;
    h.get("/x", &[]).await.assert_denied(
        502,
        "upstream_unavailable",
        r#"{"detail":"Upstream unavailable."}"#,
    );
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let h = Harness::with_config(|upstream| {
        config(upstream, OPEN).replace("timeout = \"10s\"", "timeout = \"200ms\"")
    })
    .await;
    let started = std::time::Instant::now();
    h.get("/x?echo_delay_ms=5000", &[]).await.assert_denied(
        504,
        "upstream_timeout",
        r#"{"detail":"Upstream timed out."}"#,
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout did not apply"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_clients_are_served() {
    let h = Harness::start(
        r#"
[[routes]]
path = "/**"
access = "authenticated"
"#,
    )
    .await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    // HTTP/2 sends each cookie as its own field; they must be joined.
    let request = Request::get(format!("http://{}/h2?x=1", h.proxy))
        .header("cookie", "theme=dark")
        .header("cookie", format!("sessionid={id}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let seen = &h.seen()[0];
    assert_eq!(seen.target, "/h2?x=1");
    // One Cookie header upstream, as an HTTP/1.1 server expects.
    assert_eq!(
        seen.header_values("cookie"),
        [format!("theme=dark; sessionid={id}").as_str()]
    );
    assert_eq!(seen.header_values("x-remote-user"), ["alice"]);
    assert_eq!(seen.header_values("host"), [h.proxy.to_string().as_str()]);
}
