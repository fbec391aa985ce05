//! The upstream: where allowed requests go. Its settings (`[upstream]`) and
//! the pooled keep-alive client that sends a prepared request with a
//! response-header deadline and streams both bodies through.

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::ForwardBody;
use crate::denial::Denial;
use crate::headers::hop_by_hop;
use crate::reply::ProxyBody;

/// `[upstream]`, compiled.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub scheme: Scheme,
    pub authority: Authority,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Trust for `https://` upstreams: `upstream.ca_file`, or the system's roots.
    pub tls: Arc<rustls::ClientConfig>,
}

/// The pooled HTTP client to the upstream.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, ForwardBody>,
}

impl Upstream {
    pub fn new(settings: &UpstreamSettings) -> Upstream {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        // https:// upstreams over rustls; http:// ones as plain TCP.
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(&settings.tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            // Idempotency is not known for a proxied request: never let the
            // pool replay one on a connection the upstream closed.
            .retry_canceled_requests(false)
            .build(connector);
        Upstream { client }
    }

    /// Sends `request` (already prepared) and waits at most `timeout` for the
    /// response head. The response body is streamed back as it arrives.
    pub async fn send(
        &self,
        request: Request<ForwardBody>,
        timeout: Duration,
    ) -> Result<Response<ProxyBody>, Denial> {
        Ok(finish(self.exchange(request, timeout).await?))
    }
}

impl Upstream {
    /// Sends `request` and returns the upstream's raw response (used as is
    /// for upgrades, whose 101 must keep its connection).
    pub async fn exchange(
        &self,
        request: Request<ForwardBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, Denial> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_elapsed) => Err(Denial::upstream_timeout()),
            Ok(Err(error)) => {
                tracing::warn!(error = %error_chain(&error), "upstream request failed");
                Err(Denial::upstream_unavailable())
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// An upstream response made ready for the client: hop-by-hop headers
/// removed, the body streamed through.
pub fn finish(response: Response<Incoming>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    hop_by_hop::strip(&mut parts.headers);
    Response::from_parts(parts, Either::Left(body))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
