//! Listeners: accepts connections, serves HTTP/1.1 and HTTP/2 (hyper-util's
//! auto builder) on each, and drains in-flight requests on shutdown. Both
//! the proxy and the admin API run on this loop; they differ only in the
//! handler. Listeners are bound by the caller, so tests bind 127.0.0.1:0.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::gateway::Gateway;
use crate::response::ProxyBody;

/// Serves the proxy on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish for up to the configured shutdown timeout.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = Limits::from(&*gateway);
    accept_loop(listener, limits, shutdown, move |request, peer| {
        let gateway = Arc::clone(&gateway);
        async move { crate::pipeline::handle(&gateway, request, peer).await }
    })
    .await
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub async fn serve_admin(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = Limits::from(&*gateway);
    accept_loop(listener, limits, shutdown, move |request, _peer| {
        let gateway = Arc::clone(&gateway);
        async move { crate::admin::handle(&gateway, request).await }
    })
    .await
}

struct Limits {
    header_read_timeout: Duration,
    shutdown_timeout: Duration,
}

impl From<&Gateway> for Limits {
    fn from(gateway: &Gateway) -> Limits {
        let runtime = gateway.runtime();
        Limits {
            header_read_timeout: runtime.server.header_read_timeout,
            shutdown_timeout: runtime.server.shutdown_timeout,
        }
    }
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
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
        let handler = handler.clone();
        let service = service_fn(move |request| {
            let response = handler(request, peer);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown timeout reached; closing remaining connections");
    }
}
