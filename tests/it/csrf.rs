//! CSRF through a real gateway in front of an upstream that knows nothing
//! about CSRF: the seed document's walk-through statement by statement, a
//! table of single requests (every Django reason, both enforce modes,
//! exemptions, trusted origins, HTTPS Referer rules), form-field tokens,
//! cookies, the token endpoint.

use crate::common::cases::{with_session, Gateways, SESSION};
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

/// An authenticated session plus csrftoken cookie.
async fn signed_in(h: &Harness) -> String {
    let id = h.session(r#"{"username":"alice"}"#).await;
    format!("sessionid={id}; csrftoken={CSRF_SECRET}")
}

fn detail(reason: &str) -> String {
    serde_json::json!({ "detail": format!("CSRF Failed: {reason}") }).to_string()
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

/// One request and the answer it must get, on the gateway `gateway`.
/// Header values may hold `SESSION`, which becomes alice's session id on
/// that gateway when the case is sent.
struct Case {
    /// Names the case when it fails.
    name: String,
    gateway: Gateway,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: u16,
    /// `X-Portcullis-Reason`, when the case checks it.
    reason: Option<&'static str>,
    /// The exact answer body (DRF's JSON, sent as `application/json`), when
    /// the case checks it.
    answer: Option<String>,
    /// Whether the answer sets a csrftoken cookie, when the case checks it.
    sets_csrf_cookie: Option<bool>,
}

/// The gateway a case is sent to: `ROUTES` and ...
#[derive(Clone, Copy, Debug, PartialEq)]
enum Gateway {
    /// ... the default settings.
    Plain,
    /// ... this `[csrf]` section.
    Csrf(&'static str),
    /// ... a trusted proxy (127.0.0.1), whose X-Forwarded-Proto says HTTPS.
    BehindProxy,
}

impl Gateway {
    async fn start(self) -> Harness {
        match self {
            Gateway::Plain => harness().await,
            Gateway::Csrf(section) => harness_with(section).await,
            Gateway::BehindProxy => https_harness("").await,
        }
    }
}

impl Case {
    fn new(name: &str, gateway: Gateway, method: &'static str, path: &'static str) -> Case {
        Case {
            name: name.to_string(),
            gateway,
            method,
            path,
            headers: Vec::new(),
            body: String::new(),
            status: 0,
            reason: None,
            answer: None,
            sets_csrf_cookie: None,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }

    /// `Cookie: sessionid=<alice's>; csrftoken=CSRF_SECRET` and
    /// `X-CSRFToken: CSRF_SECRET`: passes CSRF.
    fn signed_in_with_token(self) -> Case {
        self.header("cookie", with_csrftoken(CSRF_SECRET))
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
    }

    fn body(mut self, body: impl Into<String>) -> Case {
        self.body = body.into();
        self
    }

    /// Forwarded, and the upstream's 200 comes back.
    fn allowed(mut self) -> Case {
        self.status = 200;
        self
    }

    /// A synthetic denial: this status, reason and exact body.
    fn denied(mut self, status: u16, reason: &'static str, answer: impl Into<String>) -> Case {
        self.status = status;
        self.reason = Some(reason);
        self.answer = Some(answer.into());
        self
    }

    /// A 403 for `reason` (the body is not checked).
    fn refused_for(mut self, reason: &'static str) -> Case {
        self.status = 403;
        self.reason = Some(reason);
        self
    }

    fn sets_csrf_cookie(mut self, sets: bool) -> Case {
        self.sets_csrf_cookie = Some(sets);
        self
    }
}

/// `sessionid=<alice's>; csrftoken=<value>`.
fn with_csrftoken(value: &str) -> String {
    format!("sessionid={SESSION}; csrftoken={value}")
}

/// Sends the cases in order, each gateway started (and alice signed in on
/// it) the first time a case needs it, and asserts each answer, naming the
/// case that failed. A request reaches the upstream exactly when it is
/// answered 200.
async fn run(cases: Vec<Case>) {
    let mut gateways = Gateways::default();
    for case in cases {
        let (h, id) = gateways.get(case.gateway, || case.gateway.start()).await;
        let headers = with_session(&case.headers, id);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let before = h.seen().len();
        let reply = h.send(case.method, case.path, &headers, &case.body).await;
        let name = &case.name;
        assert_eq!(reply.status, case.status, "{name}: {}", reply.text());
        if let Some(reason) = case.reason {
            assert_eq!(reply.reason(), Some(reason), "{name}: {}", reply.text());
        }
        if let Some(answer) = &case.answer {
            assert_eq!(reply.text(), *answer, "{name}");
            assert_eq!(reply.headers["content-type"], "application/json", "{name}");
        }
        if let Some(sets) = case.sets_csrf_cookie {
            assert_eq!(
                set_csrf_cookie(&reply).is_some(),
                sets,
                "{name}: Set-Cookie"
            );
        }
        let forwarded = h.seen().len() - before;
        assert_eq!(
            forwarded,
            usize::from(case.status == 200),
            "{name}: requests that reached the upstream"
        );
    }
}

/// Every single-request case: Django's reasons and their exact messages,
/// both enforce modes, exemptions, trusted origins, HTTPS Referer rules,
/// body limits, duplicated tokens and cookies, masked tokens, custom names.
#[tokio::test]
async fn single_request_cases() {
    use Gateway::*;
    const LEGACY: Gateway = Csrf("[csrf]\nlegacy_messages = true");
    const TRUSTED: Gateway =
        Csrf("[csrf]\ntrusted_origins = [\"https://app.example.com\", \"https://*.corp.example\"]");
    const ALWAYS: Gateway = Csrf("[csrf]\nenforce = \"always\"");
    const FORM_LIMIT: Gateway = Csrf("[csrf]\nform_body_limit = 4096");
    const XSRF: Gateway =
        Csrf("[csrf]\nheader_name = \"X-XSRF-TOKEN\"\ncookie_name = \"XSRF-TOKEN\"");
    let legacy = r#"{"detail":"CSRF Failed: CSRF token missing or incorrect."}"#;
    let header_incorrect = detail("CSRF token from the 'X-Csrftoken' HTTP header incorrect.");
    let header_length =
        detail("CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.");
    let other = Secret::generate();
    let masked = Secret::generate();
    let mut cases = vec![
        // legacy_messages_reproduce_the_seed_wording
        Case::new("legacy: token missing", LEGACY, "PUT", "/life/1/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .body("{}")
            .denied(403, "csrf_token_missing", legacy),
        Case::new("legacy: token malformed", LEGACY, "PUT", "/life/1/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header("x-csrftoken", "short")
            .body("{}")
            .denied(403, "csrf_token_malformed", legacy),
        Case::new("legacy: token incorrect", LEGACY, "PUT", "/life/1/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header("x-csrftoken", Secret::generate().as_str())
            .body("{}")
            .denied(403, "csrf_token_incorrect", legacy),
        // "CSRF cookie not set." existed before 4.0 too.
        Case::new("legacy: cookie not set", LEGACY, "PUT", "/life/1/")
            .header("cookie", format!("sessionid={SESSION}"))
            .body("{}")
            .denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET),
        // reason_token_incorrect
        Case::new("token incorrect: another secret", Plain, "POST", "/life/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header("x-csrftoken", other.as_str())
            .denied(403, "csrf_token_incorrect", &header_incorrect),
        // A masked form of another secret is just as wrong.
        Case::new(
            "token incorrect: another secret, masked",
            Plain,
            "POST",
            "/life/",
        )
        .header("cookie", with_csrftoken(CSRF_SECRET))
        .header("x-csrftoken", other.mask())
        .denied(403, "csrf_token_incorrect", &header_incorrect),
    ];
    // reason_token_incorrect_length
    for token in ["", "abc", &"a".repeat(33)] {
        cases.push(
            Case::new(
                &format!("token of incorrect length {token:?}"),
                Plain,
                "DELETE",
                "/life/1/",
            )
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header("x-csrftoken", token)
            .denied(403, "csrf_token_malformed", &header_length),
        );
    }
    cases.extend([
        // reason_token_invalid_characters
        Case::new("token with invalid characters", Plain, "PATCH", "/life/1/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header("x-csrftoken", "!".repeat(32))
            .denied(
                403,
                "csrf_token_malformed",
                detail("CSRF token from the 'X-Csrftoken' HTTP header has invalid characters."),
            ),
        // reason_cookie_malformed_and_replaced: Django replaces a
        // malformed cookie on any response.
        Case::new("cookie of incorrect length", Plain, "PUT", "/life/1/")
            .header("cookie", with_csrftoken("short"))
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .denied(
                403,
                "csrf_cookie_malformed",
                detail("CSRF cookie has incorrect length."),
            )
            .sets_csrf_cookie(true),
        Case::new("cookie with invalid characters", Plain, "PUT", "/life/1/")
            .header("cookie", with_csrftoken(&"-".repeat(64)))
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .denied(
                403,
                "csrf_cookie_malformed",
                detail("CSRF cookie has invalid characters."),
            ),
    ]);
    // reason_bad_origin
    for origin in [
        "https://evil.example",
        "null",
        "https://[",
        "https://gw.test",
    ] {
        cases.push(
            Case::new(&format!("bad origin {origin}"), Plain, "POST", "/life/")
                .header("host", "gw.test")
                .header("origin", origin)
                .signed_in_with_token()
                .denied(
                    403,
                    "csrf_bad_origin",
                    detail(&format!(
                        "Origin checking failed - {origin} does not match any trusted origins."
                    )),
                ),
        );
    }
    // The request's own scheme://Host passes.
    cases.push(
        Case::new("the request's own origin", Plain, "POST", "/life/")
            .header("host", "gw.test")
            .header("origin", "http://gw.test")
            .signed_in_with_token()
            .allowed(),
    );
    // trusted_origins_exact_and_wildcard_same_scheme_only
    for allowed in [
        "https://app.example.com",
        "https://a.corp.example",
        "https://corp.example",
    ] {
        cases.push(
            Case::new(
                &format!("trusted origin {allowed}"),
                TRUSTED,
                "POST",
                "/life/",
            )
            .header("host", "gw.test")
            .header("origin", allowed)
            .signed_in_with_token()
            .allowed(),
        );
    }
    for refused in [
        "http://app.example.com",
        "http://a.corp.example",
        "https://a.corp.example.evil",
        "https://evilcorp.example",
    ] {
        cases.push(
            Case::new(
                &format!("untrusted origin {refused}"),
                TRUSTED,
                "POST",
                "/life/",
            )
            .header("host", "gw.test")
            .header("origin", refused)
            .signed_in_with_token()
            .refused_for("csrf_bad_origin"),
        );
    }
    // https_referer_rules: (Referer header, reason code, body)
    let referer_cases = [
        (
            None,
            "csrf_no_referer",
            "Referer checking failed - no Referer.",
        ),
        (
            Some("gw.test/page"),
            "csrf_malformed_referer",
            "Referer checking failed - Referer is malformed.",
        ),
        (
            Some("http://gw.test/page"),
            "csrf_insecure_referer",
            "Referer checking failed - Referer is insecure while host is secure.",
        ),
        (
            Some("https://evil.example/x"),
            "csrf_bad_referer",
            "Referer checking failed - https://evil.example/x does not match any trusted origins.",
        ),
        (Some("https://gw.test/page"), "", ""),
    ];
    for (referer, reason, message) in referer_cases {
        let mut case = Case::new(
            &format!("HTTPS with Referer {referer:?}"),
            BehindProxy,
            "POST",
            "/life/",
        )
        .header("host", "gw.test")
        .header("x-forwarded-proto", "https")
        .header(CSRF_HEADER.0, CSRF_HEADER.1);
        if let Some(referer) = referer {
            case = case.header("referer", referer);
        }
        case = case.header("cookie", with_csrftoken(CSRF_SECRET));
        cases.push(if reason.is_empty() {
            case.allowed()
        } else {
            case.denied(403, reason, detail(message))
        });
    }
    cases.extend([
        // Over plain HTTP no Referer is needed.
        Case::new("plain HTTP without a Referer", Plain, "POST", "/life/")
            .signed_in_with_token()
            .allowed(),
        // x_forwarded_proto_from_an_untrusted_peer_is_not_https: not
        // trusted, the request is plain HTTP, so no Referer rule applies...
        Case::new("X-Forwarded-Proto from an untrusted peer", Plain, "POST", "/life/")
            .header("host", "gw.test")
            .header("x-forwarded-proto", "https")
            .signed_in_with_token()
            .allowed(),
        // ...and an https Origin is not this request's own origin.
        Case::new(
            "X-Forwarded-Proto from an untrusted peer, https Origin",
            Plain,
            "POST",
            "/life/",
        )
        .header("host", "gw.test")
        .header("origin", "https://gw.test")
        .header("x-forwarded-proto", "https")
        .signed_in_with_token()
        .refused_for("csrf_bad_origin"),
        // x_forwarded_proto_is_compared_exactly: "HTTPS" is not "https"
        // for Django, the request stays plain HTTP.
        Case::new("X-Forwarded-Proto: HTTPS", BehindProxy, "POST", "/life/")
            .header("host", "gw.test")
            .header("x-forwarded-proto", "HTTPS")
            .header("origin", "http://gw.test")
            .signed_in_with_token()
            .allowed(),
        // enforce_authenticated_skips_anonymous_requests: an anonymous
        // unsafe request on an anonymous route is not checked (DRF)...
        Case::new("enforce authenticated: anonymous, public route", Plain, "POST", "/public/form")
            .body("x")
            .allowed(),
        // ...on a protected route it is refused for auth, not CSRF...
        Case::new("enforce authenticated: anonymous, protected route", Plain, "POST", "/life/")
            .body("x")
            .denied(403, "not_authenticated", NOT_AUTHENTICATED),
        // ...and an authenticated request is checked on every route.
        Case::new("enforce authenticated: signed in, public route", Plain, "POST", "/public/form")
            .header("cookie", format!("sessionid={SESSION}"))
            .body("x")
            .denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET),
        // enforce_always_checks_everyone
        Case::new("enforce always: anonymous", ALWAYS, "POST", "/public/form")
            .body("x")
            .denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET),
        Case::new("enforce always: anonymous with a token", ALWAYS, "POST", "/public/form")
            .header("cookie", format!("csrftoken={CSRF_SECRET}"))
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .body("x")
            .allowed(),
        // Safe methods are never checked.
        Case::new("enforce always: GET", ALWAYS, "GET", "/public/form").allowed(),
        Case::new("enforce always: TRACE", ALWAYS, "TRACE", "/public/form").allowed(),
        // Unknown methods are unsafe.
        Case::new("enforce always: PURGE", ALWAYS, "PURGE", "/public/form")
            .denied(403, "csrf_cookie_missing", CSRF_COOKIE_NOT_SET),
        // exempt_routes_are_never_checked
        Case::new("exempt route", ALWAYS, "POST", "/hooks/github")
            .header("cookie", format!("sessionid={SESSION}"))
            .header("origin", "https://github.com")
            .body("{}")
            .allowed(),
        // No cookie handed out on exempt routes.
        Case::new("exempt route: no cookie handed out", ALWAYS, "GET", "/hooks/x")
            .allowed()
            .sets_csrf_cookie(false),
        // urlencoded_body_over_the_limit_is_djangos_400
        Case::new("urlencoded body over the limit", FORM_LIMIT, "POST", "/life/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "csrfmiddlewaretoken={CSRF_SECRET}&blob={}",
                "z".repeat(8192)
            ))
            .denied(400, "form_too_large", r#"{"detail":"Request body too large."}"#),
        // invalid_multipart_boundary_is_djangos_400
        Case::new("invalid multipart boundary", Plain, "POST", "/life/")
            .header("cookie", with_csrftoken(CSRF_SECRET))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={}", "-".repeat(300)),
            )
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .body("x")
            .denied(400, "bad_body", r#"{"detail":"Malformed request body."}"#),
        // duplicate_origins_are_one_origin_that_matches_nothing
        Case::new("two Origin headers", Plain, "POST", "/life/")
            .header("host", "gw.test")
            .header("origin", "http://gw.test")
            .header("origin", "http://evil.example")
            .signed_in_with_token()
            .denied(
                403,
                "csrf_bad_origin",
                detail("Origin checking failed - http://gw.test,http://evil.example does not match any trusted origins."),
            ),
        // an_invalid_host_is_nobodys_origin
        Case::new("an invalid Host as Origin", Plain, "POST", "/life/")
            .header("host", "my_host")
            .header("origin", "http://my_host")
            .signed_in_with_token()
            .refused_for("csrf_bad_origin"),
        // duplicate_tokens_and_cookies: two X-CSRFToken headers are
        // refused (joined, as WSGI joins them)...
        Case::new("two X-CSRFToken headers", Plain, "POST", "/life/")
            .signed_in_with_token()
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .denied(403, "csrf_token_malformed", &header_length),
        // ...and of two csrftoken cookies the last wins, as in Django.
        Case::new("two csrftoken cookies, the last good", Plain, "POST", "/life/")
            .header(
                "cookie",
                format!("{}; csrftoken={CSRF_SECRET}", with_csrftoken(other.as_str())),
            )
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .allowed(),
        Case::new("two csrftoken cookies, the first good", Plain, "POST", "/life/")
            .header(
                "cookie",
                format!("{}; csrftoken={}", with_csrftoken(CSRF_SECRET), other.as_str()),
            )
            .header(CSRF_HEADER.0, CSRF_HEADER.1)
            .refused_for("csrf_token_incorrect"),
        // masked_tokens_and_legacy_masked_cookies_are_accepted: a masked
        // token against the bare secret cookie...
        Case::new("a masked token, the bare secret cookie", Plain, "POST", "/life/")
            .header("cookie", with_csrftoken(masked.as_str()))
            .header("x-csrftoken", masked.mask())
            .allowed(),
        // ...and a 64-char masked cookie (Django < 4.1) against another
        // masked token.
        Case::new("a masked token, a masked cookie", Plain, "POST", "/life/")
            .header("cookie", with_csrftoken(&masked.mask()))
            .header("x-csrftoken", masked.mask())
            .allowed(),
        // custom_header_name_is_named_in_messages
        Case::new("custom header name in the message", XSRF, "POST", "/life/")
            .header("cookie", format!("sessionid={SESSION}; XSRF-TOKEN={CSRF_SECRET}"))
            .header("x-xsrf-token", "nope")
            .denied(
                403,
                "csrf_token_malformed",
                detail("CSRF token from the 'X-Xsrf-Token' HTTP header has incorrect length."),
            ),
        Case::new("custom header name", XSRF, "POST", "/life/")
            .header("cookie", format!("sessionid={SESSION}; XSRF-TOKEN={CSRF_SECRET}"))
            .header("x-xsrf-token", CSRF_SECRET)
            .allowed(),
    ]);
    run(cases).await;
}

/// Not rows of `single_request_cases`: the 431 is for the first request on
/// a connection, and the table sends many on kept-alive connections, on
/// which a head over the limit has been seen to get through (the limit is
/// hyper's read buffer size, `server.max_header_bytes`).
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
