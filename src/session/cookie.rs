//! The session cookie the gateway sets when it signs someone in, and the
//! expired cookies it sends on logout. HttpOnly (scripts never see the
//! session id), SameSite=Lax, Path=/, Secure on HTTPS.

use std::time::Duration;

use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::{Cookie, SameSite};
use http::HeaderValue;

use super::SessionId;

/// `Set-Cookie` for a session id living `max_age`.
pub fn session_cookie(name: &str, id: &SessionId, max_age: Duration, https: bool) -> HeaderValue {
    let age = CookieDuration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX / 2));
    let cookie = Cookie::build((name, id.as_str()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .max_age(age)
        .expires(OffsetDateTime::now_utc().saturating_add(age));
    // Invariant: the name is a validated cookie token and the id is a-z0-9.
    HeaderValue::from_str(&cookie.to_string()).expect("session cookie is a valid header value")
}

/// `Set-Cookie` that makes the browser forget cookie `name` (logout).
pub fn expired_cookie(name: &str, domain: Option<&str>, https: bool) -> HeaderValue {
    let mut cookie = Cookie::build((name, ""))
        .path("/")
        .secure(https)
        .max_age(CookieDuration::ZERO)
        .expires(OffsetDateTime::UNIX_EPOCH);
    if let Some(domain) = domain {
        cookie = cookie.domain(domain);
    }
    // Invariant: validated name and domain, empty value.
    HeaderValue::from_str(&cookie.to_string()).expect("expired cookie is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_attributes() {
        let id = SessionId::generate();
        let value = session_cookie("sessionid", &id, Duration::from_secs(3600), true);
        let text = value.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=3600",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let plain = session_cookie("sessionid", &id, Duration::from_secs(60), false);
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn expired_cookies_expire() {
        let text = expired_cookie("csrftoken", None, false)
            .to_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("csrftoken=;"), "{text}");
        assert!(text.contains("Max-Age=0"));
        assert!(text.contains("1970"));
    }
}
