//! Reload, key by key: every restart-only setting that changed is named in
//! `POST /reload`'s answer and keeps its running value; every live one
//! applies to the next connection or request. Real gateways, a real
//! upstream, real sockets.

use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPEN: &str = "[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";
const ADMIN_LISTEN: &str = "admin_listen = \"127.0.0.1:0\"";

/// The test config with `server` added to `[server]` and `tail` at the end.
fn text(upstream: &str, server: &str, tail: &str) -> String {
    config(upstream, &format!("{OPEN}\n{tail}"))
        .replace(ADMIN_LISTEN, &format!("{ADMIN_LISTEN}\n{server}"))
}

/// A gateway started from a file the test rewrites.
async fn from_file(server: &str, tail: &str) -> (Harness, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let h = Harness::with_config(|upstream| {
        let text = text(upstream, server, tail);
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    h.gateway.set_config_file(file.path().to_path_buf());
    (h, file)
}

/// Rewrites the file (same upstream) and reloads; the answer's
/// `needs_restart`.
async fn reload_with(
    h: &Harness,
    file: &tempfile::NamedTempFile,
    server: &str,
    tail: &str,
) -> serde_json::Value {
    std::fs::write(file.path(), text(&h.upstream.url(), server, tail)).unwrap();
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["status"], "reloaded");
    reply.json()["needs_restart"].clone()
}

#[tokio::test]
async fn each_restart_only_key_is_named_and_keeps_its_running_value() {
    // (what the file changes in [server], what it adds at the end, the key)
    let cases: &[(&str, &str, &str)] = &[
        ("worker_threads = 3", "", "server.worker_threads"),
        ("max_connections = 7", "", "server.max_connections"),
        ("", "[login]\nmax_failures = 9", "login.max_failures"),
        (
            "",
            "[login]\nfailure_window = \"2h\"",
            "login.failure_window",
        ),
    ];
    for (server, tail, key) in cases {
        let (h, file) = from_file("", "").await;
        let running = h.gateway.config().startup.clone();
        let needs_restart = reload_with(&h, &file, server, tail).await;
        assert_eq!(needs_restart, serde_json::json!([key]), "{key}");
        assert_eq!(
            h.gateway.config().startup,
            running,
            "{key}: the running value stays until a restart"
        );
        assert_eq!(h.get("/x", &[]).await.status, 200, "{key}");
        // Reloading the same file again names it again: still not applied.
        let again = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
        assert_eq!(again.json()["needs_restart"], serde_json::json!([key]));
    }
}

/// The rest of a file is checked against the store it names, so a file
/// that switches stores is refused whole rather than half applied.
#[tokio::test]
async fn switching_the_store_is_refused_until_a_restart() {
    let (h, file) = from_file("", "").await;
    let running = h.gateway.config().startup.clone();
    let redis = "[session]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:1/0\"";
    std::fs::write(file.path(), text(&h.upstream.url(), "", redis)).unwrap();
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    let errors = reply.json()["errors"].to_string();
    assert!(
        errors.contains(
            r#"session.store is \"redis\" in the file but the running store is \"memory\": switching stores needs a restart"#
        ),
        "{errors}"
    );
    assert_eq!(h.gateway.config().startup, running);
    assert_eq!(h.get("/x", &[]).await.status, 200, "the old config serves");
}

/// The example admin token is refused on a reachable admin listener at
/// start (`serve`) and, here, on reload: the running listener decides.
#[tokio::test]
async fn a_reload_to_the_example_admin_token_on_a_reachable_listener_is_refused() {
    let reachable = "admin_listen = \"0.0.0.0:0\"";
    let file = tempfile::NamedTempFile::new().unwrap();
    let h = Harness::with_config(|upstream| {
        let text = text(upstream, "", "").replace(ADMIN_LISTEN, reachable);
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    h.gateway.set_config_file(file.path().to_path_buf());
    let example = text(&h.upstream.url(), "", "")
        .replace(ADMIN_LISTEN, reachable)
        .replace(
            &format!("token = \"{ADMIN_TOKEN}\""),
            "token = \"change-me\"",
        );
    std::fs::write(file.path(), example).unwrap();
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.json()["errors"][0]
            .as_str()
            .unwrap()
            .contains("admin.token is the example value \"change-me\""),
        "{}",
        reply.text()
    );
    // The secret token still works; the example one does not.
    assert_eq!(
        h.admin("POST", "/reload", Some("change-me"), "")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn the_listen_addresses_are_named_and_kept() {
    let (h, file) = from_file("", "").await;
    let running = h.gateway.config().startup.clone();
    let taken = |_| std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (taken(0), taken(1));
    let (a, b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let moved = text(&h.upstream.url(), "", "")
        .replace(
            "listen = \"127.0.0.1:0\"\nadmin",
            &format!("listen = \"{a}\"\nadmin"),
        )
        .replace(ADMIN_LISTEN, &format!("admin_listen = \"{b}\""));
    std::fs::write(file.path(), moved).unwrap();
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(
        reply.json()["needs_restart"],
        serde_json::json!(["server.listen", "server.admin_listen"])
    );
    assert_eq!(h.gateway.config().startup, running);
    assert_eq!(h.get("/x", &[]).await.status, 200, "still on its listener");
}

/// Connects and waits (bounded) for the gateway to close the connection;
/// true when it did.
async fn closed_by_gateway(mut stream: TcpStream) -> bool {
    let mut buffer = [0u8; 4096];
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    waited.is_ok()
}

#[tokio::test]
async fn header_read_timeout_applies_to_new_connections() {
    let (h, file) = from_file("header_read_timeout = \"60s\"", "").await;
    let needs_restart = reload_with(&h, &file, "header_read_timeout = \"300ms\"", "").await;
    assert_eq!(needs_restart, serde_json::json!([]));
    // A client that connects and says nothing is dropped after the new 300ms.
    let silent = TcpStream::connect(h.proxy).await.unwrap();
    assert!(closed_by_gateway(silent).await);
}

#[tokio::test]
async fn idle_timeout_applies_to_new_connections() {
    let slow_heads = "header_read_timeout = \"60s\"";
    let (h, file) = from_file(&format!("{slow_heads}\nidle_timeout = \"60s\""), "").await;
    reload_with(
        &h,
        &file,
        &format!("{slow_heads}\nidle_timeout = \"300ms\""),
        "",
    )
    .await;
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The answer arrives, then the idle keep-alive connection is closed.
    assert!(closed_by_gateway(stream).await);
}

#[tokio::test]
async fn max_header_bytes_applies_to_new_connections() {
    let (h, file) = from_file("", "").await;
    let big = request_with_headers(1, 12_000);
    assert_eq!(h.raw(&big).await.status, 200);
    reload_with(&h, &file, "max_header_bytes = 8192", "").await;
    assert_eq!(h.raw(&big).await.status, 431);
}

#[tokio::test]
async fn max_headers_applies_to_new_connections() {
    let (h, file) = from_file("", "").await;
    let many = request_with_headers(30, 8);
    assert_eq!(h.raw(&many).await.status, 200);
    reload_with(&h, &file, "max_headers = 16", "").await;
    assert_eq!(h.raw(&many).await.status, 431);
}

/// The MAX_CONCURRENT_STREAMS the gateway announces in its first HTTP/2
/// SETTINGS frame on a new connection.
async fn announced_streams(h: &Harness) -> Option<u32> {
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream.write_all(h2::PREFACE).await.unwrap();
    stream
        .write_all(&h2::frame(h2::SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    let read = async {
        loop {
            let frame = h2::read_frame(&mut stream).await?;
            if frame.kind == h2::SETTINGS && frame.flags & 0x1 == 0 {
                return frame.payload.chunks_exact(6).find_map(|setting| {
                    let id = u16::from_be_bytes([setting[0], setting[1]]);
                    // SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2).
                    (id == 0x3).then(|| {
                        u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]])
                    })
                });
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no SETTINGS from the gateway")
}

#[tokio::test]
async fn max_concurrent_streams_applies_to_new_connections() {
    let (h, file) = from_file("", "").await;
    assert_eq!(announced_streams(&h).await, Some(256));
    reload_with(&h, &file, "max_concurrent_streams = 7", "").await;
    assert_eq!(announced_streams(&h).await, Some(7));
}

#[tokio::test]
async fn body_read_timeout_applies_to_new_requests() {
    let (h, file) = from_file("body_read_timeout = \"60s\"", "").await;
    reload_with(&h, &file, "body_read_timeout = \"300ms\"", "").await;
    // Ten of the promised hundred bytes, then nothing.
    let stalled = b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789";
    let reply = h.raw(stalled).await;
    assert_eq!(reply.status, 408, "{}", reply.head);
}

#[tokio::test]
async fn shutdown_timeout_is_read_when_shutdown_begins() {
    let (mut h, file) = from_file("shutdown_timeout = \"60s\"", "").await;
    reload_with(&h, &file, "shutdown_timeout = \"300ms\"", "").await;
    // A request in flight whose body never finishes (body_read_timeout is 30s).
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream
        .write_all(b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    // Until the upstream has the request, it is not in flight yet.
    for _ in 0..200 {
        if !h.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drained = h.begin_shutdown();
    // With the running 60s it would wait a minute; the reloaded 300ms ends it.
    tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .expect("the drain ended at the reloaded shutdown_timeout")
        .unwrap();
    drop(stream);
}

#[tokio::test]
async fn upstream_url_and_connect_timeout_apply_to_new_requests() {
    let (h, file) = from_file("", "").await;
    let second = portcullis::echo::EchoUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let moved = text(&second.url(), "", "")
        .replace("connect_timeout = \"2s\"", "connect_timeout = \"750ms\"");
    std::fs::write(file.path(), moved).unwrap();
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.json()["needs_restart"], serde_json::json!([]));
    let before = h.upstream.seen().len();
    assert_eq!(h.get("/moved", &[]).await.status, 200);
    assert_eq!(second.seen().len(), 1, "the new upstream got the request");
    assert_eq!(h.upstream.seen().len(), before, "the old one did not");
    let config = h.gateway.config();
    let upstream = &config.upstreams.default_upstream().unwrap().settings;
    assert_eq!(upstream.connect_timeout, Duration::from_millis(750));
}

#[tokio::test]
async fn upstream_ca_file_applies_to_new_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::common::tls::tls_files(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (unrelated_ca, _, _) = crate::common::tls::tls_files(other.path());
    let inner = Harness::with_config(|upstream| {
        config(upstream, OPEN).replace(
            ADMIN_LISTEN,
            &format!("{ADMIN_LISTEN}\n[server.tls]\ncert = \"{cert}\"\nkey = \"{key}\""),
        )
    })
    .await;
    let https_upstream = format!("https://localhost:{}", inner.proxy.port());
    let trusting = |ca: &str| {
        config(&https_upstream, OPEN).replace(
            "timeout = \"10s\"",
            &format!("timeout = \"10s\"\nca_file = \"{ca}\""),
        )
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    let outer = Harness::with_config(|_| {
        let text = trusting(&unrelated_ca);
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    outer.gateway.set_config_file(file.path().to_path_buf());
    assert_eq!(outer.get("/x", &[]).await.status, 502, "untrusted CA");
    std::fs::write(file.path(), trusting(&ca)).unwrap();
    let reply = outer.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.json()["needs_restart"], serde_json::json!([]));
    assert_eq!(outer.get("/x", &[]).await.status, 200, "the reloaded CA");
}

/// The address the upstream saw the last request come from.
fn last_peer(h: &Harness) -> std::net::SocketAddr {
    h.upstream.seen().last().and_then(|s| s.peer).unwrap()
}

#[tokio::test]
async fn an_upstream_reached_the_same_way_keeps_its_pooled_connection() {
    let (h, file) = from_file("", "").await;
    assert_eq!(h.get("/one", &[]).await.status, 200);
    let pooled = last_peer(&h);
    reload_with(&h, &file, "", "[login]\nredirect_browsers = true").await;
    assert_eq!(h.get("/two", &[]).await.status, 200);
    assert_eq!(last_peer(&h), pooled, "the same pooled connection");
    // A changed connect_timeout is a new client: a new connection.
    let slower = text(&h.upstream.url(), "", "")
        .replace("connect_timeout = \"2s\"", "connect_timeout = \"3s\"");
    std::fs::write(file.path(), slower).unwrap();
    assert_eq!(
        h.admin("POST", "/reload", Some(ADMIN_TOKEN), "")
            .await
            .status,
        200
    );
    assert_eq!(h.get("/three", &[]).await.status, 200);
    assert_ne!(last_peer(&h), pooled, "a new client, a new connection");
}
