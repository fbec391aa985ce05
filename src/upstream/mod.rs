//! The upstream: where allowed requests go. Its settings (`[upstream]`, or
//! one `[[upstreams]]` entry) and the pooled keep-alive client
//! (`crate::keepalive`) that sends a prepared request with a
//! response-header deadline and streams both bodies through; `set` holds
//! every upstream of a config.

mod set;

use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;

use crate::body::ForwardBody;
use crate::denial::Denial;
use crate::headers::hop_by_hop;
use crate::reply::ProxyBody;
use crate::tls::client::CaFile;

pub use set::{NamedUpstream, UpstreamId, Upstreams};

/// `[upstream]` (or one `[[upstreams]]` entry), compiled, with the pooled client built for it.
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

/// The pooled HTTP client to the upstream. A request that fails is never
/// sent again (its idempotency is not known).
#[derive(Clone, Debug)]
pub struct Upstream {
    pool: crate::keepalive::Pool,
}

impl Upstream {
    fn new(connect_timeout: Duration, tls: &rustls::ClientConfig) -> Upstream {
        let connector = crate::tls::client::http_connector(connect_timeout, tls);
        Upstream {
            pool: crate::keepalive::Pool::new(connector),
        }
    }

    /// Sends `request` (already prepared) and waits at most `timeout` for the
    /// response head. The response body is streamed back as it arrives, and
    /// its connection is reused once it has ended.
    pub async fn send(
        &self,
        request: Request<ForwardBody>,
        timeout: Duration,
    ) -> Result<Response<ProxyBody>, Denial> {
        let (response, sender) = self.round_trip(request, timeout).await?;
        let (mut parts, body) = response.into_parts();
        hop_by_hop::strip(&mut parts.headers);
        let body = crate::keepalive::UpstreamBody::new(body, sender, self.pool.clone());
        Ok(Response::from_parts(parts, Either::Left(body)))
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
        // The connection is the upgrade's (or closes after this response):
        // it never goes back to the pool.
        Ok(self.round_trip(request, timeout).await?.0)
    }

    async fn round_trip(
        &self,
        request: Request<ForwardBody>,
        timeout: Duration,
    ) -> Result<(Response<Incoming>, crate::keepalive::Sender), Denial> {
        match tokio::time::timeout(timeout, self.pool.send(request)).await {
            Err(_elapsed) => Err(Denial::upstream_timeout()),
            Ok(Err(error)) => {
                tracing::warn!(error = %crate::tls::client::error_chain(error.as_ref()), "upstream request failed");
                Err(Denial::upstream_unavailable())
            }
            Ok(Ok(exchanged)) => Ok(exchanged),
        }
    }
}

/// An upstream response made ready for the client: hop-by-hop headers
/// removed, the body streamed through.
pub fn finish(response: Response<Incoming>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    hop_by_hop::strip(&mut parts.headers);
    Response::from_parts(
        parts,
        Either::Left(crate::keepalive::UpstreamBody::unpooled(body)),
    )
}
