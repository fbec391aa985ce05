//! `[django]`: where a Django project keeps its sessions and users, and the
//! keys it signs them with, as the config compiler resolved them.

use std::time::Duration;

/// The tables the store reads. Defaults are Django's own names; a custom
/// user model (`AUTH_USER_MODEL = "accounts.User"`) changes the user table
/// and its two many-to-many tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoTables {
    pub session: String,
    pub user: String,
    /// The user model's `USERNAME_FIELD` column.
    pub username_column: String,
    pub user_groups: String,
    pub user_permissions: String,
    /// The column in both many-to-many tables that points at the user.
    pub user_column: String,
}

impl DjangoTables {
    /// Django's names for `auth.User`, or for a custom user table.
    pub fn for_user_table(user: &str) -> DjangoTables {
        DjangoTables {
            session: "django_session".into(),
            user: user.into(),
            username_column: "username".into(),
            user_groups: format!("{user}_groups"),
            user_permissions: format!("{user}_user_permissions"),
            user_column: "user_id".into(),
        }
    }
}

/// `[session] store = "django"`.
#[derive(Clone, PartialEq, Eq)]
pub struct DjangoSettings {
    /// `sqlite:///path/to/db.sqlite3` or `postgres://user:pass@host:port/db`.
    pub database: String,
    /// PEM of the CA that signed PostgreSQL's certificate, for
    /// `sslmode=require` with a private CA (else the system's roots).
    pub database_ca_file: Option<std::path::PathBuf>,
    /// `SECRET_KEY`.
    pub secret_key: Vec<u8>,
    /// `SECRET_KEY_FALLBACKS`, tried in order after `secret_key`.
    pub secret_key_fallbacks: Vec<Vec<u8>>,
    pub tables: DjangoTables,
    /// `AUTHENTICATION_BACKENDS`: a session logged in through another
    /// backend is anonymous, as in Django.
    pub authentication_backends: Vec<String>,
    /// Longest any database call may take before it counts as a failure.
    pub timeout: Duration,
    /// How long a resolved session is reused before the database is asked
    /// again (so a logout or password change takes effect within it).
    pub cache_ttl: Duration,
    /// How long "no such session" is reused.
    pub negative_cache_ttl: Duration,
    pub cache_capacity: u64,
}

impl std::fmt::Debug for DjangoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys, nor a password in the database URL.
        f.debug_struct("DjangoSettings")
            .field("database", &redact_password(&self.database))
            .field("secret_key_fallbacks", &self.secret_key_fallbacks.len())
            .field("tables", &self.tables)
            .field("authentication_backends", &self.authentication_backends)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://app:hunter2@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(redact_password("postgres://db/app"), "postgres://db/app");
        assert_eq!(
            redact_password("sqlite:///srv/db.sqlite3"),
            "sqlite:///srv/db.sqlite3"
        );
    }

    #[test]
    fn custom_user_tables_follow_djangos_naming() {
        let tables = DjangoTables::for_user_table("accounts_user");
        assert_eq!(tables.user_groups, "accounts_user_groups");
        assert_eq!(tables.user_permissions, "accounts_user_user_permissions");
    }
}
