//! Who a request is from: a user and the authentication class that vouched
//! for them (DRF's `request.successful_authenticator`), nobody (and why),
//! a credential that was refused, or a store that could not answer.

use std::str::FromStr;
use std::sync::Arc;

use super::Session;
use crate::denial::Denial;
pub use crate::denial::NoSession;

/// The authentication classes the gateway plays, by DRF's names for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthClass {
    /// `SessionAuthentication`: the session cookie (the only class that
    /// is CSRF-checked).
    Session,
    /// `TokenAuthentication`: `Authorization: Token <key>`.
    Token,
    /// simplejwt's `JWTAuthentication` (or its stateless variant).
    Jwt,
    /// A JWT from any OIDC/JWKS issuer (`[bearer]`).
    Bearer,
}

impl AuthClass {
    pub const NAMES: &'static str = "session, token, jwt, bearer";

    pub fn as_str(self) -> &'static str {
        match self {
            AuthClass::Session => "session",
            AuthClass::Token => "token",
            AuthClass::Jwt => "jwt",
            AuthClass::Bearer => "bearer",
        }
    }
}

impl FromStr for AuthClass {
    type Err = ();
    fn from_str(s: &str) -> Result<AuthClass, ()> {
        Ok(match s {
            "session" => AuthClass::Session,
            "token" => AuthClass::Token,
            "jwt" => AuthClass::Jwt,
            "bearer" => AuthClass::Bearer,
            _ => return Err(()),
        })
    }
}

/// Who the request is from, as far as the authentication classes can tell.
#[derive(Debug, Clone)]
pub enum SessionState {
    Anonymous(NoSession),
    /// A user, and the class that authenticated them.
    Authenticated(Arc<Session>, AuthClass),
    /// A class raised DRF's `AuthenticationFailed` (a malformed or unknown
    /// token, an inactive user): DRF answers it before any permission is
    /// looked at, on every route, even an open one.
    Refused(Box<Denial>),
    /// The store, or the identity provider refreshing the session's
    /// claims, could not answer: treat as anonymous where that is enough,
    /// refuse where a user is needed.
    Unavailable(Unavailable),
}

/// What could not answer for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The session store: 503.
    Store,
    /// The OpenID provider, asked to refresh the session's claims: 502.
    IdentityProvider,
}

impl Unavailable {
    /// The answer where a user is needed.
    pub fn denial(self) -> Denial {
        match self {
            Unavailable::Store => Denial::session_store_unavailable(),
            Unavailable::IdentityProvider => Denial::identity_provider_unavailable(),
        }
    }

    /// `explain`'s name for the session's state.
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::Store => "store_unavailable",
            Unavailable::IdentityProvider => "provider_unavailable",
        }
    }
}

impl SessionState {
    pub fn user(&self) -> Option<&Session> {
        match self {
            SessionState::Authenticated(session, _) => Some(session),
            _ => None,
        }
    }

    /// The class that authenticated the request, if one did.
    pub fn via(&self) -> Option<AuthClass> {
        match self {
            SessionState::Authenticated(_, via) => Some(*via),
            _ => None,
        }
    }

    /// How the session's user signed in, when the gateway knows more than
    /// the class: `oidc` for a session made at the OpenID provider.
    pub fn signed_in_with(&self) -> Option<&'static str> {
        match self {
            SessionState::Authenticated(session, AuthClass::Session) if session.oidc.is_some() => {
                Some("oidc")
            }
            _ => None,
        }
    }
}
