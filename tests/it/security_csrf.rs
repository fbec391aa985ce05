//! SECURITY_CASES section D, each case sent twice: as raw HTTP/1.1 bytes
//! (so no client library merges, reorders or drops a header) and over
//! HTTP/2 (where a client sends `cookie` as several fields). Both must give
//! the same answer: status, reason and DRF's body, and the upstream (which
//! records everything) sees only the requests that were allowed.
//!
//! D22 (constant-time comparison) is a property of the code, not of an
//! answer: `Secret::matches` compares with `subtle::ConstantTimeEq`, and the
//! house rules keep timing thresholds out of tests.

use crate::common::cases::{with_session, Gateways, SESSION};
use crate::common::routes::{life, public};
use crate::common::*;
use portcullis::csrf::token::Secret;

const ROUTES: &str = concat!(public!(), life!());

/// What a request was answered with, whichever protocol carried it.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    reason: Option<String>,
    body: String,
}

impl Answer {
    fn allowed() -> Answer {
        Answer {
            status: 200,
            reason: None,
            body: String::new(),
        }
    }

    fn denied(reason: &str, detail: &str) -> Answer {
        Answer {
            status: 403,
            reason: Some(reason.to_string()),
            body: serde_json::json!({ "detail": format!("CSRF Failed: {detail}") }).to_string(),
        }
    }
}

/// Sends one request as raw HTTP/1.1 and over HTTP/2, asserts both give
/// `expected` (an allowed request's body is the echo, so only its status is
/// compared) and that the upstream saw it exactly when it was allowed;
/// `case` names the request in a failure.
async fn both(
    case: &str,
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    expected: Answer,
) {
    let host = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("host"))
        .map_or("gw.test", |(_, value)| *value);
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
    {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let before = h.seen().len();
    let reply = h.raw(raw.as_bytes()).await;
    let reason = reply.head.lines().find_map(|line| {
        line.strip_prefix("x-portcullis-reason: ")
            .map(str::to_string)
    });
    let http1 = Answer {
        status: reply.status,
        reason,
        body: reply.body,
    };
    // HTTP/2 carries the Host as `:authority`.
    let h2_headers: Vec<(&str, &str)> = headers
        .iter()
        .copied()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
        .collect();
    let reply = h.send_h2_as(host, method, path, &h2_headers, body).await;
    let http2 = Answer {
        status: reply.status.as_u16(),
        reason: reply.reason().map(str::to_string),
        body: reply.text(),
    };
    let forwarded = h.seen().len() - before;
    for (protocol, mut answer) in [("HTTP/1.1", http1), ("HTTP/2", http2)] {
        if expected.status == 200 {
            answer.body.clear();
        }
        assert_eq!(
            answer, expected,
            "{case}: {protocol} {method} {path} {headers:?}"
        );
    }
    let allowed = if expected.status == 200 { 2 } else { 0 };
    assert_eq!(forwarded, allowed, "{case}: {method} {path} {headers:?}");
}

/// One request and the answer it must get over both protocols, on the
/// gateway `gateway`. Header values may hold `SESSION`, which becomes
/// alice's session id on that gateway when the case is sent.
struct Case {
    /// The SECURITY_CASES item, and which of its requests this is.
    name: String,
    gateway: Gateway,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
    expected: Answer,
}

/// The gateway a case is sent to: `ROUTES` and ...
#[derive(Clone, Copy, Debug, PartialEq)]
enum Gateway {
    /// ... the default settings.
    Plain,
    /// ... `https://*.example.com` as a trusted origin.
    TrustedOrigins,
    /// ... a trusted proxy (127.0.0.1), whose X-Forwarded-Proto says HTTPS.
    BehindProxy,
}

impl Gateway {
    async fn start(self) -> Harness {
        match self {
            Gateway::Plain => Harness::start(ROUTES).await,
            Gateway::TrustedOrigins => {
                Harness::start(&format!(
                    "{ROUTES}\n[csrf]\ntrusted_origins = [\"https://*.example.com\"]"
                ))
                .await
            }
            Gateway::BehindProxy => {
                Harness::with_config(|upstream| {
                    config(upstream, ROUTES).replace(
                        "admin_listen = \"127.0.0.1:0\"",
                        "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
                    )
                })
                .await
            }
        }
    }
}

impl Case {
    fn new(
        name: &str,
        gateway: Gateway,
        method: &'static str,
        path: &'static str,
        headers: &[(&'static str, &str)],
        expected: Answer,
    ) -> Case {
        Case {
            name: name.to_string(),
            gateway,
            method,
            path,
            headers: headers
                .iter()
                .map(|(name, value)| (*name, value.to_string()))
                .collect(),
            body: "",
            expected,
        }
    }

    fn body(mut self, body: &'static str) -> Case {
        self.body = body;
        self
    }
}

/// `Cookie` with alice's session id and the csrftoken `CSRF_SECRET`, as
/// `Harness::cookie` makes it.
fn signed_in() -> String {
    Harness::cookie(SESSION)
}

/// Sends the cases in order, each gateway started (and alice signed in on
/// it) the first time a case needs it, through `both`, naming the case
/// that failed. What reached the upstream kept the method that was sent
/// and never carried the claim of another (D25).
async fn run(cases: Vec<Case>) {
    let mut gateways = Gateways::default();
    for case in cases {
        let (h, id) = gateways.get(case.gateway, || case.gateway.start()).await;
        let headers = with_session(&case.headers, id);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let name = &case.name;
        let before = h.seen().len();
        both(
            name,
            h,
            case.method,
            case.path,
            &headers,
            case.body,
            case.expected,
        )
        .await;
        for seen in &h.seen()[before..] {
            assert_eq!(seen.method, case.method, "{name}");
            assert!(
                seen.header_values("x-http-method-override").is_empty(),
                "{name}"
            );
        }
    }
}

/// Every case that is one request and its answer: D21 (masked tokens),
/// D23 (origins), D24 (duplicated and split cookies), D25 (method
/// override), D26 (X-Requested-With).
#[tokio::test]
async fn cases() {
    use Gateway::*;
    let post = |name: &str, gateway, headers: &[(&'static str, &str)], expected| {
        Case::new(name, gateway, "POST", "/life/", headers, expected)
    };
    let incorrect = || {
        Answer::denied(
            "csrf_token_incorrect",
            "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
        )
    };
    let missing = || Answer::denied("csrf_token_missing", "CSRF token missing.");
    let signed_in = signed_in();
    let signed_in = signed_in.as_str();
    let mut cases = Vec::new();

    // D21: masked forms of one secret match each other and the bare secret.
    let secret = Secret::generate();
    let (first, second) = (secret.mask(), secret.mask());
    assert_ne!(first, second, "masking is randomised");
    for (cookie, header) in [
        (first.as_str(), second.as_str()),
        (secret.as_str(), first.as_str()),
        (first.as_str(), secret.as_str()),
    ] {
        let cookie = format!("sessionid={SESSION}; csrftoken={cookie}");
        let headers = [("cookie", cookie.as_str()), ("x-csrftoken", header)];
        cases.push(post(
            &format!("D21 cookie {cookie}, token {header}"),
            Plain,
            &headers,
            Answer::allowed(),
        ));
    }
    // Another secret's masked form is not a match.
    let other = Secret::generate().mask();
    let cookie = format!("sessionid={SESSION}; csrftoken={}", secret.as_str());
    let headers = [("cookie", cookie.as_str()), ("x-csrftoken", other.as_str())];
    cases.push(post(
        "D21 another secret's mask",
        Plain,
        &headers,
        incorrect(),
    ));

    // D23: null, malformed and foreign origins are refused...
    for origin in [
        "null",
        "https://[",
        "https://gw.test",
        "http://app.example.com",
        "https://example.com.evil",
    ] {
        let headers = [
            ("host", "gw.test"),
            ("origin", origin),
            ("cookie", signed_in),
            CSRF_HEADER,
        ];
        let refused = Answer::denied(
            "csrf_bad_origin",
            &format!("Origin checking failed - {origin} does not match any trusted origins."),
        );
        cases.push(post(
            &format!("D23 origin {origin}"),
            TrustedOrigins,
            &headers,
            refused,
        ));
    }
    // ...the wildcard for its own scheme, and a plain request's own origin pass.
    for origin in ["https://app.example.com", "http://gw.test"] {
        let headers = [
            ("host", "gw.test"),
            ("origin", origin),
            ("cookie", signed_in),
            CSRF_HEADER,
        ];
        cases.push(post(
            &format!("D23 origin {origin}"),
            TrustedOrigins,
            &headers,
            Answer::allowed(),
        ));
    }
    // D23: an http Origin is refused for an HTTPS site (HTTPS as a trusted
    // proxy reports it).
    let https = [
        ("host", "gw.test"),
        ("x-forwarded-proto", "https"),
        ("cookie", signed_in),
        CSRF_HEADER,
    ];
    let mut headers = https.to_vec();
    headers.push(("origin", "http://gw.test"));
    let refused = Answer::denied(
        "csrf_bad_origin",
        "Origin checking failed - http://gw.test does not match any trusted origins.",
    );
    cases.push(post(
        "D23 http origin, https site",
        BehindProxy,
        &headers,
        refused,
    ));
    let mut headers = https.to_vec();
    headers.push(("origin", "https://gw.test"));
    cases.push(post(
        "D23 https origin, https site",
        BehindProxy,
        &headers,
        Answer::allowed(),
    ));

    // D24: of duplicate cookies the last wins, as in Django. csrftoken
    // twice: the last one is the cookie.
    let stranger = Secret::generate();
    let forged = "a".repeat(32);
    let last_good = format!(
        "sessionid={SESSION}; csrftoken={}; csrftoken={CSRF_SECRET}",
        stranger.as_str()
    );
    let headers = [("cookie", last_good.as_str()), CSRF_HEADER];
    cases.push(post(
        "D24 csrftoken twice, the last good",
        Plain,
        &headers,
        Answer::allowed(),
    ));
    let first_good = format!(
        "sessionid={SESSION}; csrftoken={CSRF_SECRET}; csrftoken={}",
        stranger.as_str()
    );
    let headers = [("cookie", first_good.as_str()), CSRF_HEADER];
    cases.push(post(
        "D24 csrftoken twice, the first good",
        Plain,
        &headers,
        incorrect(),
    ));
    // sessionid twice: the last one is the session.
    let last_real = format!("sessionid={forged}; {signed_in}");
    let headers = [("cookie", last_real.as_str()), CSRF_HEADER];
    cases.push(post(
        "D24 sessionid twice, the last real",
        Plain,
        &headers,
        Answer::allowed(),
    ));
    let first_real = format!("{signed_in}; sessionid={forged}");
    let headers = [("cookie", first_real.as_str()), CSRF_HEADER];
    let anonymous = Answer {
        status: 403,
        reason: Some("not_authenticated".to_string()),
        body: NOT_AUTHENTICATED.to_string(),
    };
    cases.push(post(
        "D24 sessionid twice, the first real",
        Plain,
        &headers,
        anonymous,
    ));
    // D24: split cookie fields differ by protocol: see
    // `d24_split_cookie_fields_are_read_per_protocol`.

    // D25: method override never changes the method that is checked. A
    // POST that claims to be a GET (header or form field) is checked...
    for (name, value) in [
        ("x-http-method-override", "GET"),
        ("x-method-override", "GET"),
        ("x-http-method", "GET"),
    ] {
        let headers = [("cookie", signed_in), (name, value)];
        cases.push(post(
            &format!("D25 {name}: {value}"),
            Plain,
            &headers,
            missing(),
        ));
    }
    let headers = [
        ("cookie", signed_in),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    cases.push(post("D25 _method=GET", Plain, &headers, missing()).body("_method=GET"));
    // ...and a GET that claims to be a DELETE stays a GET, and the
    // upstream never sees the claim (`run` checks what it saw).
    let headers = [("cookie", signed_in), ("x-http-method-override", "DELETE")];
    cases.push(Case::new(
        "D25 a GET that claims to be a DELETE",
        Plain,
        "GET",
        "/life/1/",
        &headers,
        Answer::allowed(),
    ));

    // D26: X-Requested-With is no exemption.
    let session = format!("sessionid={SESSION}");
    let headers = [
        ("cookie", session.as_str()),
        ("x-requested-with", "XMLHttpRequest"),
    ];
    let refused = Answer::denied("csrf_cookie_missing", "CSRF cookie not set.");
    cases.push(post(
        "D26 without a csrftoken cookie",
        Plain,
        &headers,
        refused,
    ));
    let headers = [
        ("cookie", signed_in),
        ("x-requested-with", "XMLHttpRequest"),
    ];
    cases.push(post("D26 without a token", Plain, &headers, missing()));

    run(cases).await;
}

/// D24: split cookie fields. HTTP/2 clients send one `cookie` field per
/// cookie, joined with "; " (RFC 9113 §8.2.3): one cookie header. Several
/// HTTP/1.1 `Cookie` lines reach Django under WSGI joined with ",", so the
/// session cookie's value runs into the next line and is no session
/// (`drf_parity` compares this with Django itself).
#[tokio::test]
async fn d24_split_cookie_fields_are_read_per_protocol() {
    let h = Harness::start(ROUTES).await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let raw = format!(
        "POST /life/ HTTP/1.1\r\nHost: gw.test\r\nCookie: sessionid={id}\r\nCookie: csrftoken={CSRF_SECRET}\r\n\
         X-CSRFToken: {CSRF_SECRET}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let reply = h.raw(raw.as_bytes()).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(
        reply
            .head
            .contains("x-portcullis-reason: not_authenticated"),
        "{reply:?}"
    );
    assert_eq!(reply.body, NOT_AUTHENTICATED);
    let session = format!("sessionid={id}");
    let csrf = format!("csrftoken={CSRF_SECRET}");
    let headers = [
        ("cookie", session.as_str()),
        ("cookie", csrf.as_str()),
        CSRF_HEADER,
    ];
    let reply = h.send_h2("POST", "/life/", &headers, "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The upstream got the one cookie string the gateway read.
    assert_eq!(
        echoed_header(&reply.json(), "cookie"),
        vec![format!("{session}; {csrf}").as_str()]
    );
    assert_eq!(h.seen().len(), 1);
}

#[tokio::test]
async fn d24_an_oversized_cookie_is_refused_whole_and_never_read() {
    let h = Harness::start(ROUTES).await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let huge = format!("{}; big={}", Harness::cookie(&id), "a".repeat(100_000));
    let raw = format!(
        "POST /life/ HTTP/1.1\r\nHost: gw.test\r\nCookie: {huge}\r\nX-CSRFToken: {CSRF_SECRET}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(h.raw(raw.as_bytes()).await.status, 431);
    // Over HTTP/2 the same: the header list is over the limit, so the
    // stream is answered 431 and the cookie never parsed.
    let headers = [("cookie", huge.as_str()), CSRF_HEADER];
    assert_eq!(h.send_h2("POST", "/life/", &headers, "").await.status, 431);
    assert!(h.seen().is_empty());
    let headers = [("cookie", "x=1"), ("x-csrftoken", CSRF_SECRET)];
    both(
        "D24 a request after the oversized one",
        &h,
        "GET",
        "/public/after",
        &headers,
        "",
        Answer::allowed(),
    )
    .await;
}
