//! Who a request is from, as far as the session store can tell: a user,
//! nobody (and why), or a store that could not answer.

use std::sync::Arc;
use std::time::SystemTime;

use super::Session;

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
