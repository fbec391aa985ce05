//! Stage 3: session cookie → id format check → store lookup. A cookie that
//! is absent, malformed, unknown or expired is anonymous; a store that
//! cannot answer is remembered as such so protected routes fail closed.

use std::sync::Arc;

use http::{header, HeaderMap};

use crate::session::{Session, SessionId, SessionStore, Store};

/// Who the request is from, as far as the session store can tell.
#[derive(Debug, Clone)]
pub enum SessionState {
    Anonymous,
    Authenticated(Arc<Session>),
    /// The store failed: treat as anonymous where that is enough, refuse
    /// with 503 where a user is needed.
    StoreUnavailable,
}

impl SessionState {
    pub fn user(&self) -> Option<&Session> {
        match self {
            SessionState::Authenticated(session) => Some(session),
            _ => None,
        }
    }
}

pub async fn lookup(store: &Store, cookie_name: &str, headers: &HeaderMap) -> SessionState {
    let Some(id) = cookie_value(headers, cookie_name).and_then(SessionId::parse) else {
        return SessionState::Anonymous;
    };
    match store.get(&id).await {
        Ok(Some(session)) => SessionState::Authenticated(session),
        Ok(None) => SessionState::Anonymous,
        Err(error) => {
            tracing::warn!(%error, "session lookup failed");
            SessionState::StoreUnavailable
        }
    }
}

/// The value of cookie `name`, looking through every `Cookie` header (HTTP/2
/// sends one per cookie), parsed exactly as Django's
/// `django.http.cookie.parse_cookie` does: split on `;`, split each chunk at
/// its first `=` (a chunk without one is a value with an empty name), strip
/// whitespace, and let the last occurrence of a name win. Matching Django's
/// parser, rather than a generic RFC 6265 one, means the gateway and a Django
/// backend always agree on which cookie a request carries; it is also the
/// cheapest parse on the hot path (no allocation). Non-UTF-8 headers are
/// skipped. Surrounding double quotes are removed, as Python's unquote does
/// for values without escapes.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for chunk in text.split(';') {
            let (key, val) = chunk.split_once('=').unwrap_or(("", chunk));
            if key.trim() == name {
                found = Some(unquote(val.trim()));
            }
        }
    }
    found
}

fn unquote(value: &str) -> &str {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if !inner.contains(['"', '\\']) => inner,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }

    #[test]
    fn finds_the_cookie_across_split_headers() {
        let h = headers(&["a=1; sessionid=abc", "csrftoken=x"]);
        assert_eq!(cookie_value(&h, "sessionid"), Some("abc"));
        assert_eq!(cookie_value(&h, "csrftoken"), Some("x"));
        assert_eq!(cookie_value(&h, "missing"), None);
    }

    #[test]
    fn last_duplicate_wins_like_django() {
        let h = headers(&["sessionid=first; sessionid=second"]);
        assert_eq!(cookie_value(&h, "sessionid"), Some("second"));
        let h = headers(&["sessionid=first", "sessionid=second"]);
        assert_eq!(cookie_value(&h, "sessionid"), Some("second"));
    }

    #[test]
    fn parses_like_djangos_parse_cookie() {
        // Cases from Django's tests/requests_tests/tests.py (test_parse_cookie).
        let h = headers(&["  sessionid = abc ; x=1"]);
        assert_eq!(cookie_value(&h, "sessionid"), Some("abc"));
        let h = headers(&["sessionid=\"abc\""]);
        assert_eq!(cookie_value(&h, "sessionid"), Some("abc"));
        let h = headers(&["token=a=b=c"]);
        assert_eq!(cookie_value(&h, "token"), Some("a=b=c"));
        let h = headers(&["novalue; sessionid=ok"]);
        assert_eq!(cookie_value(&h, ""), Some("novalue"));
        let h = headers(&["sessionid="]);
        assert_eq!(cookie_value(&h, "sessionid"), Some(""));
    }

    #[test]
    fn garbage_is_not_a_crash() {
        let h = headers(&[";;; =; sessionid; ==x; sessionid=ok"]);
        assert_eq!(cookie_value(&h, "sessionid"), Some("ok"));
        let big = format!("sessionid={}", "a".repeat(100_000));
        let h = headers(&[&big]);
        assert_eq!(cookie_value(&h, "sessionid").map(str::len), Some(100_000));
    }
}
