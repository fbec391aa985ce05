//! `[telemetry]`: OpenTelemetry spans exported over OTLP/HTTP to a real
//! receiver (tests/otlp/receiver.py, decoding with the official
//! `opentelemetry-proto` package, not the gateway's own code), the W3C
//! `traceparent` the upstream receives, sampling, batching, and a
//! collector that is down or hangs holding no request up.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;

use crate::common::python::python;
use crate::common::routes::{life, public};
use crate::common::*;

const ROUTES: &str = concat!(public!(), life!());

/// Upper bound on waiting for an export: only detects a hang.
const EXPORT_LIMIT: Duration = Duration::from_secs(20);

/// The caller's trace context in the tests that continue one.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// A running `tests/otlp/receiver.py`; the exports it decoded, in order.
struct Receiver {
    child: Child,
    port: u16,
    exports: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .expect("the receiver prints its port")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let exports = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&exports);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Receiver {
            child,
            port,
            exports,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    fn exports(&self) -> Vec<Value> {
        self.exports.lock().unwrap().clone()
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Value> {
        self.exports()
            .iter()
            .flat_map(|export| export["spans"].as_array().unwrap().clone())
            .collect()
    }

    /// Waits (bounded) until `enough` holds for the spans received.
    async fn wait_for(&self, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let spans = self.spans();
            if enough(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < EXPORT_LIMIT,
                "the spans never arrived; received: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway with `ROUTES` exporting to `endpoint` with `settings`.
async fn gateway(endpoint: &str, settings: &str) -> Harness {
    Harness::start(&format!(
        "{ROUTES}\n[telemetry]\notlp_endpoint = \"{endpoint}\"\n{settings}\n"
    ))
    .await
}

fn attribute<'v>(span: &'v Value, key: &str) -> &'v Value {
    &span["attributes"][key]
}

/// The spans of trace `trace_id` of `kind` (2 SERVER, 3 CLIENT).
fn of_kind<'v>(spans: &'v [Value], trace_id: &str, kind: u64) -> Vec<&'v Value> {
    spans
        .iter()
        .filter(|s| s["trace_id"] == trace_id && s["kind"] == kind)
        .collect()
}

/// The one `traceparent` the upstream received, split into its fields.
fn forwarded_traceparent(seen: &portcullis::echo::Seen) -> Vec<String> {
    let values = seen.header_values("traceparent");
    assert_eq!(values.len(), 1, "{:?}", seen.headers);
    values[0].split('-').map(str::to_string).collect()
}

#[tokio::test]
async fn an_allowed_request_is_a_server_span_with_its_upstream_call_in_the_callers_trace() {
    let receiver = Receiver::start();
    let h = gateway(
        &receiver.endpoint(),
        "service_name = \"gateway-under-test\"\nheaders = { \"x-api-key\" = \"k1\" }\nscheduled_delay = \"50ms\"",
    )
    .await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let reply = h
        .get(
            "/life/1/",
            &[
                ("cookie", &format!("sessionid={id}")),
                ("traceparent", &traceparent),
                ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
                ("user-agent", "telemetry-test/1"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // The upstream is in the caller's trace, a child of the gateway's
    // upstream span, with the caller's tracestate.
    let seen = h.seen();
    let fields = forwarded_traceparent(&seen[0]);
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1], TRACE_ID);
    assert_ne!(fields[2], PARENT_ID);
    assert_eq!(fields[3], "01");
    assert_eq!(
        seen[0].header_values("tracestate"),
        ["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]
    );

    let spans = receiver
        .wait_for(|spans| of_kind(spans, TRACE_ID, 3).len() == 1)
        .await;
    let server = of_kind(&spans, TRACE_ID, 2);
    assert_eq!(server.len(), 1, "{spans:#?}");
    let (server, client) = (server[0], of_kind(&spans, TRACE_ID, 3)[0]);
    assert_eq!(server["parent_span_id"], PARENT_ID);
    // The conventions' name: the method and `http.route` (the pattern).
    assert_eq!(server["name"], "GET /life/**");
    assert_eq!(server["scope"], "portcullis");
    for (key, value) in [
        ("http.request.method", Value::from("GET")),
        ("url.path", Value::from("/life/1/")),
        ("portcullis.route", Value::from("life")),
        ("http.route", Value::from("/life/**")),
        ("portcullis.decision", Value::from("forward")),
        ("portcullis.auth", Value::from("session")),
        ("enduser.id", Value::from("alice")),
        ("http.response.status_code", Value::from(200)),
        ("client.address", Value::from("127.0.0.1")),
        ("server.address", Value::from("127.0.0.1")),
        ("user_agent.original", Value::from("telemetry-test/1")),
    ] {
        assert_eq!(attribute(server, key), &value, "{key} in {server:#}");
    }
    assert!(attribute(server, "portcullis.reason").is_null());
    assert_eq!(server["status_code"], 0, "unset for a 200");
    // The CLIENT span is the upstream's parent, inside the SERVER span.
    assert_eq!(client["span_id"], fields[2].as_str());
    assert_eq!(client["parent_span_id"], server["span_id"]);
    assert_eq!(attribute(client, "http.response.status_code"), 200);
    assert_eq!(attribute(client, "server.address"), "127.0.0.1");
    assert_eq!(
        attribute(client, "server.port"),
        u64::from(h.upstream.addr.port())
    );
    let time = |span: &Value, at: &str| span[at].as_u64().unwrap();
    assert!(time(server, "start") <= time(client, "start"));
    assert!(time(client, "start") <= time(client, "end"));
    assert!(time(client, "end") <= time(server, "end"));

    let export = &receiver.exports()[0];
    assert_eq!(export["path"], "/v1/traces");
    assert_eq!(export["content_type"], "application/x-protobuf");
    assert_eq!(export["headers"]["x-api-key"], "k1");
    assert_eq!(export["resources"][0]["service.name"], "gateway-under-test");
}

#[tokio::test]
async fn a_denied_request_is_a_span_with_the_decision_and_its_reason_code() {
    let receiver = Receiver::start();
    let h = gateway(&receiver.endpoint(), "scheduled_delay = \"50ms\"").await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    // Signed in, unsafe, no csrftoken cookie: Django's CSRF refusal.
    let reply = h
        .send(
            "POST",
            "/life/1/",
            &[
                ("cookie", &format!("sessionid={id}")),
                ("traceparent", &traceparent),
            ],
            "",
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.reason(), Some("csrf_cookie_missing"));
    assert!(h.seen().is_empty());

    let spans = receiver
        .wait_for(|spans| !of_kind(spans, TRACE_ID, 2).is_empty())
        .await;
    let server = of_kind(&spans, TRACE_ID, 2)[0];
    assert_eq!(attribute(server, "portcullis.decision"), "deny");
    assert_eq!(
        attribute(server, "portcullis.reason"),
        "csrf_cookie_missing"
    );
    assert_eq!(attribute(server, "http.response.status_code"), 403);
    assert_eq!(attribute(server, "enduser.id"), "alice");
    assert_eq!(server["status_code"], 0, "a 4xx is the client's error");
    assert!(
        of_kind(&spans, TRACE_ID, 3).is_empty(),
        "nothing was forwarded"
    );
}

#[tokio::test]
async fn without_a_valid_traceparent_a_new_trace_starts_and_the_upstream_gets_it() {
    let receiver = Receiver::start();
    let h = gateway(&receiver.endpoint(), "scheduled_delay = \"50ms\"").await;
    // None at all, then one in uppercase (invalid: lowercase hex only)
    // with a tracestate, which must not be passed on either.
    let invalid = format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase());
    h.get("/public/a", &[]).await;
    h.get(
        "/public/b",
        &[("traceparent", &invalid), ("tracestate", "rojo=1")],
    )
    .await;
    let seen = h.seen();
    assert_eq!(seen.len(), 2);
    let mut traces = Vec::new();
    for seen in &seen {
        let fields = forwarded_traceparent(seen);
        assert_eq!(fields[0], "00");
        assert!(
            fields[1].len() == 32
                && fields[1]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{fields:?}"
        );
        assert_ne!(fields[1], "0".repeat(32));
        assert_ne!(fields[1], TRACE_ID);
        assert_eq!(fields[3], "01", "sample_ratio defaults to 1.0");
        assert!(seen.header_values("tracestate").is_empty());
        traces.push(fields);
    }
    assert_ne!(traces[0][1], traces[1][1], "each request its own trace");

    let spans = receiver
        .wait_for(|spans| traces.iter().all(|t| of_kind(spans, &t[1], 3).len() == 1))
        .await;
    for fields in &traces {
        let server = of_kind(&spans, &fields[1], 2)[0];
        assert_eq!(server["parent_span_id"], "", "a root span");
        assert_eq!(
            of_kind(&spans, &fields[1], 3)[0]["span_id"],
            fields[2].as_str()
        );
        assert_eq!(attribute(server, "portcullis.route"), "public");
        assert!(attribute(server, "enduser.id").is_null());
    }
}

#[tokio::test]
async fn sample_ratio_zero_records_only_the_traces_a_caller_sampled() {
    let receiver = Receiver::start();
    let h = gateway(
        &receiver.endpoint(),
        "sample_ratio = 0.0\nscheduled_delay = \"50ms\"",
    )
    .await;
    let unsampled = format!("00-{}-{PARENT_ID}-00", "1".repeat(32));
    h.get("/public/new", &[]).await;
    h.get("/public/unsampled", &[("traceparent", &unsampled)])
        .await;
    let sampled = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    h.get("/public/sampled", &[("traceparent", &sampled)]).await;
    // Unsampled traces still reach the upstream, flagged unsampled.
    let seen = h.seen();
    assert_eq!(forwarded_traceparent(&seen[0])[3], "00");
    assert_eq!(forwarded_traceparent(&seen[1])[1], "1".repeat(32));
    assert_eq!(forwarded_traceparent(&seen[1])[3], "00");
    assert_eq!(forwarded_traceparent(&seen[2])[3], "01");

    // The sampled request came last: had the others been queued, they
    // would have been exported with it or before it.
    let spans = receiver
        .wait_for(|spans| of_kind(spans, TRACE_ID, 3).len() == 1)
        .await;
    assert!(
        spans.iter().all(|s| s["trace_id"] == TRACE_ID),
        "{spans:#?}"
    );
}

#[tokio::test]
async fn spans_are_batched_by_size() {
    let receiver = Receiver::start();
    // The delay never comes during the test: only a full batch is sent.
    let h = gateway(
        &receiver.endpoint(),
        "max_export_batch_size = 5\nscheduled_delay = \"1h\"",
    )
    .await;
    for n in 0..10 {
        assert_eq!(h.get(&format!("/public/{n}"), &[]).await.status, 200);
    }
    receiver.wait_for(|spans| spans.len() == 20).await;
    let exports = receiver.exports();
    assert_eq!(exports.len(), 2, "ten requests in two POSTs");
    for export in &exports {
        let spans = export["spans"].as_array().unwrap();
        assert_eq!(spans.iter().filter(|s| s["kind"] == 2).count(), 5);
        assert_eq!(spans.iter().filter(|s| s["kind"] == 3).count(), 5);
    }
    let text = h.admin("GET", "/metrics", None, "").await.text();
    assert_eq!(
        counter(&text, "portcullis_telemetry_spans_exported_total"),
        20.0
    );
}

/// A counter's value in the Prometheus text, 0 when absent.
fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (bounded) until `series` on `/metrics` is above zero.
async fn wait_for_counter(h: &Harness, series: &str) -> f64 {
    let started = Instant::now();
    loop {
        let text = h.admin("GET", "/metrics", None, "").await.text();
        let value = counter(&text, series);
        if value > 0.0 {
            return value;
        }
        assert!(
            started.elapsed() < EXPORT_LIMIT,
            "{series} stayed 0:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Twenty requests at once; each must be answered, none held up by the
/// exporter (the bound only detects a hang).
async fn all_answered(h: &Harness) {
    let requests = (0..20).map(|n| async move { h.get(&format!("/public/{n}"), &[]).await });
    let replies = tokio::time::timeout(
        Duration::from_secs(20),
        futures_util::future::join_all(requests),
    )
    .await
    .expect("requests were held up by the exporter");
    assert!(replies.iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn a_collector_that_is_down_holds_no_request_up() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let h = gateway(&endpoint, "scheduled_delay = \"10ms\"").await;
    all_answered(&h).await;
    wait_for_counter(
        &h,
        "portcullis_telemetry_spans_dropped_total{reason=\"export_failed\"}",
    )
    .await;
}

#[tokio::test]
async fn a_collector_that_never_answers_holds_no_request_up() {
    // Accepts connections and reads nothing, answers nothing.
    let hanging = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", hanging.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    // One request's spans per export, and room for one more in the
    // queue: while the first export hangs, the rest are dropped.
    let h = gateway(
        &endpoint,
        "max_queue_size = 1\nmax_export_batch_size = 1\nscheduled_delay = \"10ms\"\nexport_timeout = \"1s\"",
    )
    .await;
    all_answered(&h).await;
    wait_for_counter(
        &h,
        "portcullis_telemetry_spans_dropped_total{reason=\"queue_full\"}",
    )
    .await;
    wait_for_counter(
        &h,
        "portcullis_telemetry_spans_dropped_total{reason=\"export_failed\"}",
    )
    .await;
    holder.abort();
}

#[tokio::test]
async fn without_telemetry_trace_headers_reach_the_upstream_as_sent() {
    let h = Harness::start(ROUTES).await;
    // Even an invalid one: without [telemetry] the gateway is no party
    // to the trace.
    let sent = format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase());
    h.get(
        "/public/a",
        &[("traceparent", &sent), ("tracestate", "Rojo=1")],
    )
    .await;
    let seen = h.seen();
    assert_eq!(seen[0].header_values("traceparent"), [sent.as_str()]);
    assert_eq!(seen[0].header_values("tracestate"), ["Rojo=1"]);
}

#[tokio::test]
async fn the_decision_listener_records_a_span_per_decision() {
    let receiver = Receiver::start();
    let h = Harness::start(&format!(
        "{ROUTES}\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\n[telemetry]\notlp_endpoint = \"{}\"\nscheduled_delay = \"50ms\"\n",
        receiver.endpoint()
    ))
    .await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    // Traefik's forwardAuth: the client's headers, and what it asks about.
    let url = format!("http://{}/auth", h.decision.unwrap());
    let answer = crate::decision::send(
        &url,
        "GET",
        &[
            ("traceparent", traceparent),
            ("x-forwarded-method", "GET".to_string()),
            ("x-forwarded-uri", "/life/1/".to_string()),
            ("x-forwarded-host", "shop.test".to_string()),
            ("x-forwarded-proto", "http".to_string()),
        ],
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let spans = receiver
        .wait_for(|spans| !of_kind(spans, TRACE_ID, 2).is_empty())
        .await;
    let server = of_kind(&spans, TRACE_ID, 2)[0];
    assert_eq!(server["parent_span_id"], PARENT_ID);
    assert_eq!(attribute(server, "portcullis.ingress"), "forward_auth");
    assert_eq!(attribute(server, "portcullis.decision"), "deny");
    assert_eq!(attribute(server, "portcullis.reason"), "not_authenticated");
    assert_eq!(attribute(server, "url.path"), "/life/1/");
    assert!(
        h.seen().is_empty(),
        "the decision listener forwards nothing"
    );
}

#[tokio::test]
async fn a_flush_sends_what_is_queued_without_waiting_for_the_batch() {
    let receiver = Receiver::start();
    // Neither the delay nor the batch size would send it during the test.
    let h = gateway(&receiver.endpoint(), "scheduled_delay = \"1h\"").await;
    h.get("/public/last-words", &[]).await;
    // What the serve command does once requests have drained on SIGTERM.
    h.gateway.flush_telemetry().await;
    let spans = receiver.wait_for(|spans| !spans.is_empty()).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(attribute(&spans[0], "url.path"), "/public/last-words");
}

#[tokio::test]
async fn a_reload_applies_the_ratio_and_keeps_or_replaces_the_exporter() {
    let receiver = Receiver::start();
    let file = tempfile::NamedTempFile::new().unwrap();
    let section = |ratio: &str, delay: &str| {
        format!(
            "{ROUTES}\n[telemetry]\notlp_endpoint = \"{}\"\nsample_ratio = {ratio}\nscheduled_delay = \"{delay}\"\n",
            receiver.endpoint()
        )
    };
    let h = Harness::with_config(|upstream| {
        let text = config(upstream, &section("0.0", "50ms"));
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    h.gateway.set_config_file(file.path().to_path_buf());
    let exporter = |h: &Harness| {
        h.gateway
            .config()
            .telemetry
            .as_ref()
            .unwrap()
            .exporter
            .clone()
    };
    let first = exporter(&h);
    let reload = |text: String| {
        std::fs::write(file.path(), config(&h.upstream.url(), &text)).unwrap();
        h.gateway.reload().unwrap();
    };

    h.get("/public/before", &[]).await;
    // The ratio changes, the export settings do not: the same exporter.
    reload(section("1.0", "50ms"));
    assert!(exporter(&h).is(&first));
    h.get("/public/after", &[]).await;
    let spans = receiver.wait_for(|spans| !spans.is_empty()).await;
    // Unsampled at ratio 0.0, the first request left nothing.
    let servers: Vec<&Value> = spans.iter().filter(|s| s["kind"] == 2).collect();
    assert_eq!(servers.len(), 1, "{spans:#?}");
    assert_eq!(attribute(servers[0], "url.path"), "/public/after");

    // A changed batching setting: a new exporter, started, that exports.
    reload(section("1.0", "40ms"));
    let second = exporter(&h);
    assert!(!second.is(&first));
    h.get("/public/replaced", &[]).await;
    receiver
        .wait_for(|spans| {
            spans
                .iter()
                .any(|s| attribute(s, "url.path") == "/public/replaced")
        })
        .await;
}

#[tokio::test]
async fn an_upstream_that_is_down_is_an_error_on_both_spans() {
    let receiver = Receiver::start();
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let tail = format!(
        "{ROUTES}\n[telemetry]\notlp_endpoint = \"{}\"\nscheduled_delay = \"50ms\"\n",
        receiver.endpoint()
    );
    let h = Harness::with_config(|_echo| config(&upstream, &tail)).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let reply = h.get("/public/x", &[("traceparent", &traceparent)]).await;
    assert_eq!(reply.status, 502);
    let spans = receiver
        .wait_for(|spans| of_kind(spans, TRACE_ID, 3).len() == 1)
        .await;
    let (server, client) = (
        of_kind(&spans, TRACE_ID, 2)[0],
        of_kind(&spans, TRACE_ID, 3)[0],
    );
    assert_eq!(attribute(server, "portcullis.decision"), "upstream_error");
    assert_eq!(
        attribute(server, "portcullis.reason"),
        "upstream_unavailable"
    );
    assert_eq!(attribute(server, "http.response.status_code"), 502);
    assert_eq!(server["status_code"], 2, "ERROR on a 5xx");
    assert_eq!(attribute(client, "error.type"), "upstream_unavailable");
    assert!(attribute(client, "http.response.status_code").is_null());
    assert_eq!(client["status_code"], 2);
}

#[tokio::test]
async fn over_http2_the_span_names_the_authority_and_the_upstream_gets_the_traceparent() {
    let receiver = Receiver::start();
    let h = gateway(&receiver.endpoint(), "scheduled_delay = \"50ms\"").await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let reply = h
        .send_h2_as(
            "shop.test:8443",
            "GET",
            "/public/h2",
            &[("traceparent", &traceparent)],
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(forwarded_traceparent(&h.seen()[0])[1], TRACE_ID);
    let spans = receiver
        .wait_for(|spans| !of_kind(spans, TRACE_ID, 2).is_empty())
        .await;
    let server = of_kind(&spans, TRACE_ID, 2)[0];
    assert_eq!(attribute(server, "server.address"), "shop.test");
}

/// `trust_parent = "trusted_proxies"`: a client's own `traceparent` (here
/// sampled, with a `tracestate`) is not continued: a new trace at
/// `sample_ratio` (0: unrecorded), no `tracestate`; through a trusted
/// proxy it is. `"never"` continues nobody's.
#[tokio::test]
async fn trust_parent_continues_only_the_traces_of_those_trusted() {
    let receiver = Receiver::start();
    let settings = "sample_ratio = 0.0\ntrust_parent = \"trusted_proxies\"";
    let sampled = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let headers = [
        ("traceparent", sampled.as_str()),
        ("tracestate", "rojo=00f067aa0ba902b7"),
    ];

    let direct = gateway(&receiver.endpoint(), settings).await;
    direct.get("/public/direct", &headers).await;
    let seen = direct.seen();
    let fields = forwarded_traceparent(&seen[0]);
    assert_ne!(fields[1], TRACE_ID, "a client's trace was continued");
    assert_eq!(fields[3], "00", "a client's sampled flag forced recording");
    assert!(seen[0].header_values("tracestate").is_empty());

    let behind_proxy = Harness::with_config(|upstream| {
        config(
            upstream,
            &format!(
                "{ROUTES}\n[telemetry]\notlp_endpoint = \"{}\"\n{settings}\n",
                receiver.endpoint()
            ),
        )
        .replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await;
    behind_proxy.get("/public/proxied", &headers).await;
    let seen = behind_proxy.seen();
    let fields = forwarded_traceparent(&seen[0]);
    assert_eq!((fields[1].as_str(), fields[3].as_str()), (TRACE_ID, "01"));
    assert_eq!(
        seen[0].header_values("tracestate"),
        ["rojo=00f067aa0ba902b7"]
    );

    let never = gateway(
        &receiver.endpoint(),
        "sample_ratio = 0.0\ntrust_parent = \"never\"",
    )
    .await;
    never.get("/public/never", &headers).await;
    assert_ne!(forwarded_traceparent(&never.seen()[0])[1], TRACE_ID);
}
