//! Listeners: accepts connections, terminates TLS when configured (`tls`),
//! serves HTTP/1.1 and HTTP/2 (hyper-util's auto builder: ALPN over TLS,
//! prior knowledge on plain TCP) on each, and drains in-flight requests on
//! shutdown. Both the proxy and the admin API run on this loop; they differ
//! only in the handler. Listeners are bound by the caller, so tests bind
//! 127.0.0.1:0.

mod idle;

use idle::{InFlight, ReadDeadline, TrackedBody};

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::snapshot::ServerSettings;
use crate::connection::Connection;
use crate::gateway::Gateway;

/// Serves the proxy on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish for up to the configured shutdown timeout.
/// TLS is terminated when the config has `[server.tls]`; the certificate
/// is taken from the current config for every new connection, so a reload
/// changes it without touching open connections.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    let current_gateway = Arc::clone(&gateway);
    let current = move || {
        let config = current_gateway.config();
        let tls = config.server.tls.clone().map(TlsAcceptor::from);
        (Limits::from(&config.server), tls)
    };
    let open = Some(gateway.metrics().open_connections.clone());
    let upgrades = Arc::clone(gateway.upgrades());
    let drain_deadline = accept_loop(
        listener,
        gateway.config().startup.max_connections,
        shutdown,
        current,
        open,
        move |request, connection| {
            let gateway = Arc::clone(&gateway);
            // Boxed: hyper keeps a slot of the service future's size in
            // every connection for its whole life, so a large inline
            // future (about 10 KiB: the whole pipeline) would be paid per
            // idle connection; boxed it is 16 bytes there, and one
            // allocation per request.
            Box::pin(async move {
                // `explain` for the caller (`[diagnostics] self_explain`):
                // it runs the pipeline's stages, so it is answered here.
                if request.uri().path().ends_with("/explain")
                    && crate::explain::own::is_self_explain(&gateway.config(), request.uri().path())
                {
                    // Boxed: explain's future is large, and rare.
                    let answer = crate::explain::own::answer(&gateway, &request, connection);
                    return Box::pin(answer).await;
                }
                crate::pipeline::handle(&gateway, request, connection).await
            })
        },
    )
    .await;
    // Upgraded (WebSocket) connections outlive their HTTP exchange: they
    // get what is left of the same grace period.
    if upgrades.open() > 0 {
        tracing::info!(
            open = upgrades.open(),
            "waiting for upgraded connections to close"
        );
        if tokio::time::timeout_at(drain_deadline, upgrades.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("shutdown timeout reached; closing upgraded connections");
        }
    }
}

/// Serves the decision endpoint (`[decision]`) on `listener` until
/// `shutdown` resolves: ingress subrequests (and Envoy's gRPC `Check`
/// calls, over HTTP/2), decided like proxied requests, answered instead of
/// forwarded. Plain HTTP: it is meant for the ingress next to it, on
/// loopback or a private network.
pub async fn serve_decision(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    let handler_gateway = Arc::clone(&gateway);
    serve_plain(listener, gateway, shutdown, move |request, connection| {
        let gateway = Arc::clone(&handler_gateway);
        // Boxed, as the proxy's: the whole pipeline is a large future.
        Box::pin(
            async move { crate::pipeline::decision::handle(&gateway, request, connection).await },
        )
    })
    .await;
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub async fn serve_admin(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    let handler_gateway = Arc::clone(&gateway);
    serve_plain(listener, gateway, shutdown, move |request, _connection| {
        let gateway = Arc::clone(&handler_gateway);
        async move { crate::admin::handle(&gateway, request).await }
    })
    .await;
}

/// A plain-HTTP listener (no TLS, no open-connection gauge) with the
/// `[server]` limits of the snapshot current at each accept: the admin
/// API's and the decision endpoint's, which differ only in `handler`.
async fn serve_plain<H, F, B>(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    handler: H,
) where
    H: Fn(Request<Incoming>, Connection) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: ResponseBody,
{
    let max_connections = gateway.config().startup.max_connections;
    let current = move || (Limits::from(&gateway.config().server), None);
    accept_loop(listener, max_connections, shutdown, current, None, handler).await;
}

/// The `[server]` limits a connection is served with: read from the config
/// snapshot current when it is accepted (so a reload applies them to new
/// connections), and `shutdown_timeout` from the one current at shutdown.
#[derive(Clone, Copy)]
struct Limits {
    header_read_timeout: Duration,
    idle_timeout: Duration,
    shutdown_timeout: Duration,
    max_header_bytes: usize,
    max_headers: usize,
    max_concurrent_streams: u32,
}

impl From<&ServerSettings> for Limits {
    fn from(server: &ServerSettings) -> Limits {
        Limits {
            header_read_timeout: server.header_read_timeout,
            idle_timeout: server.idle_timeout,
            shutdown_timeout: server.shutdown_timeout,
            max_header_bytes: server.max_header_bytes,
            max_headers: server.max_headers,
            max_concurrent_streams: server.max_concurrent_streams,
        }
    }
}

impl Limits {
    /// hyper's connection builder for these limits.
    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_header_bytes)
            .max_headers(self.max_headers);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(self.max_concurrent_streams);
        builder
    }

    fn read_deadline<S>(&self, stream: S, in_flight: &Arc<InFlight>) -> ReadDeadline<S> {
        ReadDeadline::new(
            stream,
            self.header_read_timeout,
            self.idle_timeout,
            Arc::clone(in_flight),
        )
    }
}

/// Accepts connections until `shutdown`, serving each with the limits and
/// TLS `current` gives at accept time; returns the drain deadline.
async fn accept_loop<H, F, C, B>(
    listener: TcpListener,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
    current: C,
    open_connections: Option<Gauge>,
    handler: H,
) -> tokio::time::Instant
where
    H: Fn(Request<Incoming>, Connection) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: ResponseBody,
    C: Fn() -> (Limits, Option<TlsAcceptor>),
{
    // At most `max_connections` open: further clients wait in the kernel's
    // listen queue (not in memory here) until a connection closes.
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Usually EMFILE or a connection reset before accept:
                    // back off briefly rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (limits, acceptor) = current();
        let builder = limits.builder();
        let connection = Connection {
            peer,
            tls: acceptor.is_some(),
        };
        let handler = handler.clone();
        let watcher = graceful.watcher();
        let open = open_connections.clone().map(OpenConnection::new);
        // Two tasks of their own types: a plain connection's task is then
        // sized for a plain connection, not for a TLS one (2.4 KiB more,
        // per idle connection, for the TLS stream and handshake).
        match acceptor {
            None => tokio::spawn(async move {
                let (_open, _slot) = (open, slot);
                serve_stream(stream, &limits, builder, connection, handler, watcher).await
            }),
            Some(acceptor) => tokio::spawn(async move {
                let (_open, _slot) = (open, slot);
                // The handshake counts against the header timeout: a
                // client that connects and says nothing is dropped.
                match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(tls)) => {
                        serve_stream(tls, &limits, builder, connection, handler, watcher).await
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }),
        };
    }
    drop(listener);
    // One deadline for the whole drain, returned so that waiting for
    // upgraded connections shares it.
    let deadline = tokio::time::Instant::now() + current().0.shutdown_timeout;
    if tokio::time::timeout_at(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown timeout reached; closing remaining connections");
    }
    deadline
}

/// What a listener's handler may answer with: the proxy's and admin's
/// `ProxyBody`, or the decision listener's (gRPC bodies have trailers).
trait ResponseBody:
    hyper::body::Body<Data = bytes::Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + Unpin
    + 'static
{
}

impl<B> ResponseBody for B where
    B: hyper::body::Body<
            Data = bytes::Bytes,
            Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        > + Send
        + Unpin
        + 'static
{
}

/// Counts a connection as open until dropped.
struct OpenConnection(Gauge);

impl OpenConnection {
    fn new(gauge: Gauge) -> OpenConnection {
        gauge.inc();
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves one accepted stream (plain or TLS) under `limits`' read
/// deadlines, counting its requests in flight.
async fn serve_stream<S, H, F, B>(
    stream: S,
    limits: &Limits,
    builder: auto::Builder<TokioExecutor>,
    connection: Connection,
    handler: H,
    watcher: Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, Connection) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: ResponseBody,
{
    let in_flight = Arc::new(InFlight::default());
    let io = limits.read_deadline(stream, &in_flight);
    serve_io(
        builder,
        TokioIo::new(io),
        connection,
        in_flight,
        handler,
        watcher,
    )
    .await
}

async fn serve_io<I, H, F, B>(
    builder: auto::Builder<TokioExecutor>,
    io: I,
    connection: Connection,
    in_flight: Arc<InFlight>,
    handler: H,
    watcher: Watcher,
) where
    I: Read + Write + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, Connection) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: ResponseBody,
{
    let service = service_fn(move |request| {
        let counted = in_flight.enter();
        let response = handler(request, connection);
        async move {
            let response = response.await;
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, counted)))
        }
    });
    let served = builder.serve_connection_with_upgrades(io, service);
    if let Err(error) = watcher.watch(served.into_owned()).await {
        tracing::debug!(peer = %connection.peer, error = %error, "connection ended with an error");
    }
}
