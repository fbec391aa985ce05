//! `[django]`: where a Django project keeps its sessions and users, and the
//! keys it signs them with, as the config compiler resolved them.

use std::time::Duration;

use crate::tls::client::CaFile;

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
    /// DRF's token table (`rest_framework.authtoken`): `key`, `user_id`.
    pub token: String,
}

impl DjangoTables {
    /// Django's names for a user model's many-to-many tables, from its
    /// table: `<user>_groups` and `<user>_user_permissions`.
    pub fn many_to_many(user: &str) -> (String, String) {
        (format!("{user}_groups"), format!("{user}_user_permissions"))
    }
}

/// `[session] store = "django"`.
#[derive(Clone, PartialEq, Eq)]
pub struct DjangoSettings {
    /// `sqlite:///path/to/db.sqlite3` or `postgres://user:pass@host:port/db`.
    pub database: String,
    /// PEM of the CA that signed PostgreSQL's certificate, for
    /// `sslmode=require` with a private CA (else the system's roots).
    pub database_ca_file: Option<CaFile>,
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

impl DjangoSettings {
    /// The `[django]` keys set differently here than in `running`.
    pub fn changed_keys(&self, running: &DjangoSettings) -> Vec<&'static str> {
        // Taken apart without `..`: a new field must be compared here.
        let DjangoSettings {
            database,
            database_ca_file,
            secret_key,
            secret_key_fallbacks,
            tables:
                DjangoTables {
                    session,
                    user,
                    username_column,
                    user_groups,
                    user_permissions,
                    user_column,
                    token,
                },
            authentication_backends,
            timeout,
            cache_ttl,
            negative_cache_ttl,
            cache_capacity,
        } = self;
        let theirs = &running.tables;
        [
            ("django.database", *database != running.database),
            (
                "django.database_ca_file",
                *database_ca_file != running.database_ca_file,
            ),
            ("django.secret_key", *secret_key != running.secret_key),
            (
                "django.secret_key_fallbacks",
                *secret_key_fallbacks != running.secret_key_fallbacks,
            ),
            ("django.session_table", *session != theirs.session),
            ("django.user_table", *user != theirs.user),
            (
                "django.username_column",
                *username_column != theirs.username_column,
            ),
            (
                "django.user_groups_table",
                *user_groups != theirs.user_groups,
            ),
            (
                "django.user_permissions_table",
                *user_permissions != theirs.user_permissions,
            ),
            ("django.user_column", *user_column != theirs.user_column),
            ("django.token_table", *token != theirs.token),
            (
                "django.authentication_backends",
                *authentication_backends != running.authentication_backends,
            ),
            ("django.timeout", *timeout != running.timeout),
            ("django.cache_ttl", *cache_ttl != running.cache_ttl),
            (
                "django.negative_cache_ttl",
                *negative_cache_ttl != running.negative_cache_ttl,
            ),
            (
                "django.cache_size",
                *cache_capacity != running.cache_capacity,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// The Django store's settings with the database target checked when the
/// config is compiled, so that starting the store cannot fail on a setting.
#[derive(Clone)]
pub struct DjangoConfig {
    pub settings: DjangoSettings,
    pub(crate) target: super::database::Target,
}

impl DjangoConfig {
    /// Checks the database URL and TLS; `Err` says what is wrong.
    pub fn new(settings: DjangoSettings) -> Result<DjangoConfig, String> {
        let target = super::database::Target::parse(&settings)?;
        Ok(DjangoConfig { settings, target })
    }
}

/// Two configs are the same when their settings are: the target is only
/// derived from them.
impl PartialEq for DjangoConfig {
    fn eq(&self, other: &DjangoConfig) -> bool {
        self.settings == other.settings
    }
}

impl Eq for DjangoConfig {}

impl std::fmt::Debug for DjangoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings.fmt(f)
    }
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
        let (groups, permissions) = DjangoTables::many_to_many("accounts_user");
        assert_eq!(groups, "accounts_user_groups");
        assert_eq!(permissions, "accounts_user_user_permissions");
    }

    fn django() -> DjangoSettings {
        let (user_groups, user_permissions) = DjangoTables::many_to_many("auth_user");
        DjangoSettings {
            database: "sqlite:///db".into(),
            database_ca_file: None,
            secret_key: b"k".to_vec(),
            secret_key_fallbacks: Vec::new(),
            tables: DjangoTables {
                session: "django_session".into(),
                user: "auth_user".into(),
                username_column: "username".into(),
                user_groups,
                user_permissions,
                user_column: "user_id".into(),
                token: "authtoken_token".into(),
            },
            authentication_backends: Vec::new(),
            timeout: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(1),
            negative_cache_ttl: Duration::from_secs(1),
            cache_capacity: 1,
        }
    }

    #[test]
    fn every_field_is_named_when_it_changes() {
        type Change = fn(&mut DjangoSettings);
        let cases: [(Change, &str); 16] = [
            (|d| d.database = "sqlite:///other".into(), "django.database"),
            (
                |d| {
                    d.database_ca_file = Some(CaFile {
                        path: "ca.pem".into(),
                        pem: std::sync::Arc::from(&b"pem"[..]),
                    })
                },
                "django.database_ca_file",
            ),
            (|d| d.secret_key = b"j".to_vec(), "django.secret_key"),
            (
                |d| d.secret_key_fallbacks = vec![b"old".to_vec()],
                "django.secret_key_fallbacks",
            ),
            (|d| d.tables.session = "s".into(), "django.session_table"),
            (|d| d.tables.user = "u".into(), "django.user_table"),
            (
                |d| d.tables.username_column = "email".into(),
                "django.username_column",
            ),
            (
                |d| d.tables.user_groups = "g".into(),
                "django.user_groups_table",
            ),
            (
                |d| d.tables.user_permissions = "p".into(),
                "django.user_permissions_table",
            ),
            (
                |d| d.tables.user_column = "account_id".into(),
                "django.user_column",
            ),
            (|d| d.tables.token = "t".into(), "django.token_table"),
            (
                |d| d.authentication_backends = vec!["b".into()],
                "django.authentication_backends",
            ),
            (|d| d.timeout = Duration::from_secs(2), "django.timeout"),
            (|d| d.cache_ttl = Duration::from_secs(2), "django.cache_ttl"),
            (
                |d| d.negative_cache_ttl = Duration::from_secs(2),
                "django.negative_cache_ttl",
            ),
            (|d| d.cache_capacity = 2, "django.cache_size"),
        ];
        for (change, key) in cases {
            let mut next = django();
            change(&mut next);
            assert_eq!(next.changed_keys(&django()), [key]);
        }
        assert!(django().changed_keys(&django()).is_empty());
    }
}
