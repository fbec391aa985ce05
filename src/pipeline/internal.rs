//! The gateway's own endpoints under `server.internal_prefix`
//! (default `/_portcullis`), answered here and never forwarded:
//!
//! - `GET <prefix>/csrf`: `{"csrfToken":"<fresh masked token>"}`, setting
//!   the csrftoken cookie when the request has no valid one (Django's
//!   `get_token()` as an endpoint, for single-page apps).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use serde::Serialize;

use super::csrf::CookieState;
use super::denial::Denial;
use crate::config::Runtime;
use crate::csrf::cookie::set_cookie;
use crate::csrf::token::Secret;
use crate::response::{self, ProxyBody};

/// True when `path` (canonical) is one of ours.
pub fn is_internal(runtime: &Runtime, path: &str) -> bool {
    let prefix = &runtime.server.internal_prefix;
    path.strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[derive(Serialize)]
struct CsrfToken {
    #[serde(rename = "csrfToken")]
    csrf_token: String,
}

pub fn handle(
    runtime: &Runtime,
    method: &Method,
    path: &str,
    cookie: CookieState,
    https: bool,
) -> Result<Response<ProxyBody>, Denial> {
    let rest = &path[runtime.server.internal_prefix.len()..];
    if rest != "/csrf" {
        return Err(Denial::not_found());
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Err(Denial::method_not_allowed(method));
    }
    let (secret, new_cookie) = match cookie {
        CookieState::Valid(secret) => (secret, None),
        CookieState::Absent | CookieState::Malformed(_) => {
            let secret = Secret::generate();
            (secret, Some(set_cookie(&runtime.csrf, &secret, https)))
        }
    };
    // Invariant: a struct of one String serialises.
    let body = serde_json::to_vec(&CsrfToken {
        csrf_token: secret.mask(),
    })
    .expect("serialise token");
    let mut response = response::json(StatusCode::OK, Bytes::from(body));
    let headers = response.headers_mut();
    // A token must never be served from a shared cache to someone else.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
    if let Some(cookie) = new_cookie {
        headers.append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
