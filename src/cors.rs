//! CORS for browser front-ends on other origins (`[cors]`): a preflight
//! (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an
//! allowed origin is answered by the gateway itself — preflights carry no
//! cookies, so no session could be found for them — and responses to
//! allowed origins get the `Access-Control-*` headers. Requests from other
//! origins are handled exactly as without `[cors]`.
//!
//! CORS only lets a browser read responses; it does not exempt anything
//! from CSRF. An origin that sends unsafe requests with cookies must also
//! be in `csrf.trusted_origins`, as in Django.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::reply::ProxyBody;

#[derive(Debug, Clone)]
pub struct CorsSettings {
    /// Exact origins, `scheme://host[:port]`; empty means CORS is off.
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
    pub allowed_methods: HeaderValue,
    pub allowed_headers: HeaderValue,
    pub expose_headers: Option<HeaderValue>,
    pub max_age: Duration,
}

impl CorsSettings {
    /// The request's Origin, when it is one of the allowed ones.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        if self.allowed_origins.is_empty() {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.allowed_origins
            .iter()
            .any(|o| o == text)
            .then(|| origin.clone())
    }

    /// The gateway's answer to a preflight from an allowed origin.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response<ProxyBody>> {
        if *method != Method::OPTIONS
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = self.allowed_origin(headers)?;
        let mut response = crate::reply::json(StatusCode::NO_CONTENT, bytes::Bytes::new());
        let out = response.headers_mut();
        out.remove(header::CONTENT_TYPE);
        self.decorate(out, origin);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.allowed_methods.clone(),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            self.allowed_headers.clone(),
        );
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(self.max_age.as_secs()),
        );
        Some(response)
    }

    /// Adds the headers that let the browser read a response.
    pub fn decorate(&self, headers: &mut HeaderMap, origin: HeaderValue) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if self.allow_credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose_headers {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}
