//! The `csrftoken` cookie the gateway hands out, with Django's attributes:
//! a year long (CSRF_COOKIE_AGE), Path=/, SameSite=Lax by default, readable
//! by scripts (not HttpOnly, so front-ends can copy it into X-CSRFToken),
//! Secure on HTTPS.
//!
//! Written straight into one buffer (the `cookie` crate's builder and
//! `Display` cost five allocations, and this is minted on every request
//! that comes without the cookie), in the order and format the `cookie`
//! crate writes.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cookie::SameSite;
use http::HeaderValue;

use super::token::Secret;
use crate::csrf::settings::CsrfSettings;

/// Django's CSRF_COOKIE_AGE: 52 weeks.
pub const COOKIE_AGE_SECONDS: i64 = 60 * 60 * 24 * 7 * 52;

/// The `Set-Cookie` value carrying `secret`.
pub fn set_cookie(settings: &CsrfSettings, secret: &Secret, https: bool) -> HeaderValue {
    set_cookie_at(settings, secret, https, SystemTime::now())
}

fn set_cookie_at(
    settings: &CsrfSettings,
    secret: &Secret,
    https: bool,
    now: SystemTime,
) -> HeaderValue {
    let age = Duration::from_secs(COOKIE_AGE_SECONDS.unsigned_abs());
    let mut value = String::with_capacity(160);
    value.push_str(&settings.cookie_name);
    value.push('=');
    value.push_str(secret.as_str());
    value.push_str(match settings.cookie_samesite {
        SameSite::Strict => "; SameSite=Strict",
        SameSite::Lax => "; SameSite=Lax",
        SameSite::None => "; SameSite=None",
    });
    if settings.cookie_secure || https {
        value.push_str("; Secure");
    }
    value.push_str("; Path=/");
    if let Some(domain) = &settings.cookie_domain {
        // As the `cookie` crate writes it: without a leading dot.
        value.push_str("; Domain=");
        value.push_str(domain.strip_prefix('.').unwrap_or(domain));
    }
    // Writing into a String cannot fail.
    let _ = write!(
        value,
        "; Max-Age={COOKIE_AGE_SECONDS}; Expires={}",
        httpdate::HttpDate::from(now + age)
    );
    // Invariant: name, secret and domain were validated as cookie-safe
    // ASCII; the rest is fixed text and an HTTP date.
    HeaderValue::from_maybe_shared(Bytes::from(value))
        .expect("csrftoken cookie is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `cookie` crate writes for the same cookie.
    fn by_the_cookie_crate(
        settings: &CsrfSettings,
        secret: &Secret,
        https: bool,
        now: SystemTime,
    ) -> String {
        use cookie::time::{Duration, OffsetDateTime};
        let age = Duration::seconds(COOKIE_AGE_SECONDS);
        let now = OffsetDateTime::from(now);
        let mut cookie = cookie::Cookie::build((settings.cookie_name.as_str(), secret.as_str()))
            .path("/")
            .max_age(age)
            .expires(now + age)
            .same_site(settings.cookie_samesite)
            .secure(settings.cookie_secure || https)
            .http_only(false);
        if let Some(domain) = &settings.cookie_domain {
            cookie = cookie.domain(domain.as_str());
        }
        cookie.to_string()
    }

    #[test]
    fn the_same_cookie_as_the_cookie_crate_writes() {
        let secret = Secret::generate();
        // Whole seconds: the cookie crate and httpdate both drop the rest.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_150_000);
        for (samesite, secure, domain, https) in [
            (SameSite::Lax, false, None, false),
            (SameSite::Strict, true, Some(".example.com"), false),
            (SameSite::None, false, Some("example.com"), true),
        ] {
            let settings = CsrfSettings {
                cookie_name: "csrftoken".into(),
                header_name: http::HeaderName::from_static("x-csrftoken"),
                header_label: "'X-Csrftoken'".into(),
                trusted_origins: Default::default(),
                enforce: crate::csrf::settings::CsrfEnforce::Authenticated,
                cookie_domain: domain.map(str::to_string),
                cookie_secure: secure,
                cookie_samesite: samesite,
                legacy_messages: false,
                websocket_origin_check: true,
                form_body_limit: 1024,
            };
            assert_eq!(
                set_cookie_at(&settings, &secret, https, now),
                by_the_cookie_crate(&settings, &secret, https, now).as_str()
            );
        }
    }
}
