//! Envoy's gRPC `ext_authz` (`envoy.service.auth.v3.Authorization/Check`,
//! how an Istio mesh calls an external authorizer): a `CheckRequest` read
//! as the request it asks about, and the gateway's answer written as a
//! `CheckResponse` (allowed: the identity headers to set and the client's
//! copies to remove; denied: the status, headers and body the proxy would
//! send).

use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode, Version};

use super::proto::envoy::config::core::v3::{
    address, header_value_option::HeaderAppendAction, HeaderValue as ProtoHeader, HeaderValueOption,
};
use super::proto::envoy::r#type::v3::HttpStatus;
use super::proto::envoy::service::auth::v3::{
    check_response, AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse,
    OkHttpResponse,
};
use super::proto::google::rpc::Status;
use super::{origin_form, DecisionSettings, Ingress, OriginalRequest, Refusal};

/// The one method of the service, as its HTTP/2 path.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// gRPC status codes (`google.rpc.Code`) the answers use.
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAUTHENTICATED: i32 = 16;

/// The request a `CheckRequest` asks about.
#[derive(Debug)]
pub struct Asked {
    pub original: OriginalRequest,
    /// Its head: method, origin-form URI, the client's headers and Host.
    pub parts: Parts,
    /// The client's address as Envoy saw it (`attributes.source`), when it
    /// is an IP address.
    pub client: Option<SocketAddr>,
}

/// The `[server]` limits a proxied request head is held to.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_headers: usize,
    pub max_header_bytes: usize,
}

/// Reads `check`, sent by `peer`. Refused: a peer outside
/// `trusted_ingress`, a request that is not HTTP or not origin-form, a
/// header that is not valid HTTP, a head over the proxy's own limits.
pub fn original_request(
    peer: IpAddr,
    check: &CheckRequest,
    settings: &DecisionSettings,
    limits: HeadLimits,
) -> Result<Asked, Refusal> {
    if !settings.trusted_ingress.contains(peer) {
        return Err(Refusal::Untrusted);
    }
    let attributes = check.attributes.as_ref();
    let http = attributes
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .ok_or(Refusal::Malformed(
            "The CheckRequest has no attributes.request.http.",
        ))?;
    let method = Method::from_bytes(http.method.as_bytes())
        .map_err(|_| Refusal::Malformed("Malformed original method."))?;
    let uri = origin_form(
        &HeaderValue::from_str(&http.path)
            .map_err(|_| Refusal::Malformed("Malformed original path."))?,
    )?;
    let https = match http.scheme.as_str() {
        "" | "http" => false,
        "https" => true,
        _ => return Err(Refusal::Malformed("The scheme must be http or https.")),
    };
    let headers = headers(http, limits)?;
    let host = match http.host.as_str() {
        "" => None,
        host => {
            Some(HeaderValue::from_str(host).map_err(|_| Refusal::Malformed("Malformed host."))?)
        }
    };
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method.clone();
    parts.uri = uri.clone();
    parts.version = match http.protocol.as_str() {
        "HTTP/2" => Version::HTTP_2,
        "HTTP/3" => Version::HTTP_3,
        "HTTP/1.0" => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    parts.headers = headers;
    if let Some(host) = &host {
        parts.headers.insert(header::HOST, host.clone());
    }
    Ok(Asked {
        original: OriginalRequest {
            ingress: Ingress::EnvoyGrpc,
            method,
            uri,
            host,
            https,
        },
        parts,
        client: attributes.and_then(source_address),
    })
}

/// The client's headers: `header_map` (Envoy's `encode_raw_headers`, one
/// entry per line) or else the merged `headers` map; pseudo-headers and
/// Host (given apart) left out.
fn headers(
    http: &super::proto::envoy::service::auth::v3::attribute_context::HttpRequest,
    limits: HeadLimits,
) -> Result<HeaderMap, Refusal> {
    let raw = http.header_map.as_ref().map(|map| map.headers.as_slice());
    let pairs: Box<dyn Iterator<Item = (&str, &[u8])>> = match raw {
        Some(raw) if !raw.is_empty() => Box::new(raw.iter().map(|h| {
            let value = if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                h.raw_value.as_slice()
            };
            (h.key.as_str(), value)
        })),
        _ => Box::new(http.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))),
    };
    let mut headers = HeaderMap::new();
    let mut bytes = 0usize;
    for (name, value) in pairs {
        if name.starts_with(':') || name.eq_ignore_ascii_case("host") {
            continue;
        }
        bytes = bytes.saturating_add(name.len() + value.len() + 4);
        if headers.len() >= limits.max_headers || bytes > limits.max_header_bytes {
            return Err(Refusal::TooLarge);
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Refusal::Malformed("A header name in the CheckRequest is not valid HTTP.")
        })?;
        let value = HeaderValue::from_bytes(value).map_err(|_| {
            Refusal::Malformed("A header value in the CheckRequest is not valid HTTP.")
        })?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// `attributes.source.address`, when it is an IP socket address.
fn source_address(attributes: &AttributeContext) -> Option<SocketAddr> {
    let address = attributes.source.as_ref()?.address.as_ref()?;
    let Some(address::Address::SocketAddress(socket)) = &address.address else {
        return None;
    };
    let ip: IpAddr = socket.address.parse().ok()?;
    let port = match socket.port_specifier {
        Some(super::proto::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(
            port,
        )) => u16::try_from(port).unwrap_or(0),
        _ => 0,
    };
    Some(SocketAddr::new(ip, port))
}

/// The gateway's answer to the request asked about, as Envoy takes it.
/// 200 is allowed: `identity` headers with a value are set on the
/// forwarded request (replacing the client's copies), every name in
/// `claims` not set is removed from it (the client's headers the proxy
/// would strip), and Set-Cookie goes to the client's response. Anything
/// else is denied with the status, headers and body the proxy would send.
pub fn check_response(
    head: &http::response::Parts,
    body: &[u8],
    identity: &[&HeaderName],
    claims: &[&HeaderName],
) -> CheckResponse {
    if head.status == StatusCode::OK {
        return CheckResponse {
            status: Some(Status {
                code: OK,
                ..Status::default()
            }),
            http_response: Some(check_response::HttpResponse::OkResponse(allowed(
                &head.headers,
                identity,
                claims,
            ))),
            dynamic_metadata: None,
        };
    }
    let code = if head.status == StatusCode::UNAUTHORIZED {
        UNAUTHENTICATED
    } else {
        PERMISSION_DENIED
    };
    let reason = head
        .headers
        .get(crate::reply::REASON_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| head.status.canonical_reason().unwrap_or("denied"));
    let mut headers = Vec::new();
    let mut previous: Option<&HeaderName> = None;
    for (name, value) in &head.headers {
        // Envoy writes its own framing, and the body travels as the body.
        if matches!(
            *name,
            header::CONTENT_LENGTH | header::DATE | header::CONNECTION | header::TRANSFER_ENCODING
        ) || name == super::BODY_HEADER
        {
            continue;
        }
        // A name's first line replaces whatever Envoy had; the next ones
        // (two Set-Cookie) are added beside it.
        let action = if previous == Some(name) {
            HeaderAppendAction::AppendIfExistsOrAdd
        } else {
            HeaderAppendAction::OverwriteIfExistsOrAdd
        };
        previous = Some(name);
        headers.push(option(name, value, action));
    }
    CheckResponse {
        status: Some(Status {
            code,
            message: reason.to_string(),
            details: Vec::new(),
        }),
        http_response: Some(check_response::HttpResponse::DeniedResponse(
            DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: i32::from(head.status.as_u16()),
                }),
                headers,
                body: String::from_utf8_lossy(body).into_owned(),
            },
        )),
        dynamic_metadata: None,
    }
}

fn allowed(
    headers: &HeaderMap,
    identity: &[&HeaderName],
    claims: &[&HeaderName],
) -> OkHttpResponse {
    let mut ok = OkHttpResponse::default();
    let mut set: Vec<&HeaderName> = Vec::new();
    for name in identity {
        // An empty value (anonymous) is not set: Envoy would drop it, and
        // the client's copy is removed below.
        for value in headers.get_all(*name).iter().filter(|v| !v.is_empty()) {
            let action = if set.contains(name) {
                HeaderAppendAction::AppendIfExistsOrAdd
            } else {
                HeaderAppendAction::OverwriteIfExistsOrAdd
            };
            set.push(name);
            ok.headers.push(option(name, value, action));
        }
    }
    // Envoy applies the removals after the sets: a name set here must not
    // be listed, or the gateway's own value would go too.
    for claim in claims {
        if !set.contains(claim) && !ok.headers_to_remove.iter().any(|n| n == claim.as_str()) {
            ok.headers_to_remove.push(claim.as_str().to_string());
        }
    }
    for cookie in headers.get_all(header::SET_COOKIE) {
        ok.response_headers_to_add.push(option(
            &header::SET_COOKIE,
            cookie,
            HeaderAppendAction::AppendIfExistsOrAdd,
        ));
    }
    ok
}

/// One header to set, by `append_action` only: Envoy lets the deprecated
/// `append` override it, and current Envoy appends `append: true` to an
/// existing header with a comma (`appendCopy`), which would merge the
/// gateway's Set-Cookie into the upstream's.
#[allow(deprecated)] // `append` is named only to be left unset.
fn option(name: &HeaderName, value: &HeaderValue, action: HeaderAppendAction) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(ProtoHeader {
            key: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            raw_value: Vec::new(),
        }),
        append: None,
        append_action: action as i32,
        keep_empty_value: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::proto::envoy::config::core::v3::{Address, Pipe};

    fn head(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut response = http::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        response.body(()).unwrap().into_parts().0
    }

    const USER: HeaderName = HeaderName::from_static("x-remote-user");
    const GROUPS: HeaderName = HeaderName::from_static("x-remote-groups");
    const FORWARDED_USER: HeaderName = HeaderName::from_static("x-forwarded-user");

    #[test]
    fn a_name_is_set_or_removed_never_both() {
        let answer = check_response(
            &head(
                200,
                &[
                    ("x-remote-user", "alice"),
                    ("x-remote-groups", ""),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ],
            ),
            b"",
            &[&USER, &GROUPS],
            &[&USER, &GROUPS, &FORWARDED_USER, &FORWARDED_USER],
        );
        let Some(check_response::HttpResponse::OkResponse(ok)) = answer.http_response else {
            panic!("{answer:?}");
        };
        let set: Vec<&str> = ok
            .headers
            .iter()
            .map(|o| o.header.as_ref().unwrap().key.as_str())
            .collect();
        assert_eq!(set, ["x-remote-user"]);
        assert_eq!(
            ok.headers_to_remove,
            ["x-remote-groups", "x-forwarded-user"]
        );
        assert_eq!(ok.response_headers_to_add.len(), 2);
        assert!(ok
            .response_headers_to_add
            .iter()
            .all(|o| o.append_action == HeaderAppendAction::AppendIfExistsOrAdd as i32));
    }

    #[test]
    fn a_denial_keeps_both_cookies_and_drops_framing() {
        let answer = check_response(
            &head(
                401,
                &[
                    ("content-type", "application/json"),
                    ("content-length", "9"),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                    ("x-portcullis-body", "{}"),
                ],
            ),
            br#"{"x":1}"#,
            &[],
            &[],
        );
        assert_eq!(answer.status.as_ref().unwrap().code, UNAUTHENTICATED);
        let Some(check_response::HttpResponse::DeniedResponse(denied)) = answer.http_response
        else {
            panic!("{answer:?}");
        };
        assert_eq!(denied.status.unwrap().code, 401);
        assert_eq!(denied.body, r#"{"x":1}"#);
        let sent: Vec<(&str, i32)> = denied
            .headers
            .iter()
            .map(|o| (o.header.as_ref().unwrap().key.as_str(), o.append_action))
            .collect();
        assert_eq!(
            sent,
            [
                (
                    "content-type",
                    HeaderAppendAction::OverwriteIfExistsOrAdd as i32
                ),
                (
                    "set-cookie",
                    HeaderAppendAction::OverwriteIfExistsOrAdd as i32
                ),
                ("set-cookie", HeaderAppendAction::AppendIfExistsOrAdd as i32),
            ]
        );
    }

    #[test]
    fn only_an_ip_source_is_a_client_address() {
        let with = |address: address::Address| AttributeContext {
            source: Some(
                crate::ingress::proto::envoy::service::auth::v3::attribute_context::Peer {
                    address: Some(Address {
                        address: Some(address),
                    }),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        let pipe = with(address::Address::Pipe(Pipe {
            path: "/run/envoy.sock".into(),
            mode: 0,
        }));
        assert_eq!(source_address(&pipe), None);
        let scoped = with(address::Address::SocketAddress(
            crate::ingress::proto::envoy::config::core::v3::SocketAddress {
                address: "fe80::1%eth0".into(),
                ..Default::default()
            },
        ));
        assert_eq!(source_address(&scoped), None);
        assert_eq!(source_address(&AttributeContext::default()), None);
    }
}
