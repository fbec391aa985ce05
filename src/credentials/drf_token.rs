//! DRF's `TokenAuthentication`: `Authorization: Token <key>` (the keyword
//! compared without regard to case), with DRF's exact messages.

use http::{HeaderMap, HeaderValue};

use super::authorization::{authorization_bytes, python_split};
use crate::denial::{Denial, Reason};
pub use crate::session::token_key::{generate_key, key_digest};

/// `[token]`, compiled.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `TokenAuthentication.keyword`: "Token" unless a subclass changes it.
    pub keyword: String,
    /// `WWW-Authenticate` for a 401: the keyword.
    pub challenge: HeaderValue,
}

/// DRF's messages, verbatim.
pub const NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
pub const HAS_SPACES: &str = "Invalid token header. Token string should not contain spaces.";
pub const INVALID_CHARACTERS: &str =
    "Invalid token header. Token string should not contain invalid characters.";
pub const INVALID_TOKEN: &str = "Invalid token.";
pub const INACTIVE: &str = "User inactive or deleted.";

/// The key in the request's `Authorization` header: `Ok(None)` when the
/// header is absent or names another scheme (the class does not apply),
/// `Err` with DRF's `AuthenticationFailed` when it is malformed.
pub fn presented_key(
    headers: &HeaderMap,
    settings: &TokenSettings,
) -> Result<Option<String>, Denial> {
    let Some(header) = authorization_bytes(headers) else {
        return Ok(None);
    };
    let mut parts = python_split(&header);
    let Some(scheme) = parts.next() else {
        return Ok(None);
    };
    // `auth[0].lower() != self.keyword.lower().encode()`: ASCII case only.
    if !scheme.eq_ignore_ascii_case(settings.keyword.as_bytes()) {
        return Ok(None);
    }
    let key = parts.next();
    if parts.next().is_some() {
        return Err(failed(HAS_SPACES, Reason::TokenHeaderInvalid));
    }
    let Some(key) = key else {
        return Err(failed(NO_CREDENTIALS, Reason::TokenHeaderInvalid));
    };
    let Ok(key) = std::str::from_utf8(key) else {
        return Err(failed(INVALID_CHARACTERS, Reason::TokenHeaderInvalid));
    };
    Ok(Some(key.to_string()))
}

/// DRF's `AuthenticationFailed(message)` (401 or 403 decided later).
pub fn failed(message: &'static str, reason: Reason) -> Denial {
    Denial::authentication_failed(reason, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TokenSettings {
        TokenSettings {
            keyword: "Token".into(),
            challenge: HeaderValue::from_static("Token"),
        }
    }

    fn read(value: &[u8]) -> Result<Option<String>, &'static str> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_bytes(value).unwrap());
        presented_key(&headers, &settings()).map_err(|denial| match denial.detail {
            std::borrow::Cow::Borrowed(message) => message,
            std::borrow::Cow::Owned(_) => "owned",
        })
    }

    #[test]
    fn drf_token_header_cases() {
        assert_eq!(read(b"Token abc"), Ok(Some("abc".into())));
        assert_eq!(read(b"token abc"), Ok(Some("abc".into())));
        assert_eq!(read(b"Bearer abc"), Ok(None));
        assert_eq!(read(b"Token"), Err(NO_CREDENTIALS));
        assert_eq!(read(b"Token a b"), Err(HAS_SPACES));
        assert_eq!(read(b"Token \xff\xfe"), Err(INVALID_CHARACTERS));
        assert_eq!(read(b"Token caf\xc3\xa9"), Ok(Some("café".into())));
        assert!(read(b"Tokens abc").unwrap().is_none());
    }

    #[test]
    fn keys_are_drf_shaped_and_digests_stable() {
        let key = generate_key();
        assert_eq!(key.len(), 40);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key_digest(&key), key_digest(&key));
        assert_ne!(key_digest(&key), key_digest(&generate_key()));
    }
}
