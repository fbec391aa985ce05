//! Hot reload (POST /reload and SIGHUP) and graceful shutdown (SIGTERM),
//! through real gateways, a real upstream and the real binary.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::process::ServeProcess;
use crate::common::*;

fn routes(public_access: &str) -> String {
    format!("[[routes]]\npath = \"/public/**\"\naccess = \"{public_access}\"\n")
}

/// A gateway whose config lives in a file the test can rewrite.
async fn from_file(tail: &str) -> (Harness, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let h = Harness::with_config(|upstream| {
        let text = config(upstream, tail);
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    h.gateway.set_config_file(file.path().to_path_buf());
    (h, file)
}

/// The file rewritten with `tail`, keeping the same upstream.
fn rewrite(h: &Harness, file: &tempfile::NamedTempFile, tail: &str) {
    std::fs::write(file.path(), config(&h.upstream.url(), tail)).unwrap();
}

async fn reload(h: &Harness) -> Reply {
    h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await
}

#[tokio::test]
async fn a_valid_file_is_swapped_in() {
    let (h, file) = from_file(&routes("anonymous")).await;
    assert_eq!(h.get("/public/x", &[]).await.status, 200);
    rewrite(&h, &file, &routes("deny"));
    let reply = reload(&h).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["status"], "reloaded");
    assert_eq!(reply.json()["needs_restart"], serde_json::json!([]));
    h.get("/public/x", &[])
        .await
        .assert_denied(403, "route_denied", PERMISSION_DENIED);
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_says_why() {
    let (h, file) = from_file(&routes("anonymous")).await;
    std::fs::write(file.path(), config(&h.upstream.url(), &routes("everyone"))).unwrap();
    let reply = reload(&h).await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(
        body["detail"],
        "Invalid config; the old config keeps serving."
    );
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("unknown access level \"everyone\""),
        "{body}"
    );
    assert_eq!(
        h.get("/public/x", &[]).await.status,
        200,
        "the old config still serves"
    );
    std::fs::write(file.path(), "[server\n").unwrap();
    assert_eq!(reload(&h).await.status, 400);
    assert_eq!(h.get("/public/x", &[]).await.status, 200);
}

#[tokio::test]
async fn in_flight_requests_finish_on_the_config_they_started_with() {
    let (h, file) = from_file(&routes("anonymous")).await;
    let h = Arc::new(h);
    let slow = {
        let h = Arc::clone(&h);
        tokio::spawn(async move { h.get("/public/slow?echo_delay_ms=700", &[]).await.status })
    };
    // Wait until the slow request has reached the upstream.
    for _ in 0..200 {
        if !h.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.seen().len(), 1);
    rewrite(&h, &file, &routes("deny"));
    assert_eq!(reload(&h).await.status, 200);
    assert_eq!(
        h.get("/public/x", &[]).await.status,
        403,
        "new requests see the new config"
    );
    assert_eq!(
        slow.await.unwrap(),
        200,
        "the request in flight finished on the old one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_cost_no_request() {
    let (h, file) = from_file(&routes("anonymous")).await;
    let h = Arc::new(h);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (h, stop, ok, bad) = (
            Arc::clone(&h),
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&bad),
        );
        load.push(tokio::spawn(async move {
            // Bounded: at most 3000 requests per task.
            for _ in 0..3000 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let reply = h.get("/public/x", &[]).await;
                if reply.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for round in 0..20 {
        if round % 4 == 3 {
            std::fs::write(file.path(), "not = [valid").unwrap();
            assert_eq!(reload(&h).await.status, 400);
        } else {
            let tail = format!(
                "{}\n[[routes]]\npath = \"/round{round}/**\"\naccess = \"deny\"\n",
                routes("anonymous")
            );
            rewrite(&h, &file, &tail);
            assert_eq!(reload(&h).await.status, 200);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Release);
    for task in load {
        // A refused connection or a failed exchange panics inside the task.
        task.await.expect("a request failed during reloads");
    }
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "non-200 answers during reloads"
    );
    assert!(ok.load(Ordering::Relaxed) > 0);
}

/// The shipped config on port 0, in front of `upstream`.
fn process_config(upstream: &str, public_access: &str) -> String {
    config(upstream, &routes(public_access))
}

fn signal(process: &ServeProcess, name: &str) {
    let status = std::process::Command::new("kill")
        .args([name, &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn status_of(addr: &str, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_exchange(addr.parse().unwrap(), request.as_bytes())
        .await
        .status
}

#[tokio::test]
async fn sighup_reloads_the_file() {
    let upstream = portcullis::echo::EchoUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), process_config(&upstream.url(), "anonymous")).unwrap();
    let p = ServeProcess::start(file.path());
    assert_eq!(status_of(&p.proxy, "/public/x").await, 200);
    std::fs::write(file.path(), process_config(&upstream.url(), "deny")).unwrap();
    signal(&p, "-HUP");
    let mut changed = false;
    for _ in 0..200 {
        if status_of(&p.proxy, "/public/x").await == 403 {
            changed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(changed, "SIGHUP did not reload");
    assert_eq!(status_of(&p.admin, "/healthz").await, 200, "still up");
}

#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_refuses_new_ones_and_exits_zero() {
    let upstream = portcullis::echo::EchoUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), process_config(&upstream.url(), "anonymous")).unwrap();
    let mut p = ServeProcess::start(file.path());
    let proxy = p.proxy.clone();
    let slow =
        tokio::spawn(async move { status_of(&proxy, "/public/slow?echo_delay_ms=1500").await });
    for _ in 0..200 {
        if !upstream.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(upstream.seen().len(), 1, "the slow request is in flight");
    signal(&p, "-TERM");
    // New connections are refused once the listener is closed (bounded wait).
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&p.proxy).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "still accepting after SIGTERM");
    assert_eq!(slow.await.unwrap(), 200, "the in-flight request completed");
    let mut status = None;
    for _ in 0..400 {
        if let Some(s) = p.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = status.expect("did not exit after draining");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn readiness_goes_false_when_draining_starts() {
    let h = Harness::start(&routes("anonymous")).await;
    assert_eq!(h.admin("GET", "/readyz", None, "").await.status, 200);
    h.gateway.start_draining();
    let ready = h.admin("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["detail"], "Shutting down.");
    assert_eq!(
        h.admin("GET", "/healthz", None, "").await.status,
        200,
        "alive, just not ready"
    );
}

#[tokio::test]
async fn reload_needs_the_admin_token_and_a_file() {
    let h = Harness::start(&routes("anonymous")).await;
    assert_eq!(h.admin("POST", "/reload", None, "").await.status, 401);
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 409);
    assert!(reply.text().contains("not started from a config file"));
}
