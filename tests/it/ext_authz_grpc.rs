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
    ];
    for (what, method, path, headers) in cases() {
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
        ],
    });
    let answer = check(h.decision.unwrap(), request).await;
    let ok = allowed(&answer);
    let set = options(&ok.headers);
    assert!(
        set.contains(&(
            "x-remote-user".into(),
            "alice".into(),
            HeaderAppendAction::OverwriteIfExistsOrAdd
        )),
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
    // Paths the proxy would canonicalise (and so forward differently from
    // what Envoy forwards) or refuse: never allowed.
    for path in [
        "/public/..%2fadmin/users/",
        "/public/%2e%2e/admin/users/",
        "/public/../admin/users/",
        "/admin;/users/",
        "/public/x;/../../admin/users/",
        "http://shop.test/public/x",
        "*",
    ] {
        let answer = check(decision, check_request("GET", path, &[])).await;
        let status = denied(&answer).status.as_ref().unwrap().code;
        assert!(matches!(status, 400 | 403 | 404), "{path}: {answer:?}");
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
    // A method of another service: UNIMPLEMENTED, from tonic.
    let mut grpc = tonic::client::Grpc::with_origin(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http::<tonic::body::Body>(),
        format!("http://{decision}").parse().unwrap(),
    );
    grpc.ready().await.unwrap();
    let unknown = grpc
        .unary::<CheckRequest, CheckResponse, _>(
            tonic::Request::new(check_request("GET", "/public/x", &[])),
            "/envoy.service.auth.v2.Authorization/Check"
                .parse()
                .unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);
}
