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

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
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
    idle: Mutex<VecDeque<Idle>>,
    /// The task that closes connections idle too long has been started
    /// (with the first connection: a pool may be made outside a runtime,
    /// by `check`).
    reaping: AtomicBool,
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
                idle: Mutex::new(VecDeque::new()),
                reaping: AtomicBool::new(false),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        lock(&self.inner)
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
            if let Some(host) = host_header(&target) {
                request.headers_mut().insert(HOST, host);
            }
        }
        let (mut sender, mut reused) = match self.take_idle() {
            Some(sender) => (sender, true),
            None => (self.connect(target.clone()).await?, false),
        };
        loop {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, sender)),
                // A kept connection that closed before the request was
                // written (the upstream's keep-alive ran out just then):
                // nothing reached the upstream, so one new connection may
                // take it, whatever its method.
                Err(mut refused) if reused => match refused.take_message() {
                    Some(unsent) => {
                        request = unsent;
                        sender = self.connect(target.clone()).await?;
                        reused = false;
                    }
                    None => return Err(refused.into_error().into()),
                },
                Err(failed) => return Err(failed.into_error().into()),
            }
        }
    }

    /// The most recently idle connection that can take a request now;
    /// closed and expired ones are dropped on the way. One not ready yet
    /// (its task has not seen the end of the last response) stays, in its
    /// place, for a later look.
    fn take_idle(&self) -> Option<Sender> {
        let mut idle = self.lock();
        let mut at = idle.len();
        while at > 0 {
            at -= 1;
            let entry = &idle[at];
            if entry.sender.is_closed() || entry.since.elapsed() > IDLE_TIMEOUT {
                idle.remove(at);
            } else if entry.sender.is_ready() {
                return idle.remove(at).map(|entry| entry.sender);
            }
        }
        None
    }

    /// A new connection to `target`'s authority. Boxed: with keep-alive it
    /// is rare, and its future (about 3 KiB: the connector, TLS, the
    /// handshake) would otherwise sit in, and be copied with, every
    /// request's.
    fn connect(
        &self,
        target: Uri,
    ) -> Pin<Box<dyn Future<Output = Result<Sender, ExchangeError>> + Send + '_>> {
        Box::pin(self.open(target))
    }

    /// Opens a connection to `target`'s authority; its task runs on its own.
    async fn open(&self, target: Uri) -> Result<Sender, ExchangeError> {
        let mut connector = self.inner.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx)).await?;
        let io = connector.call(target).await?;
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        if !self.inner.reaping.swap(true, Ordering::AcqRel) {
            tokio::spawn(reap(Arc::downgrade(&self.inner)));
        }
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
        drop_stale(&mut idle);
        if idle.len() < MAX_IDLE {
            idle.push_back(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
    // The list stays consistent whatever panicked while it was held.
    inner.idle.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Closes the connections idle longest, from the front, while they are
/// closed or past `IDLE_TIMEOUT`.
fn drop_stale(idle: &mut VecDeque<Idle>) {
    while idle
        .front()
        .is_some_and(|oldest| oldest.sender.is_closed() || oldest.since.elapsed() > IDLE_TIMEOUT)
    {
        idle.pop_front();
    }
}

/// Closes idle connections past their time even when no request comes to
/// look at them, until the pool is gone.
async fn reap(pool: Weak<Inner>) {
    let mut ticks = tokio::time::interval(IDLE_TIMEOUT / 3);
    loop {
        ticks.tick().await;
        let Some(inner) = pool.upgrade() else { return };
        drop_stale(&mut lock(&inner));
    }
}

/// The Host an HTTP/1.1 request needs when the client sent none (HTTP/1.0):
/// the upstream's host, and its port when not the scheme's default; never
/// the URL's userinfo.
fn host_header(target: &Uri) -> Option<HeaderValue> {
    let host = target.host()?;
    let default_port = match target.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let value = match target.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_string(),
    };
    HeaderValue::from_str(&value).ok()
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
        // half-read: hyper drains what it has or closes the connection;
        // either way it is not ready until the response has ended.
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_host_is_the_upstreams_without_default_port_or_userinfo() {
        let host = |uri: &str| host_header(&uri.parse().unwrap()).unwrap();
        assert_eq!(host("http://app:80/x"), "app");
        assert_eq!(host("http://app:8000/x"), "app:8000");
        assert_eq!(host("https://app:443/x"), "app");
        assert_eq!(host("https://app:80/x"), "app:80");
        assert_eq!(host("http://user:secret@app:8000/x"), "app:8000");
        assert_eq!(host("http://[::1]:8000/x"), "[::1]:8000");
    }
}
