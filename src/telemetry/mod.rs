//! OpenTelemetry tracing (`[telemetry]`): a SERVER span per request and a
//! CLIENT span around its upstream call, in the caller's trace when it sent
//! a W3C `traceparent` (`traceparent`, `context`), exported to a collector
//! over OTLP/HTTP in batches that never hold a request up (`export`,
//! `otlp`). Without `[telemetry]` the config has no `Telemetry` and a
//! request pays one branch.

pub mod context;
pub mod export;
pub mod otlp;
pub mod record;
pub mod traceparent;

use http::header::HeaderMap;

pub use context::TraceContext;
pub use export::{ExportSettings, Exporter};
pub use record::{RequestRecord, UpstreamCall};

/// `[telemetry]`, compiled: the sampling ratio and the exporter.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// The share of new traces recorded (0.0–1.0); a caller's sampled
    /// flag decides for the traces it started.
    pub sample_ratio: f64,
    /// The exporter the spans are queued on (a reload keeps the running
    /// one when the export settings are the same).
    pub exporter: Exporter,
}

impl Telemetry {
    /// The trace context of a request that came with `headers`.
    pub fn context(&self, headers: &HeaderMap) -> TraceContext {
        TraceContext::for_request(headers, self.sample_ratio)
    }
}
