//! Stage 3: session cookie → id format check → store lookup. A cookie that
//! is absent, malformed, unknown or expired is anonymous; a store that
//! cannot answer is remembered as such so protected routes fail closed.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, HeaderValue};

use super::trace::{Outcome, Step, Trace};
use crate::config::runtime::SessionSettings;
use crate::csrf::token::latin1;
use crate::session::{Session, SessionId, SessionStore, Store};

/// Who the request is from, as far as the session store can tell.
#[derive(Debug, Clone)]
pub enum SessionState {
    Anonymous(NoSession),
    Authenticated(Arc<Session>),
    /// The store failed: treat as anonymous where that is enough, refuse
    /// with 503 where a user is needed.
    StoreUnavailable,
}

/// Why a request has no session: what `explain` and the fix text say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// The request carries no session cookie.
    NoCookie,
    /// The cookie's value is not a session id the gateway could have made.
    MalformedId,
    /// The store knows no such session: expired, signed out, or never made.
    NotFound,
}

impl NoSession {
    pub fn describe(self, cookie_name: &str) -> String {
        match self {
            NoSession::NoCookie => format!("the request carries no {cookie_name} cookie"),
            NoSession::MalformedId => {
                format!("the {cookie_name} cookie is not a well-formed session id")
            }
            NoSession::NotFound => format!(
                "the {cookie_name} cookie names no live session (expired, signed out, or from another store)"
            ),
        }
    }

    /// The reverse of `as_str`.
    pub fn from_code(code: &str) -> Option<NoSession> {
        [
            NoSession::NoCookie,
            NoSession::MalformedId,
            NoSession::NotFound,
        ]
        .into_iter()
        .find(|why| why.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoSession::NoCookie => "no_cookie",
            NoSession::MalformedId => "malformed_id",
            NoSession::NotFound => "not_found",
        }
    }
}

impl SessionState {
    pub fn user(&self) -> Option<&Session> {
        match self {
            SessionState::Authenticated(session) => Some(session),
            _ => None,
        }
    }
}

/// Finds the request's session; `timing` (the lookup histogram) is `None`
/// for `explain`, whose lookups are not traffic.
pub async fn lookup(
    store: &Store,
    cookie_name: &str,
    headers: &HeaderMap,
    timing: Option<&prometheus_client::metrics::histogram::Histogram>,
    trace: &mut Trace,
) -> SessionState {
    let no_session = |why: NoSession, trace: &mut Trace| {
        trace.note(|| {
            Step::new(
                "session",
                "cookie",
                Outcome::Info,
                format!("{}: anonymous", why.describe(cookie_name)),
            )
        });
        SessionState::Anonymous(why)
    };
    let Some(value) = cookie_value(headers, cookie_name) else {
        return no_session(NoSession::NoCookie, trace);
    };
    let Some(id) = SessionId::parse(&value) else {
        return no_session(NoSession::MalformedId, trace);
    };
    let started = std::time::Instant::now();
    let found = store.get(&id).await;
    if let Some(timing) = timing {
        timing.observe(started.elapsed().as_secs_f64());
    }
    match found {
        Ok(Some(session)) => {
            trace.note(|| Step::new("session", "store", Outcome::Pass, describe_user(&session)));
            SessionState::Authenticated(session)
        }
        Ok(None) => {
            if trace.is_on() {
                if let Some(why) = store.why_not(&id).await {
                    trace.note(|| Step::new("session", "store", Outcome::Info, why));
                }
            }
            no_session(NoSession::NotFound, trace)
        }
        Err(error) => {
            tracing::warn!(%error, "session lookup failed");
            trace.note(|| Step::new("session", "store", Outcome::Fail, format!("the session store did not answer ({error}): only anonymous access works until it does")));
            SessionState::StoreUnavailable
        }
    }
}

/// One line about a session's user, for `explain`.
pub fn describe_user(session: &Session) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    let left = session
        .expires_at
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs());
    format!(
        "user {}; groups: {}; permissions: {}; staff: {}; superuser: {}; expires in {left}s",
        session.username,
        list(&session.groups),
        list(&session.permissions),
        yes_no(session.staff),
        yes_no(session.superuser)
    )
}

/// Sliding sessions: the new expiry for `session` if it is due a renewal
/// — `now + ttl`, capped at `created + max_age`, and only when that moves
/// the expiry by a minute or more (half the ttl, for ttls under two
/// minutes), so a busy session is written at most once a minute.
pub fn renewal(
    session: &Session,
    settings: &SessionSettings,
    now: SystemTime,
) -> Option<SystemTime> {
    if !settings.sliding {
        return None;
    }
    let mut target = now + settings.ttl;
    if let Some(max_age) = settings.max_age {
        target = target.min(session.created_at + max_age);
    }
    let step = RENEW_AT_MOST_EVERY.min(settings.ttl / 2);
    (target >= session.expires_at + step).then_some(target)
}

const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// Renews a sliding session when due; returns the `Set-Cookie` carrying the
/// new lifetime. A store error keeps the old expiry (the request goes on).
pub async fn renew_if_due(
    store: &Store,
    settings: &SessionSettings,
    headers: &HeaderMap,
    session: &Session,
    https: bool,
) -> Option<HeaderValue> {
    let now = SystemTime::now();
    let expires_at = renewal(session, settings, now)?;
    let id = cookie_value(headers, &settings.cookie_name).and_then(|v| SessionId::parse(&v))?;
    match store.renew(&id, expires_at).await {
        Ok(Some(_)) => {
            let lifetime = expires_at.duration_since(now).unwrap_or_default();
            Some(crate::session::cookie::session_cookie(
                &settings.cookie_name,
                &id,
                lifetime,
                https,
            ))
        }
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "session renewal failed");
            None
        }
    }
}

/// The value of cookie `name`, looking through every `Cookie` header (HTTP/2
/// sends one per cookie), parsed exactly as Django's
/// `django.http.cookie.parse_cookie` does: split on `;`, split each chunk at
/// its first `=` (a chunk without one is a value with an empty name), strip
/// whitespace, unquote as Python's `http.cookies._unquote`, and let the last
/// occurrence of a name win. Matching Django's parser, rather than a generic
/// RFC 6265 one, means the gateway and a Django backend always agree on
/// which cookie a request carries; it is also the cheapest parse on the hot
/// path (no allocation for plain ASCII cookies). Header bytes are read as
/// Latin-1, as WSGI hands them to Django.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        match latin1(value.as_bytes()) {
            Cow::Borrowed(text) => {
                if let Some(v) = last_in(text, name) {
                    found = Some(unquote(v));
                }
            }
            Cow::Owned(text) => {
                if let Some(v) = last_in(&text, name) {
                    found = Some(Cow::Owned(unquote(v).into_owned()));
                }
            }
        }
    }
    found
}

fn last_in<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    // The last occurrence wins: search from the end.
    text.split(';').rev().find_map(|chunk| {
        let (key, val) = chunk.split_once('=').unwrap_or(("", chunk));
        (key.trim() == name).then(|| val.trim())
    })
}

/// Python's `http.cookies._unquote`: a value in double quotes loses them,
/// and `\ooo` (octal) and `\c` escapes inside are decoded.
fn unquote(value: &str) -> Cow<'_, str> {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| value.len() >= 2)
    else {
        return Cow::Borrowed(value);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let octal: String = chars.clone().take(3).collect();
        let is_octal = octal.len() == 3
            && octal.starts_with(|d: char| ('0'..='3').contains(&d))
            && octal.chars().all(|d| ('0'..='7').contains(&d));
        if is_octal {
            // Invariant: three octal digits with the first <= 3 fit a u8.
            out.push(u8::from_str_radix(&octal, 8).map_or('?', char::from));
            chars.nth(2);
        } else if let Some(next) = chars.next() {
            out.push(next);
        } else {
            out.push('\\');
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }

    fn settings(sliding: bool, ttl: u64, max_age: Option<u64>) -> SessionSettings {
        SessionSettings {
            store: crate::config::runtime::StoreKind::Memory,
            cookie_name: "sessionid".into(),
            ttl: Duration::from_secs(ttl),
            sliding,
            max_age: max_age.map(Duration::from_secs),
        }
    }

    #[test]
    fn sliding_renewal_at_most_once_a_minute_and_never_past_max_age() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let session = Session::new(
            crate::session::NewSession::default(),
            t0,
            t0 + Duration::from_secs(3600),
        );
        let s = settings(true, 3600, None);
        assert_eq!(
            renewal(&session, &s, t0 + Duration::from_secs(30)),
            None,
            "not within a minute"
        );
        assert_eq!(
            renewal(&session, &s, t0 + Duration::from_secs(90)),
            Some(t0 + Duration::from_secs(3690))
        );
        assert_eq!(
            renewal(
                &session,
                &settings(false, 3600, None),
                t0 + Duration::from_secs(900)
            ),
            None
        );
        let capped = settings(true, 3600, Some(3700));
        assert_eq!(
            renewal(&session, &capped, t0 + Duration::from_secs(900)),
            Some(t0 + Duration::from_secs(3700))
        );
        let at_cap = Session::new(
            crate::session::NewSession::default(),
            t0,
            t0 + Duration::from_secs(3700),
        );
        assert_eq!(
            renewal(&at_cap, &capped, t0 + Duration::from_secs(2000)),
            None
        );
        // Short ttls renew every half ttl, not never.
        let short = settings(true, 40, None);
        let s40 = Session::new(
            crate::session::NewSession::default(),
            t0,
            t0 + Duration::from_secs(40),
        );
        assert_eq!(renewal(&s40, &short, t0 + Duration::from_secs(10)), None);
        assert_eq!(
            renewal(&s40, &short, t0 + Duration::from_secs(20)),
            Some(t0 + Duration::from_secs(60))
        );
    }

    #[test]
    fn finds_the_cookie_across_split_headers() {
        let h = headers(&["a=1; sessionid=abc", "csrftoken=x"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "csrftoken").as_deref(), Some("x"));
        assert_eq!(cookie_value(&h, "missing").as_deref(), None);
    }

    #[test]
    fn last_duplicate_wins_like_django() {
        let h = headers(&["sessionid=first; sessionid=second"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("second"));
        let h = headers(&["sessionid=first", "sessionid=second"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("second"));
    }

    #[test]
    fn parses_like_djangos_parse_cookie() {
        // Cases from Django's tests/requests_tests/tests.py (test_parse_cookie).
        let h = headers(&["  sessionid = abc ; x=1"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("abc"));
        let h = headers(&["sessionid=\"abc\""]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("abc"));
        let h = headers(&["token=a=b=c"]);
        assert_eq!(cookie_value(&h, "token").as_deref(), Some("a=b=c"));
        let h = headers(&["novalue; sessionid=ok"]);
        assert_eq!(cookie_value(&h, "").as_deref(), Some("novalue"));
        let h = headers(&["sessionid="]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some(""));
    }

    #[test]
    fn non_ascii_bytes_are_latin1_not_a_reason_to_skip_the_header() {
        let mut map = HeaderMap::new();
        map.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"x=\xe9; csrftoken=abc").unwrap(),
        );
        assert_eq!(cookie_value(&map, "csrftoken").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&map, "x").as_deref(), Some("\u{e9}"));
    }

    #[test]
    fn quoted_values_unquote_like_python() {
        let h = headers(&[r#"a="\141\142c"; b="x\"y"; c="\F"; d="\"; e=""""#]);
        assert_eq!(cookie_value(&h, "a").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "b").as_deref(), Some("x\"y"));
        assert_eq!(cookie_value(&h, "c").as_deref(), Some("F"));
        assert_eq!(cookie_value(&h, "d").as_deref(), Some("\\"));
        assert_eq!(cookie_value(&h, "e").as_deref(), Some("\""));
    }

    #[test]
    fn garbage_is_not_a_crash() {
        let h = headers(&[";;; =; sessionid; ==x; sessionid=ok"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("ok"));
        let big = format!("sessionid={}", "a".repeat(100_000));
        let h = headers(&[&big]);
        assert_eq!(
            cookie_value(&h, "sessionid").map(|v| v.len()),
            Some(100_000)
        );
    }
}
