//! `explain` against the live gateway: every deny reason of the foundation
//! and CSRF suites is sent both ways — as raw bytes to the proxy, and to
//! `POST /explain` on the admin API — and both must reach the same decision,
//! reason, status and body. Then the `portcullis explain` command itself,
//! text and JSON, against a running `portcullis serve`.

use crate::common::process::ServeProcess;
use crate::common::*;
use serde_json::{json, Value};

fn routes() -> &'static str {
    r#"
[[routes]]
name = "hooks"
path = "/hooks/**"
access = "anonymous"
csrf = false
max_body = 10

[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"

[[routes]]
name = "closed"
path = "/closed/**"
access = "deny"

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
"#
}

/// One request, as raw bytes for the proxy and as JSON for `/explain`.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Headers besides Host (always `gateway.test`) and Connection.
    headers: Vec<String>,
    body: &'static str,
    /// The reason code, or `None` when the request is forwarded.
    reason: Option<&'static str>,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &[&str],
    reason: Option<&'static str>,
) -> Case {
    Case {
        name,
        method,
        path,
        headers: headers.iter().map(|h| h.to_string()).collect(),
        body: "",
        reason,
    }
}

fn raw_request(case: &Case) -> Vec<u8> {
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: gateway.test\r\n",
        case.method, case.path
    );
    for header in &case.headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    if !case.body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", case.body.len()));
    }
    text.push_str("Connection: close\r\n\r\n");
    text.push_str(case.body);
    text.into_bytes()
}

fn explain_request(case: &Case) -> Value {
    let mut headers: Vec<String> = vec!["Host: gateway.test".into()];
    headers.extend(case.headers.iter().cloned());
    json!({
        "method": case.method,
        "url": case.path,
        "headers": headers,
        "body": (!case.body.is_empty()).then_some(case.body),
    })
}

fn header_of<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn explain_agrees_with_the_live_gateway_for_every_deny_reason() {
    // The test client (127.0.0.1) is a trusted proxy, so its
    // X-Forwarded-Proto: https makes a request HTTPS for the Referer rules.
    let h = Harness::with_config(|upstream| {
        config(
            upstream,
            &format!(
                "[csrf]\ntrusted_origins = [\"https://trusted.example\"]\n{}",
                routes()
            ),
        )
        .replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await;
    let alice = h
        .session(
            r#"{"username":"alice","groups":["readers"],"permissions":["lifeapp.change_life"]}"#,
        )
        .await;
    let cookie = |extra: &str| format!("Cookie: sessionid={alice}; csrftoken={CSRF_SECRET}{extra}");
    let with_cookie = cookie("");
    let only_session = format!("Cookie: sessionid={alice}");
    let token = format!("X-CSRFToken: {CSRF_SECRET}");
    let wrong_token = "X-CSRFToken: ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef".to_string();
    let malformed_cookie = format!("Cookie: sessionid={alice}; csrftoken=short");
    let https = "X-Forwarded-Proto: https";
    let mut cases = vec![
        case("forwarded anonymously", "GET", "/public/x", &[], None),
        case(
            "forwarded for alice",
            "GET",
            "/life/1/",
            &[&with_cookie],
            None,
        ),
        case(
            "model permission held",
            "PUT",
            "/life/1/",
            &[&with_cookie, &token],
            None,
        ),
        case(
            "bad path",
            "GET",
            "/life/%2F..%2Fadmin",
            &[],
            Some("bad_path"),
        ),
        case("no route", "GET", "/nowhere", &[], Some("no_route")),
        case(
            "route denies everyone",
            "GET",
            "/closed/x",
            &[&with_cookie],
            Some("route_denied"),
        ),
        case(
            "no session",
            "GET",
            "/life/1/",
            &[],
            Some("not_authenticated"),
        ),
        case(
            "unknown session",
            "GET",
            "/life/1/",
            &["Cookie: sessionid=abcdefghijklmnopqrstuvwxyz012345"],
            Some("not_authenticated"),
        ),
        case(
            "not staff",
            "GET",
            "/staff/",
            &[&with_cookie],
            Some("permission_denied"),
        ),
        case(
            "permission missing",
            "GET",
            "/reports/",
            &[&with_cookie],
            Some("permission_denied"),
        ),
        case(
            "model permission missing",
            "DELETE",
            "/life/1/",
            &[&with_cookie, &token],
            Some("permission_denied"),
        ),
        case(
            "model permissions know no PURGE",
            "PURGE",
            "/life/1/",
            &[&with_cookie, &token],
            Some("method_not_allowed"),
        ),
        case(
            "csrf cookie not set",
            "PUT",
            "/life/1/",
            &[&only_session],
            Some("csrf_cookie_missing"),
        ),
        case(
            "csrf cookie malformed",
            "PUT",
            "/life/1/",
            &[&malformed_cookie, &token],
            Some("csrf_cookie_malformed"),
        ),
        case(
            "csrf token missing",
            "PUT",
            "/life/1/",
            &[&with_cookie],
            Some("csrf_token_missing"),
        ),
        case(
            "csrf token malformed",
            "PUT",
            "/life/1/",
            &[&with_cookie, "X-CSRFToken: nope"],
            Some("csrf_token_malformed"),
        ),
        case(
            "csrf token incorrect",
            "PUT",
            "/life/1/",
            &[&with_cookie, &wrong_token],
            Some("csrf_token_incorrect"),
        ),
        case(
            "csrf bad origin",
            "PUT",
            "/life/1/",
            &[&with_cookie, &token, "Origin: https://evil.example"],
            Some("csrf_bad_origin"),
        ),
        case(
            "csrf trusted origin",
            "PUT",
            "/life/1/",
            &[&with_cookie, &token, "Origin: https://trusted.example"],
            None,
        ),
        case(
            "body over max_body",
            "POST",
            "/hooks/in",
            &["Content-Length: 11"],
            Some("body_too_large"),
        ),
    ];
    // HTTPS brings Django's Referer rules.
    cases.extend([
        case(
            "csrf no referer",
            "PUT",
            "/life/1/",
            &[&with_cookie, &token, https],
            Some("csrf_no_referer"),
        ),
        case(
            "csrf malformed referer",
            "PUT",
            "/life/1/",
            &[&with_cookie, &token, https, "Referer: https://"],
            Some("csrf_malformed_referer"),
        ),
        case(
            "csrf insecure referer",
            "PUT",
            "/life/1/",
            &[&with_cookie, &token, https, "Referer: http://gateway.test/"],
            Some("csrf_insecure_referer"),
        ),
        case(
            "csrf bad referer",
            "PUT",
            "/life/1/",
            &[
                &with_cookie,
                &token,
                https,
                "Referer: https://evil.example/",
            ],
            Some("csrf_bad_referer"),
        ),
        case(
            "csrf good referer",
            "PUT",
            "/life/1/",
            &[
                &with_cookie,
                &token,
                https,
                "Referer: https://gateway.test/page",
            ],
            None,
        ),
    ]);
    // The body case sends its declared length with no body: give it one.
    for c in &mut cases {
        if c.name == "body over max_body" {
            c.headers.clear();
            c.body = "01234567890";
        }
    }

    for c in &cases {
        let live = h.raw(&raw_request(c)).await;
        let live_cookies = live
            .head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .count();
        let explained = h
            .admin(
                "POST",
                "/explain",
                Some(ADMIN_TOKEN),
                &explain_request(c).to_string(),
            )
            .await;
        assert_eq!(
            explained.status.as_u16(),
            200,
            "{}: {}",
            c.name,
            explained.text()
        );
        let e = explained.json();
        match c.reason {
            None => {
                assert_eq!(live.status, 200, "{}: live {}", c.name, live.body);
                assert_eq!(e["decision"], "forward", "{}: {e:#}", c.name);
                assert!(e["reason"].is_null(), "{}", c.name);
            }
            Some(reason) => {
                let live_reason = header_of(&live.head, "x-portcullis-reason");
                assert_eq!(live_reason, Some(reason), "{}: live {}", c.name, live.head);
                assert_eq!(e["decision"], "deny", "{}: {e:#}", c.name);
                assert_eq!(e["reason"], reason, "{}", c.name);
                assert_eq!(e["response"]["status"], live.status, "{}", c.name);
                assert_eq!(e["response"]["body"], live.body.as_str(), "{}", c.name);
                let explained_cookies = e["response"]["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|h| h[0] == "set-cookie")
                    .count();
                assert_eq!(
                    explained_cookies, live_cookies,
                    "{}: {e:#}\nlive: {}",
                    c.name, live.head
                );
                let live_body: Value = serde_json::from_str(&live.body).unwrap();
                assert_eq!(e["detail"], live_body["detail"], "{}", c.name);
                assert!(
                    e["hint"].as_str().is_some_and(|h| !h.is_empty()),
                    "{}",
                    c.name
                );
                let failed = e["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["outcome"] == "fail");
                assert!(failed, "{}: no failing step in {e:#}", c.name);
                // The text form says the same.
                let parsed: portcullis::explain::Explanation =
                    serde_json::from_value(e.clone()).unwrap();
                let text = portcullis::explain::render::text(&parsed);
                assert!(
                    text.contains(&format!("decision: deny ({reason})")),
                    "{text}"
                );
                assert!(text.contains(&format!("HTTP {}", live.status)), "{text}");
                assert!(
                    text.contains(&format!("fix: {}", e["hint"].as_str().unwrap())),
                    "{text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_explanation_names_the_missing_permission_and_the_routes_passed_by() {
    let h = Harness::start(routes()).await;
    let alice = h
        .session(r#"{"username":"alice","groups":["readers"],"permissions":["lifeapp.view_life"]}"#)
        .await;
    let request = json!({
        "method": "PUT",
        "url": "/life/1/",
        "cookie": Harness::cookie(&alice),
        "headers": [format!("X-CSRFToken: {CSRF_SECRET}")],
    });
    let e = h
        .admin("POST", "/explain", Some(ADMIN_TOKEN), &request.to_string())
        .await
        .json();
    assert_eq!(e["decision"], "deny");
    assert_eq!(e["reason"], "permission_denied");
    assert_eq!(e["route"], "life");
    assert_eq!(e["canonical_path"], "/life/1/");
    assert_eq!(e["session"]["username"], "alice");
    assert_eq!(e["session"]["groups"], json!(["readers"]));
    assert_eq!(e["hint"], "The user alice lacks lifeapp.change_life.");
    let steps = e["steps"].as_array().unwrap();
    let route_steps: Vec<&str> = steps
        .iter()
        .filter(|s| s["stage"] == "route")
        .map(|s| s["detail"].as_str().unwrap())
        .collect();
    // hooks, public, closed, staff and reports do not fit; life does.
    assert_eq!(route_steps.len(), 6, "{route_steps:#?}");
    assert!(route_steps[..5].iter().all(|d| d.contains("does not fit")));
    assert!(route_steps[5].contains("first match"));
    let csrf_passed = steps
        .iter()
        .any(|s| s["stage"] == "csrf" && s["check"] == "token" && s["outcome"] == "pass");
    assert!(csrf_passed, "{e:#}");
    // Nothing was forwarded, nothing written.
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn debug_adds_the_hint_to_the_body_and_expose_reason_off_drops_the_header() {
    let h = Harness::start(&format!(
        "[diagnostics]\ndebug = true\nexpose_reason = \"off\"\n{}",
        routes()
    ))
    .await;
    let reply = h.send("PUT", "/life/1/", &[], "").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.reason(), None);
    let body = reply.json();
    assert_eq!(
        body["detail"],
        "Authentication credentials were not provided."
    );
    assert!(
        body["hint"]
            .as_str()
            .unwrap()
            .starts_with("Sign in (POST /_portcullis/login)"),
        "{body}"
    );
    // The default stays exactly DRF's body, with the header.
    let plain = Harness::start(routes()).await;
    plain.send("PUT", "/life/1/", &[], "").await.assert_denied(
        403,
        "not_authenticated",
        NOT_AUTHENTICATED,
    );
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_explain(config: &std::path::Path, admin: &str, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("explain")
        .arg("--config")
        .arg(config)
        .arg("--admin")
        .arg(format!("http://{admin}"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_explain_command_asks_the_running_gateway() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_url = format!("http://{}", upstream.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &crate::common::config(&upstream_url, routes()));
    let gateway = ServeProcess::start(&config);
    let id = create_session(
        &gateway.admin,
        r#"{"username":"alice","permissions":["lifeapp.view_life"]}"#,
    );
    let cookie = format!("sessionid={id}; csrftoken={CSRF_SECRET}");
    let header = format!("X-CSRFToken: {CSRF_SECRET}");
    let (ok, text, err) = run_explain(
        &config,
        &gateway.admin,
        &[
            "-X", "PUT", "--url", "/life/1/", "--cookie", &cookie, "-H", &header,
        ],
    );
    assert!(ok, "{err}");
    assert!(text.starts_with("PUT /life/1/"), "{text}");
    assert!(
        text.contains("routes[5] \"life\" /life/**: first match"),
        "{text}"
    );
    assert!(text.contains("user alice"), "{text}");
    assert!(
        text.contains("decision: deny (permission_denied)"),
        "{text}"
    );
    assert!(
        text.contains("x-portcullis-reason: permission_denied"),
        "{text}"
    );
    assert!(
        text.contains(r#"{"detail":"You do not have permission to perform this action."}"#),
        "{text}"
    );
    assert!(
        text.contains("fix: The user alice lacks lifeapp.change_life."),
        "{text}"
    );

    let (ok, json_text, err) = run_explain(
        &config,
        &gateway.admin,
        &["--url", "/public/hello", "--json"],
    );
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(e["decision"], "forward");
    assert_eq!(e["route"], "public");
    assert_eq!(e["upstream_request"]["method"], "GET");
    assert!(e["upstream_request"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("/public/hello"));

    // A gateway that is not there is a clear error, not an explanation.
    drop(gateway);
    let (ok, _, err) = run_explain(&config, "127.0.0.1:9", &["--url", "/public/x"]);
    assert!(!ok);
    assert!(err.contains("is it running?"), "{err}");
}

/// `POST /sessions` over a plain socket (this test has no async runtime).
fn create_session(admin: &str, json: &str) -> String {
    let answer = crate::common::blocking::exchange(
        admin,
        &format!(
            "POST /sessions HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        ),
    );
    let (_, body) = crate::common::blocking::status_and_body(&answer);
    let value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    value["session_id"].as_str().unwrap().to_string()
}
