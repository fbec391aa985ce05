//! The session record: who the user is and what they may do, plus the
//! identity header values derived from it once, when the record is made.

use std::time::SystemTime;

use http::HeaderValue;

/// What a new session is made from (admin API, login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSession {
    pub username: String,
    pub user_id: Option<String>,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
    pub staff: bool,
    pub superuser: bool,
    pub csrf_secret: Option<String>,
    /// The OpenID provider's tokens, for a session made by signing in
    /// there (`[oidc]`): marks the session as the provider's.
    pub oidc: Option<ProviderTokens>,
}

/// What a session made at the OpenID provider keeps of the provider's
/// answer: its ID token (RP-initiated logout's `id_token_hint`, and the
/// `sub` a refresh must name again) and, when the provider issued one, the
/// refresh token that renews the claims once they are due.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderTokens {
    pub id_token: String,
    pub refresh_token: Option<String>,
    /// When the claims are refreshed: the ID token's `exp`, sooner when
    /// the access token expires first or `oidc.refresh_interval` says so.
    pub refresh_at: Option<SystemTime>,
}

impl std::fmt::Debug for ProviderTokens {
    // Tokens are credentials: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

/// A stored session. Immutable once made; shared as `Arc<Session>`.
#[derive(Debug)]
pub struct Session {
    pub username: String,
    pub user_id: Option<String>,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
    pub staff: bool,
    pub superuser: bool,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    /// Django's CSRF secret, when the CSRF token lives in the session.
    pub csrf_secret: Option<String>,
    /// The provider's tokens, for a session made by `[oidc]` sign-in.
    pub oidc: Option<ProviderTokens>,
    identity: IdentityValues,
}

/// Header values for the identity headers, or `None` where the stored value
/// is not safe to put in a header (SECURITY_CASES B17): then it is never sent.
#[derive(Debug, Clone)]
pub struct IdentityValues {
    pub user: Option<HeaderValue>,
    pub groups: Option<HeaderValue>,
    pub permissions: Option<HeaderValue>,
}

impl Session {
    pub fn new(new: NewSession, created_at: SystemTime, expires_at: SystemTime) -> Session {
        let identity = IdentityValues {
            user: safe_header_value(&new.username),
            groups: joined_header_value(&new.groups),
            permissions: joined_header_value(&new.permissions),
        };
        Session {
            username: new.username,
            user_id: new.user_id,
            groups: new.groups,
            permissions: new.permissions,
            staff: new.staff,
            superuser: new.superuser,
            created_at,
            expires_at,
            csrf_secret: new.csrf_secret,
            oidc: new.oidc,
            identity,
        }
    }

    /// The same session with another expiry (sliding renewal).
    pub fn with_expiry(&self, expires_at: SystemTime) -> Session {
        Session::new(self.to_new(), self.created_at, expires_at)
    }

    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// The provider's claims are due a refresh: the session has a refresh
    /// token and its `refresh_at` has come (or is not known: then now).
    pub fn refresh_due(&self, now: SystemTime) -> bool {
        self.oidc.as_ref().is_some_and(|tokens| {
            tokens.refresh_token.is_some() && tokens.refresh_at.is_none_or(|at| at <= now)
        })
    }

    /// What the session was made from, for a refreshed copy.
    pub fn to_new(&self) -> NewSession {
        NewSession {
            username: self.username.clone(),
            user_id: self.user_id.clone(),
            groups: self.groups.clone(),
            permissions: self.permissions.clone(),
            staff: self.staff,
            superuser: self.superuser,
            csrf_secret: self.csrf_secret.clone(),
            oidc: self.oidc.clone(),
        }
    }

    /// Django's `has_perm`: superusers have every permission.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.superuser || self.permissions.iter().any(|p| p == permission)
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    pub fn identity(&self) -> &IdentityValues {
        &self.identity
    }
}

/// Why a name cannot be stored in a session: it could not be sent as a
/// header value, or (for list items) would be ambiguous once comma-joined.
pub fn unsafe_value_reason(value: &str, list_item: bool) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    // Visible ASCII and space only: WSGI/ASGI servers decode header bytes as
    // Latin-1, so UTF-8 would reach a Django upstream as a different string,
    // and invisible characters (U+200B) would let look-alike names through.
    if !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Some("must be printable ASCII (no control or non-ASCII characters)");
    }
    if value.trim() != value {
        return Some("must not start or end with whitespace");
    }
    if list_item && value.contains(',') {
        return Some("must not contain ','");
    }
    None
}

/// The first of a session's names that could not be sent as a header, as a
/// sentence ("Invalid username: it must ..."); `None` when all can. The
/// admin API refuses such a session, and a stored one is no session.
pub fn unsafe_identity_value(
    username: &str,
    user_id: Option<&str>,
    groups: &[String],
    permissions: &[String],
) -> Option<String> {
    if let Some(why) = unsafe_value_reason(username, false) {
        return Some(format!("Invalid username: it {why}."));
    }
    if let Some(why) = user_id.and_then(|id| unsafe_value_reason(id, false)) {
        return Some(format!("Invalid user_id: it {why}."));
    }
    for (what, items) in [("group", groups), ("permission", permissions)] {
        for item in items {
            if let Some(why) = unsafe_value_reason(item, true) {
                return Some(format!("Invalid {what} {item:?}: it {why}."));
            }
        }
    }
    None
}

fn safe_header_value(value: &str) -> Option<HeaderValue> {
    if unsafe_value_reason(value, false).is_some() {
        return None;
    }
    HeaderValue::from_bytes(value.as_bytes()).ok()
}

fn joined_header_value(items: &[String]) -> Option<HeaderValue> {
    if items.iter().any(|i| unsafe_value_reason(i, true).is_some()) {
        return None;
    }
    HeaderValue::from_bytes(items.join(",").as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(username: &str, groups: &[&str]) -> Session {
        let now = SystemTime::now();
        Session::new(
            NewSession {
                username: username.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ..NewSession::default()
            },
            now,
            now,
        )
    }

    #[test]
    fn header_injection_values_are_never_emitted() {
        let s = session("bob\r\nX-Admin: 1", &["a"]);
        assert!(s.identity().user.is_none());
        let s = session("bob", &["a,b"]);
        assert!(s.identity().groups.is_none());
        let s = session("zoë", &["staff", "ops"]);
        assert!(s.identity().user.is_none());
        assert_eq!(s.identity().groups.as_ref().unwrap(), "staff,ops");
        let s = session("bob\u{200b}", &[]);
        assert!(s.identity().user.is_none());
        let s = session("Bob Smith-Jones (ops)", &[]);
        assert_eq!(s.identity().user.as_ref().unwrap(), "Bob Smith-Jones (ops)");
        let s = session("bob", &[]);
        assert_eq!(s.identity().groups.as_ref().unwrap(), "");
    }
}
