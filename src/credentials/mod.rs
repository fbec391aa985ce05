//! How a request proves who it is beyond the session cookie: DRF Token,
//! simplejwt and bearer JWTs from any OIDC/JWKS issuer; and the ordered
//! list of authentication classes a route tries (DRF's
//! `DEFAULT_AUTHENTICATION_CLASSES` or a view's `authentication_classes`).

pub mod authorization;
pub mod bearer;
pub mod drf_token;
pub mod simplejwt;

use http::HeaderValue;

pub use crate::session::state::AuthClass;

/// `authentication`, `[token]` and `[jwt]`, compiled.
#[derive(Debug, Clone)]
pub struct Authentication {
    /// The top-level `authentication`: DEFAULT_AUTHENTICATION_CLASSES.
    pub default: AuthClasses,
    pub token: drf_token::TokenSettings,
    /// `None` without a `[jwt]` section (then no route may use "jwt").
    pub jwt: Option<simplejwt::JwtSettings>,
    /// The bearer class's authenticate header: `Bearer realm="api"`.
    pub bearer_challenge: HeaderValue,
}

impl Authentication {
    /// The class's `authenticate_header`: `None` for the session (DRF's
    /// SessionAuthentication has none, so its failures are 403s).
    pub fn challenge(&self, class: AuthClass) -> Option<&HeaderValue> {
        match class {
            AuthClass::Session => None,
            AuthClass::Token => Some(&self.token.challenge),
            AuthClass::Jwt => self.jwt.as_ref().map(|jwt| &jwt.challenge),
            AuthClass::Bearer => Some(&self.bearer_challenge),
        }
    }
}

/// The most classes a list can hold: each of the four at most once.
const MAX_CLASSES: usize = 4;

/// An ordered list of authentication classes, tried in order; the first
/// that authenticates wins, and the first in the list decides between 401
/// and 403 (DRF's `get_authenticate_header`). Copy, no allocation: it is
/// read on every request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthClasses {
    list: [AuthClass; MAX_CLASSES],
    len: u8,
}

impl AuthClasses {
    /// DRF's default when nothing is configured here: the session only
    /// (what the gateway has always done).
    pub const SESSION: AuthClasses = AuthClasses {
        list: [AuthClass::Session; MAX_CLASSES],
        len: 1,
    };

    /// The list, or why it cannot be one (empty, or a class twice).
    pub fn new(classes: &[AuthClass]) -> Result<AuthClasses, String> {
        if classes.is_empty() {
            return Err("must name at least one authentication class".into());
        }
        let mut list = AuthClasses {
            list: [AuthClass::Session; MAX_CLASSES],
            len: 0,
        };
        for class in classes {
            if list.contains(*class) {
                return Err(format!("names {:?} twice", class.as_str()));
            }
            list.list[usize::from(list.len)] = *class;
            list.len += 1;
        }
        Ok(list)
    }

    pub fn iter(&self) -> impl Iterator<Item = AuthClass> + '_ {
        self.list[..usize::from(self.len)].iter().copied()
    }

    pub fn contains(&self, class: AuthClass) -> bool {
        self.iter().any(|c| c == class)
    }

    /// The class whose authenticate header decides 401 vs 403.
    pub fn first(&self) -> AuthClass {
        self.list[0]
    }

    /// `["session", "token"]`, for `explain` and the docs.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.iter().map(|c| format!("{:?}", c.as_str())).collect();
        format!("[{}]", names.join(", "))
    }
}

impl std::fmt::Debug for AuthClasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_order_and_refuse_repeats() {
        let list = AuthClasses::new(&[AuthClass::Token, AuthClass::Session]).unwrap();
        assert_eq!(list.first(), AuthClass::Token);
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            [AuthClass::Token, AuthClass::Session]
        );
        assert!(!list.contains(AuthClass::Jwt));
        assert!(AuthClasses::new(&[]).is_err());
        assert!(AuthClasses::new(&[AuthClass::Jwt, AuthClass::Jwt]).is_err());
        assert_eq!(AuthClasses::SESSION.describe(), "[\"session\"]");
    }
}
