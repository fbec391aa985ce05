//! The gateway's answer to a denial: DRF's JSON, or an HTML page for a
//! browser, with the reason code and the fix as `[diagnostics]` says; and
//! the fix itself for each reason (`hint`).

pub mod hint;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::{Either, Full};

use crate::config::Config;
use crate::denial::Denial;
use crate::reply::{json, Detail, ProxyBody, REASON_HEADER};

/// The gateway's own answer for a denial: DRF's JSON, or an HTML page for
/// a client that prefers HTML (a browser); with the reason code and the
/// fix as `[diagnostics]` says.
pub fn denial(denial: &Denial, html: bool, config: &Config) -> Response<ProxyBody> {
    let diagnostics = config.diagnostics;
    let hint = diagnostics
        .debug
        .then(|| crate::response::hint::hint(denial, config));
    let mut response = if html {
        let reason = diagnostics.expose_reason.then(|| denial.reason.as_str());
        let page = crate::pages::error_page(denial.status, &denial.detail, reason, hint.as_deref());
        let mut response = Response::new(Either::Right(Full::new(Bytes::from(page))));
        *response.status_mut() = denial.status;
        crate::pages::add_html_headers(response.headers_mut());
        response
    } else {
        let extra = denial.extra.as_deref();
        let body = Detail {
            detail: &denial.detail,
            code: extra.map(|e| e.code),
            messages: extra.and_then(|e| e.messages.as_deref()),
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
    if let Some(challenge) = &denial.challenge {
        headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
    }
    if let Some(seconds) = denial.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
