//! The decision endpoint (`[decision]`): the same requests through the
//! proxy listener and through an ingress asking the decision listener must
//! get the same answers. A real nginx runs the shipped
//! deploy/ingress/nginx.conf (`auth_request`) and a real Caddy the shipped
//! Caddyfile (`forward_auth`); Traefik's and Envoy's
//! subrequests are sent as their documentation shapes them. Spoofed
//! original URIs, path-confusion pairs and method overrides never allow
//! what the proxy denies.

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};

use crate::common::ingress::Ingress;
use crate::common::routes::{admin, life, public};
use crate::common::*;

pub(crate) const ROUTES: &str = concat!(public!(), life!(), admin!());

/// A response, as the comparison reads it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) async fn send(url: &str, method: &str, headers: &[(&str, String)]) -> Answer {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        client.request(request.body(Full::new(Bytes::new())).unwrap()),
    )
    .await
    .expect("answered in time")
    .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub(crate) async fn gateway(trusted: &str) -> Harness {
    let tail = format!("{ROUTES}\n[decision]\ntrusted_ingress = {trusted}\n");
    Harness::start(&tail).await
}

/// One request: what, method, path, headers.
pub(crate) type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
);

/// The seed walk-through and the CSRF cases: (what, method, path, headers
/// with `{session}` for alice's session id).
pub(crate) fn cases() -> Vec<Case> {
    let session = "sessionid={session}".to_string();
    let with_csrf = format!("sessionid={{session}}; csrftoken={CSRF_SECRET}");
    vec![
        ("anonymous GET", "GET", "/life/1/", vec![]),
        (
            "signed-in GET",
            "GET",
            "/life/1/",
            vec![("cookie", session.clone())],
        ),
        (
            "PUT without a csrftoken cookie",
            "PUT",
            "/life/1/",
            vec![("cookie", session.clone())],
        ),
        (
            "PUT without the header",
            "PUT",
            "/life/1/",
            vec![("cookie", with_csrf.clone())],
        ),
        (
            "PUT with the token",
            "PUT",
            "/life/1/",
            vec![
                ("cookie", with_csrf.clone()),
                ("x-csrftoken", CSRF_SECRET.to_string()),
            ],
        ),
        (
            "PUT with a wrong token",
            "PUT",
            "/life/1/",
            vec![
                ("cookie", with_csrf.clone()),
                ("x-csrftoken", "B".repeat(32)),
            ],
        ),
        (
            "not staff",
            "GET",
            "/admin/users/",
            vec![("cookie", session.clone())],
        ),
        ("public", "GET", "/public/a?b=c", vec![]),
        ("no route", "GET", "/nowhere/", vec![]),
        (
            "a forged identity header",
            "GET",
            "/public/x",
            vec![("x-remote-user", "root".to_string())],
        ),
        (
            "a method override",
            "GET",
            "/public/x",
            vec![("x-http-method-override", "DELETE".to_string())],
        ),
        // A client's gRPC content type copied into the subrequest must not
        // make it a gRPC call (whose 200 an HTTP ingress would take as
        // allowed).
        (
            "a gRPC content type",
            "GET",
            "/admin/users/",
            vec![("content-type", "application/grpc".to_string())],
        ),
    ]
}

pub(crate) fn with_id(headers: &[(&'static str, String)], id: &str) -> Vec<(&'static str, String)> {
    headers
        .iter()
        .map(|(n, v)| (*n, v.replace("{session}", id)))
        .collect()
}

/// Identity headers the upstream saw for the last request, sorted; an
/// empty value counts as absent (nginx's `proxy_set_header` sends no
/// header for an empty value, as for a user without permissions).
pub(crate) fn identity_seen(h: &Harness) -> Vec<(String, String)> {
    let seen = h.seen().pop().expect("forwarded");
    identity(seen.headers.into_iter())
}

pub(crate) fn identity(headers: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = headers
        .filter(|(n, v)| n.starts_with("x-remote-") && !v.is_empty())
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_answers_as_the_proxy_does() {
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let app = h.upstream.url().trim_start_matches("http://").to_string();
    let nginx = Ingress::nginx(h.decision.unwrap(), &app);
    through_a_real_ingress(&h, &nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_answers_as_the_proxy_does() {
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let app = h.upstream.url().trim_start_matches("http://").to_string();
    let caddy = Ingress::caddy(h.decision.unwrap(), &app);
    through_a_real_ingress(&h, &caddy).await;
}

/// Every case through the proxy and through `ingress`: the same status,
/// reason and body; the same identity at the upstream; the path forwarded
/// as decided; and no path-confusion pair let through.
async fn through_a_real_ingress(h: &Harness, ingress: &Ingress) {
    let id = h.session(r#"{"username":"alice","groups":["ops"]}"#).await;
    for (what, method, path, headers) in cases() {
        let headers = with_id(&headers, &id);
        let proxied = send(&format!("http://{}{path}", h.proxy), method, &headers).await;
        let proxied_identity = (proxied.status == 200).then(|| identity_seen(h));
        let through = send(&format!("{}{path}", ingress.url()), method, &headers).await;
        assert_eq!(
            through.status, proxied.status,
            "{what}: proxy {proxied:?}, ingress {through:?}"
        );
        assert_eq!(
            through.header("x-portcullis-reason"),
            proxied.header("x-portcullis-reason"),
            "{what}"
        );
        if proxied.status == 200 {
            assert_eq!(
                Some(identity_seen(h)),
                proxied_identity,
                "{what}: the same identity reaches the upstream"
            );
            let seen = h.seen().pop().unwrap();
            assert_eq!(seen.target, path, "{what}: forwarded as decided");
        } else {
            assert_eq!(through.body, proxied.body, "{what}");
            assert_eq!(
                through.header("content-type"),
                Some("application/json"),
                "{what}"
            );
        }
    }
    // Path confusion: an ingress may answer differently (nginx turns the
    // gateway's 400 into 500), but never lets through what the proxy refuses.
    for path in [
        "/public/..%2fadmin/users/",
        "/public/%2e%2e/admin/users/",
        "/public/..;/admin/users/",
        "/public/%2E%2E%2Fadmin/users/",
        "/public//../admin/users/",
        "/admin%2fusers/",
    ] {
        let headers = vec![("cookie", format!("sessionid={id}"))];
        let proxied = send(&format!("http://{}{path}", h.proxy), "GET", &headers).await;
        let through = send(&format!("{}{path}", ingress.url()), "GET", &headers).await;
        assert!(
            proxied.status >= 400,
            "{path}: the proxy refuses it ({proxied:?})"
        );
        assert!(
            through.status >= 400,
            "{path}: the ingress let it through: {through:?}"
        );
    }
    // Paths the proxy forwards in their canonical form: an ingress forwards
    // them as sent, so the decision endpoint refuses them.
    for path in ["/admin/users/../../public/x", "/public//x", "/public/%7Ex"] {
        let headers = vec![("cookie", format!("sessionid={id}"))];
        let before = h.seen().len();
        let through = send(&format!("{}{path}", ingress.url()), "GET", &headers).await;
        assert!(
            through.status >= 400,
            "{path}: decided on its canonical form, forwarded as sent: {through:?}"
        );
        assert_eq!(
            h.seen().len(),
            before,
            "{path}: nothing reached the upstream"
        );
    }
}

/// Traefik's `forwardAuth` and Caddy's `forward_auth` as documented: the
/// client's headers, plus X-Forwarded-Method, -Uri, -Host and -Proto.
fn forward_auth(
    method: &str,
    path: &str,
    headers: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut all = headers.to_vec();
    all.push(("x-forwarded-method", method.to_string()));
    all.push(("x-forwarded-uri", path.to_string()));
    all.push(("x-forwarded-host", "shop.test".to_string()));
    all.push(("x-forwarded-proto", "http".to_string()));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_and_envoy_shapes_get_the_proxys_answers() {
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let id = h.session(r#"{"username":"alice","groups":["ops"]}"#).await;
    let decision = h.decision.unwrap();
    for (what, method, path, headers) in cases() {
        let headers = with_id(&headers, &id);
        let proxied = send(&format!("http://{}{path}", h.proxy), method, &headers).await;
        let expected = (proxied.status == 200).then(|| identity_seen(&h));
        // Traefik and Caddy ask with GET on their own path.
        let traefik = send(
            &format!("http://{decision}/verify"),
            "GET",
            &forward_auth(method, path, &headers),
        )
        .await;
        // Envoy: the original method, the path after path_prefix.
        let envoy = send(
            &format!("http://{decision}/ext_authz{path}"),
            method,
            &headers,
        )
        .await;
        for (ingress, answer) in [("forward auth", &traefik), ("envoy", &envoy)] {
            assert_eq!(
                answer.status, proxied.status,
                "{ingress} {what}: {answer:?} vs {proxied:?}"
            );
            assert_eq!(
                answer.header("x-portcullis-reason"),
                proxied.header("x-portcullis-reason")
            );
            match &expected {
                Some(expected) => {
                    let told = identity(
                        answer
                            .headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string())),
                    );
                    assert_eq!(&told, expected, "{ingress} {what}: the identity to copy");
                    assert!(answer.body.is_empty());
                }
                None => {
                    assert_eq!(answer.body, proxied.body, "{ingress} {what}");
                    assert_eq!(
                        answer.header("x-portcullis-body"),
                        Some(proxied.body.as_str()),
                        "{ingress} {what}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_ingress_may_ask_and_nothing_is_guessed() {
    // 127.0.0.1 is not trusted here: a client reaching the decision
    // listener cannot make the gateway believe its X-Forwarded-Uri.
    let h = gateway(r#"["10.0.0.0/8"]"#).await;
    let decision = h.decision.unwrap();
    let spoofed = send(
        &format!("http://{decision}/verify"),
        "GET",
        &forward_auth("GET", "/public/x", &[]),
    )
    .await;
    assert_eq!(spoofed.status, 403, "{spoofed:?}");
    assert_eq!(
        spoofed.header("x-portcullis-reason"),
        Some("untrusted_ingress")
    );

    let h = gateway(r#"["127.0.0.1"]"#).await;
    let decision = h.decision.unwrap();
    for (what, headers) in [
        (
            "no original URI",
            vec![("x-original-method", "GET".to_string())],
        ),
        (
            "two conventions",
            vec![
                ("x-original-method", "GET".to_string()),
                ("x-original-uri", "/public/x".to_string()),
                ("x-forwarded-uri", "/admin/".to_string()),
            ],
        ),
        (
            "an absolute URI",
            vec![
                ("x-original-method", "GET".to_string()),
                ("x-original-uri", "http://evil.test/public/x".to_string()),
            ],
        ),
    ] {
        let answer = send(&format!("http://{decision}/auth"), "GET", &headers).await;
        assert_eq!(answer.status, 400, "{what}: {answer:?}");
        assert_eq!(
            answer.header("x-portcullis-reason"),
            Some("bad_decision_request"),
            "{what}"
        );
    }
    // Envoy: a client's own X-Original-* under the prefix is refused, never
    // believed over the check request's own method and path.
    let smuggled = send(
        &format!("http://{decision}/ext_authz/admin/users/"),
        "DELETE",
        &[
            ("x-original-method", "GET".to_string()),
            ("x-original-uri", "/public/x".to_string()),
        ],
    )
    .await;
    assert_eq!(smuggled.status, 400, "{smuggled:?}");
    // A path that is not canonical is refused: the ingress would forward
    // it as sent, not as decided.
    let dotted = send(
        &format!("http://{decision}/verify"),
        "GET",
        &forward_auth("GET", "/admin/../public/x", &[]),
    )
    .await;
    assert_eq!(dotted.status, 400, "{dotted:?}");
    assert_eq!(dotted.header("x-portcullis-reason"), Some("bad_path"));
    // A subrequest naming nothing, outside Envoy's prefix: refused, never
    // decided on its own path.
    let bare = send(&format!("http://{decision}/public/x"), "GET", &[]).await;
    assert_eq!(bare.status, 400, "{bare:?}");
    // The same original request named twice is refused too.
    let mut headers = forward_auth("GET", "/public/x", &[]);
    headers.push(("x-forwarded-uri", "/admin/".to_string()));
    let twice = send(&format!("http://{decision}/verify"), "GET", &headers).await;
    assert_eq!(twice.status, 400, "{twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mode_and_metrics_cover_decisions() {
    let tail = format!(
        "{ROUTES}\n[[routes]]\nname = \"dry\"\npath = \"/dry/**\"\naccess = \"authenticated\"\nmode = \"report\"\n\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\n"
    );
    let h = Harness::start(&tail).await;
    let decision = h.decision.unwrap();
    let ask = |path: &str| {
        let url = format!("http://{decision}/verify");
        let headers = forward_auth("GET", path, &[]);
        async move { send(&url, "GET", &headers).await }
    };
    // Report mode: what would be denied is allowed, and counted so.
    let dry = ask("/dry/x").await;
    assert_eq!(dry.status, 200, "{dry:?}");
    assert_eq!(ask("/life/1/").await.status, 403);
    assert_eq!(ask("/public/x").await.status, 200);
    let envoy = send(&format!("http://{decision}/ext_authz/public/y"), "GET", &[]).await;
    assert_eq!(envoy.status, 200);
    let refused = send(&format!("http://{decision}/verify"), "GET", &[]).await;
    assert_eq!(refused.status, 400);
    let metrics = h
        .admin("GET", "/metrics", Some(ADMIN_TOKEN), "")
        .await
        .text();
    for line in [
        r#"portcullis_decisions_total{ingress="forward_auth",decision="would_deny",reason="not_authenticated"} 1"#,
        r#"portcullis_decisions_total{ingress="forward_auth",decision="deny",reason="not_authenticated"} 1"#,
        r#"portcullis_decisions_total{ingress="forward_auth",decision="allow",reason="-"} 1"#,
        r#"portcullis_decisions_total{ingress="envoy",decision="allow",reason="-"} 1"#,
        r#"portcullis_decisions_total{ingress="unknown",decision="deny",reason="bad_decision_request"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reads_a_subrequest_as_the_decision_listener_does() {
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let explain = |body: serde_json::Value| {
        let h = &h;
        async move {
            let reply = h
                .admin("POST", "/explain", Some(ADMIN_TOKEN), &body.to_string())
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            reply.json()
        }
    };
    let asked = explain(serde_json::json!({
        "method": "GET",
        "url": "/verify",
        "decision": true,
        "headers": ["X-Forwarded-Method: PUT", "X-Forwarded-Uri: /life/1/", "X-Forwarded-Host: shop.test"],
    }))
    .await;
    assert_eq!(asked["method"], "PUT", "{asked}");
    assert_eq!(asked["route"], "life", "{asked}");
    assert_eq!(asked["reason"], "not_authenticated", "{asked}");
    assert_eq!(asked["host"], "shop.test", "{asked}");
    let stages: Vec<&str> = asked["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| step["stage"].as_str())
        .collect();
    assert!(stages.contains(&"decision"), "{asked}");
    // As the listener refuses them: an untrusted ingress, a path that is
    // not canonical.
    let untrusted = explain(serde_json::json!({
        "url": "/verify",
        "decision": true,
        "peer": "192.0.2.1",
        "headers": ["X-Forwarded-Method: GET", "X-Forwarded-Uri: /public/x"],
    }))
    .await;
    assert_eq!(untrusted["reason"], "untrusted_ingress", "{untrusted}");
    assert_eq!(untrusted["response"]["status"], 403, "{untrusted}");
    let dotted = explain(serde_json::json!({
        "url": "/auth",
        "decision": true,
        "headers": ["X-Original-Method: GET", "X-Original-URI: /admin/../public/x"],
    }))
    .await;
    assert_eq!(dotted["reason"], "bad_path", "{dotted}");
}
