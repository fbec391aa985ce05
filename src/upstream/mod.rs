//! The upstream: where allowed requests go. Its settings (`[upstream]`) and
//! the pooled keep-alive client that sends a prepared request with a
//! response-header deadline and streams both bodies through.

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
use crate::tls::client::CaFile;

/// `[upstream]`, compiled, with the pooled client built for it.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Longest TCP connect (502 past it).
    pub connect_timeout: Duration,
    /// Longest wait for the response head (504 past it).
    pub timeout: Duration,
    /// `upstream.ca_file` as read; `None` trusts the system's roots.
    pub ca_file: Option<CaFile>,
    /// The pooled client that connects as the fields above say.
    pub client: Upstream,
}

impl UpstreamSettings {
    /// The settings with a client built for them; `Err` when the CA
    /// certificates cannot be used.
    pub fn new(
        scheme: Scheme,
        authority: Authority,
        connect_timeout: Duration,
        timeout: Duration,
        ca_file: Option<CaFile>,
    ) -> Result<UpstreamSettings, String> {
        let tls = crate::tls::client::client_config(ca_file.as_ref(), scheme == Scheme::HTTPS)?;
        Ok(UpstreamSettings {
            scheme,
            authority,
            connect_timeout,
            timeout,
            ca_file,
            client: Upstream::new(connect_timeout, &tls),
        })
    }

    /// True when `other` connects the same way (scheme, host, connect
    /// timeout, trust): a reload then keeps the running client, and the
    /// connections in its pool, instead of the one built for `other`.
    pub fn connects_like(&self, other: &UpstreamSettings) -> bool {
        self.scheme == other.scheme
            && self.authority == other.authority
            && self.connect_timeout == other.connect_timeout
            && self.ca_file == other.ca_file
    }
}

/// The pooled HTTP client to the upstream.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, ForwardBody>,
}

impl Upstream {
    fn new(connect_timeout: Duration, tls: &rustls::ClientConfig) -> Upstream {
        let connector = crate::tls::client::http_connector(connect_timeout, tls);
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
                tracing::warn!(error = %crate::tls::client::error_chain(&error), "upstream request failed");
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
