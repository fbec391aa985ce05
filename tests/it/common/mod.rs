//! Test harness: a real gateway (proxy + admin listeners on 127.0.0.1:0), a
//! real echo upstream that records what reached it, a real HTTP client, and
//! a raw-TCP client for requests no client library would send.
#![allow(dead_code)]

pub mod blocking;
pub mod cases;
pub mod django;
pub mod h2;
pub mod ingress;
pub mod jwks;
pub mod oidc;
pub mod process;
pub mod python;
pub mod redis;
pub mod routes;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis::echo::{EchoUpstream, Seen};
use portcullis::Gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A well-formed CSRF secret for tests that are not about CSRF.
pub const CSRF_SECRET: &str = "abcdefghijklmnopqrstuvwxyzABCDEF";
/// The header that makes an unsafe request with `Harness::cookie` pass CSRF.
pub const CSRF_HEADER: (&str, &str) = ("x-csrftoken", CSRF_SECRET);

/// Upper bound for any single exchange in a test, so a bug hangs nothing.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(20);

/// A gateway in front of an echo upstream. Everything stops on drop.
pub struct Harness {
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    /// The decision listener, when the config has `[decision]`.
    pub decision: Option<SocketAddr>,
    pub upstream: EchoUpstream,
    pub gateway: Arc<Gateway>,
    /// The Redis behind the session store, when the suite runs on Redis.
    pub redis: Option<redis::RedisServer>,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    /// The proxy's serve task: finishes once shutdown has drained.
    proxy_task: Option<tokio::task::JoinHandle<()>>,
}

/// The config every test starts from; `tail` adds routes and sections.
pub fn config(upstream_url: &str, tail: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
url = "{upstream_url}"
connect_timeout = "2s"
timeout = "10s"

[admin]
token = "{ADMIN_TOKEN}"

{tail}
"#
    )
}

impl Harness {
    /// A gateway with the base config plus `tail` (routes and so on).
    pub async fn start(tail: &str) -> Harness {
        Harness::with_config(|upstream| config(upstream, tail)).await
    }

    /// A gateway whose whole config text is built from the upstream URL.
    pub async fn with_config(make: impl FnOnce(&str) -> String) -> Harness {
        let harness = Harness::unready(make).await;
        harness.wait_until_ready().await;
        harness
    }

    /// Like `with_config`, without waiting for `/readyz` (for tests of a
    /// gateway whose store is down).
    pub async fn unready(make: impl FnOnce(&str) -> String) -> Harness {
        let upstream = EchoUpstream::start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start echo upstream");
        let mut text = make(&upstream.url());
        let own_store = !text.contains("store = \"redis\"");
        let redis = (own_store && store_under_test() == "redis").then(|| {
            let server = redis::RedisServer::start();
            text = with_redis_store(&text, &server.url());
            server
        });
        let runtime =
            portcullis::config::parse(&text, "test config").unwrap_or_else(|e| panic!("{e}"));
        let proxy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = proxy_listener.local_addr().unwrap();
        let admin = admin_listener.local_addr().unwrap();
        let gateway = Arc::new(Gateway::new(runtime));
        let (stop, stopped) = oneshot::channel::<()>();
        let (stop_proxy, stop_admin) = {
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _ = stopped.await;
                let _ = tx.send(true);
            });
            (rx.clone(), rx)
        };
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let proxy_task = tokio::spawn(portcullis::serve(
            proxy_listener,
            Arc::clone(&gateway),
            wait(stop_proxy),
        ));
        let decision = match gateway.config().decision {
            Some(_) => {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(portcullis::serve_decision(
                    listener,
                    Arc::clone(&gateway),
                    wait(stop_admin.clone()),
                ));
                Some(addr)
            }
            None => None,
        };
        tokio::spawn(portcullis::serve_admin(
            admin_listener,
            Arc::clone(&gateway),
            wait(stop_admin),
        ));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Harness {
            proxy,
            admin,
            decision,
            upstream,
            gateway,
            redis,
            client,
            stop: Some(stop),
            proxy_task: Some(proxy_task),
        }
    }

    /// Starts a graceful shutdown (as SIGTERM does); the returned task
    /// finishes when the proxy has drained.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.proxy_task.take().expect("shutdown begun once")
    }

    /// Waits (bounded) until `/readyz` says ready, as an orchestrator would
    /// before sending traffic; the Redis store connects in the background.
    pub async fn wait_until_ready(&self) {
        for _ in 0..200 {
            if self.admin("GET", "/readyz", None, "").await.status == StatusCode::OK {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the gateway never became ready");
    }

    /// Sends a request to the proxy listener.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let url = format!("http://{}{}", self.proxy, path);
        self.send_to(method, &url, headers, body).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, "").await
    }

    async fn send_to(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let request = build_request(method, url, headers, body);
        let response = tokio::time::timeout(EXCHANGE_LIMIT, self.client.request(request))
            .await
            .expect("exchange timed out")
            .expect("request failed");
        read_reply(response).await
    }

    /// Sends a request to the admin listener.
    pub async fn admin(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
        let url = format!("http://{}{}", self.admin, path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send_to(method, &url, &headers, body).await
    }

    /// Creates a session through the admin API; returns its id.
    pub async fn session(&self, json: &str) -> String {
        let reply = self
            .admin("POST", "/sessions", Some(ADMIN_TOKEN), json)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        reply.json()["session_id"].as_str().unwrap().to_string()
    }

    /// `GET /sessions/{id}` with the admin token.
    pub async fn show_session(&self, id: &str) -> Reply {
        self.admin("GET", &format!("/sessions/{id}"), Some(ADMIN_TOKEN), "")
            .await
    }

    /// `DELETE /sessions/{id}` with the admin token.
    pub async fn delete_session(&self, id: &str) -> Reply {
        self.admin("DELETE", &format!("/sessions/{id}"), Some(ADMIN_TOKEN), "")
            .await
    }

    /// A cookie header value carrying session `id` and the csrftoken
    /// `CSRF_SECRET`, so unsafe requests pass CSRF when they also send
    /// `CSRF_HEADER`.
    pub fn cookie(id: &str) -> String {
        format!("sessionid={id}; csrftoken={CSRF_SECRET}")
    }

    /// Everything the upstream has received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.upstream.seen()
    }

    /// Sends raw bytes to the proxy and reads the whole answer (the request
    /// should carry `Connection: close`, or the gateway closes it).
    pub async fn raw(&self, bytes: &[u8]) -> RawReply {
        raw_exchange(self.proxy, bytes).await
    }
}

/// A request with `headers` exactly as given (repeated names stay repeated).
fn build_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The whole response, body read.
async fn read_reply(response: http::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("read body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// The session store the shared suites run against: `memory` (default) or
/// `redis` (`PORTCULLIS_TEST_STORE=redis`, as `scripts/test` does in its
/// second pass), so one suite checks both stores.
pub fn store_under_test() -> String {
    std::env::var("PORTCULLIS_TEST_STORE").unwrap_or_else(|_| "memory".into())
}

/// `config_text` with its session store switched to Redis at `url`.
pub fn with_redis_store(config_text: &str, url: &str) -> String {
    let settings = format!("store = \"redis\"\nredis_url = \"{url}\"\n");
    match config_text.find("\n[session]\n") {
        Some(at) => {
            let insert = at + "\n[session]\n".len();
            format!(
                "{}{settings}{}",
                &config_text[..insert],
                &config_text[insert..]
            )
        }
        None => format!("{config_text}\n[session]\n{settings}"),
    }
}

/// A response read with the HTTP client.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn reason(&self) -> Option<&str> {
        self.headers
            .get("x-portcullis-reason")
            .map(|v| v.to_str().unwrap())
    }

    /// The echo upstream's record of the forwarded request.
    pub fn echoed(&self) -> Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "not forwarded: {}",
            self.text()
        );
        self.json()
    }

    /// Asserts a synthetic denial with this status, reason and exact body.
    pub fn assert_denied(&self, status: u16, reason: &str, body: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.reason(), Some(reason), "body: {}", self.text());
        assert_eq!(self.text(), body);
        assert_eq!(self.headers["content-type"], "application/json");
    }
}

/// A response read from a raw socket.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `bytes` and reads one response: its head, then `Content-Length`
/// bytes of body (or everything until the connection closes, without one).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> RawReply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        let mut all = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            // A reset after the answer is fine: keep what arrived.
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
            if response_complete(&all) {
                break;
            }
        }
        all
    };
    let all = tokio::time::timeout(EXCHANGE_LIMIT, exchange)
        .await
        .expect("raw exchange timed out");
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    RawReply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A raw HTTP/1.1 GET of /x (`Connection: close`) with `count` extra
/// headers whose values are `size` bytes each: for the header limits.
pub fn request_with_headers(count: usize, size: usize) -> Vec<u8> {
    let mut request = String::from("GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for i in 0..count {
        request.push_str(&format!("x-filler-{i}: {}\r\n", "a".repeat(size)));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// A whole response is in `bytes`: its head, and its `Content-Length` of body.
pub fn response_complete(bytes: &[u8]) -> bool {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|length| bytes.len() >= head_end + 4 + length)
}

/// Names of JSON array pairs `[name, value]` as the echo reports headers.
pub fn echoed_header<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

pub const NOT_AUTHENTICATED: &str = r#"{"detail":"Authentication credentials were not provided."}"#;
pub const PERMISSION_DENIED: &str =
    r#"{"detail":"You do not have permission to perform this action."}"#;
pub const MALFORMED_PATH: &str = r#"{"detail":"Malformed request path."}"#;
