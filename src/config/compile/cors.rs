//! `[cors]`: the origins allowed to call from a browser, and the headers
//! a preflight answer carries.

use http::HeaderValue;

use super::defaults;
use super::problems::Problems;
use super::values::duration;
use crate::config::raw::RawCors;
use crate::cors::CorsSettings;

pub(super) fn cors(problems: &mut Problems, raw: &RawCors) -> CorsSettings {
    for origin in &raw.allowed_origins {
        let valid = crate::csrf::origin::urlsplit(origin.get_ref()).is_ok_and(|s| {
            !s.scheme.is_empty() && !s.netloc.is_empty() && s.path.is_empty() && s.query.is_empty()
        });
        if !valid || origin.get_ref() == "*" {
            problems.at(
                origin.span(),
                format!(
                    "cors.allowed_origins: {:?} is not an origin like \"https://app.example.com\"",
                    origin.get_ref()
                ),
            );
        }
    }
    let mut list = |values: Option<&Vec<String>>, default: &str| -> HeaderValue {
        let text = values.map_or_else(|| default.to_string(), |v| v.join(", "));
        HeaderValue::from_str(&text).unwrap_or_else(|_| {
            problems.anywhere(format!("cors: {text:?} is not a valid header value"));
            HeaderValue::from_static("")
        })
    };
    let allowed_methods = list(
        raw.allowed_methods.as_ref(),
        &defaults::CORS_ALLOWED_METHODS.join(", "),
    );
    let allowed_headers = list(
        raw.allowed_headers.as_ref(),
        &defaults::CORS_ALLOWED_HEADERS.join(", "),
    );
    let expose_headers =
        (!raw.expose_headers.is_empty()).then(|| list(Some(&raw.expose_headers), ""));
    CorsSettings {
        allowed_origins: raw
            .allowed_origins
            .iter()
            .map(|o| o.get_ref().clone())
            .collect(),
        allow_credentials: raw
            .allow_credentials
            .unwrap_or(defaults::CORS_ALLOW_CREDENTIALS),
        allowed_methods,
        allowed_headers,
        expose_headers,
        max_age: duration(problems, raw.max_age.as_ref(), defaults::CORS_MAX_AGE),
    }
}
