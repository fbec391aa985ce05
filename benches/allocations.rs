//! Heap allocations per proxied request, counted by a counting global
//! allocator on the gateway's own thread: a real gateway (`serve`, on a
//! current-thread runtime of its own), a real upstream (hyper, another
//! thread) and a keep-alive client (the main thread), all on loopback. The
//! client's and the upstream's allocations are not counted; the gateway's
//! are, with its access log written (to a sink) as in production.
//!
//! Run: `cargo bench --bench allocations` (also `scripts/bench`). Prints one
//! line per request kind: allocations and bytes allocated per request.
//! Nothing is asserted: the numbers go in docs/benchmarks.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use portcullis::session::NewSession;
use portcullis::Gateway;
use tokio::net::{TcpListener, TcpStream};

/// Counts the allocations made on threads that ask for it.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    // `try_with`: allocations while the thread is torn down are not ours.
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A kind of request: what it is, its path, its headers.
type Kind<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

/// Requests per kind, after as many to warm up (pools, caches).
const REQUESTS: u64 = 20_000;

/// A current-thread runtime: each party of the exchange on its own thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The upstream: a small JSON body, like scripts/bench's nginx.
fn start_upstream() -> u16 {
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = runtime();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_: Request<Incoming>| async {
                        let mut response = Response::new(Full::new(Bytes::from_static(
                            br#"{"id":1,"name":"life","answer":42}"#,
                        )));
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, Infallible>(response)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    port_rx.recv().unwrap()
}

/// The gateway on a thread of its own, whose allocations are counted;
/// returns its port and a session id signed in as alice.
fn start_gateway(upstream: u16) -> (u16, String) {
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = runtime();
        runtime.block_on(async move {
            let config = portcullis::config::parse(
                &format!(
                    r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[admin]
token = "allocations-bench-admin-token-0123456789"

[upstream]
url = "http://127.0.0.1:{upstream}"

[[routes]]
path = "/public/**"
access = "anonymous"

[[routes]]
path = "/api/**"
access = "authenticated"
"#
                ),
                "allocations bench",
            )
            .unwrap();
            let gateway = Arc::new(Gateway::new(config));
            let (id, _) = gateway
                .store()
                .create(
                    NewSession {
                        username: "alice".into(),
                        groups: vec!["ops".into()],
                        ..NewSession::default()
                    },
                    Duration::from_secs(3600),
                )
                .await
                .unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            ready_tx.send((port, id.as_str().to_string())).unwrap();
            COUNTED.with(|counted| counted.set(true));
            portcullis::serve(listener, gateway, std::future::pending()).await;
        });
    });
    ready_rx.recv().unwrap()
}

/// Sends `count` GETs of `path` with `headers` on one keep-alive
/// connection, each answered 200.
async fn send(port: u16, path: &str, headers: &[(&str, &str)], count: u64) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    for _ in 0..count {
        let mut request = Request::get(path).header("host", "bench.test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.into_body().collect().await.unwrap();
    }
}

fn main() {
    // The access log, as the binary writes it (text), into a sink.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    let upstream = start_upstream();
    let (gateway, session) = start_gateway(upstream);
    let cookie = format!("sessionid={session}");
    let kinds: [Kind; 2] = [
        (
            "authenticated GET (session cookie)",
            "/api/life/1/",
            vec![("cookie", cookie.as_str())],
        ),
        ("anonymous GET (open route)", "/public/life/1/", vec![]),
    ];
    let runtime = runtime();
    println!("| request | allocations / request | bytes allocated / request |");
    println!("|---|---:|---:|");
    for (what, path, headers) in kinds {
        runtime.block_on(send(gateway, path, &headers, REQUESTS));
        let (a0, b0) = (
            ALLOCATIONS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        runtime.block_on(send(gateway, path, &headers, REQUESTS));
        let (a1, b1) = (
            ALLOCATIONS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        println!(
            "| {what} | {:.1} | {:.0} |",
            (a1 - a0) as f64 / REQUESTS as f64,
            (b1 - b0) as f64 / REQUESTS as f64
        );
    }
}
