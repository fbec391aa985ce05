//! Stage 9: one structured access-log line per request, with the decision
//! and its reason code, and the request metrics; with `[telemetry]`, the
//! request's span (`span`) is finished from the same facts. Session ids
//! and cookie values are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use super::span::{Finished, RequestSpan};
use crate::denial::Denial;

/// What the access log line will say, filled in as the stages run.
pub struct AccessLog<'r> {
    method: Method,
    path: Option<String>,
    /// The route's name, shared with the config (the metrics label is a
    /// clone of the `Arc`, not of the text).
    route: Option<&'r Arc<str>>,
    /// The deciding route's path pattern (a span's `http.route`).
    route_pattern: Option<&'r str>,
    /// The authentication class that authenticated the request.
    auth: Option<&'static str>,
    /// How the session's user signed in, when known (`oidc`).
    login: Option<&'static str>,
    /// The decision endpoint: the ingress convention the subrequest
    /// followed (`unknown` when it was refused before that was known).
    ingress: Option<&'static str>,
    reason: Option<&'static str>,
    /// `mode = "report"`: the reason this forwarded request would have been denied.
    would_deny: Option<&'static str>,
    upstream_started: Option<Instant>,
    upstream_latency: Option<Duration>,
    started: Instant,
    /// `[telemetry]`: the request's trace context and span. Boxed, so that
    /// without `[telemetry]` every request's state carries one pointer,
    /// not the span's few hundred bytes.
    span: Option<Box<RequestSpan<'r>>>,
}

impl<'r> AccessLog<'r> {
    pub fn start(request: &http::request::Parts) -> AccessLog<'r> {
        AccessLog {
            method: request.method.clone(),
            path: None,
            route: None,
            route_pattern: None,
            auth: None,
            login: None,
            ingress: None,
            reason: None,
            would_deny: None,
            upstream_started: None,
            upstream_latency: None,
            started: Instant::now(),
            span: None,
        }
    }

    /// With `[telemetry]`: the request, from `client` through a peer that
    /// is (`from_trusted`) or is not a trusted proxy or ingress, gets its
    /// span (a child of the caller's when its `traceparent` is valid and
    /// `trust_parent` believes it).
    pub fn trace(
        &mut self,
        telemetry: Option<&'r crate::telemetry::Telemetry>,
        request: &http::request::Parts,
        client: std::net::IpAddr,
        from_trusted: bool,
    ) {
        if let Some(telemetry) = telemetry {
            self.span = Some(Box::new(RequestSpan::begin(
                telemetry,
                request,
                client,
                from_trusted,
            )));
        }
    }

    /// The authenticated user's name, for the span (`enduser.id`).
    pub fn user(&mut self, name: &str) {
        if let Some(span) = &mut self.span {
            span.user(name);
        }
    }

    pub fn path(&mut self, canonical: &str) {
        self.path = Some(canonical.to_string());
    }

    /// The route deciding the request.
    pub fn route(&mut self, route: &'r crate::routes::Route) {
        self.route = Some(&route.name);
        self.route_pattern = Some(route.pattern.as_str());
    }

    /// A decision subrequest, from an ingress following this convention.
    pub fn via_ingress(&mut self, ingress: &'static str) {
        self.ingress = Some(ingress);
    }

    /// The class that authenticated the request (`session`, `token`...).
    pub fn authenticated_by(&mut self, class: &'static str, login: Option<&'static str>) {
        self.auth = Some(class);
        self.login = login;
    }

    pub fn denied(&mut self, denial: &Denial) {
        self.reason = Some(denial.reason.as_str());
    }

    /// Report mode let through a request this denial would have stopped.
    pub fn would_deny(&mut self, denial: &Denial) {
        self.would_deny = Some(denial.reason.as_str());
    }

    /// The head in `headers` is about to be sent to the upstream at
    /// `authority` (with `[telemetry]`, it gets our `traceparent`).
    pub fn forwarding(&mut self, headers: &mut http::HeaderMap, authority: &http::uri::Authority) {
        if let Some(span) = &mut self.span {
            span.forwarding(headers, authority);
        }
        self.upstream_started = Some(Instant::now());
    }

    /// The upstream answered with `status`, or (`None`) did not.
    pub fn upstream_done(&mut self, status: Option<StatusCode>) {
        self.upstream_latency = self.upstream_started.map(|t| t.elapsed());
        if let Some(span) = &mut self.span {
            span.upstream_answered(status.map(|s| s.as_u16()));
        }
    }

    /// Writes the access-log line and counts the request in `metrics`.
    pub fn finish(self, status: StatusCode, metrics: &crate::metrics::Metrics) {
        let decision = match (self.reason, self.upstream_started, self.would_deny) {
            (None, _, None) => "forward",
            (None, _, Some(_)) => "would_deny",
            (Some(_), Some(_), _) => "upstream_error",
            (Some(_), None, _) => "deny",
        };
        let reason = self.reason.or(self.would_deny);
        if let Some(ingress) = self.ingress {
            let answer = match decision {
                "forward" => "allow",
                "would_deny" => "would_deny",
                _ => "deny",
            };
            metrics.decision(ingress, answer, reason.unwrap_or("-"));
        }
        metrics.request(
            self.route,
            decision,
            reason.unwrap_or("-"),
            status.as_u16(),
            self.upstream_latency,
        );
        tracing::info!(
            target: "portcullis::access",
            method = %self.method,
            path = self.path.as_deref().unwrap_or("-"),
            route = self.route.map_or("-", |name| &**name),
            auth = self.auth.unwrap_or("-"),
            login = self.login.unwrap_or("-"),
            ingress = self.ingress.unwrap_or("-"),
            decision,
            reason = reason.unwrap_or("-"),
            status = status.as_u16(),
            upstream_ms = self.upstream_latency.map(|d| d.as_secs_f64() * 1000.0),
            total_ms = self.started.elapsed().as_secs_f64() * 1000.0,
        );
        if let Some(span) = self.span {
            (*span).finish(Finished {
                method: self.method,
                path: self.path,
                route: self.route.cloned(),
                route_pattern: self.route_pattern.map(str::to_string),
                status: status.as_u16(),
                decision,
                reason,
                auth: self.auth,
                ingress: self.ingress,
                started: self.started,
                upstream: self.upstream_started.zip(self.upstream_latency),
            });
        }
    }
}
