//! `[django]` and `session.store = "django"`: resolves the secret keys,
//! checks the database URL and table names, and refuses settings that mean
//! nothing when Django owns the sessions (the gateway's own sign-in,
//! sliding sessions, its own session lifetimes).

use std::path::Path;

use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use super::values::{ca_file, duration};
use crate::config::raw::{RawConfig, RawDjango};
use crate::session::django::database::is_sql_identifier;
use crate::session::django::settings::{DjangoConfig, DjangoSettings, DjangoTables};

/// Django's default `AUTHENTICATION_BACKENDS`.
const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";

/// The settings for `session.store = "django"`; `None` (with the problem
/// recorded) when `[django]` is missing.
pub(super) fn settings(
    problems: &mut Problems,
    raw: &RawConfig,
    base: &Path,
) -> Option<DjangoConfig> {
    refuse_own_sessions(problems, raw);
    let Some(django) = &raw.django else {
        problems.anywhere(
            "session.store = \"django\" needs a [django] section with database and secret_key_file (or secret_key_env)",
        );
        return None;
    };
    let django = django.get_ref();
    let secret_key = secret_key(problems, django, base);
    let user = table(
        problems,
        django.user_table.as_ref(),
        defaults::DJANGO_USER_TABLE,
    );
    let (user_groups, user_permissions) = DjangoTables::many_to_many(&user);
    let tables = DjangoTables {
        session: table(
            problems,
            django.session_table.as_ref(),
            defaults::DJANGO_SESSION_TABLE,
        ),
        username_column: table(
            problems,
            django.username_column.as_ref(),
            defaults::DJANGO_USERNAME_COLUMN,
        ),
        user_groups: table(problems, django.user_groups_table.as_ref(), &user_groups),
        user_permissions: table(
            problems,
            django.user_permissions_table.as_ref(),
            &user_permissions,
        ),
        user_column: table(
            problems,
            django.user_column.as_ref(),
            defaults::DJANGO_USER_COLUMN,
        ),
        token: table(
            problems,
            django.token_table.as_ref(),
            defaults::DJANGO_TOKEN_TABLE,
        ),
        user,
    };
    for key in &django.secret_key_fallbacks {
        if key.get_ref().is_empty() {
            problems.at(
                key.span(),
                "an empty key in django.secret_key_fallbacks would verify data anyone can sign",
            );
        }
    }
    for backend in django.authentication_backends.iter().flatten() {
        if backend != MODEL_BACKEND {
            problems.warn(
                django.database.span(),
                format!("authentication backend {backend:?}: users of its sessions are resolved with ModelBackend's rules (active users, auth_user's password hash), not its own get_user"),
            );
        }
    }
    if raw.csrf.use_sessions.as_ref().is_some_and(|u| *u.get_ref())
        && raw
            .csrf
            .enforce
            .as_ref()
            .is_some_and(|e| e.get_ref() == "always")
    {
        problems.anywhere("csrf.use_sessions reads the secret of signed-in users' sessions only: use it with csrf.enforce = \"authenticated\" (DRF's rule)");
    }
    let settings = DjangoSettings {
        database: django.database.get_ref().clone(),
        database_ca_file: django
            .database_ca_file
            .as_ref()
            .and_then(|file| ca_file(problems, file, base, "django.database_ca_file")),
        secret_key,
        secret_key_fallbacks: django
            .secret_key_fallbacks
            .iter()
            .map(|key| key.get_ref().as_bytes().to_vec())
            .collect(),
        tables,
        authentication_backends: django.authentication_backends.clone().unwrap_or_else(|| {
            defaults::DJANGO_AUTHENTICATION_BACKENDS
                .iter()
                .map(|backend| backend.to_string())
                .collect()
        }),
        timeout: duration(problems, django.timeout.as_ref(), defaults::DJANGO_TIMEOUT),
        cache_ttl: duration(
            problems,
            django.cache_ttl.as_ref(),
            defaults::DJANGO_CACHE_TTL,
        ),
        negative_cache_ttl: duration(
            problems,
            django.negative_cache_ttl.as_ref(),
            defaults::DJANGO_NEGATIVE_CACHE_TTL,
        ),
        cache_capacity: django
            .cache_size
            .as_ref()
            .map_or(defaults::DJANGO_CACHE_SIZE, |s| *s.get_ref()),
    };
    match DjangoConfig::new(settings) {
        Ok(config) => Some(config),
        Err(why) => {
            problems.at(django.database.span(), format!("django.{why}"));
            None
        }
    }
}

/// With Django owning the sessions, the gateway's sign-in and session
/// lifetimes would be settings that silently do nothing: refuse them.
fn refuse_own_sessions(problems: &mut Problems, raw: &RawConfig) {
    const SIGN_IN: &str = "users sign in through Django with session.store = \"django\": the gateway's own sign-in ([[users]], session.users_file, [login]) is off";
    if !raw.users.is_empty() {
        problems.anywhere(SIGN_IN);
    }
    if let Some(file) = &raw.session.users_file {
        problems.at(file.span(), SIGN_IN);
    }
    let login = &raw.login;
    if login.redirect_browsers.is_some()
        || login.max_failures.is_some()
        || login.failure_window.is_some()
    {
        problems.anywhere(SIGN_IN);
    }
    const LIFETIME: &str = "Django decides when its sessions end (SESSION_COOKIE_AGE); remove this with session.store = \"django\"";
    for setting in [&raw.session.ttl, &raw.session.max_age]
        .into_iter()
        .flatten()
    {
        problems.at(setting.span(), LIFETIME);
    }
    if raw.session.sliding.is_some() {
        problems.anywhere(format!("session.sliding: {LIFETIME}"));
    }
}

fn table(problems: &mut Problems, value: Option<&Spanned<String>>, default: &str) -> String {
    let Some(value) = value else {
        return default.to_string();
    };
    if !is_sql_identifier(value.get_ref()) {
        problems.at(
            value.span(),
            format!(
                "{:?} is not a table or column name (letters, digits and _, optionally schema.name)",
                value.get_ref()
            ),
        );
    }
    value.get_ref().clone()
}

/// `SECRET_KEY` from exactly one of `secret_key`, `secret_key_file` and
/// `secret_key_env`.
fn secret_key(problems: &mut Problems, django: &RawDjango, base: &Path) -> Vec<u8> {
    let sources = [
        django.secret_key.as_ref(),
        django.secret_key_file.as_ref(),
        django.secret_key_env.as_ref(),
    ];
    let given: Vec<&Spanned<String>> = sources.iter().flatten().copied().collect();
    if given.len() != 1 {
        let span = given.get(1).map_or(0..0, |s| s.span());
        problems.at(
            span,
            "django needs exactly one of secret_key, secret_key_file and secret_key_env",
        );
        return Vec::new();
    }
    let key = if let Some(inline) = &django.secret_key {
        Ok(inline.get_ref().clone())
    } else if let Some(file) = &django.secret_key_file {
        let path = base.join(file.get_ref());
        std::fs::read_to_string(&path)
            .map(|text| {
                let text = text.strip_suffix('\n').unwrap_or(&text);
                text.strip_suffix('\r').unwrap_or(text).to_string()
            })
            .map_err(|e| {
                (
                    file.span(),
                    format!(
                        "cannot read django.secret_key_file {:?}: {e}",
                        path.display()
                    ),
                )
            })
    } else if let Some(var) = &django.secret_key_env {
        std::env::var(var.get_ref()).map_err(|_| {
            (
                var.span(),
                format!(
                    "django.secret_key_env names {:?}, which is not set",
                    var.get_ref()
                ),
            )
        })
    } else {
        Ok(String::new())
    };
    match key {
        Ok(key) if !key.is_empty() => key.into_bytes(),
        Ok(_) => {
            problems.at(given[0].span(), "the Django SECRET_KEY must not be empty");
            Vec::new()
        }
        Err((span, message)) => {
            problems.at(span, message);
            Vec::new()
        }
    }
}
