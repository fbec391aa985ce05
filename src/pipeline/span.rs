//! `[telemetry]`'s side of stage 9: the request's trace context from the
//! moment its head is read, the `traceparent` the upstream is sent, and,
//! when the trace is sampled, the record of the SERVER span (and the
//! upstream call's CLIENT span) handed to the exporter as the access log
//! is written. Without `[telemetry]` none of this exists (`AccessLog`
//! holds `None`).

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderValue};
use http::uri::Authority;

use crate::telemetry::{RequestRecord, Telemetry, TraceContext, UpstreamCall};

/// The longest Host a span records (a DNS name is at most 253 bytes).
const MAX_HOST: usize = 261;
/// The longest User-Agent a span records.
const MAX_USER_AGENT: usize = 512;

/// The span of one request as the stages fill it in.
pub struct RequestSpan<'r> {
    telemetry: &'r Telemetry,
    context: TraceContext,
    /// Wall-clock start (OTLP's timestamps); durations come from `Instant`s.
    start: SystemTime,
    client: IpAddr,
    host: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    user: Option<String>,
    upstream: Option<Authority>,
    upstream_status: Option<u16>,
}

impl<'r> RequestSpan<'r> {
    /// The span of `request`, from `client`, through a peer that is
    /// (`from_trusted`) or is not a trusted proxy or ingress.
    pub fn begin(
        telemetry: &'r Telemetry,
        request: &http::request::Parts,
        client: IpAddr,
        from_trusted: bool,
    ) -> RequestSpan<'r> {
        let headers = &request.headers;
        let context = telemetry.context(headers, from_trusted);
        // What only a recorded span reports is copied only then, and
        // copied out (at most `limit` bytes): a header value is a slice
        // of the buffer holding the whole head, which a queued record
        // must not keep alive.
        let header = |name, limit: usize| {
            let value = headers.get(name).filter(|_| context.sampled)?;
            let bytes = value.as_bytes();
            HeaderValue::from_bytes(&bytes[..bytes.len().min(limit)]).ok()
        };
        // HTTP/2 names the host in the URI's authority, not in Host.
        let host = header(header::HOST, MAX_HOST).or_else(|| {
            let authority = request.uri.authority().filter(|_| context.sampled)?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        RequestSpan {
            host,
            user_agent: header(header::USER_AGENT, MAX_USER_AGENT),
            telemetry,
            context,
            start: SystemTime::now(),
            client,
            user: None,
            upstream: None,
            upstream_status: None,
        }
    }

    /// The authenticated user (`enduser.id`).
    pub fn user(&mut self, name: &str) {
        if self.context.sampled {
            self.user = Some(name.to_string());
        }
    }

    /// The upstream head is about to be sent to `authority`: it gets our
    /// `traceparent` (its parent is the upstream call's span).
    pub fn forwarding(&mut self, headers: &mut HeaderMap, authority: &Authority) {
        self.context.propagate(headers);
        if self.context.sampled {
            self.upstream = Some(authority.clone());
        }
    }

    /// The upstream answered with `status`, or (`None`) did not.
    pub fn upstream_answered(&mut self, status: Option<u16>) {
        self.upstream_status = status;
    }

    /// Hands the finished request to the exporter, when it is sampled.
    pub fn finish(self, finished: Finished) {
        if !self.context.sampled {
            return;
        }
        let upstream = match (self.upstream, finished.upstream) {
            (Some(authority), Some((started, duration))) => Some(UpstreamCall {
                offset: started.saturating_duration_since(finished.started),
                duration,
                status: self.upstream_status,
                authority,
            }),
            _ => None,
        };
        self.telemetry.exporter.submit(RequestRecord {
            context: self.context.without_tracestate(),
            start: self.start,
            duration: finished.started.elapsed(),
            method: finished.method,
            path: finished.path,
            route: finished.route,
            route_pattern: finished.route_pattern,
            status: finished.status,
            decision: finished.decision,
            reason: finished.reason,
            user: self.user,
            auth: finished.auth,
            ingress: finished.ingress,
            client: self.client,
            host: self.host,
            user_agent: self.user_agent,
            upstream,
        });
    }
}

/// What the access log knows once the response head is ready.
pub struct Finished {
    pub method: http::Method,
    pub path: Option<String>,
    pub route: Option<std::sync::Arc<str>>,
    /// The route's path pattern (`http.route`).
    pub route_pattern: Option<String>,
    pub status: u16,
    pub decision: &'static str,
    pub reason: Option<&'static str>,
    pub auth: Option<&'static str>,
    pub ingress: Option<&'static str>,
    /// The request's start.
    pub started: Instant,
    /// The upstream call's start and duration, when there was one.
    pub upstream: Option<(Instant, Duration)>,
}
