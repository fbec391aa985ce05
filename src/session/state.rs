//! Who a request is from, as far as the session store can tell: a user,
//! nobody (and why), or a store that could not answer.

use std::sync::Arc;

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
