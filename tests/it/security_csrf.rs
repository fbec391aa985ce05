//! SECURITY_CASES section D, each case sent twice: as raw HTTP/1.1 bytes
//! (so no client library merges, reorders or drops a header) and over
//! HTTP/2 (where a client sends `cookie` as several fields). Both must give
//! the same answer: status, reason and DRF's body, and the upstream (which
//! records everything) sees only the requests that were allowed.
//!
//! D22 (constant-time comparison) is a property of the code, not of an
//! answer: `Secret::matches` compares with `subtle::ConstantTimeEq`, and the
//! house rules keep timing thresholds out of tests.

use crate::common::*;
use portcullis::csrf::token::Secret;

const ROUTES: &str = r#"
[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"

[[routes]]
name = "life"
path = "/life/**"
access = "authenticated"
"#;

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
/// compared) and that the upstream saw it exactly when it was allowed.
async fn both(
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
        assert_eq!(answer, expected, "{protocol} {method} {path} {headers:?}");
    }
    let allowed = if expected.status == 200 { 2 } else { 0 };
    assert_eq!(forwarded, allowed, "{method} {path} {headers:?}");
}

async fn signed_in(h: &Harness) -> String {
    h.session(r#"{"username":"alice"}"#).await
}

#[tokio::test]
async fn d21_masked_forms_of_one_secret_match_each_other_and_the_bare_secret() {
    let h = Harness::start(ROUTES).await;
    let id = signed_in(&h).await;
    let secret = Secret::generate();
    let (first, second) = (secret.mask(), secret.mask());
    assert_ne!(first, second, "masking is randomised");
    let pairs = [
        (first.as_str(), second.as_str()),
        (secret.as_str(), first.as_str()),
        (first.as_str(), secret.as_str()),
    ];
    for (cookie, header) in pairs {
        let cookie = format!("sessionid={id}; csrftoken={cookie}");
        let headers = [("cookie", cookie.as_str()), ("x-csrftoken", header)];
        both(&h, "POST", "/life/", &headers, "", Answer::allowed()).await;
    }
    // Another secret's masked form is not a match.
    let other = Secret::generate().mask();
    let cookie = format!("sessionid={id}; csrftoken={}", secret.as_str());
    let headers = [("cookie", cookie.as_str()), ("x-csrftoken", other.as_str())];
    let refused = Answer::denied(
        "csrf_token_incorrect",
        "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
    );
    both(&h, "POST", "/life/", &headers, "", refused).await;
}

#[tokio::test]
async fn d23_null_malformed_and_foreign_origins_are_refused() {
    let h = Harness::start(&format!(
        "{ROUTES}\n[csrf]\ntrusted_origins = [\"https://*.example.com\"]"
    ))
    .await;
    let id = signed_in(&h).await;
    let cookie = Harness::cookie(&id);
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
            ("cookie", cookie.as_str()),
            CSRF_HEADER,
        ];
        let refused = Answer::denied(
            "csrf_bad_origin",
            &format!("Origin checking failed - {origin} does not match any trusted origins."),
        );
        both(&h, "POST", "/life/", &headers, "", refused).await;
    }
    // The wildcard for its own scheme, and a plain request's own origin.
    for origin in ["https://app.example.com", "http://gw.test"] {
        let headers = [
            ("host", "gw.test"),
            ("origin", origin),
            ("cookie", cookie.as_str()),
            CSRF_HEADER,
        ];
        both(&h, "POST", "/life/", &headers, "", Answer::allowed()).await;
    }
}

#[tokio::test]
async fn d23_an_http_origin_is_refused_for_an_https_site() {
    // HTTPS as a trusted proxy reports it.
    let h = Harness::with_config(|upstream| {
        config(upstream, ROUTES).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await;
    let id = signed_in(&h).await;
    let cookie = Harness::cookie(&id);
    let https = [
        ("host", "gw.test"),
        ("x-forwarded-proto", "https"),
        ("cookie", cookie.as_str()),
        CSRF_HEADER,
    ];
    let mut headers = https.to_vec();
    headers.push(("origin", "http://gw.test"));
    let refused = Answer::denied(
        "csrf_bad_origin",
        "Origin checking failed - http://gw.test does not match any trusted origins.",
    );
    both(&h, "POST", "/life/", &headers, "", refused).await;
    let mut headers = https.to_vec();
    headers.push(("origin", "https://gw.test"));
    both(&h, "POST", "/life/", &headers, "", Answer::allowed()).await;
}

#[tokio::test]
async fn d24_duplicate_cookies_the_last_wins_as_in_django() {
    let h = Harness::start(ROUTES).await;
    let id = signed_in(&h).await;
    let stranger = Secret::generate();
    let forged = "a".repeat(32);
    // csrftoken twice: the last one is the cookie.
    let last_good = format!(
        "sessionid={id}; csrftoken={}; csrftoken={CSRF_SECRET}",
        stranger.as_str()
    );
    let headers = [("cookie", last_good.as_str()), CSRF_HEADER];
    both(&h, "POST", "/life/", &headers, "", Answer::allowed()).await;
    let first_good = format!(
        "sessionid={id}; csrftoken={CSRF_SECRET}; csrftoken={}",
        stranger.as_str()
    );
    let headers = [("cookie", first_good.as_str()), CSRF_HEADER];
    let refused = Answer::denied(
        "csrf_token_incorrect",
        "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
    );
    both(&h, "POST", "/life/", &headers, "", refused).await;
    // sessionid twice: the last one is the session.
    let last_real = format!("sessionid={forged}; {}", Harness::cookie(&id));
    let headers = [("cookie", last_real.as_str()), CSRF_HEADER];
    both(&h, "POST", "/life/", &headers, "", Answer::allowed()).await;
    let first_real = format!("{}; sessionid={forged}", Harness::cookie(&id));
    let headers = [("cookie", first_real.as_str()), CSRF_HEADER];
    let anonymous = Answer {
        status: 403,
        reason: Some("not_authenticated".to_string()),
        body: NOT_AUTHENTICATED.to_string(),
    };
    both(&h, "POST", "/life/", &headers, "", anonymous).await;
}

#[tokio::test]
async fn d24_split_cookie_fields_are_one_cookie_header() {
    // HTTP/2 clients send one field per cookie; HTTP/1.1 clients may send
    // several Cookie lines. Either way they are joined with "; " first.
    let h = Harness::start(ROUTES).await;
    let id = signed_in(&h).await;
    let session = format!("sessionid={id}");
    let csrf = format!("csrftoken={CSRF_SECRET}");
    let headers = [
        ("cookie", session.as_str()),
        ("cookie", csrf.as_str()),
        CSRF_HEADER,
    ];
    both(&h, "POST", "/life/", &headers, "", Answer::allowed()).await;
}

#[tokio::test]
async fn d24_an_oversized_cookie_is_refused_whole_and_never_read() {
    let h = Harness::start(ROUTES).await;
    let id = signed_in(&h).await;
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
    both(&h, "GET", "/public/after", &headers, "", Answer::allowed()).await;
}

#[tokio::test]
async fn d25_method_override_never_changes_the_method_that_is_checked() {
    let h = Harness::start(ROUTES).await;
    let id = signed_in(&h).await;
    let cookie = Harness::cookie(&id);
    let missing = || Answer::denied("csrf_token_missing", "CSRF token missing.");
    // A POST that claims to be a GET (header or form field) is checked.
    for (name, value) in [
        ("x-http-method-override", "GET"),
        ("x-method-override", "GET"),
        ("x-http-method", "GET"),
    ] {
        let headers = [("cookie", cookie.as_str()), (name, value)];
        both(&h, "POST", "/life/", &headers, "", missing()).await;
    }
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    both(&h, "POST", "/life/", &headers, "_method=GET", missing()).await;
    // A GET that claims to be a DELETE stays a GET, and the upstream never
    // sees the claim.
    let headers = [
        ("cookie", cookie.as_str()),
        ("x-http-method-override", "DELETE"),
    ];
    both(&h, "GET", "/life/1/", &headers, "", Answer::allowed()).await;
    for seen in h.seen() {
        assert_eq!(seen.method, "GET");
        assert!(seen.header_values("x-http-method-override").is_empty());
    }
}

#[tokio::test]
async fn d26_x_requested_with_is_no_exemption() {
    let h = Harness::start(ROUTES).await;
    let id = signed_in(&h).await;
    let session = format!("sessionid={id}");
    let headers = [
        ("cookie", session.as_str()),
        ("x-requested-with", "XMLHttpRequest"),
    ];
    let refused = Answer::denied("csrf_cookie_missing", "CSRF cookie not set.");
    both(&h, "POST", "/life/", &headers, "", refused).await;
    let cookie = Harness::cookie(&id);
    let headers = [
        ("cookie", cookie.as_str()),
        ("x-requested-with", "XMLHttpRequest"),
    ];
    let missing = Answer::denied("csrf_token_missing", "CSRF token missing.");
    both(&h, "POST", "/life/", &headers, "", missing).await;
}
