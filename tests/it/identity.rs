//! Identity headers: every client copy stripped (any case, duplicates,
//! public routes too), then ours injected; hop-by-hop tricks cannot remove
//! them; unsafe values are never emitted (SECURITY_CASES B12–B14, B17, D25).

use crate::common::*;

const ROUTES: &str = r#"
[[routes]]
path = "/public/**"
access = "anonymous"

[[routes]]
path = "/life/**"
access = "authenticated"
"#;

const SPOOFS: &[(&str, &str)] = &[
    ("X-Remote-User", "admin"),
    ("x-remote-user", "root"),
    ("X-REMOTE-GROUPS", "admins"),
    ("X-Remote-Permissions", "auth.superuser"),
    ("X-Forwarded-User", "admin"),
    ("X-Auth-Request-User", "admin"),
    ("X-Auth-Request-Email", "admin@example.com"),
    ("Remote-User", "admin"),
    ("X-Original-URL", "/admin"),
    ("X-Rewrite-URL", "/admin"),
    ("X-HTTP-Method-Override", "DELETE"),
    ("X_Remote_User", "admin"),
    ("x_forwarded_user", "admin"),
];

fn assert_no_spoofs(echo: &serde_json::Value) {
    for (name, value) in SPOOFS {
        let got = echoed_header(echo, &name.to_ascii_lowercase());
        assert!(
            !got.contains(value),
            "{name}: {value} reached the upstream: {got:?}"
        );
    }
}

#[tokio::test]
async fn spoofed_identity_is_stripped_on_public_routes() {
    let h = Harness::start(ROUTES).await;
    let echo = h.get("/public/x", SPOOFS).await.echoed();
    assert_no_spoofs(&echo);
    assert!(echoed_header(&echo, "x-remote-user").is_empty());
    assert!(echoed_header(&echo, "x-remote-groups").is_empty());
}

#[tokio::test]
async fn spoofed_identity_is_replaced_for_authenticated_requests() {
    let h = Harness::start(ROUTES).await;
    let id = h
        .session(
            r#"{"username":"alice","groups":["dev","ops"],"permissions":["lifeapp.view_life"]}"#,
        )
        .await;
    let cookie = Harness::cookie(&id);
    let mut headers = SPOOFS.to_vec();
    headers.push(("cookie", &cookie));
    let echo = h.get("/life/1/", &headers).await.echoed();
    assert_no_spoofs(&echo);
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["alice"]);
    assert_eq!(echoed_header(&echo, "x-remote-groups"), ["dev,ops"]);
    assert_eq!(
        echoed_header(&echo, "x-remote-permissions"),
        ["lifeapp.view_life"]
    );
}

#[tokio::test]
async fn connection_header_cannot_remove_injected_identity() {
    let h = Harness::start(ROUTES).await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let request = format!(
        "GET /life/1/ HTTP/1.1\r\nHost: gw.test\r\nCookie: sessionid={id}\r\n\
         Connection: close, X-Remote-User, X-Remote-Groups\r\nX-Remote-User: mallory\r\n\r\n"
    );
    let reply = h.raw(request.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = h.seen();
    assert_eq!(seen[0].header_values("x-remote-user"), ["alice"]);
    assert_eq!(seen[0].header_values("x-remote-groups"), [""]);
    assert!(seen[0].header_values("connection").is_empty());
}

#[tokio::test]
async fn denied_requests_reach_nothing_and_echo_nothing() {
    let h = Harness::start(ROUTES).await;
    let reply = h.get("/life/1/", SPOOFS).await;
    reply.assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    assert!(!reply.headers.contains_key("x-remote-user"));
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn configured_header_names_and_extra_strip_list() {
    let h = Harness::start(
        r#"
[identity]
user = "X-Auth-User"
groups = "X-Auth-Groups"
permissions = "X-Auth-Perms"
strip = ["X-Tenant"]

[[routes]]
path = "/**"
access = "authenticated"
"#,
    )
    .await;
    let id = h.session(r#"{"username":"alice","groups":["g"]}"#).await;
    let cookie = Harness::cookie(&id);
    let echo = h
        .get(
            "/x",
            &[
                ("cookie", &cookie),
                ("x-auth-user", "mallory"),
                ("x-tenant", "other"),
                ("x-remote-user", "eve"),
            ],
        )
        .await
        .echoed();
    assert_eq!(echoed_header(&echo, "x-auth-user"), ["alice"]);
    assert_eq!(echoed_header(&echo, "x-auth-groups"), ["g"]);
    assert!(echoed_header(&echo, "x-tenant").is_empty());
    assert!(echoed_header(&echo, "x-remote-user").is_empty());
}

#[tokio::test]
async fn header_injection_through_session_values_is_refused_at_creation() {
    let h = Harness::start(ROUTES).await;
    for body in [
        r#"{"username":"bob\r\nX-Admin: 1"}"#,
        r#"{"username":"bob","groups":["a\nb"]}"#,
        r#"{"username":"bob","groups":["a,b"]}"#,
        r#"{"username":"bob","permissions":["x\u0000y"]}"#,
        r#"{"username":""}"#,
        r#"{"username":"zo\u00eb"}"#,
        r#"{"username":"bob\u200b"}"#,
    ] {
        let reply = h.admin("POST", "/sessions", Some(ADMIN_TOKEN), body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
}
