//! Every response the gateway writes itself: `{"detail": ...}` JSON bodies
//! in DRF's compact form, with the reason code header on denials.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use serde::Serialize;

use crate::pipeline::denial::Denial;

/// Body of any response leaving the gateway: streamed from the upstream, or
/// written here.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Response header carrying the machine reason code of a synthetic answer.
pub const REASON_HEADER: &str = "x-portcullis-reason";

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a str,
}

/// `{"detail":"..."}` exactly as DRF's JSONRenderer writes it (compact).
pub fn detail_body(detail: &str) -> Bytes {
    // Invariant: serialising a struct of one &str cannot fail.
    Bytes::from(serde_json::to_vec(&Detail { detail }).expect("serialise detail"))
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
/// a client that prefers HTML (a browser).
pub fn denial(denial: &Denial, html: bool) -> Response<ProxyBody> {
    let mut response = if html {
        let page = crate::pages::error_page(denial.status, &denial.detail, denial.reason.as_str());
        let mut response = Response::new(Either::Right(Full::new(Bytes::from(page))));
        *response.status_mut() = denial.status;
        crate::pages::add_html_headers(response.headers_mut());
        response
    } else {
        json(denial.status, detail_body(&denial.detail))
    };
    let headers = response.headers_mut();
    headers.insert(
        REASON_HEADER,
        HeaderValue::from_static(denial.reason.as_str()),
    );
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
