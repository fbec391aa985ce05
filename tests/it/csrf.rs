//! CSRF through a real gateway in front of an upstream that knows nothing
//! about CSRF: the seed document's walk-through statement by statement, one
//! test per Django reason, both enforce modes, exemptions, trusted origins,
//! HTTPS Referer rules, form-field tokens, cookies, the token endpoint.

use crate::common::routes::{hooks, life, public};
use crate::common::*;
use portcullis::csrf::token::Secret;

const ROUTES: &str = concat!(hooks!(), public!(), life!());

const CSRF_COOKIE_NOT_SET: &str = r#"{"detail":"CSRF Failed: CSRF cookie not set."}"#;
const CSRF_TOKEN_MISSING: &str = r#"{"detail":"CSRF Failed: CSRF token missing."}"#;

async fn harness() -> Harness {
    Harness::start(ROUTES).await
}

async fn harness_with(csrf_section: &str) -> Harness {
    Harness::start(&format!("{ROUTES}\n{csrf_section}")).await
}

/// The value of the csrftoken cookie a response sets, if any.
fn set_csrf_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("csrftoken="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn set_cookie_header(reply: &Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("csrftoken="))
        .expect("a csrftoken Set-Cookie")
        .to_string()
}

/// The seed document, statement by statement, against a real upstream.
#[tokio::test]
async fn the_seed_walk_through() {
    let h = harness().await;
    // response = requests.get('http://localhost:8000/life/1/')
    // -> (403, '{"detail":"Authentication credentials were not provided."}')
    h.get("/life/1/", &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);

    // cookies['sessionid'] = my_session_id; requests.get(..., cookies=cookies) -> 200
    let sessionid = h.session(r#"{"username":"alice"}"#).await;
    let cookies = format!("sessionid={sessionid}");
    let reply = h.get("/life/1/", &[("cookie", &cookies)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["target"], "/life/1/");

    // requests.put(..., data={'answer': 24} as JSON, cookies=cookies)
    // -> (403, '{"detail":"CSRF Failed: CSRF cookie not set."}')
    let data = r#"{"answer": 24}"#;
    let json = ("content-type", "application/json");
    h.send("PUT", "/life/1/", &[json, ("cookie", &cookies)], data)
        .await
        .assert_denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET);

    // html_response = requests.get(..., headers={'accept': 'text/html'}, cookies=cookies)
    // cookies['csrftoken'] = html_response.cookies['csrftoken']
    let html = h
        .get("/life/1/", &[("accept", "text/html"), ("cookie", &cookies)])
        .await;
    assert_eq!(html.status, 200);
    let csrftoken = set_csrf_cookie(&html).expect("the GET hands out a csrftoken cookie");
    let cookies = format!("{cookies}; csrftoken={csrftoken}");

    // requests.put(..., cookies=cookies) without the header
    // -> 403 CSRF Failed: CSRF token missing. (Django >= 4.0 wording; the
    //    seed shows the pre-4.0 "missing or incorrect", see legacy_messages)
    h.send("PUT", "/life/1/", &[json, ("cookie", &cookies)], data)
        .await
        .assert_denied(403, "csrf_token_missing", CSRF_TOKEN_MISSING);

    // headers['X-CSRFToken'] = cookies['csrftoken']; requests.put(...) -> 200
    let before = h.seen().len();
    let reply = h
        .send(
            "PUT",
            "/life/1/",
            &[json, ("cookie", &cookies), ("X-CSRFToken", &csrftoken)],
            data,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = h.seen();
    assert_eq!(
        seen.len(),
        before + 1,
        "exactly the PUT reached the upstream"
    );
    let put = seen.last().unwrap();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.body.as_deref(), Some(data));
    assert_eq!(put.header_values("x-remote-user"), ["alice"]);
}

#[tokio::test]
async fn legacy_messages_reproduce_the_seed_wording() {
    let h = harness_with("[csrf]\nlegacy_messages = true").await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let cookies = format!("sessionid={id}; csrftoken={CSRF_SECRET}");
    let legacy = r#"{"detail":"CSRF Failed: CSRF token missing or incorrect."}"#;
    h.send("PUT", "/life/1/", &[("cookie", &cookies)], "{}")
        .await
        .assert_denied(403, "csrf_token_missing", legacy);
    h.send(
        "PUT",
        "/life/1/",
        &[("cookie", &cookies), ("x-csrftoken", "short")],
        "{}",
    )
    .await
    .assert_denied(403, "csrf_token_malformed", legacy);
    let wrong = Secret::generate();
    h.send(
        "PUT",
        "/life/1/",
        &[("cookie", &cookies), ("x-csrftoken", wrong.as_str())],
        "{}",
    )
    .await
    .assert_denied(403, "csrf_token_incorrect", legacy);
    // "CSRF cookie not set." existed before 4.0 too.
    h.send(
        "PUT",
        "/life/1/",
        &[("cookie", &format!("sessionid={id}"))],
        "{}",
    )
    .await
    .assert_denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET);
}

/// An authenticated session plus csrftoken cookie, for the reason tests.
async fn signed_in(h: &Harness) -> String {
    let id = h.session(r#"{"username":"alice"}"#).await;
    format!("sessionid={id}; csrftoken={CSRF_SECRET}")
}

fn detail(reason: &str) -> String {
    serde_json::json!({ "detail": format!("CSRF Failed: {reason}") }).to_string()
}

#[tokio::test]
async fn reason_token_incorrect() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    let other = Secret::generate();
    h.send(
        "POST",
        "/life/",
        &[("cookie", &cookies), ("x-csrftoken", other.as_str())],
        "",
    )
    .await
    .assert_denied(
        403,
        "csrf_token_incorrect",
        &detail("CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
    );
    // A masked form of another secret is just as wrong.
    h.send(
        "POST",
        "/life/",
        &[("cookie", &cookies), ("x-csrftoken", &other.mask())],
        "",
    )
    .await
    .assert_denied(
        403,
        "csrf_token_incorrect",
        &detail("CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
    );
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn reason_token_incorrect_length() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    for token in ["", "abc", &"a".repeat(33)] {
        h.send(
            "DELETE",
            "/life/1/",
            &[("cookie", &cookies), ("x-csrftoken", token)],
            "",
        )
        .await
        .assert_denied(
            403,
            "csrf_token_malformed",
            &detail("CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."),
        );
    }
}

#[tokio::test]
async fn reason_token_invalid_characters() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    h.send(
        "PATCH",
        "/life/1/",
        &[("cookie", &cookies), ("x-csrftoken", &"!".repeat(32))],
        "",
    )
    .await
    .assert_denied(
        403,
        "csrf_token_malformed",
        &detail("CSRF token from the 'X-Csrftoken' HTTP header has invalid characters."),
    );
}

#[tokio::test]
async fn reason_cookie_malformed_and_replaced() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let short = format!("sessionid={id}; csrftoken=short");
    let reply = h
        .send("PUT", "/life/1/", &[("cookie", &short), CSRF_HEADER], "")
        .await;
    reply.assert_denied(
        403,
        "csrf_cookie_malformed",
        &detail("CSRF cookie has incorrect length."),
    );
    // Django replaces a malformed cookie on any response.
    assert!(set_csrf_cookie(&reply).is_some());
    let bad = format!("sessionid={id}; csrftoken={}", "-".repeat(64));
    h.send("PUT", "/life/1/", &[("cookie", &bad), CSRF_HEADER], "")
        .await
        .assert_denied(
            403,
            "csrf_cookie_malformed",
            &detail("CSRF cookie has invalid characters."),
        );
}

#[tokio::test]
async fn reason_bad_origin() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    for origin in [
        "https://evil.example",
        "null",
        "https://[",
        "https://gw.test",
    ] {
        h.send(
            "POST",
            "/life/",
            &[
                ("host", "gw.test"),
                ("origin", origin),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            "",
        )
        .await
        .assert_denied(
            403,
            "csrf_bad_origin",
            &detail(&format!(
                "Origin checking failed - {origin} does not match any trusted origins."
            )),
        );
    }
    // The request's own scheme://Host passes.
    let ok = h
        .send(
            "POST",
            "/life/",
            &[
                ("host", "gw.test"),
                ("origin", "http://gw.test"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            "",
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn trusted_origins_exact_and_wildcard_same_scheme_only() {
    let h = harness_with(
        "[csrf]\ntrusted_origins = [\"https://app.example.com\", \"https://*.corp.example\"]",
    )
    .await;
    let cookies = signed_in(&h).await;
    let send = |origin: &'static str| {
        let cookies = cookies.clone();
        let h = &h;
        async move {
            h.send(
                "POST",
                "/life/",
                &[
                    ("host", "gw.test"),
                    ("origin", origin),
                    ("cookie", &cookies),
                    CSRF_HEADER,
                ],
                "",
            )
            .await
        }
    };
    for allowed in [
        "https://app.example.com",
        "https://a.corp.example",
        "https://corp.example",
    ] {
        assert_eq!(send(allowed).await.status, 200, "{allowed}");
    }
    for refused in [
        "http://app.example.com",
        "http://a.corp.example",
        "https://a.corp.example.evil",
        "https://evilcorp.example",
    ] {
        assert_eq!(
            send(refused).await.reason(),
            Some("csrf_bad_origin"),
            "{refused}"
        );
    }
}

/// HTTPS is known from a trusted proxy's X-Forwarded-Proto.
async fn https_harness(extra: &str) -> Harness {
    Harness::with_config(|upstream| {
        config(upstream, &format!("{ROUTES}\n{extra}")).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await
}

#[tokio::test]
async fn https_referer_rules() {
    let h = https_harness("").await;
    let cookies = signed_in(&h).await;
    let base = [
        ("host", "gw.test"),
        ("x-forwarded-proto", "https"),
        CSRF_HEADER,
    ];
    let with = |extra: Option<(&'static str, &'static str)>| {
        let mut headers: Vec<(&str, &str)> = base.to_vec();
        headers.extend(extra);
        headers
    };
    // (Referer header, reason code, body)
    type Case = (Option<(&'static str, &'static str)>, &'static str, String);
    let cases: [Case; 4] = [
        (None, "csrf_no_referer", detail("Referer checking failed - no Referer.")),
        (Some(("referer", "gw.test/page")), "csrf_malformed_referer", detail("Referer checking failed - Referer is malformed.")),
        (
            Some(("referer", "http://gw.test/page")),
            "csrf_insecure_referer",
            detail("Referer checking failed - Referer is insecure while host is secure."),
        ),
        (
            Some(("referer", "https://evil.example/x")),
            "csrf_bad_referer",
            detail("Referer checking failed - https://evil.example/x does not match any trusted origins."),
        ),
    ];
    for (referer, reason, body) in cases {
        let mut headers = with(referer);
        headers.push(("cookie", &cookies));
        h.send("POST", "/life/", &headers, "")
            .await
            .assert_denied(403, reason, &body);
    }
    let mut headers = with(Some(("referer", "https://gw.test/page")));
    headers.push(("cookie", &cookies));
    assert_eq!(h.send("POST", "/life/", &headers, "").await.status, 200);
    // Over plain HTTP no Referer is needed.
    let plain = harness().await;
    let cookies = signed_in(&plain).await;
    assert_eq!(
        plain
            .send("POST", "/life/", &[("cookie", &cookies), CSRF_HEADER], "")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn x_forwarded_proto_from_an_untrusted_peer_is_not_https() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    // Not trusted: the request is plain HTTP, so no Referer rule applies...
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("host", "gw.test"),
                ("x-forwarded-proto", "https"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // ...and an https Origin is not this request's own origin.
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("host", "gw.test"),
                ("origin", "https://gw.test"),
                ("x-forwarded-proto", "https"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            "",
        )
        .await;
    assert_eq!(reply.reason(), Some("csrf_bad_origin"));
}

#[tokio::test]
async fn enforce_authenticated_skips_anonymous_requests() {
    let h = harness().await;
    // Anonymous unsafe request on an anonymous route: not checked (DRF).
    assert_eq!(h.send("POST", "/public/form", &[], "x").await.status, 200);
    // Anonymous unsafe request on a protected route: refused for auth, not CSRF.
    h.send("POST", "/life/", &[], "x").await.assert_denied(
        403,
        "not_authenticated",
        NOT_AUTHENTICATED,
    );
    // An authenticated request is checked on every route, public ones too.
    let id = h.session(r#"{"username":"alice"}"#).await;
    h.send(
        "POST",
        "/public/form",
        &[("cookie", &format!("sessionid={id}"))],
        "x",
    )
    .await
    .assert_denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET);
}

#[tokio::test]
async fn enforce_always_checks_everyone() {
    let h = harness_with("[csrf]\nenforce = \"always\"").await;
    h.send("POST", "/public/form", &[], "x")
        .await
        .assert_denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET);
    let cookie = format!("csrftoken={CSRF_SECRET}");
    assert_eq!(
        h.send(
            "POST",
            "/public/form",
            &[("cookie", &cookie), CSRF_HEADER],
            "x"
        )
        .await
        .status,
        200
    );
    // Safe methods are never checked.
    assert_eq!(h.get("/public/form", &[]).await.status, 200);
    assert_eq!(h.send("TRACE", "/public/form", &[], "").await.status, 200);
    // Unknown methods are unsafe.
    h.send("PURGE", "/public/form", &[], "")
        .await
        .assert_denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET);
}

#[tokio::test]
async fn exempt_routes_are_never_checked() {
    let h = harness_with("[csrf]\nenforce = \"always\"").await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let reply = h
        .send(
            "POST",
            "/hooks/github",
            &[
                ("cookie", &format!("sessionid={id}")),
                ("origin", "https://github.com"),
            ],
            "{}",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        set_csrf_cookie(&h.get("/hooks/x", &[]).await).is_none(),
        "no cookie handed out on exempt routes"
    );
}

#[tokio::test]
async fn form_field_token_urlencoded_body_reaches_upstream_intact() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    let secret = Secret::from_token(CSRF_SECRET).unwrap();
    let body = format!(
        "answer=24&note=a%26b+c&csrfmiddlewaretoken={}",
        secret.mask()
    );
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("cookie", &cookies),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        h.seen()[0].body.as_deref(),
        Some(body.as_str()),
        "byte for byte"
    );
    // A wrong field token is refused, and names POST as its source.
    let wrong = format!("csrfmiddlewaretoken={}", Secret::generate().mask());
    h.send(
        "POST",
        "/life/",
        &[
            ("cookie", &cookies),
            ("content-type", "application/x-www-form-urlencoded"),
            CSRF_HEADER,
        ],
        &wrong,
    )
    .await
    .assert_denied(
        403,
        "csrf_token_incorrect",
        &detail("CSRF token from POST incorrect."),
    );
    let short = "csrfmiddlewaretoken=abc";
    h.send(
        "POST",
        "/life/",
        &[
            ("cookie", &cookies),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        short,
    )
    .await
    .assert_denied(
        403,
        "csrf_token_malformed",
        &detail("CSRF token from POST has incorrect length."),
    );
    // An empty field falls back to the header, as in Django.
    let empty = "csrfmiddlewaretoken=&a=1";
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("cookie", &cookies),
                ("content-type", "application/x-www-form-urlencoded"),
                CSRF_HEADER,
            ],
            empty,
        )
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn form_field_token_multipart_body_reaches_upstream_intact() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    let body = format!(
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{CSRF_SECRET}\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n\
         hello\r\n--BOUNDARY--\r\n"
    );
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("cookie", &cookies),
                ("content-type", "multipart/form-data; boundary=BOUNDARY"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(h.seen()[0].body.as_deref(), Some(body.as_str()));
}

#[tokio::test]
async fn large_multipart_body_is_forwarded_whole_after_the_token_is_read() {
    let h = harness_with("[csrf]\nform_body_limit = 4096").await;
    let cookies = signed_in(&h).await;
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{CSRF_SECRET}\r\n\
         --B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n{}\r\n--B--\r\n",
        "z".repeat(3 * 1024 * 1024)
    );
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("cookie", &cookies),
                ("content-type", "multipart/form-data; boundary=B"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["body_len"], body.len());
}

#[tokio::test]
async fn urlencoded_body_over_the_limit_is_djangos_400() {
    let h = harness_with("[csrf]\nform_body_limit = 4096").await;
    let cookies = signed_in(&h).await;
    let body = format!(
        "csrfmiddlewaretoken={CSRF_SECRET}&blob={}",
        "z".repeat(8192)
    );
    h.send(
        "POST",
        "/life/",
        &[
            ("cookie", &cookies),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &body,
    )
    .await
    .assert_denied(
        400,
        "form_too_large",
        r#"{"detail":"Request body too large."}"#,
    );
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn invalid_multipart_boundary_is_djangos_400() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    let boundary = format!("multipart/form-data; boundary={}", "-".repeat(300));
    h.send(
        "POST",
        "/life/",
        &[
            ("cookie", &cookies),
            ("content-type", &boundary),
            CSRF_HEADER,
        ],
        "x",
    )
    .await
    .assert_denied(400, "bad_body", r#"{"detail":"Malformed request body."}"#);
}

#[tokio::test]
async fn chunked_form_bodies_are_an_empty_form_as_under_wsgi() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    // A valid field token in a body without Content-Length does not count:
    // the (wrong) header decides, as in Django under WSGI.
    let body = format!("csrfmiddlewaretoken={CSRF_SECRET}");
    let wrong = Secret::generate();
    let request = format!(
        "POST /life/ HTTP/1.1\r\nHost: gw.test\r\nCookie: {cookies}\r\nX-CSRFToken: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\n\r\n",
        wrong.as_str(),
        body.len()
    );
    let reply = h.raw(request.as_bytes()).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(
        reply
            .head
            .contains("x-portcullis-reason: csrf_token_incorrect"),
        "{}",
        reply.head
    );
}

#[tokio::test]
async fn duplicate_origins_are_one_origin_that_matches_nothing() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    h.send(
        "POST",
        "/life/",
        &[("host", "gw.test"), ("origin", "http://gw.test"), ("origin", "http://evil.example"), ("cookie", &cookies), CSRF_HEADER],
        "",
    )
    .await
    .assert_denied(
        403,
        "csrf_bad_origin",
        &detail("Origin checking failed - http://gw.test,http://evil.example does not match any trusted origins."),
    );
}

#[tokio::test]
async fn an_invalid_host_is_nobodys_origin() {
    let h = harness().await;
    let cookies = signed_in(&h).await;
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("host", "my_host"),
                ("origin", "http://my_host"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            "",
        )
        .await;
    assert_eq!(reply.reason(), Some("csrf_bad_origin"));
}

#[tokio::test]
async fn x_forwarded_proto_is_compared_exactly() {
    let h = https_harness("").await;
    let cookies = signed_in(&h).await;
    // "HTTPS" is not "https" for Django: the request stays plain HTTP.
    let reply = h
        .send(
            "POST",
            "/life/",
            &[
                ("host", "gw.test"),
                ("x-forwarded-proto", "HTTPS"),
                ("origin", "http://gw.test"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_non_ascii_cookie_does_not_hide_the_others() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let request = format!(
        "POST /life/ HTTP/1.1\r\nHost: gw.test\r\nCookie: x=\u{e9}; sessionid={id}; csrftoken={CSRF_SECRET}\r\n\
         X-CSRFToken: {CSRF_SECRET}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    // Sent as Latin-1 bytes (é = 0xE9), as a browser may.
    let bytes: Vec<u8> = request.chars().map(|c| c as u8).collect();
    let reply = h.raw(&bytes).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn duplicate_tokens_and_cookies() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    // Two X-CSRFToken headers are refused (joined, as WSGI joins them).
    let cookies = format!("sessionid={id}; csrftoken={CSRF_SECRET}");
    h.send(
        "POST",
        "/life/",
        &[("cookie", &cookies), CSRF_HEADER, CSRF_HEADER],
        "",
    )
    .await
    .assert_denied(
        403,
        "csrf_token_malformed",
        &detail("CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."),
    );
    // Two csrftoken cookies: the last wins, as in Django.
    let other = Secret::generate();
    let last_good = format!(
        "sessionid={id}; csrftoken={}; csrftoken={CSRF_SECRET}",
        other.as_str()
    );
    assert_eq!(
        h.send("POST", "/life/", &[("cookie", &last_good), CSRF_HEADER], "")
            .await
            .status,
        200
    );
    let first_good = format!(
        "sessionid={id}; csrftoken={CSRF_SECRET}; csrftoken={}",
        other.as_str()
    );
    assert_eq!(
        h.send(
            "POST",
            "/life/",
            &[("cookie", &first_good), CSRF_HEADER],
            ""
        )
        .await
        .reason(),
        Some("csrf_token_incorrect")
    );
}

#[tokio::test]
async fn oversized_cookies_are_refused_cleanly() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    // 100,000 characters: over the header limit, refused before anything
    // reads it (431).
    let huge = format!("sessionid={id}; csrftoken={}", "a".repeat(100_000));
    let reply = h
        .send("POST", "/life/", &[("cookie", &huge), CSRF_HEADER], "")
        .await;
    assert_eq!(reply.status, 431);
    // Large but within the limit: Django's malformed-cookie answer.
    let large = format!("sessionid={id}; csrftoken={}", "a".repeat(30_000));
    h.send("POST", "/life/", &[("cookie", &large), CSRF_HEADER], "")
        .await
        .assert_denied(
            403,
            "csrf_cookie_malformed",
            &detail("CSRF cookie has incorrect length."),
        );
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn masked_tokens_and_legacy_masked_cookies_are_accepted() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let secret = Secret::generate();
    // A masked token against the bare secret cookie.
    let cookies = format!("sessionid={id}; csrftoken={}", secret.as_str());
    assert_eq!(
        h.send(
            "POST",
            "/life/",
            &[("cookie", &cookies), ("x-csrftoken", &secret.mask())],
            ""
        )
        .await
        .status,
        200
    );
    // A 64-char masked cookie (Django < 4.1) against another masked token.
    let cookies = format!("sessionid={id}; csrftoken={}", secret.mask());
    assert_eq!(
        h.send(
            "POST",
            "/life/",
            &[("cookie", &cookies), ("x-csrftoken", &secret.mask())],
            ""
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn cookie_is_handed_out_on_safe_requests_with_djangos_attributes() {
    let h = harness().await;
    // Forwarded and synthetic responses both carry it.
    let forwarded = h.get("/public/page", &[]).await;
    assert_eq!(forwarded.status, 200);
    let synthetic = h.get("/life/1/", &[]).await;
    assert_eq!(synthetic.status, 403);
    for reply in [&forwarded, &synthetic] {
        let header = set_cookie_header(reply);
        let secret = set_csrf_cookie(reply).unwrap();
        assert_eq!(secret.len(), 32, "{header}");
        assert!(Secret::from_token(&secret).is_ok());
        for attribute in ["Path=/", "SameSite=Lax", "Max-Age=31449600", "Expires="] {
            assert!(
                header.contains(attribute),
                "{attribute} missing in {header}"
            );
        }
        assert!(!header.contains("HttpOnly"), "{header}");
        assert!(!header.contains("Secure"), "{header}");
    }
    // Not again once the client has a valid one.
    let has = format!("csrftoken={CSRF_SECRET}");
    assert!(set_csrf_cookie(&h.get("/public/page", &[("cookie", &has)]).await).is_none());
    // Not on unsafe requests without one (Django only sets it when a token is used).
    assert!(set_csrf_cookie(&h.send("POST", "/public/page", &[], "").await).is_none());
}

#[tokio::test]
async fn cookie_attributes_follow_the_config_and_https() {
    let h = https_harness("[csrf]\ncookie_domain = \"example.com\"\ncookie_samesite = \"Strict\"")
        .await;
    let reply = h
        .get("/public/page", &[("x-forwarded-proto", "https")])
        .await;
    let header = set_cookie_header(&reply);
    for attribute in ["Domain=example.com", "SameSite=Strict", "Secure"] {
        assert!(
            header.contains(attribute),
            "{attribute} missing in {header}"
        );
    }
}

#[tokio::test]
async fn the_token_endpoint() {
    let h = harness().await;
    let reply = h.get("/_portcullis/csrf", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let token = reply.json()["csrfToken"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    let secret = set_csrf_cookie(&reply).expect("sets the cookie when missing");
    assert!(Secret::from_token(&secret).unwrap().matches(&token));
    // With a valid cookie: a fresh masked token of that secret, no new cookie.
    let has = format!("csrftoken={CSRF_SECRET}");
    let again = h.get("/_portcullis/csrf", &[("cookie", &has)]).await;
    assert!(set_csrf_cookie(&again).is_none());
    let token2 = again.json()["csrfToken"].as_str().unwrap().to_string();
    assert!(Secret::from_token(CSRF_SECRET).unwrap().matches(&token2));
    // The token works for an unsafe request.
    let id = h.session(r#"{"username":"alice"}"#).await;
    let cookies = format!("sessionid={id}; csrftoken={CSRF_SECRET}");
    assert_eq!(
        h.send(
            "POST",
            "/life/",
            &[("cookie", &cookies), ("x-csrftoken", &token2)],
            ""
        )
        .await
        .status,
        200
    );
    // Never forwarded; other internal paths are 404, other methods 405.
    assert_eq!(h.seen().len(), 1);
    h.get("/_portcullis/nothing", &[]).await.assert_denied(
        404,
        "not_found",
        r#"{"detail":"Not found."}"#,
    );
    h.send("POST", "/_portcullis/csrf", &[], "")
        .await
        .assert_denied(
            405,
            "method_not_allowed",
            r#"{"detail":"Method \"POST\" not allowed."}"#,
        );
}

#[tokio::test]
async fn the_token_endpoint_prefix_is_configurable() {
    let h = Harness::with_config(|upstream| {
        config(upstream, ROUTES).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ninternal_prefix = \"/gw\"",
        )
    })
    .await;
    assert_eq!(h.get("/gw/csrf", &[]).await.status, 200);
    assert_eq!(
        h.get("/_portcullis/csrf", &[]).await.reason(),
        Some("no_route")
    );
}

#[tokio::test]
async fn custom_header_name_is_named_in_messages() {
    let h =
        harness_with("[csrf]\nheader_name = \"X-XSRF-TOKEN\"\ncookie_name = \"XSRF-TOKEN\"").await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let cookies = format!("sessionid={id}; XSRF-TOKEN={CSRF_SECRET}");
    h.send(
        "POST",
        "/life/",
        &[("cookie", &cookies), ("x-xsrf-token", "nope")],
        "",
    )
    .await
    .assert_denied(
        403,
        "csrf_token_malformed",
        &detail("CSRF token from the 'X-Xsrf-Token' HTTP header has incorrect length."),
    );
    assert_eq!(
        h.send(
            "POST",
            "/life/",
            &[("cookie", &cookies), ("x-xsrf-token", CSRF_SECRET)],
            ""
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn websocket_upgrades_are_held_to_the_origin_rule() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let cookies = format!("sessionid={id}");
    let upgrade = |origin: &'static str| {
        format!(
            "GET /life/socket HTTP/1.1\r\nHost: gw.test\r\nCookie: {cookies}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: {origin}\r\n\r\n"
        )
    };
    let reply = h.raw(upgrade("https://evil.example").as_bytes()).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.body.contains(
        "Origin checking failed - https://evil.example does not match any trusted origins."
    ));
    assert!(h.seen().is_empty());
}
