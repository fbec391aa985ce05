//! Every response the gateway writes itself: `{"detail": ...}` JSON bodies
//! in DRF's compact form, with the reason code header on denials.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use serde::Serialize;

use crate::config::Runtime;
use crate::pipeline::denial::Denial;

/// Body of any response leaving the gateway: streamed from the upstream, or
/// written here.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Response header carrying the machine reason code of a synthetic answer.
pub const REASON_HEADER: &str = "x-portcullis-reason";

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

/// `{"detail":"..."}` exactly as DRF's JSONRenderer writes it (compact).
pub fn detail_body(detail: &str) -> Bytes {
    // Invariant: serialising a struct of one &str cannot fail.
    Bytes::from(serde_json::to_vec(&Detail { detail, hint: None }).expect("serialise detail"))
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

/// The gateway's own answer for a denial: DRF's JSON, or an HTML page for
/// a client that prefers HTML (a browser); with the reason code and the
/// fix as `[diagnostics]` says.
pub fn denial(denial: &Denial, html: bool, runtime: &Runtime) -> Response<ProxyBody> {
    let diagnostics = runtime.diagnostics;
    let hint = diagnostics
        .debug
        .then(|| crate::pipeline::hint::hint(denial, runtime));
    let mut response = if html {
        let reason = diagnostics.expose_reason.then(|| denial.reason.as_str());
        let page = crate::pages::error_page(denial.status, &denial.detail, reason, hint.as_deref());
        let mut response = Response::new(Either::Right(Full::new(Bytes::from(page))));
        *response.status_mut() = denial.status;
        crate::pages::add_html_headers(response.headers_mut());
        response
    } else {
        let body = Detail {
            detail: &denial.detail,
            hint: hint.as_deref(),
        };
        // Invariant: serialising a struct of strings cannot fail.
        let body = serde_json::to_vec(&body).expect("serialise detail");
        json(denial.status, Bytes::from(body))
    };
    let headers = response.headers_mut();
    if diagnostics.expose_reason {
        headers.insert(
            REASON_HEADER,
            HeaderValue::from_static(denial.reason.as_str()),
        );
    }
    if let Some(seconds) = denial.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
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

/// An HTML page with the gateway's page headers.
pub fn html(status: StatusCode, page: String) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(page))));
    *response.status_mut() = status;
    crate::pages::add_html_headers(response.headers_mut());
    response
}
