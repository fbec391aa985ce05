//! Prometheus metrics (`prometheus-client`), served as text on the admin
//! listener at `/metrics`:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `portcullis_requests_total` | counter | `route`, `decision` (`forward`, `deny`, `would_deny`, `upstream_error`), `reason`, `status_class` |
//! | `portcullis_decisions_total` | counter | `ingress` (`nginx`, `forward_auth`, `envoy`, `unknown` when refused before it is known), `decision` (`allow`, `deny`, `would_deny`), `reason` |
//! | `portcullis_upstream_latency_seconds` | histogram | |
//! | `portcullis_session_lookup_seconds` | histogram | |
//! | `portcullis_session_cache_hits_total` / `_misses_total` | counter | |
//! | `portcullis_open_connections` | gauge | |
//! | `portcullis_config_reloads_total` | counter | `result` |
//! | `portcullis_config_last_reload_success_timestamp_seconds` | gauge | |
//! | `portcullis_telemetry_spans_exported_total` | counter | |
//! | `portcullis_telemetry_spans_dropped_total` | counter | `reason` (`queue_full`, `export_failed`, `rejected`) |

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Arc<str>,
    pub decision: &'static str,
    pub reason: &'static str,
    pub status_class: &'static str,
}

/// The decision endpoint's answers (`[decision]`), beside `requests`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub ingress: &'static str,
    pub decision: &'static str,
    pub reason: &'static str,
}

/// Why spans never reached the collector (`[telemetry]`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpanDropLabels {
    pub reason: &'static str,
}

/// The exporter's counters (`[telemetry]`), made once so that counting
/// takes no lock: each is the family's own counter, shared.
#[derive(Clone, Debug)]
pub struct TelemetryCounters {
    /// Spans the collector accepted.
    pub exported: Counter,
    /// The queue was full: the request's spans were dropped.
    pub queue_full: Counter,
    /// The collector could not be reached, failed or timed out.
    pub export_failed: Counter,
    /// The collector accepted the export but rejected these spans.
    pub rejected: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub upstream_latency: Histogram,
    pub session_lookup: Histogram,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub open_connections: Gauge,
    pub reloads: Family<ReloadLabels, Counter>,
    pub last_reload_success: Gauge<f64, AtomicU64>,
    pub telemetry: TelemetryCounters,
    /// The `route` label of a request no route matched: `-`.
    unmatched_route: Arc<str>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by route, decision, reason code and status class",
            requests.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decision endpoint answers by ingress convention, decision and reason code",
            decisions.clone(),
        );
        // 100 µs to ~26 s.
        let upstream_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        registry.register(
            "upstream_latency_seconds",
            "Time until the upstream's response head",
            upstream_latency.clone(),
        );
        let session_lookup = Histogram::new(exponential_buckets(0.000_005, 2.0, 18));
        registry.register(
            "session_lookup_seconds",
            "Time to look a session up in the store",
            session_lookup.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "session_cache_hits",
            "Session lookups answered by the local cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "session_cache_misses",
            "Session lookups that asked the store",
            cache_misses.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open on the proxy listener",
            open_connections.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads, by result",
            reloads.clone(),
        );
        let last_reload_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully (Unix time)",
            last_reload_success.clone(),
        );
        let spans_exported = Counter::default();
        registry.register(
            "telemetry_spans_exported",
            "Spans the OTLP collector accepted",
            spans_exported.clone(),
        );
        let spans_dropped = Family::<SpanDropLabels, Counter>::default();
        registry.register(
            "telemetry_spans_dropped",
            "Spans that never reached the OTLP collector, by reason",
            spans_dropped.clone(),
        );
        let dropped = |reason| spans_dropped.get_or_create_owned(&SpanDropLabels { reason });
        let telemetry = TelemetryCounters {
            exported: spans_exported,
            queue_full: dropped("queue_full"),
            export_failed: dropped("export_failed"),
            rejected: dropped("rejected"),
        };
        let metrics = Metrics {
            registry,
            requests,
            decisions,
            upstream_latency,
            session_lookup,
            cache_hits,
            cache_misses,
            open_connections,
            reloads,
            last_reload_success,
            telemetry,
            unmatched_route: Arc::from("-"),
        };
        metrics.config_loaded();
        metrics
    }

    /// Records a successful (re)load of the config.
    pub fn config_loaded(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_reload_success.set(now.as_secs_f64());
    }

    pub fn reload_result(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
        if ok {
            self.config_loaded();
        }
    }

    /// One answer of the gateway; `route` is `None` when none matched
    /// (the label is then `-`).
    pub fn request(
        &self,
        route: Option<&Arc<str>>,
        decision: &'static str,
        reason: &'static str,
        status: u16,
        upstream: Option<Duration>,
    ) {
        let status_class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = RequestLabels {
            route: Arc::clone(route.unwrap_or(&self.unmatched_route)),
            decision,
            reason,
            status_class,
        };
        self.requests.get_or_create(&labels).inc();
        if let Some(latency) = upstream {
            self.upstream_latency.observe(latency.as_secs_f64());
        }
    }

    /// One answer of the decision endpoint.
    pub fn decision(&self, ingress: &'static str, decision: &'static str, reason: &'static str) {
        let labels = DecisionLabels {
            ingress,
            decision,
            reason,
        };
        self.decisions.get_or_create(&labels).inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Invariant: writing into a String cannot fail.
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("encode metrics");
        text
    }
}
