//! What one request leaves for the exporter: its trace context, its
//! times, and what the access log says about it, as plain owned values.
//! The exporter turns it into OTLP spans later, off the request's path
//! (`otlp`), so a request only moves this into the queue.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::HeaderValue;
use http::uri::Authority;
use http::Method;

use super::context::TraceContext;

/// One finished request: the SERVER span, and the upstream call's CLIENT
/// span when it was forwarded.
#[derive(Debug)]
pub struct RequestRecord {
    pub context: TraceContext,
    /// When the request's head had been read (wall clock, for OTLP).
    pub start: SystemTime,
    /// Until the response head was ready.
    pub duration: Duration,
    /// The request's method.
    pub method: Method,
    /// The canonical path, when it was known.
    pub path: Option<String>,
    /// The matching route's name.
    pub route: Option<Arc<str>>,
    /// The matching route's path pattern (`http.route`).
    pub route_pattern: Option<String>,
    /// The status the client was answered with.
    pub status: u16,
    /// `forward`, `deny`, `would_deny`, `upstream_error` (the access log's).
    pub decision: &'static str,
    /// The reason code of a denial (or of what report mode let through).
    pub reason: Option<&'static str>,
    /// The authenticated user's name.
    pub user: Option<String>,
    /// The authentication class that found the user.
    pub auth: Option<&'static str>,
    /// The decision listener: the ingress convention the subrequest used.
    pub ingress: Option<&'static str>,
    /// The peer's address.
    pub client: IpAddr,
    /// The Host the request was addressed to.
    pub host: Option<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
    pub upstream: Option<UpstreamCall>,
}

/// The call to the upstream, timed around the exchange of the head.
#[derive(Debug)]
pub struct UpstreamCall {
    /// From the request's start to the call's.
    pub offset: Duration,
    /// Until the upstream's response head (or the failure).
    pub duration: Duration,
    /// The upstream's status; `None` when it gave no answer.
    pub status: Option<u16>,
    /// The upstream's host and port.
    pub authority: Authority,
}

impl RequestRecord {
    /// The spans this record becomes: 2 with an upstream call, else 1.
    pub fn span_count(&self) -> u64 {
        1 + u64::from(self.upstream.is_some())
    }
}
