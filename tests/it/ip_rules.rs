//! A route's `allow_ips` and `deny_ips` through a real gateway: decided on
//! the client's address as `server.trusted_proxies` make it (the rightmost
//! X-Forwarded-For entry a trusted proxy added, never what the client
//! wrote), before anyone is authenticated; `ip_not_allowed` otherwise, in
//! DRF's body; reported, not enforced, under `mode = "report"`; explained
//! with the address and the rule.

use serde_json::json;

use crate::common::ingress::Ingress;
use crate::common::*;
use crate::decision::send;

const ROUTES: &str = r#"
[[routes]]
name = "office"
path = "/office/**"
access = "anonymous"
allow_ips = ["10.0.0.0/8", "2001:db8::/32"]
deny_ips = ["10.9.0.0/16"]

[[routes]]
name = "staff-office"
path = "/staff/**"
access = "staff"
allow_ips = ["10.0.0.0/8"]

[[routes]]
name = "trial"
path = "/trial/**"
access = "anonymous"
allow_ips = ["10.0.0.0/8"]
mode = "report"

[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"
deny_ips = ["198.51.100.0/24"]
"#;

/// The gateway behind a proxy on 127.0.0.1 (the test client).
async fn behind_a_proxy() -> Harness {
    Harness::with_config(|upstream| {
        config(upstream, ROUTES).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await
}

#[tokio::test]
async fn allow_and_deny_decide_on_the_address_the_trusted_proxy_saw() {
    let h = behind_a_proxy().await;
    let from = |chain: &'static str| [("x-forwarded-for", chain)];
    for admitted in ["10.1.2.3", "2001:db8::7", "192.0.2.1, 10.1.2.3"] {
        let reply = h.get("/office/x", &from(admitted)).await;
        assert_eq!(reply.status, 200, "{admitted}: {}", reply.text());
        assert_eq!(reply.echoed()["target"], "/office/x");
    }
    let before = h.seen().len();
    // Denied inside the allowed range; outside it; a client that wrote an
    // allowed address to the left of what the proxy saw; and no header at
    // all (the proxy's own address, 127.0.0.1, is the client then).
    for refused in [
        "10.9.0.5",
        "192.0.2.1",
        "10.1.2.3, 192.0.2.1",
        "2001:db9::1",
    ] {
        h.get("/office/x", &from(refused)).await.assert_denied(
            403,
            "ip_not_allowed",
            PERMISSION_DENIED,
        );
    }
    h.get("/office/x", &[])
        .await
        .assert_denied(403, "ip_not_allowed", PERMISSION_DENIED);
    // deny_ips alone refuses its range and admits the rest.
    h.get("/public/x", &from("198.51.100.4"))
        .await
        .assert_denied(403, "ip_not_allowed", PERMISSION_DENIED);
    assert_eq!(
        h.seen().len(),
        before,
        "nothing refused may reach the upstream"
    );
    assert_eq!(h.get("/public/x", &from("198.51.99.1")).await.status, 200);
}

#[tokio::test]
async fn the_address_is_checked_before_anyone_is_authenticated() {
    let h = behind_a_proxy().await;
    let boss = h.session(r#"{"username":"boss","staff":true}"#).await;
    let cookie = Harness::cookie(&boss);
    let at = |address: &'static str| [("cookie", cookie.as_str()), ("x-forwarded-for", address)];
    let inside = h.get("/staff/x", &at("10.0.0.1")).await.echoed();
    assert_eq!(echoed_header(&inside, "x-remote-user"), ["boss"]);
    // The right user from the wrong network: refused, and no anonymous
    // client outside learns whether the route wants a user.
    h.get("/staff/x", &at("192.0.2.1")).await.assert_denied(
        403,
        "ip_not_allowed",
        PERMISSION_DENIED,
    );
    h.get("/staff/x", &[("x-forwarded-for", "192.0.2.1")])
        .await
        .assert_denied(403, "ip_not_allowed", PERMISSION_DENIED);
    // From inside without a session: the route's own answer.
    h.get("/staff/x", &[("x-forwarded-for", "10.0.0.1")])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
}

/// Two enforced routes: one admitting only 10/8, one only loopback.
const LOOPBACK_ONLY: &str = r#"
[[routes]]
name = "office"
path = "/office/**"
access = "anonymous"
allow_ips = ["10.0.0.0/8"]

[[routes]]
name = "local"
path = "/local/**"
access = "anonymous"
allow_ips = ["127.0.0.1"]
"#;

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_not_believed() {
    let h = Harness::start(LOOPBACK_ONLY).await;
    // The peer (127.0.0.1) is the client, whatever the header says.
    h.get("/office/x", &[("x-forwarded-for", "10.1.2.3")])
        .await
        .assert_denied(403, "ip_not_allowed", PERMISSION_DENIED);
    let local = h.get("/local/x", &[("x-forwarded-for", "192.0.2.1")]).await;
    assert_eq!(local.status, 200, "{}", local.text());
}

/// Client → a real ingress (the shipped nginx.conf or Caddyfile) → the
/// decision listener: the client is whom the ingress says, never the
/// ingress, and never what the client wrote itself.
async fn through_a_real_ingress(ingress: impl Fn(std::net::SocketAddr, &str) -> Ingress) {
    let h = Harness::start(&format!(
        "{LOOPBACK_ONLY}\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\nclient_address = \"x-forwarded-for\"\n"
    ))
    .await;
    let app = h.upstream.url().trim_start_matches("http://").to_string();
    let ingress = ingress(h.decision.unwrap(), &app);
    let url = |path: &str| format!("{}{path}", ingress.url());
    let local = send(&url("/local/x"), "GET", &[]).await;
    assert_eq!(local.status, 200, "{}", local.body);
    // 127.0.0.1 is the client here: a forged 10.x entry to the left of it
    // changes nothing.
    let forged = send(
        &url("/office/x"),
        "GET",
        &[("x-forwarded-for", "10.1.2.3".to_string())],
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(forged.header("x-portcullis-reason"), Some("ip_not_allowed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_tells_the_client_address() {
    through_a_real_ingress(Ingress::nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_tells_the_client_address() {
    through_a_real_ingress(Ingress::caddy).await;
}

#[tokio::test]
async fn a_subrequest_naming_no_client_is_refused() {
    let h = Harness::start(&format!(
        "{LOOPBACK_ONLY}\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\nclient_address = \"x-forwarded-for\"\n"
    ))
    .await;
    let decision = format!("http://{}/", h.decision.unwrap());
    let ask = |forwarded_for: Option<&'static str>| {
        let mut headers = vec![
            ("x-original-method", "GET".to_string()),
            ("x-original-uri", "/local/x".to_string()),
        ];
        if let Some(chain) = forwarded_for {
            headers.push(("x-forwarded-for", chain.to_string()));
        }
        headers
    };
    // The ingress (127.0.0.1) is never taken for the client.
    let unnamed = send(&decision, "GET", &ask(None)).await;
    assert_eq!(unnamed.status, 403, "{}", unnamed.body);
    assert_eq!(
        unnamed.header("x-portcullis-reason"),
        Some("ip_not_allowed")
    );
    let named = send(&decision, "GET", &ask(Some("127.0.0.1"))).await;
    assert_eq!(named.status, 200, "{}", named.body);
    let elsewhere = send(&decision, "GET", &ask(Some("192.0.2.1"))).await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);
}

#[tokio::test]
async fn without_client_address_the_decision_listener_believes_no_forwarded_for() {
    // An ingress passes the client's own X-Forwarded-For through unless it
    // is set up to append it: by default the header names nobody.
    let h = Harness::start(&format!(
        "{LOOPBACK_ONLY}\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\n"
    ))
    .await;
    let decision = format!("http://{}/", h.decision.unwrap());
    let asked = send(
        &decision,
        "GET",
        &[
            ("x-original-method", "GET".to_string()),
            ("x-original-uri", "/local/x".to_string()),
            ("x-forwarded-for", "127.0.0.1".to_string()),
        ],
    )
    .await;
    assert_eq!(asked.status, 403, "{}", asked.body);
    assert_eq!(asked.header("x-portcullis-reason"), Some("ip_not_allowed"));
}

#[tokio::test]
async fn report_mode_forwards_a_refused_address_and_counts_it() {
    let h = behind_a_proxy().await;
    let reply = h.get("/trial/x", &[("x-forwarded-for", "192.0.2.1")]).await;
    assert_eq!(reply.echoed()["target"], "/trial/x");
    let metrics = h.admin("GET", "/metrics", None, "").await.text();
    let counted = metrics.lines().any(|l| {
        l.starts_with("portcullis_requests_total{")
            && l.contains("route=\"trial\"")
            && l.contains("decision=\"would_deny\"")
            && l.contains("reason=\"ip_not_allowed\"")
    });
    assert!(counted, "{metrics}");
}

#[tokio::test]
async fn explain_names_the_address_and_the_rule() {
    let h = behind_a_proxy().await;
    let explain = |forwarded_for: &str| {
        json!({
            "method": "GET",
            "url": "/office/x",
            "peer": "127.0.0.1",
            "headers": [format!("X-Forwarded-For: {forwarded_for}")],
        })
        .to_string()
    };
    let denied = h
        .admin("POST", "/explain", Some(ADMIN_TOKEN), &explain("10.9.1.1"))
        .await
        .json();
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["reason"], "ip_not_allowed");
    let hint = denied["hint"].as_str().unwrap();
    assert!(
        hint.contains("10.9.1.1") && hint.contains("deny_ips (10.9.0.0/16)"),
        "{hint}"
    );
    let step = denied["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == "client ip")
        .cloned()
        .unwrap_or_default();
    assert_eq!(step["outcome"], "fail", "{denied:#}");
    let admitted = h
        .admin("POST", "/explain", Some(ADMIN_TOKEN), &explain("10.1.1.1"))
        .await
        .json();
    assert_eq!(admitted["decision"], "forward", "{admitted:#}");
    assert!(h.seen().is_empty(), "explain forwards nothing");
}
