//! The `csrftoken` cookie the gateway hands out, with Django's attributes:
//! a year long (CSRF_COOKIE_AGE), Path=/, SameSite=Lax by default, readable
//! by scripts (not HttpOnly, so front-ends can copy it into X-CSRFToken),
//! Secure on HTTPS.

use cookie::time::{Duration, OffsetDateTime};
use cookie::Cookie;
use http::HeaderValue;

use super::token::Secret;
use crate::csrf::settings::CsrfSettings;

/// Django's CSRF_COOKIE_AGE: 52 weeks.
pub const COOKIE_AGE_SECONDS: i64 = 60 * 60 * 24 * 7 * 52;

/// The `Set-Cookie` value carrying `secret`.
pub fn set_cookie(settings: &CsrfSettings, secret: &Secret, https: bool) -> HeaderValue {
    let age = Duration::seconds(COOKIE_AGE_SECONDS);
    let mut cookie = Cookie::build((settings.cookie_name.as_str(), secret.as_str()))
        .path("/")
        .max_age(age)
        .expires(OffsetDateTime::now_utc() + age)
        .same_site(settings.cookie_samesite)
        .secure(settings.cookie_secure || https)
        .http_only(false);
    if let Some(domain) = &settings.cookie_domain {
        cookie = cookie.domain(domain.as_str());
    }
    // Invariant: name, secret and domain were validated as cookie-safe ASCII.
    HeaderValue::from_str(&cookie.to_string()).expect("csrftoken cookie is a valid header value")
}
