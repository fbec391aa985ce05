//! OTLP's messages (`proto/opentelemetry`, compiled by `build.rs`), and
//! the conversion of finished requests into one `ExportTraceServiceRequest`
//! with the OpenTelemetry HTTP semantic conventions' attribute names. Runs
//! on the exporter's task, never on a request's path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;

use super::record::RequestRecord;

/// The generated OTLP messages, nested as their packages are (prost's
/// references between them are relative).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod opentelemetry {
    pub mod proto {
        pub mod collector {
            pub mod trace {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.collector.trace.v1");
                }
            }
        }
        pub mod trace {
            pub mod v1 {
                tonic::include_proto!("opentelemetry.proto.trace.v1");
            }
        }
        pub mod common {
            pub mod v1 {
                tonic::include_proto!("opentelemetry.proto.common.v1");
            }
        }
        pub mod resource {
            pub mod v1 {
                tonic::include_proto!("opentelemetry.proto.resource.v1");
            }
        }
    }
}

use opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry::proto::resource::v1::Resource;
use opentelemetry::proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};

/// `SpanFlags`: the parent-is-remote bits (the low byte is the W3C flags).
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// The OTLP/HTTP body for `records`, from the service `service_name`.
pub fn encode(records: &[RequestRecord], service_name: &str) -> Vec<u8> {
    let mut spans = Vec::with_capacity(records.len() * 2);
    for record in records {
        push_spans(record, &mut spans);
    }
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service_name)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "portcullis".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    request.encode_to_vec()
}

/// The request's SERVER span, and its upstream CLIENT span (a child).
fn push_spans(record: &RequestRecord, spans: &mut Vec<Span>) {
    let context = &record.context;
    let start = unix_nanos(record.start, Duration::ZERO);
    let end = unix_nanos(record.start, record.duration);
    // A method the conventions do not know is `_OTHER`, so span names
    // stay a bounded set whatever clients send.
    let method = known_method(&record.method);
    let name = match &record.route_pattern {
        Some(pattern) => format!("{method} {pattern}"),
        None => method.to_string(),
    };
    let mut attributes = vec![
        text("http.request.method", method),
        int("http.response.status_code", record.status.into()),
        text("client.address", &record.client.to_canonical().to_string()),
        text("portcullis.decision", record.decision),
    ];
    let optional = [
        ("url.path", record.path.as_deref()),
        ("http.route", record.route_pattern.as_deref()),
        (
            "http.request.method_original",
            (method != record.method.as_str()).then(|| record.method.as_str()),
        ),
        (
            "error.type",
            (record.status >= 500).then_some(record.reason.unwrap_or("internal")),
        ),
        ("portcullis.route", record.route.as_deref()),
        ("portcullis.reason", record.reason),
        ("enduser.id", record.user.as_deref()),
        ("portcullis.auth", record.auth),
        ("portcullis.ingress", record.ingress),
        (
            "server.address",
            record.host.as_ref().and_then(|h| host_only(h)),
        ),
        (
            "user_agent.original",
            record.user_agent.as_ref().and_then(|ua| ua.to_str().ok()),
        ),
    ];
    attributes.extend(
        optional
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| text(key, value))),
    );
    let flags = u32::from(context.sampled)
        | HAS_IS_REMOTE
        | if context.parent_id.is_some() {
            IS_REMOTE
        } else {
            0
        };
    spans.push(Span {
        trace_id: context.trace_id.to_vec(),
        span_id: context.span_id.to_vec(),
        parent_span_id: context.parent_id.map(|id| id.to_vec()).unwrap_or_default(),
        flags,
        name,
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        status: error_status(record.status >= 500),
        ..Default::default()
    });
    if let Some(call) = &record.upstream {
        let mut attributes = vec![
            text("http.request.method", method),
            text("server.address", call.authority.host()),
        ];
        if let Some(port) = call.authority.port_u16() {
            attributes.push(int("server.port", port.into()));
        }
        match call.status {
            Some(status) => attributes.push(int("http.response.status_code", status.into())),
            None => attributes.push(text("error.type", record.reason.unwrap_or("no_response"))),
        }
        // A client span fails on any 4xx or 5xx (the conventions).
        let failed = call.status.is_none_or(|status| status >= 400);
        spans.push(Span {
            trace_id: context.trace_id.to_vec(),
            span_id: context.upstream_span_id.to_vec(),
            parent_span_id: context.span_id.to_vec(),
            flags: u32::from(context.sampled) | HAS_IS_REMOTE,
            name: method.to_string(),
            kind: span::SpanKind::Client as i32,
            start_time_unix_nano: unix_nanos(record.start, call.offset),
            end_time_unix_nano: unix_nanos(record.start, call.offset + call.duration),
            attributes,
            status: error_status(failed),
            ..Default::default()
        });
    }
}

/// The method as the conventions name it: the nine HTTP defines, else
/// `_OTHER`.
fn known_method(method: &http::Method) -> &str {
    use http::Method as M;
    match *method {
        M::GET
        | M::HEAD
        | M::POST
        | M::PUT
        | M::DELETE
        | M::CONNECT
        | M::OPTIONS
        | M::TRACE
        | M::PATCH => method.as_str(),
        _ => "_OTHER",
    }
}

/// ERROR for a failed span; unset otherwise (the conventions leave a
/// server's 4xx unset: the client erred, not the server).
fn error_status(failed: bool) -> Option<Status> {
    failed.then(|| Status {
        message: String::new(),
        code: status::StatusCode::Error as i32,
    })
}

/// The Host header's host, without its port.
fn host_only(host: &http::HeaderValue) -> Option<&str> {
    let host = host.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    // `host()` borrows the parsed copy: find the same text in `host`.
    let name = authority.host();
    host.get(..name.len()).filter(|prefix| *prefix == name)
}

fn unix_nanos(start: SystemTime, after: Duration) -> u64 {
    let at = start.duration_since(UNIX_EPOCH).unwrap_or_default() + after;
    u64::try_from(at.as_nanos()).unwrap_or(u64::MAX)
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_loses_its_port() {
        let host = |text: &'static str| {
            host_only(&http::HeaderValue::from_static(text)).map(str::to_string)
        };
        assert_eq!(host("example.com:8080").as_deref(), Some("example.com"));
        assert_eq!(host("example.com").as_deref(), Some("example.com"));
        assert_eq!(host("[::1]:80").as_deref(), Some("[::1]"));
    }
}
