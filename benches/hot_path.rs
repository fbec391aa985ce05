//! Micro-benchmarks of the per-request work that involves no I/O: route
//! matching (10/100/1,000 routes), path canonicalisation, cookie parsing,
//! CSRF mask/unmask/compare, session lookup in a memory store of 10^6
//! sessions, the whole decision for one request, and a request's way
//! through the live pipeline short of I/O (intake, `decide`, the answer).
//! Run: `cargo bench --bench hot_path`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderValue, Method};
use portcullis::canonical::canonicalize;
use portcullis::cookies::cookie_value;
use portcullis::csrf::token::Secret;
use portcullis::pipeline::authorize::authorize;
use portcullis::pipeline::trace::Trace;
use portcullis::routes::{Access, Mode, Pattern, Requirements, Route, RouteTable, Selected};
use portcullis::session::state::{AuthClass, NoSession, SessionState};
use portcullis::session::{MemoryStore, NewSession, Session, SessionId, SessionStore, Store};

/// Polls a future that never waits (the memory store's) to completion
/// without a runtime, so the numbers are the work and not the executor.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("memory store futures never wait"),
    }
}

/// `n` routes shaped like a real table: per-service prefixes, item routes
/// with a named segment, and a catch-all last.
fn table(n: usize) -> RouteTable {
    let mut routes = Vec::with_capacity(n);
    for i in 0..n - 1 {
        let (path, access) = match i % 3 {
            0 => (format!("/svc{i}/public/**"), Access::Anonymous),
            1 => (format!("/svc{i}/items/{{id}}/"), Access::Authenticated),
            _ => (format!("/svc{i}/admin/**"), Access::Staff),
        };
        routes.push(Route {
            name: format!("r{i}").into(),
            pattern: Pattern::parse(&path).unwrap(),
            methods: None,
            access,
            requirements: Requirements::default(),
            csrf_exempt: false,
            max_body: None,
            mode: Mode::Enforce,
            authentication: None,
            ip_rules: Default::default(),
            throttles: Default::default(),
            host: None,
            upstream: None,
        });
    }
    routes.push(Route {
        name: "fallback".into(),
        pattern: Pattern::parse("/**").unwrap(),
        methods: None,
        access: Access::Authenticated,
        requirements: Requirements::default(),
        csrf_exempt: false,
        max_body: None,
        mode: Mode::Enforce,
        authentication: None,
        ip_rules: Default::default(),
        throttles: Default::default(),
        host: None,
        upstream: None,
    });
    RouteTable::new(routes, Access::Deny, Mode::Enforce, Default::default())
}

fn route_matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_match");
    for n in [10, 100, 1000] {
        let t = table(n);
        // The last item route in the table, and a path only the catch-all takes.
        let late = (0..n - 1).rev().find(|i| i % 3 == 1).expect("n >= 3");
        let deep = format!("/svc{late}/items/42/");
        match t.select(&Method::GET, &deep) {
            Selected::Route(r) => assert_eq!(&*r.name, format!("r{late}")),
            other => panic!("{other:?}"),
        }
        group.bench_with_input(BenchmarkId::new("late_route", n), &deep, |b, path| {
            b.iter(|| black_box(t.select(&Method::GET, black_box(path))).is_route())
        });
        group.bench_with_input(
            BenchmarkId::new("catch_all", n),
            &"/unknown/path/x",
            |b, path| b.iter(|| black_box(t.select(&Method::GET, black_box(path))).is_route()),
        );
    }
    group.finish();
}

trait IsRoute {
    fn is_route(&self) -> bool;
}

impl IsRoute for Selected<'_> {
    fn is_route(&self) -> bool {
        matches!(self, Selected::Route(_))
    }
}

fn canonical_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("canonicalize");
    group.bench_function("already_canonical", |b| {
        b.iter(|| canonicalize(black_box("/api/v1/life/42/comments/")).is_ok())
    });
    group.bench_function("needs_rewrite", |b| {
        b.iter(|| canonicalize(black_box("/api//v1/./life/%7Ebob/../42/")).is_ok())
    });
    group.finish();
}

fn cookie_parsing(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "cookie",
        HeaderValue::from_static(
            "_ga=GA1.1.1234567890.1700000000; theme=dark; csrftoken=LatvRJ5tPTNfJUVSwDrPV5nAd391sRJv; \
             sessionid=mph3eugf0gh5hyzc8glvrt79r2sd6xu6; _gid=GA1.2.987654321",
        ),
    );
    c.bench_function("cookie_value/5_cookies", |b| {
        b.iter(|| cookie_value(black_box(&headers), "sessionid").map(|v| v.len()))
    });
}

fn csrf_tokens(c: &mut Criterion) {
    let secret = Secret::generate();
    let masked = secret.mask();
    let mut group = c.benchmark_group("csrf");
    group.bench_function("mask", |b| b.iter(|| black_box(&secret).mask().len()));
    group.bench_function("unmask_and_compare", |b| {
        b.iter(|| black_box(&secret).matches(black_box(&masked)))
    });
    group.bench_function("compare_bare_secret", |b| {
        b.iter(|| black_box(&secret).matches(black_box(secret.as_str())))
    });
    group.finish();
}

fn session_store(count: usize) -> (Store, Vec<SessionId>) {
    let store = MemoryStore::new();
    let now = SystemTime::now();
    let mut ids = Vec::with_capacity(1024);
    for i in 0..count {
        let id = SessionId::generate();
        let session = Session::new(
            NewSession {
                username: format!("user{i}"),
                groups: vec!["readers".into()],
                permissions: vec!["lifeapp.change_life".into()],
                ..NewSession::default()
            },
            now,
            now + Duration::from_secs(3600),
        );
        ready(store.insert(id, session)).unwrap();
        if ids.len() < 1024 {
            ids.push(id);
        }
    }
    (Store::Memory(store), ids)
}

fn lookup_and_decision(c: &mut Criterion) {
    let (store, ids) = session_store(1_000_000);
    let mut i = 0;
    c.bench_function("session_lookup/memory_1e6", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            ready(store.get(black_box(&ids[i]))).unwrap().is_some()
        })
    });

    let t = table(100);
    let mut headers = HeaderMap::new();
    let cookie = format!("theme=dark; sessionid={}", ids[0].as_str());
    headers.insert("cookie", HeaderValue::from_str(&cookie).unwrap());
    c.bench_function("decision/authenticated_get_100_routes", |b| {
        b.iter(|| {
            let path = canonicalize(black_box("/svc97/items/42/")).unwrap();
            let Selected::Route(route) = t.select(&Method::GET, &path) else {
                unreachable!()
            };
            let session =
                match cookie_value(&headers, "sessionid").and_then(|v| SessionId::parse(&v)) {
                    Some(id) => match ready(store.get(&id)).unwrap() {
                        Some(s) => SessionState::Authenticated(s, AuthClass::Session),
                        None => SessionState::Anonymous(NoSession::NotFound),
                    },
                    None => SessionState::Anonymous(NoSession::NoCookie),
                };
            authorize(route, &Method::GET, &session, &mut Trace::off()).is_ok()
        })
    });
}

const PIPELINE_CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
url = "http://127.0.0.1:9"

[admin]
token = "bench"

[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"

[[routes]]
name = "staff"
path = "/staff/**"
access = "staff"

[[routes]]
name = "reports"
path = "/reports/**"
access = "authenticated"
permissions = ["reports.view_report"]

[[routes]]
name = "life"
path = "/life/**"
access = "authenticated"
model = "lifeapp.life"
"#;

/// The live pipeline without I/O: what `pipeline::handle` does before it
/// forwards (intake, `decide`) or answers (`deny`, `finish`), trace off.
fn live_pipeline(c: &mut Criterion) {
    let config = std::sync::Arc::new(portcullis::config::parse(PIPELINE_CONFIG, "bench").unwrap());
    let (store, ids) = session_store(1);
    let secret = "abcdefghijklmnopqrstuvwxyzABCDEF";
    let cookie = format!("sessionid={}; csrftoken={secret}", ids[0].as_str());
    let wrong_token = Some(("x-csrftoken", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"));
    let cases = [
        ("forward_authenticated_get", Method::GET, "/life/1/", None),
        (
            "deny_csrf_token_incorrect",
            Method::PUT,
            "/life/1/",
            wrong_token,
        ),
        ("deny_no_route", Method::GET, "/nowhere/", None),
        ("deny_not_staff", Method::GET, "/staff/x", None),
    ];
    let mut group = c.benchmark_group("pipeline");
    for (name, method, path, extra) in cases {
        let make = || {
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", "gateway.test")
                .header("cookie", &cookie)
                .header("accept", "application/json");
            if let Some((header, value)) = extra {
                request = request.header(header, value);
            }
            request.body(()).unwrap().into_parts().0
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                make,
                |parts| ready(live_request(&config, &store, parts)),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

async fn live_request(
    config: &std::sync::Arc<portcullis::config::Config>,
    store: &Store,
    mut parts: http::request::Parts,
) -> u16 {
    use portcullis::pipeline::intake::{self, Intake};
    use portcullis::pipeline::{self, Context, RequestState, Verdict, Work};
    let mut trace = Trace::live(config.diagnostics.debug);
    let reply = match intake::intake(config, &mut parts, &mut trace) {
        Intake::Request(reply) => reply,
        Intake::Preflight(preflight) => return preflight.status().as_u16(),
    };
    let context = Context {
        config,
        store,
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
        tls: false,
        lookup_timing: None,
        live: true,
        peer_is_ingress: false,
        throttles: None,
    };
    let body = portcullis::body::ForwardBody::from_bytes(bytes::Bytes::new());
    let mut state = RequestState {
        context,
        parts,
        reply,
        work: Work::new(body, trace),
    };
    let decision = pipeline::decide(&state.context, &state.parts, &mut state.work).await;
    match decision.verdict {
        Verdict::Deny(denial) => {
            let answer = pipeline::deny(config, &denial, &state.reply);
            pipeline::finish(config, answer, state.work.cookies, state.reply.cors_origin)
                .status()
                .as_u16()
        }
        _ => 200,
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = route_matching, canonical_path, cookie_parsing, csrf_tokens, lookup_and_decision, live_pipeline
}
criterion_main!(benches);
