//! Envoy's gRPC `ext_authz` (`envoy.service.auth.v3.Authorization/Check`)
//! on the decision listener, asked by a client built from the same protos
//! (tonic's generated client over HTTP/2): the seed walk-through and the
//! CSRF cases get the proxy's answers (allowed: the identity to set and
//! the client's copies to remove; denied: status, headers, DRF's body),
//! and nothing the proxy denies is allowed by a spoofed or unclear call.

use std::collections::HashMap;
use std::net::SocketAddr;

use portcullis::ingress::proto::envoy::config::core::v3::{
    address, header_value_option::HeaderAppendAction, socket_address, Address, HeaderMap,
    HeaderValue, SocketAddress,
};
use portcullis::ingress::proto::envoy::service::auth::v3::{
    attribute_context, authorization_client::AuthorizationClient, check_response, AttributeContext,
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};

use crate::common::*;
use crate::decision::{cases, gateway, identity, identity_seen, send, with_id, Answer};

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    tonic::body::Body,
>;

/// A `Check` client on the decision listener, over HTTP/2 as Envoy calls.
fn client(decision: SocketAddr) -> AuthorizationClient<Client> {
    let http2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    AuthorizationClient::with_origin(http2, format!("http://{decision}").parse().unwrap())
}

/// A CheckRequest as Envoy's ext_authz filter fills it: the merged header
/// map (lower-case names, pseudo-headers included), the host, the scheme,
/// and the client's address.
fn check_request(method: &str, path: &str, headers: &[(&str, String)]) -> CheckRequest {
    let mut map: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        map.entry(name.to_ascii_lowercase())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    map.insert(":method".into(), method.into());
    map.insert(":path".into(), path.into());
    map.insert(":authority".into(), "shop.test".into());
    map.insert(":scheme".into(), "http".into());
    map.insert(
        "x-request-id".into(),
        "5c6e0b1e-0000-4000-8000-000000000001".into(),
    );
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(attribute_context::Peer {
                address: Some(socket("192.0.2.10", 51000)),
                ..Default::default()
            }),
            destination: Some(attribute_context::Peer {
                address: Some(socket("10.0.0.2", 8080)),
                ..Default::default()
            }),
            request: Some(attribute_context::Request {
                time: None,
                http: Some(attribute_context::HttpRequest {
                    id: "5c6e0b1e-0000-4000-8000-000000000001".into(),
                    method: method.into(),
                    headers: map,
                    path: path.into(),
                    host: "shop.test".into(),
                    scheme: "http".into(),
                    size: -1,
                    protocol: "HTTP/1.1".into(),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
    }
}

fn socket(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

async fn check(decision: SocketAddr, request: CheckRequest) -> CheckResponse {
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        client(decision).check(request),
    )
    .await
    .expect("answered in time")
    .expect("a CheckResponse")
    .into_inner()
}

fn allowed(response: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(response.status.as_ref().unwrap().code, 0, "{response:?}");
    match &response.http_response {
        Some(check_response::HttpResponse::OkResponse(ok)) => ok,
        other => panic!("not allowed: {other:?}"),
    }
}

fn denied(response: &CheckResponse) -> &DeniedHttpResponse {
    assert_ne!(response.status.as_ref().unwrap().code, 0, "{response:?}");
    match &response.http_response {
        Some(check_response::HttpResponse::DeniedResponse(denied)) => denied,
        other => panic!("not denied: {other:?}"),
    }
}

/// `(name, value)` of each header option, with its action.
#[allow(deprecated)] // `append` is read only to check it is left unset.
fn options(
    headers: &[portcullis::ingress::proto::envoy::config::core::v3::HeaderValueOption],
) -> Vec<(String, String, HeaderAppendAction)> {
    headers
        .iter()
        .map(|option| {
            let header = option.header.as_ref().unwrap();
            assert!(option.append.is_none(), "append_action only: {option:?}");
            (
                header.key.clone(),
                header.value.clone(),
                HeaderAppendAction::try_from(option.append_action).unwrap(),
            )
        })
        .collect()
}

/// The cookie names a response sets.
fn cookie_names<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = values
        .map(|v| v.split('=').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}

fn proxied_cookies(proxied: &Answer) -> Vec<String> {
    cookie_names(
        proxied
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_answers_as_the_proxy_does() {
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let id = h.session(r#"{"username":"alice","groups":["ops"]}"#).await;
    let decision = h.decision.unwrap();
    let identity_names = [
        "x-remote-user",
        "x-remote-groups",
        "x-remote-permissions",
        "x-remote-auth",
        "x-portcullis-assertion",
    ];
    let mut all = cases();
    all.extend(claims_cases());
    for (what, method, path, headers) in all {
        let headers = with_id(&headers, &id);
        let proxied = send(&format!("http://{}{path}", h.proxy), method, &headers).await;
        let answer = check(decision, check_request(method, path, &headers)).await;
        if proxied.status == 200 {
            let expected = identity_seen(&h);
            let ok = allowed(&answer);
            let set = options(&ok.headers);
            for (name, _, action) in &set {
                assert_eq!(
                    *action,
                    HeaderAppendAction::OverwriteIfExistsOrAdd,
                    "{what}: {name}"
                );
            }
            let told = identity(set.iter().map(|(n, v, _)| (n.clone(), v.clone())));
            assert_eq!(told, expected, "{what}: the identity to set");
            // Every identity header not set is removed: a client's own
            // copy never reaches the upstream.
            for name in identity_names {
                let set_here = set.iter().any(|(n, _, _)| n == name);
                let removed = ok.headers_to_remove.iter().any(|n| n == name);
                assert!(
                    set_here != removed,
                    "{what}: {name} set or removed, once: {ok:?}"
                );
            }
            // What Envoy forwards, applying the answer to the client's
            // headers, carries the claims the proxy forwards: none but
            // the gateway's own.
            let forwarded = claims(envoy_forwards(&headers, ok));
            let proxied_claims = claims(h.seen().pop().unwrap().headers);
            assert_eq!(
                forwarded, proxied_claims,
                "{what}: the claims that reach the upstream"
            );
            let cookies = options(&ok.response_headers_to_add);
            assert!(cookies.iter().all(
                |(n, _, a)| n == "set-cookie" && *a == HeaderAppendAction::AppendIfExistsOrAdd
            ));
            assert_eq!(
                cookie_names(cookies.iter().map(|(_, v, _)| v.as_str())),
                proxied_cookies(&proxied),
                "{what}: the cookies the client is sent"
            );
        } else {
            let no = denied(&answer);
            assert_eq!(
                no.status.as_ref().unwrap().code,
                i32::from(proxied.status),
                "{what}: {answer:?} vs {proxied:?}"
            );
            assert_eq!(no.body, proxied.body, "{what}");
            let sent = options(&no.headers);
            let header = |name: &str| {
                sent.iter()
                    .find(|(n, _, _)| n == name)
                    .map(|(_, v, _)| v.as_str())
            };
            for name in [
                "content-type",
                "x-portcullis-reason",
                "www-authenticate",
                "location",
            ] {
                assert_eq!(header(name), proxied.header(name), "{what}: {name}");
            }
            assert_eq!(
                header("content-length"),
                None,
                "{what}: Envoy frames the body"
            );
            assert_eq!(
                cookie_names(
                    sent.iter()
                        .filter(|(n, _, _)| n == "set-cookie")
                        .map(|(_, v, _)| v.as_str())
                ),
                proxied_cookies(&proxied),
                "{what}"
            );
            let rpc = answer.status.as_ref().unwrap();
            let expected_code = if proxied.status == 401 { 16 } else { 7 };
            assert_eq!(rpc.code, expected_code, "{what}");
            assert_eq!(
                Some(rpc.message.as_str()),
                proxied.header("x-portcullis-reason")
            );
        }
    }
    // The access log and metrics name the convention.
    let metrics = h
        .admin("GET", "/metrics", Some(ADMIN_TOKEN), "")
        .await
        .text();
    assert!(
        metrics.contains(
            r#"portcullis_decisions_total{ingress="envoy_grpc",decision="allow",reason="-"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"portcullis_decisions_total{ingress="envoy_grpc",decision="deny",reason="not_authenticated"}"#),
        "{metrics}"
    );
}

/// Requests carrying what the proxy strips: identity other proxies trust,
/// CGI-style underscore names, overrides, the assertion.
fn claims_cases() -> Vec<crate::decision::Case> {
    let forged = vec![
        ("x_remote_user", "root".to_string()),
        ("x-forwarded-user", "root".to_string()),
        ("x-auth-request-groups", "admin".to_string()),
        ("x-original-url", "/admin/users/".to_string()),
        ("x-portcullis-assertion", "forged".to_string()),
        ("x-remote-auth", "token".to_string()),
    ];
    let mut signed_in = forged.clone();
    signed_in.push(("cookie", "sessionid={session}".to_string()));
    vec![
        ("anonymous claims", "GET", "/public/x", forged),
        ("signed-in claims", "GET", "/life/1/", signed_in),
    ]
}

/// The client's headers as Envoy forwards them after an OK answer: each
/// option applied (overwrite or add), then the removals.
fn envoy_forwards(headers: &[(&str, String)], ok: &OkHttpResponse) -> Vec<(String, String)> {
    let mut forwarded: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    for (name, value, action) in options(&ok.headers) {
        if action == HeaderAppendAction::OverwriteIfExistsOrAdd {
            forwarded.retain(|(n, _)| *n != name);
        }
        forwarded.push((name, value));
    }
    forwarded.retain(|(n, _)| !ok.headers_to_remove.contains(n));
    forwarded
}

/// The identity and override claims among `headers`, sorted.
fn claims(headers: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(n, v)| {
            !v.is_empty()
                && (n.starts_with("x-remote-")
                    || n.contains('_')
                    || n.starts_with("x-forwarded-user")
                    || n.starts_with("x-auth-request-")
                    || n == "x-original-url"
                    || n == "x-http-method-override"
                    || n == "x-portcullis-assertion")
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_remove_every_client_claim() {
    let tail = format!(
        "{}\n[cors]\nallowed_origins = [\"https://app.example.com\"]\n\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\n",
        crate::decision::ROUTES
    );
    let h = Harness::start(&tail).await;
    let decision = h.decision.unwrap();
    let headers = vec![
        ("origin", "https://app.example.com".to_string()),
        ("access-control-request-method", "PUT".to_string()),
        ("x-remote-user", "root".to_string()),
        ("x-remote-groups", "admin".to_string()),
        ("x-portcullis-assertion", "forged".to_string()),
    ];
    let answer = check(
        decision,
        check_request("OPTIONS", "/admin/users/", &headers),
    )
    .await;
    let ok = allowed(&answer);
    assert_eq!(claims(envoy_forwards(&headers, ok)), vec![], "{ok:?}");
    // Over HTTP (Traefik's authResponseHeaders copies only what the answer
    // has): each identity header is answered, empty.
    let mut forward = headers.clone();
    forward.push(("x-forwarded-method", "OPTIONS".to_string()));
    forward.push(("x-forwarded-uri", "/admin/users/".to_string()));
    let http = send(&format!("http://{decision}/verify"), "GET", &forward).await;
    assert_eq!(http.status, 200, "{http:?}");
    for name in [
        "x-remote-user",
        "x-remote-groups",
        "x-remote-permissions",
        "x-remote-auth",
    ] {
        assert_eq!(http.header(name), Some(""), "{name}: {http:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_check_calls_over_http2_are_grpc() {
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let decision = h.decision.unwrap();
    // HTTP/1.1, or another path, with a gRPC content type: an HTTP
    // subrequest naming nothing, refused (never tonic's 200).
    for (method, path) in [
        ("POST", "/envoy.service.auth.v3.Authorization/Check"),
        ("GET", "/verify"),
        ("POST", "/envoy.service.auth.v2.Authorization/Check"),
    ] {
        let answer = send(
            &format!("http://{decision}{path}"),
            method,
            &[("content-type", "application/grpc".to_string())],
        )
        .await;
        assert_eq!(answer.status, 400, "{method} {path}: {answer:?}");
    }
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let other = h2
        .request(
            http::Request::post(format!(
                "http://{decision}/envoy.service.auth.v2.Authorization/Check"
            ))
            .header("content-type", "application/grpc")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(other.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_header_lines_are_read_as_the_proxy_reads_them() {
    // encode_raw_headers: header_map, one entry per line, bytes values.
    let h = gateway(r#"["127.0.0.1"]"#).await;
    let id = h.session(r#"{"username":"alice","groups":["ops"]}"#).await;
    let mut request = check_request("PUT", "/life/1/", &[]);
    let http = request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap();
    http.headers.clear();
    http.protocol = "HTTP/2".into();
    let line = |key: &str, value: &str| HeaderValue {
        key: key.into(),
        value: String::new(),
        raw_value: value.as_bytes().to_vec(),
    };
    http.header_map = Some(HeaderMap {
        headers: vec![
            line(":method", "PUT"),
            line(":path", "/life/1/"),
            line("cookie", &format!("sessionid={id}")),
            line("cookie", &format!("csrftoken={CSRF_SECRET}")),
            line("x-csrftoken", CSRF_SECRET),
            line("x-remote-user", "root"),
            line("x-remote-user", "admin"),
        ],
    });
    let answer = check(h.decision.unwrap(), request).await;
    let ok = allowed(&answer);
    let set = options(&ok.headers);
    // Set once, replacing both lines; never also listed for removal.
    assert_eq!(
        set.iter()
            .filter(|(n, _, _)| n == "x-remote-user")
            .collect::<Vec<_>>(),
        vec![&(
            "x-remote-user".to_string(),
            "alice".to_string(),
            HeaderAppendAction::OverwriteIfExistsOrAdd
        )],
        "{ok:?}"
    );
    assert!(
        !ok.headers_to_remove.iter().any(|n| n == "x-remote-user"),
        "{ok:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_envoys_may_ask_and_nothing_is_guessed() {
    // 127.0.0.1 is not trusted: whatever the CheckRequest says, refused.
    let h = gateway(r#"["10.0.0.0/8"]"#).await;
    let answer = check(h.decision.unwrap(), check_request("GET", "/public/x", &[])).await;
    let no = denied(&answer);
    assert_eq!(no.status.as_ref().unwrap().code, 403);
    assert_eq!(answer.status.unwrap().message, "untrusted_ingress");

    let h = gateway(r#"["127.0.0.1"]"#).await;
    let decision = h.decision.unwrap();
    // Paths the proxy would canonicalise into an open one (and so decide
    // on another path than Envoy forwards) or refuse: refused as such,
    // never decided on the open path.
    for path in [
        "/admin/users/../../public/x",
        "/public/..%2fadmin/users/",
        "/admin/%2e%2e/public/x",
        "/admin;/../public/x",
        "/public//x",
    ] {
        let answer = check(decision, check_request("GET", path, &[])).await;
        assert_eq!(
            denied(&answer).status.as_ref().unwrap().code,
            400,
            "{path}: {answer:?}"
        );
        assert_eq!(answer.status.unwrap().message, "bad_path", "{path}");
    }
    for path in ["http://shop.test/public/x", "*"] {
        let answer = check(decision, check_request("GET", path, &[])).await;
        assert_eq!(
            denied(&answer).status.as_ref().unwrap().code,
            400,
            "{path}: {answer:?}"
        );
        assert_eq!(
            answer.status.unwrap().message,
            "bad_decision_request",
            "{path}"
        );
    }
    // The method is the CheckRequest's own: an override header changes
    // nothing, and a method the route does not take is not allowed.
    let override_ = check(
        decision,
        check_request(
            "DELETE",
            "/admin/users/",
            &[("x-http-method-override", "GET".into())],
        ),
    )
    .await;
    assert_eq!(denied(&override_).status.as_ref().unwrap().code, 403);
    // A call naming no HTTP request, or a malformed one: 400.
    for request in [
        CheckRequest { attributes: None },
        check_request("G ET", "/public/x", &[]),
        check_request("GET", "public/x", &[]),
        check_request("GET", "/public/x", &[("bad header", "x".into())]),
    ] {
        let answer = check(decision, request).await;
        let no = denied(&answer);
        assert_eq!(no.status.as_ref().unwrap().code, 400, "{answer:?}");
        assert_eq!(answer.status.unwrap().message, "bad_decision_request");
    }
    // A head over the proxy's own limits (server.max_headers): 431, as
    // the proxy answers.
    let names: Vec<String> = (0..200).map(|i| format!("x-filler-{i}")).collect();
    let many: Vec<(&str, String)> = names
        .iter()
        .map(|n| (n.as_str(), "y".to_string()))
        .collect();
    let answer = check(decision, check_request("GET", "/public/x", &many)).await;
    assert_eq!(
        denied(&answer).status.as_ref().unwrap().code,
        431,
        "{answer:?}"
    );
}
