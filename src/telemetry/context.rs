//! One request's place in a trace: its trace id (the caller's, or a new
//! one), the gateway's span ids, whether it is sampled, and the
//! `traceparent` the upstream is sent.

use http::header::{HeaderMap, HeaderValue};
use rand::Rng;

use super::traceparent::{self, SpanId, TraceId, TRACEPARENT, TRACESTATE};

/// The trace context of one request the gateway handles.
#[derive(Debug, Clone)]
pub struct TraceContext {
    /// The trace the request belongs to: the caller's, or a new one.
    pub trace_id: TraceId,
    /// The gateway's SERVER span for the request.
    pub span_id: SpanId,
    /// The caller's span, when a valid `traceparent` came.
    pub parent_id: Option<SpanId>,
    /// The CLIENT span around the upstream call: the upstream's parent.
    pub upstream_span_id: SpanId,
    /// Recorded and exported (the caller's flag, or `sample_ratio`).
    pub sampled: bool,
    /// The caller's `tracestate`, passed on unchanged.
    tracestate: Option<HeaderValue>,
}

impl TraceContext {
    /// The context for a request with `headers`: a child of the caller's
    /// span when it sent a valid `traceparent` and `continued` says its
    /// caller is believed (its sampled flag decides, parent-based), else a
    /// new trace sampled at `ratio`.
    pub fn for_request(headers: &HeaderMap, ratio: f64, continued: bool) -> TraceContext {
        // One thread-local generator (ChaCha, reseeded by rand): no lock,
        // no system call per request.
        let mut rng = rand::rng();
        let incoming = continued.then(|| traceparent::incoming(headers)).flatten();
        let (trace_id, parent_id, sampled, tracestate) = match incoming {
            Some((parent, state)) => (parent.trace_id, Some(parent.span_id), parent.sampled, state),
            None => {
                let trace_id = nonzero(&mut rng);
                let sampled = ratio >= 1.0 || rng.random::<f64>() < ratio;
                (trace_id, None, sampled, None)
            }
        };
        TraceContext {
            trace_id,
            span_id: nonzero(&mut rng),
            parent_id,
            upstream_span_id: nonzero(&mut rng),
            sampled,
            tracestate,
        }
    }

    /// Replaces whatever trace headers the client sent with ours: the
    /// upstream is a child of the gateway's upstream span, in the same
    /// trace, with the caller's `tracestate`. An invalid client
    /// `traceparent` (and the `tracestate` beside it) goes no further.
    pub fn propagate(&self, headers: &mut HeaderMap) {
        headers.remove(&TRACESTATE);
        headers.insert(
            TRACEPARENT,
            traceparent::format(&self.trace_id, &self.upstream_span_id, self.sampled),
        );
        if let Some(state) = &self.tracestate {
            headers.insert(TRACESTATE, state.clone());
        }
    }

    /// The context without the caller's `tracestate`, for the exporter's
    /// queue: a header value shares the buffer of the whole request head
    /// (cookies and all), which must not wait there for a batch.
    pub fn without_tracestate(mut self) -> TraceContext {
        self.tracestate = None;
        self
    }
}

/// Random bytes, never all zero (an all-zero id is invalid).
fn nonzero<const N: usize>(rng: &mut impl Rng) -> [u8; N] {
    loop {
        let id: [u8; N] = rng.random();
        if id != [0; N] {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_parent_is_continued_and_an_invalid_one_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
        );
        headers.insert(TRACESTATE, HeaderValue::from_static("rojo=1"));
        let context = TraceContext::for_request(&headers, 1.0, true);
        assert_eq!(
            traceparent::hex(&context.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            context.parent_id.map(|id| traceparent::hex(&id)).as_deref(),
            Some("00f067aa0ba902b7")
        );
        // The caller did not sample: neither does the gateway.
        assert!(!context.sampled);
        context.propagate(&mut headers);
        let sent = traceparent::parse(headers[&TRACEPARENT].as_bytes()).unwrap();
        assert_eq!(sent.trace_id, context.trace_id);
        assert_eq!(sent.span_id, context.upstream_span_id);
        assert_eq!(headers[&TRACESTATE], "rojo=1");

        let mut forged = HeaderMap::new();
        forged.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-zz-00f067aa0ba902b7-01"),
        );
        forged.insert(TRACESTATE, HeaderValue::from_static("rojo=1"));
        let fresh = TraceContext::for_request(&forged, 1.0, true);
        assert!(fresh.parent_id.is_none() && fresh.sampled);
        fresh.propagate(&mut forged);
        assert!(traceparent::parse(forged[&TRACEPARENT].as_bytes()).is_some());
        assert!(!forged.contains_key(&TRACESTATE));
    }

    #[test]
    fn an_untrusted_parent_starts_a_new_trace() {
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        headers.insert(TRACESTATE, HeaderValue::from_static("rojo=1"));
        let fresh = TraceContext::for_request(&headers, 0.0, false);
        assert!(fresh.parent_id.is_none());
        assert_ne!(
            traceparent::hex(&fresh.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Its sampled flag forces nothing: ratio 0 records nothing.
        assert!(!fresh.sampled);
        fresh.propagate(&mut headers);
        assert!(!headers.contains_key(&TRACESTATE));
    }

    #[test]
    fn ratio_zero_samples_no_new_trace() {
        let none = HeaderMap::new();
        assert!((0..100).all(|_| !TraceContext::for_request(&none, 0.0, true).sampled));
        assert!((0..100).all(|_| TraceContext::for_request(&none, 1.0, true).sampled));
    }
}
