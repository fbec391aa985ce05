//! The request an ingress asks about (`[decision]`): nginx `auth_request`,
//! Traefik `forwardAuth`, Caddy `forward_auth` and Envoy's HTTP
//! `ext_authz` each send a subrequest that names the client's original
//! method, URI, Host and scheme in their own way; Envoy's gRPC `ext_authz`
//! sends them as a `CheckRequest` (`envoy_grpc`). Those names are believed
//! only from `trusted_ingress`; anything ambiguous is refused rather than
//! guessed, so what is decided is what the ingress forwards.

pub mod envoy_grpc;
pub mod proto;

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode, Uri};

use crate::client::TrustedProxies;
use crate::denial::{Denial, Reason};

/// `[decision]`, compiled (the listener address is a startup setting).
#[derive(Debug, Clone, Default)]
pub struct DecisionSettings {
    /// The ingress proxies that may ask; everyone else is refused.
    pub trusted_ingress: TrustedProxies,
    /// Envoy's HTTP `ext_authz` `path_prefix`: the check request's path is
    /// this prefix followed by the original path.
    pub envoy_path_prefix: String,
    /// `client_address`: whether an HTTP subrequest's X-Forwarded-For
    /// names the client (the ingress appends or sets it); otherwise no
    /// client address is known there.
    pub client_from_forwarded_for: bool,
}

/// Which ingress convention a subrequest follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// nginx `auth_request`: `X-Original-Method`, `X-Original-URI`.
    Nginx,
    /// Traefik `forwardAuth`, Caddy `forward_auth`: `X-Forwarded-Method`,
    /// `X-Forwarded-Uri`, `X-Forwarded-Host`, `X-Forwarded-Proto`.
    ForwardAuth,
    /// Envoy HTTP `ext_authz`: the original method, the original path
    /// after `path_prefix`, the original Host.
    Envoy,
    /// Envoy gRPC `ext_authz`: a `CheckRequest` (`envoy_grpc`).
    EnvoyGrpc,
}

impl Ingress {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingress::Nginx => "nginx",
            Ingress::ForwardAuth => "forward_auth",
            Ingress::Envoy => "envoy",
            Ingress::EnvoyGrpc => "envoy_grpc",
        }
    }
}

/// The client's request, as the ingress describes it.
#[derive(Debug, Clone)]
pub struct OriginalRequest {
    pub ingress: Ingress,
    pub method: Method,
    /// Origin-form: the path and query exactly as the client sent them.
    pub uri: Uri,
    /// The client's Host; `None` keeps the subrequest's own.
    pub host: Option<HeaderValue>,
    /// The client spoke HTTPS to the ingress.
    pub https: bool,
}

/// Why a subrequest names no request the gateway will decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The asker is not in `trusted_ingress`.
    Untrusted,
    /// A header the convention needs is missing, repeated or unreadable.
    Malformed(&'static str),
    /// Headers of two conventions at once: which one is true is unknown.
    Ambiguous,
    /// More headers, or more header bytes, than the proxy listener takes
    /// (`server.max_headers`, `server.max_header_bytes`).
    TooLarge,
}

impl Refusal {
    /// The gateway's answer: 403 `untrusted_ingress`, 431
    /// `headers_too_large` as the proxy's, or 400 `bad_decision_request`.
    pub fn denial(self) -> Denial {
        let (status, reason) = match self {
            Refusal::TooLarge => return Denial::headers_too_large(),
            Refusal::Untrusted => (StatusCode::FORBIDDEN, Reason::UntrustedIngress),
            _ => (StatusCode::BAD_REQUEST, Reason::BadDecisionRequest),
        };
        Denial::owned(status, reason, self.message().to_string())
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Untrusted => "Decision requests are answered only for decision.trusted_ingress.",
            Refusal::Malformed(what) => what,
            Refusal::TooLarge => "Request header fields too large.",
            Refusal::Ambiguous => "The subrequest names its original request in two ways (X-Original-*, X-Forwarded-Uri, or Envoy's path_prefix).",
        }
    }
}

/// A denial's JSON body, for ingresses that pass on headers but not the
/// body (nginx: `auth_request_set $body $upstream_http_x_portcullis_body`).
pub const BODY_HEADER: HeaderName = HeaderName::from_static("x-portcullis-body");

const ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The request the subrequest `parts`, from `peer`, asks about.
pub fn original_request(
    peer: IpAddr,
    parts: &Parts,
    settings: &DecisionSettings,
) -> Result<OriginalRequest, Refusal> {
    if !settings.trusted_ingress.contains(peer) {
        return Err(Refusal::Untrusted);
    }
    let headers = &parts.headers;
    // Which convention is chosen by the ingress's own configuration, never
    // by headers a client could add: Envoy's check requests, and only
    // they, have paths under `path_prefix`.
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let envoy = path_and_query
        .strip_prefix(settings.envoy_path_prefix.as_str())
        .filter(|rest| rest.starts_with('/'));
    let nginx = headers.contains_key(ORIGINAL_URI) || headers.contains_key(ORIGINAL_METHOD);
    let forward_auth =
        headers.contains_key(FORWARDED_URI) || headers.contains_key(FORWARDED_METHOD);
    let https = match only(headers, &FORWARDED_PROTO)? {
        None => false,
        Some(proto) if proto.as_bytes().eq_ignore_ascii_case(b"https") => true,
        Some(proto) if proto.as_bytes().eq_ignore_ascii_case(b"http") => false,
        Some(_) => {
            return Err(Refusal::Malformed(
                "X-Forwarded-Proto must be http or https.",
            ))
        }
    };
    if let Some(rest) = envoy {
        // A client's own X-Original-* or X-Forwarded-Uri passed through.
        if nginx || forward_auth {
            return Err(Refusal::Ambiguous);
        }
        return Ok(OriginalRequest {
            ingress: Ingress::Envoy,
            method: parts.method.clone(),
            uri: origin_form(
                &HeaderValue::from_str(rest)
                    .map_err(|_| Refusal::Malformed("Malformed original path."))?,
            )?,
            host: None,
            https,
        });
    }
    match (nginx, forward_auth) {
        (true, true) => Err(Refusal::Ambiguous),
        (true, false) => Ok(OriginalRequest {
            ingress: Ingress::Nginx,
            method: method(required(headers, &ORIGINAL_METHOD, "X-Original-Method is required (proxy_set_header X-Original-Method $request_method).")?)?,
            uri: origin_form(required(headers, &ORIGINAL_URI, "X-Original-URI is required (proxy_set_header X-Original-URI $request_uri).")?)?,
            host: None,
            https,
        }),
        (false, true) => Ok(OriginalRequest {
            ingress: Ingress::ForwardAuth,
            method: method(required(headers, &FORWARDED_METHOD, "X-Forwarded-Method is required.")?)?,
            uri: origin_form(required(headers, &FORWARDED_URI, "X-Forwarded-Uri is required.")?)?,
            host: only(headers, &FORWARDED_HOST)?.cloned(),
            https,
        }),
        (false, false) => Err(Refusal::Malformed(
            "No X-Original-URI (nginx) or X-Forwarded-Uri (Traefik, Caddy), and the path is not under decision.envoy_path_prefix (Envoy).",
        )),
    }
}

/// The headers that describe the original request, removed from the head
/// that is decided on (they are the ingress's, not the client's).
pub fn strip_ingress_headers(headers: &mut HeaderMap) {
    for name in [
        ORIGINAL_METHOD,
        ORIGINAL_URI,
        FORWARDED_METHOD,
        FORWARDED_URI,
        FORWARDED_HOST,
    ] {
        headers.remove(name);
    }
}

/// The one value of `name`; `None` when absent, refused when repeated
/// (which of two would the ingress act on?).
fn only<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h HeaderValue>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Refusal::Malformed(
            "A header naming the original request (X-Original-*, X-Forwarded-*) is repeated.",
        ));
    }
    Ok(first)
}

fn required<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    missing: &'static str,
) -> Result<&'h HeaderValue, Refusal> {
    only(headers, name)?.ok_or(Refusal::Malformed(missing))
}

fn method(value: &HeaderValue) -> Result<Method, Refusal> {
    Method::from_bytes(value.as_bytes())
        .map_err(|_| Refusal::Malformed("Malformed original method."))
}

/// An origin-form request target (`/path?query`): anything else (an
/// absolute URL, `*`) is refused.
fn origin_form(value: &HeaderValue) -> Result<Uri, Refusal> {
    let bytes = value.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(Refusal::Malformed(
            "The original URI must be a path (origin-form).",
        ));
    }
    Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(bytes))
        .ok()
        .filter(|uri| uri.scheme().is_none() && uri.authority().is_none())
        .ok_or(Refusal::Malformed("Malformed original URI."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DecisionSettings {
        DecisionSettings {
            trusted_ingress: TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]),
            envoy_path_prefix: "/envoy".into(),
            client_from_forwarded_for: false,
        }
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn ask(parts: &Parts) -> Result<OriginalRequest, Refusal> {
        original_request("10.1.2.3".parse().unwrap(), parts, &settings())
    }

    #[test]
    fn each_convention_names_the_original_request() {
        let nginx = ask(&parts(
            "GET",
            "/auth",
            &[
                ("x-original-method", "PUT"),
                ("x-original-uri", "/life/1/?a=b"),
                ("x-forwarded-proto", "https"),
            ],
        ))
        .unwrap();
        assert_eq!(
            (
                nginx.ingress,
                nginx.method.as_str(),
                nginx.uri.to_string(),
                nginx.https
            ),
            (Ingress::Nginx, "PUT", "/life/1/?a=b".into(), true)
        );
        let traefik = ask(&parts(
            "GET",
            "/auth",
            &[
                ("x-forwarded-method", "POST"),
                ("x-forwarded-uri", "/api/"),
                ("x-forwarded-host", "shop.test"),
            ],
        ))
        .unwrap();
        assert_eq!(
            (
                traefik.ingress,
                traefik.method.as_str(),
                traefik.host.unwrap()
            ),
            (
                Ingress::ForwardAuth,
                "POST",
                HeaderValue::from_static("shop.test")
            )
        );
        let envoy = ask(&parts("DELETE", "/envoy/api/1/?x", &[])).unwrap();
        assert_eq!(
            (envoy.ingress, envoy.method.as_str(), envoy.uri.to_string()),
            (Ingress::Envoy, "DELETE", "/api/1/?x".into())
        );
    }

    #[test]
    fn nothing_is_guessed() {
        let untrusted = original_request(
            "192.0.2.1".parse().unwrap(),
            &parts(
                "GET",
                "/auth",
                &[("x-original-method", "GET"), ("x-original-uri", "/")],
            ),
            &settings(),
        );
        assert_eq!(untrusted.unwrap_err(), Refusal::Untrusted);
        for headers in [
            vec![("x-original-uri", "/a")],
            vec![("x-original-method", "GET")],
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "http://evil/"),
            ],
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
                ("x-forwarded-uri", "/b"),
            ],
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
                ("x-forwarded-proto", "gopher"),
            ],
        ] {
            assert!(
                ask(&parts("GET", "/auth", &headers)).is_err(),
                "{headers:?}"
            );
        }
        let mut twice = parts(
            "GET",
            "/auth",
            &[("x-original-method", "GET"), ("x-original-uri", "/a")],
        );
        twice
            .headers
            .append("x-original-uri", HeaderValue::from_static("/b"));
        assert!(ask(&twice).is_err());
        assert!(ask(&parts("GET", "/envoyx/a", &[])).is_err());
        // Under Envoy's prefix, a client's own X-Original-* passed through
        // by Envoy's allowed_headers must not choose what is decided.
        let smuggled = parts(
            "DELETE",
            "/envoy/orders/1",
            &[("x-original-method", "GET"), ("x-original-uri", "/public/")],
        );
        assert_eq!(ask(&smuggled).unwrap_err(), Refusal::Ambiguous);
        let smuggled = parts(
            "DELETE",
            "/envoy/orders/1",
            &[("x-forwarded-uri", "/public/")],
        );
        assert_eq!(ask(&smuggled).unwrap_err(), Refusal::Ambiguous);
        assert!(ask(&parts("GET", "/other", &[])).is_err());
    }
}
