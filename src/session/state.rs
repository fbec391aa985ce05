//! Who a request is from, as far as the session store can tell: a user,
//! nobody (and why), or a store that could not answer.

use std::sync::Arc;
use std::time::SystemTime;

use super::Session;
pub use crate::denial::NoSession;

/// Who the request is from, as far as the session store can tell.
#[derive(Debug, Clone)]
pub enum SessionState {
    Anonymous(NoSession),
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
