//! `[telemetry]`: the OTLP/HTTP collector, the service's name, extra
//! export headers, the sampling ratio and the batching, checked and made
//! into the exporter (which runs once the gateway starts it).

use std::path::Path;
use std::str::FromStr;

use http::header::{HeaderName, HeaderValue};
use http::uri::{Scheme, Uri};
use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use super::values::{bounded, ca_file, duration};
use crate::config::raw::RawTelemetry;
use crate::telemetry::{ExportSettings, Exporter, Telemetry, TrustParent};

/// Headers an export sets itself, or HTTP owns.
const EXPORT_OWNED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

/// The most requests' spans a queue may hold (each waits in memory).
const MAX_QUEUE: u64 = 1_000_000;

/// The tracing settings and their exporter, when the file has `[telemetry]`.
pub(super) fn telemetry(
    problems: &mut Problems,
    section: Option<&Spanned<RawTelemetry>>,
    base: &Path,
) -> Option<Telemetry> {
    let section = section?;
    let raw = section.get_ref();
    let endpoint = match &raw.otlp_endpoint {
        Some(value) => endpoint(problems, value),
        None => {
            problems.at(
                section.span(),
                "[telemetry] needs otlp_endpoint: the collector's OTLP/HTTP traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\" (or set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)",
            );
            None
        }
    };
    let service_name = match &raw.service_name {
        Some(name) if name.get_ref().trim().is_empty() => {
            problems.at(name.span(), "telemetry.service_name must not be empty");
            String::new()
        }
        Some(name) => name.get_ref().clone(),
        None => defaults::TELEMETRY_SERVICE_NAME.to_string(),
    };
    let headers = raw
        .headers
        .as_ref()
        .map(|headers| export_headers(problems, headers))
        .unwrap_or_default();
    let ca = raw
        .ca_file
        .as_ref()
        .and_then(|file| ca_file(problems, file, base, "telemetry.ca_file"));
    let sample_ratio = match &raw.sample_ratio {
        None => defaults::TELEMETRY_SAMPLE_RATIO,
        Some(ratio) if (0.0..=1.0).contains(ratio.get_ref()) => *ratio.get_ref(),
        Some(ratio) => {
            problems.at(
                ratio.span(),
                format!(
                    "telemetry.sample_ratio = {} must be between 0.0 (no new trace recorded) and 1.0 (every one)",
                    ratio.get_ref()
                ),
            );
            defaults::TELEMETRY_SAMPLE_RATIO
        }
    };
    let max_queue_size = bounded(
        problems,
        raw.max_queue_size.as_ref(),
        defaults::TELEMETRY_MAX_QUEUE_SIZE,
        1..=MAX_QUEUE,
        "telemetry.max_queue_size",
    );
    let max_export_batch_size = bounded(
        problems,
        raw.max_export_batch_size.as_ref(),
        defaults::TELEMETRY_MAX_EXPORT_BATCH_SIZE.min(max_queue_size),
        1..=max_queue_size,
        "telemetry.max_export_batch_size (at most max_queue_size)",
    );
    let scheduled_delay = duration(
        problems,
        raw.scheduled_delay.as_ref(),
        defaults::TELEMETRY_SCHEDULED_DELAY,
    );
    let export_timeout = duration(
        problems,
        raw.export_timeout.as_ref(),
        defaults::TELEMETRY_EXPORT_TIMEOUT,
    );
    let settings = ExportSettings {
        endpoint: endpoint?,
        service_name,
        headers,
        ca_file: ca,
        // Invariant: both are at most MAX_QUEUE, far below usize::MAX.
        max_queue_size: usize::try_from(max_queue_size).unwrap_or(usize::MAX),
        max_export_batch_size: usize::try_from(max_export_batch_size).unwrap_or(usize::MAX),
        scheduled_delay,
        export_timeout,
    };
    let trust_parent = match &raw.trust_parent {
        None => TrustParent::parse(defaults::TELEMETRY_TRUST_PARENT).unwrap_or(TrustParent::Always),
        Some(value) => TrustParent::parse(value.get_ref()).unwrap_or_else(|| {
            problems.at(
                value.span(),
                format!(
                    "telemetry.trust_parent {:?}: expected {}",
                    value.get_ref(),
                    TrustParent::NAMES
                ),
            );
            TrustParent::Always
        }),
    };
    match Exporter::new(settings) {
        Ok(exporter) => Some(Telemetry {
            sample_ratio,
            trust_parent,
            exporter,
        }),
        Err(why) => {
            let span = raw.ca_file.as_ref().map_or(section.span(), Spanned::span);
            problems.at(span, format!("telemetry.ca_file: {why}"));
            None
        }
    }
}

/// An absolute `http://` or `https://` URL with a host.
fn endpoint(problems: &mut Problems, value: &Spanned<String>) -> Option<Uri> {
    let text = value.get_ref();
    let refuse = |problems: &mut Problems, why: &str| {
        problems.at(
            value.span(),
            format!("telemetry.otlp_endpoint = {text:?} {why}; write the collector's traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\""),
        );
        None
    };
    let Ok(uri) = Uri::from_str(text) else {
        return refuse(problems, "is not a URL");
    };
    match uri.scheme() {
        Some(scheme) if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS => {}
        _ => return refuse(problems, "must start with http:// or https://"),
    }
    match uri.authority() {
        Some(authority) if !authority.host().is_empty() && !authority.as_str().contains('@') => {}
        _ => return refuse(problems, "needs a host (and no user:password@)"),
    }
    Some(uri)
}

/// `headers = { name = "value" }`: each a valid header the export does
/// not set itself.
fn export_headers(
    problems: &mut Problems,
    headers: &Spanned<std::collections::BTreeMap<String, String>>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut valid = Vec::new();
    for (name, value) in headers.get_ref() {
        let Ok(header) = HeaderName::from_str(name) else {
            problems.at(
                headers.span(),
                format!("telemetry.headers: {name:?} is not a valid header name"),
            );
            continue;
        };
        if EXPORT_OWNED_HEADERS.contains(&header.as_str()) {
            problems.at(
                headers.span(),
                format!("telemetry.headers: {name:?} is set by the export itself"),
            );
            continue;
        }
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                // An API key: kept out of debug output.
                value.set_sensitive(true);
                valid.push((header, value));
            }
            Err(_) => problems.at(
                headers.span(),
                format!("telemetry.headers: the value of {name:?} is not a valid header value"),
            ),
        }
    }
    valid
}
