//! `GET <prefix>/csrf`: `{"csrfToken":"<fresh masked token>"}`, setting the
//! csrftoken cookie when the request has no valid one (Django's
//! `get_token()` as an endpoint, for single-page apps).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde::Serialize;

use super::Exchange;
use crate::reply::ProxyBody;

#[derive(Serialize)]
struct CsrfToken {
    #[serde(rename = "csrfToken")]
    csrf_token: String,
}

pub(super) fn handle(exchange: &Exchange<'_>) -> Response<ProxyBody> {
    let (secret, new_cookie) = exchange.csrf_secret();
    // Invariant: a struct of one String serialises.
    let body = serde_json::to_vec(&CsrfToken {
        csrf_token: secret.mask(),
    })
    .expect("serialise token");
    let mut response = crate::reply::json(StatusCode::OK, Bytes::from(body));
    let headers = response.headers_mut();
    // A token must never be served from a shared cache to someone else.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
    if let Some(cookie) = new_cookie {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}
