//! Stage 7: forwarding. Rewrites the request for the upstream (canonical
//! path, hop-by-hop hygiene, X-Forwarded-*), sends it over a pooled
//! keep-alive client with a response-header deadline, and streams both
//! bodies through without buffering them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Request, Response, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::denial::Denial;
use super::hop_by_hop;
use crate::config::runtime::UpstreamSettings;
use crate::response::ProxyBody;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The pooled HTTP client to the upstream.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<HttpConnector, Incoming>,
}

impl Upstream {
    pub fn new(settings: &UpstreamSettings) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.connect_timeout));
        connector.set_nodelay(true);
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
        request: Request<Incoming>,
        timeout: Duration,
    ) -> Result<Response<ProxyBody>, Denial> {
        let response = match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_elapsed) => return Err(Denial::upstream_timeout()),
            Ok(Err(error)) => {
                tracing::warn!(error = %error_chain(&error), "upstream request failed");
                return Err(Denial::upstream_unavailable());
            }
            Ok(Ok(response)) => response,
        };
        let (mut parts, body) = response.into_parts();
        hop_by_hop::strip(&mut parts.headers);
        Ok(Response::from_parts(parts, Either::Left(body)))
    }
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

/// The URI sent upstream: the upstream's scheme and authority, the
/// canonical path that was matched, and the client's query untouched.
pub fn upstream_uri(
    upstream: &UpstreamSettings,
    canonical_path: &str,
    original: &Uri,
) -> Result<Uri, Denial> {
    let path_and_query = match (original.path_and_query(), original.query()) {
        // Already canonical: reuse the parsed bytes (no copy).
        (Some(pq), _) if pq.path() == canonical_path => pq.clone(),
        (_, query) => {
            let mut text =
                BytesMut::with_capacity(canonical_path.len() + query.map_or(0, |q| q.len() + 1));
            text.extend_from_slice(canonical_path.as_bytes());
            if let Some(query) = query {
                text.extend_from_slice(b"?");
                text.extend_from_slice(query.as_bytes());
            }
            PathAndQuery::from_maybe_shared(text.freeze()).map_err(|_| Denial::bad_path())?
        }
    };
    build_uri(
        upstream.scheme.clone(),
        upstream.authority.clone(),
        path_and_query,
    )
}

fn build_uri(
    scheme: Scheme,
    authority: Authority,
    path_and_query: PathAndQuery,
) -> Result<Uri, Denial> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme);
    parts.authority = Some(authority);
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| Denial::bad_path())
}

/// Rewrites headers for the upstream: hop-by-hop removed, Host kept (taken
/// from the HTTP/2 authority when there is no Host header), X-Forwarded-For
/// appended to, X-Forwarded-Proto and X-Forwarded-Host set.
pub fn prepare_headers(
    request: &mut Request<Incoming>,
    host: Option<HeaderValue>,
    peer: SocketAddr,
    scheme: &'static str,
) {
    *request.version_mut() = Version::HTTP_11;
    let headers = request.headers_mut();
    hop_by_hop::strip(headers);

    let peer_ip = peer.ip().to_string();
    let forwarded_for = match joined(headers, &X_FORWARDED_FOR) {
        Some(earlier) => format!("{earlier}, {peer_ip}"),
        None => peer_ip,
    };
    headers.remove(&X_FORWARDED_FOR);
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme));
    match host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host.clone());
            headers.insert(header::HOST, host);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// Every value of `name`, joined with ", " as RFC 9110 allows for lists.
fn joined(headers: &http::HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    Some(values.fold(first.to_string(), |mut all, v| {
        all.push_str(", ");
        all.push_str(v);
        all
    }))
}
