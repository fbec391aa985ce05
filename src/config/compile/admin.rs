//! `[admin]`: the admin API's bearer token, inline or from the environment.

use super::problems::Problems;
use crate::config::raw::RawConfig;
use crate::config::snapshot::AdminToken;

pub(super) fn admin_token(problems: &mut Problems, raw: &RawConfig) -> AdminToken {
    match (&raw.admin.token, &raw.admin.token_env) {
        (Some(token), None) if !token.get_ref().is_empty() => AdminToken::new(token.get_ref()),
        (Some(token), None) => {
            problems.at(token.span(), "admin.token must not be empty");
            AdminToken::new("")
        }
        (None, Some(var)) => match std::env::var(var.get_ref()) {
            Ok(token) if !token.is_empty() => AdminToken::new(&token),
            _ => {
                problems.at(
                    var.span(),
                    format!(
                        "admin.token_env names {:?}, which is not set or is empty",
                        var.get_ref()
                    ),
                );
                AdminToken::new("")
            }
        },
        (Some(_), Some(var)) => {
            problems.at(var.span(), "set admin.token or admin.token_env, not both");
            AdminToken::new("")
        }
        (None, None) => {
            problems.anywhere("[admin] needs token or token_env");
            AdminToken::new("")
        }
    }
}
