//! The bodies and heads of the responses the gateway writes itself:
//! `{"detail": ...}` JSON in DRF's compact form, redirects, HTML pages, and
//! the one body type every response leaving the gateway has.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use serde::Serialize;

/// Body of any response leaving the gateway: streamed from the upstream, or
/// written here.
pub type ProxyBody = Either<crate::keepalive::UpstreamBody, Full<Bytes>>;

/// Response header carrying the machine reason code of a synthetic answer.
pub const REASON_HEADER: &str = "x-portcullis-reason";

/// DRF's error body, with the fix beside it when `[diagnostics] debug` asks.
#[derive(Serialize)]
pub struct Detail<'a> {
    pub detail: &'a str,
    /// simplejwt's error code (`token_not_valid`, `user_not_found`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    /// simplejwt's per-token-class messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<&'a [crate::denial::TokenMessage]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'a str>,
}

/// `{"detail":"..."}` exactly as DRF's JSONRenderer writes it (compact).
pub fn detail_body(detail: &str) -> Bytes {
    // Invariant: serialising a struct of one &str cannot fail.
    Bytes::from(
        serde_json::to_vec(&Detail {
            detail,
            code: None,
            messages: None,
            hint: None,
        })
        .expect("serialise detail"),
    )
}

/// A JSON response with the given status and pre-serialised body.
pub fn json(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A redirect (`302`, `303`) to a local path.
pub fn redirect(status: StatusCode, location: &str) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::new())));
    *response.status_mut() = status;
    // Callers pass checked local paths; anything unencodable goes home.
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// Marks an answer as about its caller alone (`whoami`, self-explain):
/// never stored by a cache, and varying with the credentials.
pub fn for_this_caller_only(headers: &mut http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
}

/// An HTML page with the gateway's page headers.
pub fn html(status: StatusCode, page: String) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(page))));
    *response.status_mut() = status;
    crate::pages::add_html_headers(response.headers_mut());
    response
}
