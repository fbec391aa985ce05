//! The users who can sign in: from `[[users]]` in the config (or a separate
//! `users_file`), looked up by username.

use std::collections::HashMap;

use argon2::Params;

use super::password;
use crate::session::NewSession;

/// One `[[users]]` entry, validated.
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
    pub staff: bool,
    pub superuser: bool,
    /// Inactive users cannot sign in (Django's `is_active`).
    pub active: bool,
}

/// Every user, and the hash an unknown username is checked against.
#[derive(Debug, Clone)]
pub struct UserTable {
    by_name: HashMap<String, User>,
    /// Costs as much to verify as the most expensive real hash, so a
    /// failed login takes as long whether or not the user exists.
    dummy_hash: String,
}

/// The result of checking a username and password.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    SignedIn(Box<NewSession>),
    /// Unknown user, wrong password, or inactive user: deliberately one case.
    Refused,
}

impl User {
    /// The session a sign-in as this user makes.
    pub fn session(&self) -> NewSession {
        NewSession {
            username: self.username.clone(),
            user_id: None,
            groups: self.groups.clone(),
            permissions: self.permissions.clone(),
            staff: self.staff,
            superuser: self.superuser,
            csrf_secret: None,
            oidc: None,
        }
    }
}

impl UserTable {
    pub fn new(users: Vec<User>) -> UserTable {
        // The most expensive parameters among the real hashes (validated by
        // the config compiler). With no users there is nothing a timing
        // difference could reveal, and no hashing at startup.
        let params = users
            .iter()
            .filter_map(|u| password::parse(&u.password_hash).ok())
            .max_by_key(|p| (u64::from(p.m_cost()) * u64::from(p.t_cost()), p.p_cost()));
        UserTable {
            dummy_hash: params.map(password::dummy_hash).unwrap_or_default(),
            by_name: users.into_iter().map(|u| (u.username.clone(), u)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn get(&self, username: &str) -> Option<&User> {
        self.by_name.get(username)
    }

    /// The parameters an unknown username's check costs.
    pub fn dummy_params(&self) -> Params {
        password::parse(&self.dummy_hash).unwrap_or_default()
    }

    /// Checks the credentials. Always verifies one argon2 hash — the user's,
    /// or the dummy for an unknown name — and checks `active` only after,
    /// so the time taken says nothing about which case it was. Blocking.
    pub fn authenticate(&self, username: &str, password_text: &str) -> Outcome {
        if self.by_name.is_empty() {
            return Outcome::Refused;
        }
        let user = self.by_name.get(username);
        let hash = user.map_or(self.dummy_hash.as_str(), |u| u.password_hash.as_str());
        let matches = password::verify(hash, password_text);
        match user {
            Some(user) if matches && user.active => Outcome::SignedIn(Box::new(user.session())),
            _ => Outcome::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap_hash(password: &str) -> String {
        // Small parameters keep unit tests fast; the logic is the same.
        use argon2::password_hash::{PasswordHasher, SaltString};
        let params = Params::new(1024, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn table() -> UserTable {
        let user = |name: &str, active: bool| User {
            username: name.into(),
            password_hash: cheap_hash("pw"),
            groups: vec!["g".into()],
            permissions: vec!["a.b".into()],
            staff: true,
            superuser: false,
            active,
        };
        UserTable::new(vec![user("alice", true), user("ghost", false)])
    }

    #[test]
    fn right_password_signs_in_with_the_users_rights() {
        match table().authenticate("alice", "pw") {
            Outcome::SignedIn(new) => {
                assert_eq!(new.username, "alice");
                assert_eq!(new.groups, ["g"]);
                assert_eq!(new.permissions, ["a.b"]);
                assert!(new.staff && !new.superuser);
            }
            Outcome::Refused => panic!("refused"),
        }
    }

    #[test]
    fn wrong_password_unknown_user_and_inactive_user_look_the_same() {
        let t = table();
        assert_eq!(t.authenticate("alice", "nope"), Outcome::Refused);
        assert_eq!(t.authenticate("nobody", "pw"), Outcome::Refused);
        assert_eq!(t.authenticate("ghost", "pw"), Outcome::Refused);
    }

    #[test]
    fn unknown_users_are_checked_against_a_hash_as_costly_as_the_real_ones() {
        let p = table().dummy_params();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (1024, 1, 1));
    }
}
