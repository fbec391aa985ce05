//! Validation of `[[users]]` (in the config or a `users_file`) and `[login]`.

use std::num::NonZeroU32;
use std::path::Path;

use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use super::routes::names;
use super::values::duration;
use crate::auth::password;
use crate::auth::users::{User, UserTable};
use crate::config::raw::{RawLogin, RawUser, RawUsersFile};
use crate::config::snapshot::LoginSettings;
use crate::config::startup::ThrottleSettings;
use crate::config::ConfigError;
use crate::session::record::unsafe_value_reason;

/// Every user from the config and the users file, validated.
pub(super) fn users(
    problems: &mut Problems,
    inline: &[RawUser],
    users_file: Option<&Spanned<String>>,
    base: &Path,
) -> UserTable {
    let mut users = validate(problems, inline);
    if let Some(file) = users_file {
        let path = base.join(file.get_ref());
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Err(e) => problems.at(
                file.span(),
                format!("cannot read session.users_file {shown:?}: {e}"),
            ),
            Ok(text) => match toml::from_str::<RawUsersFile>(&text) {
                Err(e) => problems.errors.push(ConfigError {
                    file: Some(shown),
                    location: e.span().map(|s| super::line_column(&text, s.start)),
                    message: e.message().trim_end().to_string(),
                }),
                Ok(raw) => {
                    let mut in_file = Problems {
                        source: &text,
                        file: Some(shown),
                        errors: Vec::new(),
                        warnings: Vec::new(),
                    };
                    users.extend(validate(&mut in_file, &raw.users));
                    problems.errors.append(&mut in_file.errors);
                }
            },
        }
    }
    let mut seen = std::collections::HashSet::new();
    for user in &users {
        if !seen.insert(user.username.as_str()) {
            problems.anywhere(format!("user {:?} is defined twice", user.username));
        }
    }
    same_hash_parameters(problems, &users);
    if problems.errors.is_empty() {
        UserTable::new(users)
    } else {
        // Skip hashing a dummy password for a config that will be refused.
        UserTable::new(Vec::new())
    }
}

/// Every hash must cost the same to check: an unknown username is checked
/// against a dummy hash, and a user whose hash is cheaper than the others
/// would answer faster — telling an attacker that the user exists.
fn same_hash_parameters(problems: &mut Problems, users: &[User]) {
    let mut costs = users.iter().filter_map(|u| {
        let p = password::parse(&u.password_hash).ok()?;
        Some((u, (p.m_cost(), p.t_cost(), p.p_cost())))
    });
    let Some((first, cost)) = costs.next() else {
        return;
    };
    if let Some((other, other_cost)) = costs.find(|(_, c)| *c != cost) {
        problems.anywhere(format!(
            "users {:?} (m={}, t={}, p={}) and {:?} (m={}, t={}, p={}) have password hashes of different argon2 \
             parameters; a failed login would then take a different time for each, telling whether a user exists. \
             Re-hash them with `portcullis hash-password`",
            first.username, cost.0, cost.1, cost.2, other.username, other_cost.0, other_cost.1, other_cost.2
        ));
    }
}

/// Django's `AbstractUser.username` max_length.
const MAX_USERNAME: usize = 150;

fn validate(problems: &mut Problems, raw: &[RawUser]) -> Vec<User> {
    raw.iter()
        .map(|user| {
            let username = user.username.get_ref();
            if let Some(why) = unsafe_value_reason(username, false) {
                problems.at(user.username.span(), format!("username {username:?} {why}"));
            }
            if username.chars().count() > MAX_USERNAME {
                problems.at(
                    user.username.span(),
                    format!("username is longer than {MAX_USERNAME} characters (Django's limit)"),
                );
            }
            if let Err(password::BadHash(why)) = password::parse(user.password_hash.get_ref()) {
                problems.at(
                    user.password_hash.span(),
                    format!("user {username:?}: password_hash: {why}"),
                );
            }
            User {
                username: username.clone(),
                password_hash: user.password_hash.get_ref().clone(),
                groups: names(problems, &user.groups, "group")
                    .into_iter()
                    .map(String::from)
                    .collect(),
                permissions: names(problems, &user.permissions, "permission")
                    .into_iter()
                    .map(String::from)
                    .collect(),
                staff: user.staff.unwrap_or(defaults::USER_STAFF),
                superuser: user.superuser.unwrap_or(defaults::USER_SUPERUSER),
                active: user.active.unwrap_or(defaults::USER_ACTIVE),
            }
        })
        .collect()
}

/// `[login]`: what the pages do (live), and the failed-login throttle's
/// quota (restart-only: the throttle is built once).
pub(super) fn login(problems: &mut Problems, raw: &RawLogin) -> (LoginSettings, ThrottleSettings) {
    let max_failures = match &raw.max_failures {
        None => NonZeroU32::new(defaults::LOGIN_MAX_FAILURES as u32),
        Some(n) => NonZeroU32::new(*n.get_ref()).or_else(|| {
            problems.at(n.span(), "login.max_failures must be at least 1");
            None
        }),
    };
    let login = LoginSettings {
        redirect_browsers: raw
            .redirect_browsers
            .unwrap_or(defaults::LOGIN_REDIRECT_BROWSERS),
    };
    let throttle = ThrottleSettings {
        max_failures: max_failures.unwrap_or(NonZeroU32::MIN),
        failure_window: duration(
            problems,
            raw.failure_window.as_ref(),
            defaults::LOGIN_FAILURE_WINDOW,
        ),
    };
    (login, throttle)
}
