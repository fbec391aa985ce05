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
    /// Whose `traceparent` is continued (`trust_parent`).
    pub trust_parent: TrustParent,
    /// The exporter the spans are queued on (a reload keeps the running
    /// one when the export settings are the same).
    pub exporter: Exporter,
}

/// Whose `traceparent` the gateway continues (`[telemetry] trust_parent`).
/// One it does not starts a new trace, sampled at `sample_ratio`: a
/// client cannot then force its requests to be recorded (the sampled
/// flag) nor hang the gateway's spans in a trace of its choosing, as the
/// W3C spec's privacy and security sections advise for untrusted callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustParent {
    /// Every caller's (the spec's default).
    Always,
    /// Only a request from `server.trusted_proxies` (or, on the decision
    /// listener, from a trusted ingress).
    TrustedProxies,
    /// Nobody's: every request starts a trace.
    Never,
}

impl TrustParent {
    /// The config's words for it.
    pub const NAMES: &'static str = "\"always\", \"trusted_proxies\" or \"never\"";

    /// Parses the config's value.
    pub fn parse(text: &str) -> Option<TrustParent> {
        match text {
            "always" => Some(TrustParent::Always),
            "trusted_proxies" => Some(TrustParent::TrustedProxies),
            "never" => Some(TrustParent::Never),
            _ => None,
        }
    }
}

impl Telemetry {
    /// The trace context of a request that came with `headers`, from a
    /// peer that is (`from_trusted`) or is not a trusted proxy or ingress.
    pub fn context(&self, headers: &HeaderMap, from_trusted: bool) -> TraceContext {
        let continued = match self.trust_parent {
            TrustParent::Always => true,
            TrustParent::TrustedProxies => from_trusted,
            TrustParent::Never => false,
        };
        TraceContext::for_request(headers, self.sample_ratio, continued)
    }
}
