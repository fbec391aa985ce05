//! A small real upstream that answers every request with a JSON account of
//! what it received (method, target, headers, body size), and remembers it.
//! `portcullis demo` puts it behind the gateway; the tests use it to see
//! exactly what was forwarded. Query knobs: `echo_delay_ms=N` waits before
//! answering, `echo_bytes=N` streams an N-byte body instead of JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::net::TcpListener;

/// Bodies up to this size are echoed back; larger ones are only counted.
const ECHO_BODY_LIMIT: usize = 64 * 1024;
/// Upper bound on `echo_delay_ms`, so a test can never hang on it.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// One request as the upstream saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    /// The request target exactly as received (path and query).
    pub target: String,
    /// Every header, in order, duplicates included; names lower-case.
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// The body as text when it is at most 64 KiB.
    pub body: Option<String>,
    /// The address the request came from: one pooled connection keeps it.
    #[serde(skip)]
    pub peer: Option<SocketAddr>,
}

impl Seen {
    /// Every value of header `name` (lower-case).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A running echo upstream. Stops when dropped.
pub struct EchoUpstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl EchoUpstream {
    /// Binds `addr` (use port 0 for a free one) and starts serving.
    pub async fn start(addr: SocketAddr) -> std::io::Result<EchoUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(accept(listener, Arc::clone(&seen), stopped));
        Ok(EchoUpstream {
            addr,
            seen,
            _stop: stop,
        })
    }

    /// Everything received so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn accept(
    listener: TcpListener,
    seen: Arc<Mutex<Vec<Seen>>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let service = service_fn(move |request| echo(request, peer, Arc::clone(&seen)));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type EchoBody = Either<Full<Bytes>, Generated>;

async fn echo(
    request: Request<Incoming>,
    peer: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<EchoBody>, Infallible> {
    let (parts, mut body) = request.into_parts();
    let mut body_len = 0u64;
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            body_len += data.len() as u64;
            if kept.len() < ECHO_BODY_LIMIT {
                kept.extend_from_slice(&data[..data.len().min(ECHO_BODY_LIMIT - kept.len())]);
            }
        }
    }
    let record = Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len,
        body: (body_len as usize <= ECHO_BODY_LIMIT)
            .then(|| String::from_utf8_lossy(&kept).into_owned()),
        peer: Some(peer),
    };
    if let Ok(mut all) = seen.lock() {
        all.push(record.clone());
    }
    let query = parts.uri.query().unwrap_or("");
    if let Some(ms) = query_number(query, "echo_delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms).min(MAX_DELAY)).await;
    }
    if let Some(bytes) = query_number(query, "echo_bytes") {
        return Ok(Response::new(Either::Right(Generated { remaining: bytes })));
    }
    let json = serde_json::to_vec(&record).unwrap_or_default();
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(json))));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn query_number(query: &str, key: &str) -> Option<u64> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// A body of `remaining` bytes of `x`, produced in 64 KiB chunks as the
/// reader asks for them (so a streaming proxy never holds all of it).
pub struct Generated {
    remaining: u64,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(CHUNK.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
