//! `<prefix>/whoami` through a real gateway: who the caller is to it (the
//! user, groups and permissions, how they authenticated, the session's
//! expiry), the csrftoken cookie's state and what an unsafe request would
//! need; JSON for API clients, an escaped page for browsers; read-only.

use crate::common::*;

const WHOAMI: &str = "/_portcullis/whoami";

const ROUTES: &str = r#"
[[routes]]
path = "/life/**"
access = "authenticated"
"#;

#[tokio::test]
async fn an_anonymous_caller_learns_why_and_what_csrf_would_need() {
    let h = Harness::start(ROUTES).await;
    let reply = h.get(WHOAMI, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert!(
        reply.headers.get("set-cookie").is_none(),
        "whoami sets no cookie"
    );
    let me = reply.json();
    assert_eq!(me["authenticated"], false);
    assert_eq!(me["user"], serde_json::Value::Null);
    assert_eq!(me["why_not"], "the request carries no sessionid cookie");
    assert_eq!(me["classes"], serde_json::json!(["session"]));
    assert_eq!(me["csrf"]["cookie"], "missing");
    let need = me["csrf"]["unsafe_requests_need"].as_str().unwrap();
    assert!(need.starts_with("nothing while signed out"), "{need}");
    assert!(h.seen().is_empty(), "whoami is never forwarded");
}

#[tokio::test]
async fn a_signed_in_caller_sees_their_user_session_and_csrf_state() {
    let h = Harness::start(ROUTES).await;
    let alice = h
        .session(r#"{"username":"alice","groups":["readers"],"permissions":["lifeapp.change_life"],"staff":true}"#)
        .await;
    let session = format!("sessionid={alice}");
    let me = h
        .get(WHOAMI, &[("cookie", &Harness::cookie(&alice))])
        .await
        .json();
    assert_eq!(me["authenticated"], true);
    assert_eq!(me["authenticated_by"], "session");
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["groups"], serde_json::json!(["readers"]));
    assert_eq!(
        me["user"]["permissions"],
        serde_json::json!(["lifeapp.change_life"])
    );
    assert_eq!(me["user"]["staff"], true);
    assert_eq!(me["user"]["superuser"], false);
    let shown = h.show_session(&alice).await.json();
    assert_eq!(me["session_expires_at"], shown["expires_at"]);
    assert_eq!(me["csrf"]["cookie"], "valid");
    let need = me["csrf"]["unsafe_requests_need"].as_str().unwrap();
    assert!(
        need.starts_with("the X-CSRFToken header set to the csrftoken cookie's value"),
        "{need}"
    );

    // Without the cookie, or with a broken one: what to do first.
    let missing = h.get(WHOAMI, &[("cookie", &session)]).await.json();
    assert_eq!(missing["csrf"]["cookie"], "missing");
    let need = missing["csrf"]["unsafe_requests_need"].as_str().unwrap();
    assert!(
        need.starts_with("the csrftoken cookie first (GET /_portcullis/csrf"),
        "{need}"
    );
    let broken = h
        .get(
            WHOAMI,
            &[("cookie", &format!("{session}; csrftoken=short"))],
        )
        .await
        .json();
    assert_eq!(broken["csrf"]["cookie"], "malformed");
    assert_eq!(broken["csrf"]["problem"], "has incorrect length");

    // An unknown session is anonymous, and says so.
    let stale = h
        .get(
            WHOAMI,
            &[("cookie", "sessionid=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")],
        )
        .await
        .json();
    assert_eq!(stale["authenticated"], false);
    let why = stale["why_not"].as_str().unwrap();
    assert!(why.contains("names no live session"), "{why}");
}

#[tokio::test]
async fn a_browser_gets_a_page_with_every_value_escaped() {
    let h = Harness::start(ROUTES).await;
    let mallory = h
        .session(r#"{"username":"<b>mallory</b>","groups":["a&b"]}"#)
        .await;
    let reply = h
        .get(
            WHOAMI,
            &[
                ("cookie", &Harness::cookie(&mallory)),
                ("accept", "text/html,application/xhtml+xml"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(reply.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let page = reply.text();
    assert!(
        page.contains("Signed in as <strong>&lt;b&gt;mallory&lt;/b&gt;</strong>"),
        "{page}"
    );
    assert!(page.contains("<code>a&amp;b</code>"), "{page}");
    assert!(!page.contains("<b>mallory"), "{page}");
}

#[tokio::test]
async fn only_get_and_head_are_answered() {
    let h = Harness::start(ROUTES).await;
    let post = h.send("POST", WHOAMI, &[CSRF_HEADER], "{}").await;
    assert_eq!(post.status, 405, "{}", post.text());
    assert_eq!(h.send("HEAD", WHOAMI, &[], "").await.status, 200);
}

const EXPLAIN: &str = "/_portcullis/explain";

#[tokio::test]
async fn self_explain_is_off_by_default() {
    let h = Harness::start(ROUTES).await;
    let reply = h
        .get(&format!("{EXPLAIN}?method=PUT&path=/life/1/"), &[])
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
}

#[tokio::test]
async fn self_explain_explains_the_callers_own_request() {
    let h = Harness::start(&format!("[diagnostics]\nself_explain = true\n{ROUTES}")).await;
    let alice = h.session(r#"{"username":"alice"}"#).await;
    let session = format!("sessionid={alice}");
    let url = format!("{EXPLAIN}?method=PUT&path=/life/1/");

    // Her session, no csrftoken cookie: the PUT would be refused for it.
    let reply = h.get(&url, &[("cookie", &session)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["cache-control"], "no-store");
    let e = reply.json();
    assert_eq!(e["method"], "PUT");
    assert_eq!(e["session"]["username"], "alice");
    assert_eq!(e["decision"], "deny");
    assert_eq!(e["reason"], "csrf_cookie_missing");

    // With the cookie and the header it needs: forwarded.
    let ready = h
        .get(&url, &[("cookie", &Harness::cookie(&alice)), CSRF_HEADER])
        .await
        .json();
    assert_eq!(ready["decision"], "forward", "{ready:#}");
    // Anonymous: what an anonymous PUT gets.
    let anonymous = h.get(&url, &[]).await.json();
    assert_eq!(anonymous["reason"], "not_authenticated");

    // The answer is readable by the page's scripts: the HttpOnly session
    // cookie and other credentials are never echoed, nor the upstream's
    // address.
    let upstream = &ready["upstream_request"];
    assert!(
        upstream["uri"].as_str().unwrap().starts_with("/life/1/"),
        "{upstream:#}"
    );
    let shown = upstream["headers"].to_string();
    assert!(!shown.contains(&alice), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");

    // HTTP/2 sends each cookie as a field of its own: still her session.
    let h2 = h
        .send_h2(
            "GET",
            &url,
            &[
                ("cookie", &session),
                ("cookie", &format!("csrftoken={CSRF_SECRET}")),
                CSRF_HEADER,
            ],
            "",
        )
        .await
        .json();
    assert_eq!(h2["session"]["username"], "alice", "{h2:#}");
    assert_eq!(h2["decision"], "forward", "{h2:#}");

    // Nothing was forwarded, and a request naming nothing is refused.
    assert!(h.seen().is_empty());
    assert_eq!(h.get(EXPLAIN, &[]).await.status, 400);
    assert_eq!(h.send("POST", &url, &[CSRF_HEADER], "").await.status, 405);
}
