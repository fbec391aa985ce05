//! SECURITY_CASES sections B and E as raw bytes (so no client library
//! normalises the case or drops a duplicate) and over HTTP/2: client
//! identity and override headers never reach the upstream or sway the
//! decision, `Connection` cannot remove the injected identity, a stored
//! name with CR/LF is no session, a session id in the URL is ignored, and
//! health checks live only on the admin port. (B15, duplicate Host, is with
//! the paths in `security_paths.rs`.) The upstream records every request it
//! gets; nothing it did not get can have leaked.

use crate::common::routes::{admin, life, public};
use crate::common::*;

const ROUTES: &str = concat!(public!(), admin!(), life!());

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
    let session = format!("sessionid={id}");
    // Two cookie fields, as HTTP/2 clients send them.
    let mut headers = vec![("cookie", "theme=dark"), ("cookie", session.as_str())];
    let hostile: Vec<(String, &str)> = HOSTILE
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            // HTTP/2 field names are lower case; `_` names are still legal.
            (name.trim().to_ascii_lowercase(), value.trim())
        })
        .collect();
    headers.extend(hostile.iter().map(|(n, v)| (n.as_str(), *v)));
    let reply = h.send_h2("GET", "/life/1/", &headers, "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b17_a_stored_name_with_cr_lf_is_no_session() {
    // The admin API refuses such names (identity.rs); here another
    // program writes them straight into the shared Redis store.
    let redis = crate::common::redis::RedisServer::start();
    let h =
        Harness::with_config(|upstream| with_redis_store(&config(upstream, ROUTES), &redis.url()))
            .await;
    let expires = 4_102_444_800u64;
    for (id, record) in [
        ("a", r#""username":"bob\r\nX-Admin: 1""#),
        ("b", r#""username":"bob","groups":["ops\r\nX-Admin: 1"]"#),
        ("c", r#""username":"bob","permissions":["a.b\nX-Admin: 1"]"#),
    ] {
        let id = id.repeat(32);
        let json = format!(r#"{{"v":1,{record},"expires_at":{expires}}}"#);
        let key = format!("portcullis:session:{id}");
        assert_eq!(redis.cli(&["SET", &key, &json, "EX", "600"]), "OK");
        let cookie = format!("Cookie: sessionid={id}\r\n");
        let reply = h.raw(&request("GET", "/life/1/", &cookie)).await;
        assert_eq!(reply.status, 403, "{record}: {}", reply.head);
        assert!(reply
            .head
            .contains("x-portcullis-reason: not_authenticated"));
        let cookie = format!("sessionid={id}");
        let reply = h
            .send_h2("GET", "/life/1/", &[("cookie", &cookie)], "")
            .await;
        reply.assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
        // On a public route the request goes on, anonymous and clean.
        let reply = h
            .raw(&request(
                "GET",
                "/public/x",
                &format!("Cookie: sessionid={id}\r\n"),
            ))
            .await;
        assert_eq!(reply.status, 200);
    }
    for seen in h.seen() {
        assert_eq!(seen.target, "/public/x");
        assert!(seen.header_values("x-admin").is_empty());
        assert!(seen.header_values("x-remote-user").is_empty());
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
