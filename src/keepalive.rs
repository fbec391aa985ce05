//! The upstream's keep-alive connections (`crate::upstream` sends through
//! them): HTTP/1.1 connections made with
//! `hyper::client::conn::http1` over the gateway's connector (plain TCP or
//! rustls), kept in a stack of idle senders and handed back by the
//! response body the moment it ends (`UpstreamBody`).
//!
//! Why not hyper-util's pooled client: for one upstream and HTTP/1 only,
//! its generality costs per request a spawned task that waits for each
//! connection to become idle again, a pool keyed by scheme and host, and
//! extensions inserted into every request and response (allocations and
//! task wake-ups that showed in the profile). Here a request takes the most
//! recently idle connection (its socket is warm), or makes one; the
//! connection's own task is the only task.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use crate::body::ForwardBody;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
/// One connection's request side.
pub type Sender = SendRequest<ForwardBody>;

/// An idle connection left longer than this is closed, not reused: the
/// upstream has likely closed its side (nginx's default is 75 s, Gunicorn's
/// 2 s, uvicorn's 5 s; a closed one is seen and dropped anyway).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The most idle connections kept; more are closed as they become idle.
const MAX_IDLE: usize = 1024;

/// Why a request got no response from the upstream.
pub type ExchangeError = Box<dyn std::error::Error + Send + Sync>;

/// The pool of one upstream. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    /// Idle senders, the most recently idle last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(connector: Connector) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // The vector stays consistent whatever panicked while it was held.
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `request` (its URI absolute: the upstream's scheme and
    /// authority) on an idle connection or a new one; the response, and
    /// the sender that goes back to the pool once its body has ended.
    pub async fn send(
        &self,
        mut request: Request<ForwardBody>,
    ) -> Result<(Response<Incoming>, Sender), ExchangeError> {
        let target = request.uri().clone();
        // HTTP/1.1 origin form on the wire; the Host header is the
        // client's (prepared by the pipeline), else the upstream's.
        let origin_form = target
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(origin_form);
        if !request.headers().contains_key(HOST) {
            if let Some(authority) = target.authority() {
                let host = HeaderValue::from_str(authority.as_str())?;
                request.headers_mut().insert(HOST, host);
            }
        }
        let mut sender = match self.take_idle() {
            Some(sender) => sender,
            None => self.connect(target).await?,
        };
        let response = sender.send_request(request).await?;
        Ok((response, sender))
    }

    /// The most recently idle connection that can take a request now;
    /// closed and expired ones are dropped on the way. One not ready yet
    /// (its task has not seen the end of the last response, or a response
    /// was left half-read and it is closing) stays for a later look.
    fn take_idle(&self) -> Option<Sender> {
        let mut idle = self.lock();
        let mut at = idle.len();
        while at > 0 {
            at -= 1;
            let entry = &idle[at];
            if entry.sender.is_closed() || entry.since.elapsed() > IDLE_TIMEOUT {
                idle.swap_remove(at);
            } else if entry.sender.is_ready() {
                return Some(idle.swap_remove(at).sender);
            }
        }
        None
    }

    /// A new connection to `target`'s authority; its task runs on its own.
    async fn connect(&self, target: Uri) -> Result<Sender, ExchangeError> {
        let mut connector = self.inner.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx)).await?;
        let io = connector.call(target).await?;
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        tokio::spawn(async move {
            // Upgrades (WebSocket) take the connection over after a 101.
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// Keeps `sender` for the next request, unless its connection closed.
    fn put_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// An upstream response's body, streamed through; when it has ended, its
/// connection goes back to the pool.
pub struct UpstreamBody {
    body: Incoming,
    /// Until the body has ended.
    connection: Option<(Sender, Pool)>,
}

impl UpstreamBody {
    pub fn new(body: Incoming, sender: Sender, pool: Pool) -> UpstreamBody {
        UpstreamBody {
            body,
            connection: Some((sender, pool)),
        }
    }

    /// The body of a response whose connection is not reused.
    pub fn unpooled(body: Incoming) -> UpstreamBody {
        UpstreamBody {
            body,
            connection: None,
        }
    }

    fn release(&mut self) {
        if let Some((sender, pool)) = self.connection.take() {
            pool.put_back(sender);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.release(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // Dropped once read (or empty from the start): reusable. Dropped
        // half-read: hyper closes the connection, and the pool drops it.
        self.release();
    }
}
