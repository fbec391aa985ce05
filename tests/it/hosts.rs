//! Routing by host to several upstreams (`[[upstreams]]`, a route's `host`
//! and `upstream`): real HTTP/1.1 and HTTP/2 clients naming different
//! hosts, three real echo upstreams, the decision listener behind a real
//! nginx and as a forward-auth subrequest, `explain`, a reload moving an
//! upstream, and `check`'s errors with their line and column.

use portcullis::echo::EchoUpstream;
use serde_json::json;

use crate::common::ingress::Ingress;
use crate::common::*;

async fn echo() -> EchoUpstream {
    EchoUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Two named upstreams and routes by host: admin.example.com closed, the
/// API host to "api", every other name under example.com to "tenants",
/// and `/public/**` on any host to `[upstream]`.
fn hosts_tail(api: &str, tenants: &str) -> String {
    format!(
        r#"
[[upstreams]]
name = "api"
url = "{api}"

[[upstreams]]
name = "tenants"
url = "{tenants}"
timeout = "10s"

[[routes]]
name = "admin-site"
host = "admin.example.com"
path = "/**"
access = "deny"

[[routes]]
name = "api"
host = "api.example.com"
path = "/**"
access = "anonymous"
upstream = "api"

[[routes]]
name = "tenants"
host = "*.example.com"
path = "/**"
access = "anonymous"
upstream = "tenants"

[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"
"#
    )
}

/// The gateway (whose own echo upstream is `[upstream]`) and the two
/// named upstreams.
async fn gateway(extra: &str) -> (Harness, EchoUpstream, EchoUpstream) {
    let (api, tenants) = (echo().await, echo().await);
    let tail = format!("{}{extra}", hosts_tail(&api.url(), &tenants.url()));
    let h = Harness::start(&tail).await;
    (h, api, tenants)
}

/// How many requests each of (default, api, tenants) has received.
fn counts(h: &Harness, api: &EchoUpstream, tenants: &EchoUpstream) -> (usize, usize, usize) {
    (h.seen().len(), api.seen().len(), tenants.seen().len())
}

#[tokio::test]
async fn each_host_reaches_its_own_upstream_over_http1() {
    let (h, api, tenants) = gateway("").await;
    let at = |host: &'static str| [("host", host)];

    let reply = h.get("/v1/things", &at("api.example.com")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(counts(&h, &api, &tenants), (0, 1, 0));
    // The upstream gets the client's Host as sent.
    assert_eq!(api.seen()[0].header_values("host"), ["api.example.com"]);
    assert_eq!(api.seen()[0].target, "/v1/things");

    // Case, a port and a trailing dot do not change the host.
    for host in [
        "API.Example.COM:8080",
        "api.example.com.",
        "api.example.com.:80",
    ] {
        assert_eq!(h.get("/v1/x", &at(host)).await.status, 200, "{host}");
    }
    assert_eq!(counts(&h, &api, &tenants), (0, 4, 0));

    // The wildcard takes any name under example.com, however deep.
    for host in ["www.example.com", "a.b.example.com", "Shop.Example.Com:443"] {
        assert_eq!(h.get("/x", &at(host)).await.status, 200, "{host}");
    }
    assert_eq!(counts(&h, &api, &tenants), (0, 4, 3));

    // The exact host before the wildcard wins; the bare domain is not
    // under the wildcard.
    h.get("/x", &at("admin.example.com")).await.assert_denied(
        403,
        "route_denied",
        PERMISSION_DENIED,
    );
    h.get("/x", &at("example.com"))
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);
    h.get("/x", &at("api.example.com.evil"))
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);
    // A Host that is no host is refused, not guessed at: `u@admin…` ends
    // in the wildcard's suffix, and an upstream may read each of these as
    // admin.example.com (the route that denies everyone).
    for host in [
        "u@admin.example.com",
        "admin.example.com:abc",
        "admin.example.com:80:80",
    ] {
        h.get("/x", &at(host)).await.assert_denied(
            400,
            "bad_host",
            r#"{"detail":"Malformed or conflicting Host header."}"#,
        );
    }
    assert_eq!(counts(&h, &api, &tenants), (0, 4, 3));

    // A route without a host takes every host, to `[upstream]`.
    for host in ["example.com", "other.test:8080"] {
        assert_eq!(h.get("/public/p", &at(host)).await.status, 200, "{host}");
    }
    assert_eq!(counts(&h, &api, &tenants), (2, 4, 3));
}

#[tokio::test]
async fn each_authority_reaches_its_own_upstream_over_http2() {
    let (h, api, tenants) = gateway("").await;
    let reply = h
        .send_h2_as("api.example.com:443", "GET", "/h2", &[], "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(counts(&h, &api, &tenants), (0, 1, 0));
    assert_eq!(api.seen()[0].header_values("host"), ["api.example.com:443"]);
    let reply = h
        .send_h2_as("shop.EXAMPLE.com", "GET", "/h2", &[], "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(counts(&h, &api, &tenants), (0, 1, 1));
    h.send_h2_as("admin.example.com", "GET", "/h2", &[], "")
        .await
        .assert_denied(403, "route_denied", PERMISSION_DENIED);
    h.send_h2_as("example.com", "GET", "/h2", &[], "")
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);
    let reply = h
        .send_h2_as("example.com", "GET", "/public/h2", &[], "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(counts(&h, &api, &tenants), (1, 1, 1));
}

#[tokio::test]
async fn an_upstream_that_is_down_fails_only_its_own_routes() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let api = echo().await;
    let tail = hosts_tail(&api.url(), &format!("http://{closed}"));
    let h = Harness::start(&tail).await;
    h.get("/x", &[("host", "www.example.com")])
        .await
        .assert_denied(
            502,
            "upstream_unavailable",
            r#"{"detail":"Upstream unavailable."}"#,
        );
    assert_eq!(
        h.get("/x", &[("host", "api.example.com")]).await.status,
        200
    );
    assert_eq!(h.get("/public/x", &[]).await.status, 200);
    assert_eq!((h.seen().len(), api.seen().len()), (1, 1));
}

#[tokio::test]
async fn the_decision_listener_matches_the_original_requests_host() {
    let (h, _api, _tenants) = gateway("\n[decision]\n").await;
    let decision = h.decision.unwrap();

    // A forward-auth subrequest names the host in X-Forwarded-Host.
    let ask = |host: &'static str| {
        let url = format!("http://{decision}/auth");
        async move {
            let headers = [
                ("x-forwarded-method", "GET".to_string()),
                ("x-forwarded-uri", "/x".to_string()),
                ("x-forwarded-host", host.to_string()),
            ];
            crate::decision::send(&url, "GET", &headers).await
        }
    };
    assert_eq!(ask("www.example.com").await.status, 200);
    assert_eq!(ask("api.example.com").await.status, 200);
    let denied = ask("admin.example.com").await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("x-portcullis-reason"), Some("route_denied"));
    let unmatched = ask("example.com").await;
    assert_eq!(unmatched.header("x-portcullis-reason"), Some("no_route"));

    // nginx's auth_request sends the client's Host with its subrequest
    // (the shipped deploy/ingress/nginx.conf), and forwards to its app.
    let app = echo().await;
    let nginx = Ingress::nginx(decision, &app.addr.to_string());
    let through = |host: &'static str| {
        let url = format!("{}/x", nginx.url());
        async move { crate::decision::send(&url, "GET", &[("host", host.to_string())]).await }
    };
    assert_eq!(through("www.example.com").await.status, 200);
    assert_eq!(app.seen().len(), 1);
    assert_eq!(app.seen()[0].header_values("host"), ["www.example.com"]);
    let denied = through("admin.example.com").await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("x-portcullis-reason"), Some("route_denied"));
    assert_eq!(through("EXAMPLE.com").await.status, 403);
    assert_eq!(app.seen().len(), 1, "a denied request reached the app");
}

#[tokio::test]
async fn explain_names_the_host_matched_and_the_upstream() {
    let (h, api, _tenants) = gateway("").await;
    let explain =
        |host: &str| json!({ "url": "/v1/x", "headers": [format!("Host: {host}")] }).to_string();
    let e = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            &explain("API.example.com:8443"),
        )
        .await
        .json();
    assert_eq!(e["decision"], "forward", "{e}");
    assert_eq!(e["route"], "api");
    assert_eq!(e["upstream"]["name"], "api");
    assert_eq!(e["upstream"]["url"], api.url());
    // What `portcullis explain` prints of it.
    let explanation: portcullis::explain::Explanation = serde_json::from_value(e.clone()).unwrap();
    let text = portcullis::explain::render::text(&explanation);
    assert!(
        text.contains(&format!("upstream: api ({})", api.url())),
        "{text}"
    );
    assert!(
        text.contains("first match on host api.example.com"),
        "{text}"
    );
    assert!(e["upstream_request"]["uri"]
        .as_str()
        .unwrap()
        .starts_with(&api.url()));
    let steps = e["steps"].as_array().unwrap();
    let route_steps: Vec<(&str, &str)> = steps
        .iter()
        .filter(|s| s["stage"] == "route")
        .map(|s| (s["check"].as_str().unwrap(), s["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        route_steps,
        [
            (
                "routes[0] \"admin-site\" /** (host admin.example.com)",
                "the request is for host API.example.com:8443, not admin.example.com"
            ),
            (
                "routes[1] \"api\" /** (host api.example.com)",
                "first match on host api.example.com: decides (access = \"anonymous\", mode = \"enforce\")"
            ),
        ]
    );

    let e = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            &explain("other.test"),
        )
        .await
        .json();
    assert_eq!(e["decision"], "deny");
    assert_eq!(e["reason"], "no_route");
    assert!(e.get("upstream").is_none(), "{e}");
    let e = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            &json!({ "url": "/public/x", "headers": ["Host: other.test"] }).to_string(),
        )
        .await
        .json();
    assert_eq!(e["upstream"]["name"], "[upstream]");
    assert_eq!(e["upstream"]["url"], h.upstream.url());
}

#[tokio::test]
async fn a_reload_moves_a_named_upstream_and_keeps_the_others_pools() {
    let (api, tenants, moved) = (echo().await, echo().await, echo().await);
    let file = tempfile::NamedTempFile::new().unwrap();
    let h = Harness::with_config(|upstream| {
        let text = config(upstream, &hosts_tail(&api.url(), &tenants.url()));
        std::fs::write(file.path(), &text).unwrap();
        text
    })
    .await;
    h.gateway.set_config_file(file.path().to_path_buf());
    let at = [("host", "api.example.com")];
    let elsewhere = [("host", "x.example.com")];
    assert_eq!(h.get("/a", &at).await.status, 200);
    assert_eq!(api.seen().len(), 1);
    assert_eq!(h.get("/c", &elsewhere).await.status, 200);
    let pooled = tenants.seen()[0].peer.unwrap();

    let text = config(&h.upstream.url(), &hosts_tail(&moved.url(), &tenants.url()));
    std::fs::write(file.path(), text).unwrap();
    let reply = h.admin("POST", "/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(h.get("/b", &at).await.status, 200);
    assert_eq!(moved.seen().len(), 1, "the moved upstream got the request");
    assert_eq!(api.seen().len(), 1, "the old address got nothing more");
    // The unchanged upstream keeps its pool: the same connection.
    assert_eq!(h.get("/d", &elsewhere).await.status, 200);
    assert_eq!(tenants.seen().len(), 2);
    assert_eq!(tenants.seen()[1].peer.unwrap(), pooled);
}

#[tokio::test]
async fn without_upstream_section_every_route_names_one() {
    let (api, tenants) = (echo().await, echo().await);
    let h = Harness::with_config(|_| {
        config("unused", &hosts_tail(&api.url(), &tenants.url()))
            .replace(
                "[upstream]\nurl = \"unused\"\nconnect_timeout = \"2s\"\ntimeout = \"10s\"\n",
                "",
            )
            .replace(
                "path = \"/public/**\"\naccess = \"anonymous\"\n",
                "path = \"/public/**\"\naccess = \"anonymous\"\nupstream = \"api\"\n",
            )
    })
    .await;
    assert!(h.gateway.config().upstreams.default_upstream().is_none());
    assert_eq!(
        h.get("/public/x", &[("host", "other.test")]).await.status,
        200
    );
    assert_eq!(h.get("/x", &[("host", "w.example.com")]).await.status, 200);
    h.get("/x", &[("host", "other.test")])
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);
    assert_eq!((api.seen().len(), tenants.seen().len()), (1, 1));
    assert_eq!(h.seen().len(), 0);
}

const BASE: &str = r#"
[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:9901"
[admin]
token = "t"
"#;

#[test]
fn check_places_every_host_and_upstream_mistake() {
    let text = format!(
        r#"{BASE}
[[upstreams]]
name = "api"
url = "http://127.0.0.1:8001"

[[upstreams]]
name = "api"
url = "http://127.0.0.1:8002"

[[upstreams]]
url = "http://127.0.0.1:8003"

[[upstreams]]
name = "two words"
url = "http://127.0.0.1:8004/path"

[[routes]]
name = "typo"
path = "/a/**"
access = "anonymous"
upstream = "apj"

[[routes]]
name = "nowhere"
path = "/b/**"
access = "anonymous"

[[routes]]
name = "closed"
path = "/c/**"
access = "deny"

[[routes]]
name = "url"
host = "https://api.example.com"
path = "/d/**"
access = "anonymous"
upstream = "api"

[[routes]]
name = "port"
host = "api.example.com:443"
path = "/e/**"
access = "anonymous"
upstream = "api"

[[routes]]
name = "star"
host = "api.*.com"
path = "/f/**"
access = "anonymous"
upstream = "api"
"#
    );
    let (code, out) = crate::cli::check(&text);
    assert_eq!(code, 1, "{out}");
    for message in [
        ":13:8: upstream name \"api\" is already used by the upstream on line 9",
        ":17:7: upstreams[2] needs a name",
        ":20:8: upstream name \"two words\" must be 1 to 64 letters, digits, '_' or '-'",
        ":21:7: upstreams[3].url must not have a path or query",
        ":27:12: route \"typo\": no upstream is named \"apj\"; the named upstreams: \"api\", \"two words\"",
        ":31:8: route \"nowhere\" names no upstream and there is no [upstream] to default to",
        ":41:8: route \"url\": host \"https://api.example.com\" is a URL",
        ":48:8: route \"port\": host \"api.example.com:443\" has a port",
        ":55:8: route \"star\": host \"api.*.com\" has a `*` that is not the whole first label",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
    // An enforced deny route forwards nothing: it needs no upstream.
    assert!(!out.contains("\"closed\""), "{out}");
}

#[test]
fn check_wants_an_upstream_for_requests_no_route_matches() {
    let routes = r#"
[[upstreams]]
name = "api"
url = "http://127.0.0.1:8001"

[[routes]]
path = "/**"
host = "*.example.com"
access = "anonymous"
upstream = "api"
"#;
    let (code, out) = crate::cli::check(&format!("default_access = \"anonymous\"\n{BASE}{routes}"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(":1:18: requests no route matches are forwarded"),
        "{out}"
    );
    assert_eq!(
        crate::cli::check(&format!("{BASE}{routes}")),
        (0, "config OK\n".into())
    );
    let (code, out) = crate::cli::check(BASE);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no upstream: add [upstream]"), "{out}");
}

#[test]
fn check_knows_a_host_route_behind_an_earlier_one_is_dead() {
    let routes = r#"
[upstream]
url = "http://127.0.0.1:8000"

[[routes]]
name = "tenants"
host = "*.example.com"
path = "/**"
access = "authenticated"

[[routes]]
name = "shop"
host = "Shop.Example.com"
path = "/cart/**"
access = "anonymous"

[[routes]]
name = "elsewhere"
host = "shop.example.org"
path = "/cart/**"
access = "anonymous"
"#;
    let (code, out) = crate::cli::check(&format!("{BASE}{routes}"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(":20:8: route \"shop\" can never match: every request it covers is already matched by the earlier route \"tenants\""),
        "{out}"
    );
    assert!(!out.contains("\"elsewhere\""), "{out}");
}
