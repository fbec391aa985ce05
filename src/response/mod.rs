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

/// DRF's JSON body for a denial (with simplejwt's `code` and `messages`,
/// and the fix when `hint` is given).
pub fn json_body(denial: &Denial, hint: Option<&str>) -> Bytes {
    let extra = denial.extra.as_deref();
    let body = Detail {
        detail: &denial.detail,
        code: extra.map(|e| e.code),
        messages: extra.and_then(|e| e.messages.as_deref()),
        hint,
    };
    // Invariant: serialising a struct of strings cannot fail.
    Bytes::from(serde_json::to_vec(&body).expect("serialise detail"))
}

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
        json(denial.status, json_body(denial, hint.as_deref()))
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
