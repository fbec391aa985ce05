//! SECURITY_CASES sections B and E as raw bytes (so no client library
//! normalises the case or drops a duplicate) and over HTTP/2: client
//! identity and override headers never reach the upstream or sway the
//! decision, `Connection` cannot remove the injected identity, a session id
//! in the URL is ignored, and health checks live only on the admin port.
//! The upstream records every request it gets; nothing it did not get can
//! have leaked.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const ROUTES: &str = r#"
[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"

[[routes]]
name = "admin"
path = "/admin/**"
access = "staff"

[[routes]]
name = "life"
path = "/life/**"
access = "authenticated"
"#;

/// Identity and override headers as an attacker writes them: odd case,
/// duplicated, underscores.
const HOSTILE: &str = "X-REMOTE-USER: root\r\nx-remote-user: admin\r\nX-Remote-Groups: admins\r\n\
X-Forwarded-User: admin\r\nX-Auth-Request-User: admin\r\nRemote-User: admin\r\nX_Remote_User: admin\r\n\
X-Original-URL: /admin/\r\nX-Rewrite-URL: /admin/\r\nX-Forwarded-Uri: /admin/\r\nX-Forwarded-Prefix: /admin\r\n\
X-HTTP-Method-Override: DELETE\r\nX-Portcullis-Assertion: forged\r\n";

const NEVER_UPSTREAM: &[&str] = &[
    "x-remote-groups",
    "x-forwarded-user",
    "x-auth-request-user",
    "remote-user",
    "x_remote_user",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-uri",
    "x-forwarded-prefix",
    "x-http-method-override",
    "x-portcullis-assertion",
];

fn request(method: &str, target: &str, extra: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: gateway.test\r\n{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

#[tokio::test]
async fn b12_b14_hostile_headers_on_a_public_route_reach_nothing() {
    let h = Harness::start(ROUTES).await;
    let reply = h.raw(&request("GET", "/public/x", HOSTILE)).await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    let seen = &h.seen()[0];
    // Decided and forwarded on the request line, nothing else.
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/public/x");
    for name in NEVER_UPSTREAM.iter().chain(&["x-remote-user"]) {
        assert!(
            seen.header_values(name).is_empty(),
            "{name} reached the upstream"
        );
    }
}

#[tokio::test]
async fn b12_b14_override_headers_cannot_open_a_protected_route() {
    let h = Harness::start(ROUTES).await;
    // The request line says /admin/: the override headers claim /public.
    let spoof =
        "X-Original-URL: /public/x\r\nX-Rewrite-URL: /public/x\r\nX-Forwarded-Uri: /public/x\r\n";
    let reply = h.raw(&request("GET", "/admin/", spoof)).await;
    assert_eq!(reply.status, 403, "{}", reply.head);
    assert!(h.seen().is_empty());
    // And a 403 carries none of them back either.
    let reply = h.raw(&request("GET", "/admin/", HOSTILE)).await;
    assert_eq!(reply.status, 403);
    assert!(
        !reply.head.to_ascii_lowercase().contains("x-remote-user"),
        "{}",
        reply.head
    );
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn b12_b13_only_the_gateways_identity_reaches_the_upstream() {
    let h = Harness::start(ROUTES).await;
    let id = h
        .session(r#"{"username":"alice","groups":["readers"]}"#)
        .await;
    // Connection names the identity header: hop-by-hop stripping happens
    // before the identity is set, so it cannot remove ours.
    let extra = format!(
        "{HOSTILE}Cookie: sessionid={id}\r\nConnection: X-Remote-User, X-Remote-Groups\r\n"
    );
    let reply = h.raw(&request("GET", "/life/1/", &extra)).await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    let seen = &h.seen()[0];
    assert_eq!(seen.header_values("x-remote-user"), ["alice"]);
    assert_eq!(seen.header_values("x-remote-groups"), ["readers"]);
    for name in NEVER_UPSTREAM.iter().filter(|n| **n != "x-remote-groups") {
        assert!(
            seen.header_values(name).is_empty(),
            "{name} reached the upstream"
        );
    }
}

#[tokio::test]
async fn b12_b16_the_same_over_http2() {
    let h = Harness::start(ROUTES).await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut builder = Request::get(format!("http://{}/life/1/", h.proxy))
        // Two cookie fields, as HTTP/2 clients send them.
        .header("cookie", "theme=dark")
        .header("cookie", format!("sessionid={id}"));
    for line in HOSTILE.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        // HTTP/2 field names are lower case; `_` names are still legal there.
        builder = builder.header(name.trim().to_ascii_lowercase(), value.trim());
    }
    let response = client
        .request(builder.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect().await;
    let seen = &h.seen()[0];
    assert_eq!(seen.target, "/life/1/");
    assert_eq!(seen.header_values("x-remote-user"), ["alice"]);
    assert_eq!(
        seen.header_values("cookie"),
        [format!("theme=dark; sessionid={id}").as_str()]
    );
    // alice has no groups: the gateway's own (empty) groups header, never
    // the client's "admins".
    assert!(!seen.header_values("x-remote-groups").contains(&"admins"));
    for name in NEVER_UPSTREAM.iter().filter(|n| **n != "x-remote-groups") {
        assert!(
            seen.header_values(name).is_empty(),
            "{name} reached the upstream over HTTP/2"
        );
    }
}

#[tokio::test]
async fn e27_a_session_id_in_the_url_is_ignored() {
    let h = Harness::start(ROUTES).await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    for target in [
        format!("/life/1/?sessionid={id}"),
        format!("/life/1/;sessionid={id}"),
    ] {
        let reply = h.raw(&request("GET", &target, "")).await;
        assert!(
            matches!(reply.status, 400 | 403),
            "{target}: {}",
            reply.head
        );
    }
    // A malformed id is anonymous without a store lookup: same answer.
    let reply = h
        .raw(&request(
            "GET",
            "/life/1/",
            "Cookie: sessionid=../../etc/passwd\r\n",
        ))
        .await;
    assert_eq!(reply.status, 403);
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn e28_health_lives_on_the_admin_listener_only() {
    let h = Harness::start(ROUTES).await;
    for agent in ["kube-probe/1.29", "ELB-HealthChecker/2.0", "curl/8"] {
        let extra = format!("User-Agent: {agent}\r\n");
        for path in ["/healthz", "/readyz", "/_portcullis/healthz"] {
            let reply = h.raw(&request("GET", path, &extra)).await;
            assert!(
                matches!(reply.status, 403 | 404),
                "{path} as {agent}: {}",
                reply.head
            );
        }
    }
    assert!(h.seen().is_empty());
    assert_eq!(h.admin("GET", "/healthz", None, "").await.status, 200);
}
