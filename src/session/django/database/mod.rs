//! Read-only queries against a Django project's database, SQLite or
//! PostgreSQL: one session row, and one user with the names of its groups
//! and its permissions as `user.get_all_permissions()` lists them. Every
//! call is bounded by `[django] timeout`; a failure is `StoreError`, which
//! protected routes answer with 503.

mod postgres;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use postgres::{Postgres, PostgresTarget};
pub use sqlite::Sqlite;

use super::settings::{DjangoSettings, DjangoTables};
use crate::session::StoreError;

/// A `django_session` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub data: String,
    /// `expire_date` as Unix seconds.
    pub expires_at: f64,
}

/// A user row with what Django derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub username: String,
    /// The password hash, for `_auth_user_hash`.
    pub password: String,
    pub active: bool,
    pub staff: bool,
    pub superuser: bool,
    /// Group names.
    pub groups: Vec<String>,
    /// `app_label.codename`: user and group permissions, or every
    /// permission for a superuser (as `ModelBackend` gives them).
    pub permissions: Vec<String>,
}

/// True for `name` or `schema.name` made of ASCII letters, digits and `_`
/// (not starting with a digit): the only table names the config accepts,
/// so they can be quoted into SQL safely.
pub fn is_sql_identifier(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn quoted(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{part}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// The SQL, built once from the table names; `$1` is the key or user id
/// (SQLite reads `$1` as one named parameter, however often it appears).
/// Every column is qualified by its table, so a misnamed one is an error,
/// never (as SQLite would read a lone `"name"`) a string literal.
struct Queries {
    /// The `expire_date` column alone, to check its type.
    expiry_column: String,
    session: String,
    user: String,
    groups: String,
    permissions: String,
    all_permissions: String,
    /// The user a DRF token belongs to. Not in `all()`: a project without
    /// `rest_framework.authtoken` is still ready; prepared on first use.
    token_user: String,
    /// Whether simplejwt's blacklist holds a `jti` (likewise not in `all()`).
    blacklisted: String,
}

impl Queries {
    fn new(tables: &DjangoTables, expiry_epoch: &str) -> Queries {
        let session = quoted(&tables.session);
        let user = quoted(&tables.user);
        let username = quoted(&tables.username_column);
        let user_groups = quoted(&tables.user_groups);
        let user_permissions = quoted(&tables.user_permissions);
        let user_column = quoted(&tables.user_column);
        let permission = "SELECT ct.app_label || '.' || p.codename FROM auth_permission p \
             JOIN django_content_type ct ON ct.id = p.content_type_id";
        Queries {
            expiry_column: format!("SELECT s.expire_date FROM {session} s WHERE 1 = 0"),
            session: format!(
                "SELECT s.session_data, {expiry_epoch} FROM {session} s WHERE s.session_key = $1"
            ),
            user: format!(
                "SELECT u.{username}, u.password, u.is_active, u.is_staff, u.is_superuser \
                 FROM {user} u WHERE u.id = $1"
            ),
            groups: format!(
                "SELECT g.name FROM auth_group g JOIN {user_groups} ug ON ug.group_id = g.id \
                 WHERE ug.{user_column} = $1 ORDER BY g.name"
            ),
            permissions: format!(
                "{permission} WHERE p.id IN \
                 (SELECT up.permission_id FROM {user_permissions} up WHERE up.{user_column} = $1) \
                 OR p.id IN (SELECT gp.permission_id FROM auth_group_permissions gp \
                 JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.{user_column} = $1) \
                 ORDER BY 1"
            ),
            all_permissions: format!("{permission} ORDER BY 1"),
            blacklisted: "SELECT COUNT(*) FROM token_blacklist_blacklistedtoken b \
                 JOIN token_blacklist_outstandingtoken o ON o.id = b.token_id WHERE o.jti = $1"
                .into(),
            token_user: format!(
                "SELECT CAST(t.user_id AS TEXT) FROM {} t WHERE t.key = $1",
                quoted(&tables.token)
            ),
        }
    }

    fn all(&self) -> [&str; 6] {
        [
            &self.expiry_column,
            &self.session,
            &self.user,
            &self.groups,
            &self.permissions,
            &self.all_permissions,
        ]
    }
}

/// The Django database named by `[django] database`.
pub enum Database {
    Sqlite(Sqlite),
    // Boxed: the connection config is large, and there is one per store.
    Postgres(Box<Postgres>),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Database::Sqlite(_) => "Database::Sqlite",
            Database::Postgres(_) => "Database::Postgres",
        })
    }
}

/// Where `[django] database` points, checked when the config is compiled
/// (URL, TLS trust): opening the database from it cannot fail.
#[derive(Clone)]
pub enum Target {
    /// The absolute path of a SQLite file.
    Sqlite(String),
    Postgres(Box<PostgresTarget>),
}

impl Target {
    /// The target `settings.database` names; `Err` says what is wrong.
    pub fn parse(settings: &DjangoSettings) -> Result<Target, String> {
        let url = settings.database.as_str();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "database {url:?}: a SQLite URL needs an absolute path, sqlite:///path/db.sqlite3"
                ));
            }
            return Ok(Target::Sqlite(path.to_string()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(Box::new(PostgresTarget::parse(
                url, settings,
            )?)));
        }
        Err(format!(
            "database {url:?} is neither sqlite:///path nor postgres://..."
        ))
    }
}

impl Database {
    /// Prepares the connections to `target` (opened on first use, so the
    /// gateway starts while the database is still coming up).
    pub fn open(target: &Target, settings: &DjangoSettings) -> Database {
        match target {
            Target::Sqlite(path) => {
                let queries = Queries::new(
                    &settings.tables,
                    "(julianday(s.expire_date) - 2440587.5) * 86400.0",
                );
                Database::Sqlite(Sqlite::new(path, queries, settings.timeout))
            }
            Target::Postgres(target) => {
                Database::Postgres(Box::new(Postgres::open(target, settings)))
            }
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            Database::Sqlite(db) => db.timeout(),
            Database::Postgres(db) => db.timeout(),
        }
    }

    /// `call`, bounded by the store's timeout. It comes boxed: a database
    /// call's future is about 6.5 KiB (tokio-postgres), and every future
    /// that awaits the store inline would carry a slot that large, and copy
    /// it on each request, whatever the store.
    async fn bounded<T>(
        &self,
        call: Pin<Box<impl Future<Output = Result<T, StoreError>>>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout(), call)
            .await
            .unwrap_or(Err(StoreError::Timeout))
    }

    /// The row for session `key`, expired or not.
    pub async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        self.bounded(Box::pin(async {
            match self {
                Database::Sqlite(db) => db.session(key).await,
                Database::Postgres(db) => db.session(key).await,
            }
        }))
        .await
    }

    /// User `id` (the session's `_auth_user_id`) with groups and permissions.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        self.bounded(Box::pin(async {
            match self {
                Database::Sqlite(db) => db.user(id).await,
                Database::Postgres(db) => db.user(id).await,
            }
        }))
        .await
    }

    /// The id of the user DRF token `key` belongs to (`Token.objects.get(key=...)`).
    pub async fn token_user_id(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.bounded(Box::pin(async {
            match self {
                Database::Sqlite(db) => db.token_user_id(key).await,
                Database::Postgres(db) => db.token_user_id(key).await,
            }
        }))
        .await
    }

    /// Whether simplejwt's blacklist holds a token with this `jti`.
    pub async fn jti_blacklisted(&self, jti: &str) -> Result<bool, StoreError> {
        self.bounded(Box::pin(async {
            match self {
                Database::Sqlite(db) => db.count(|q| &q.blacklisted, jti).await,
                Database::Postgres(db) => db.count(|q| &q.blacklisted, jti).await,
            }
        }))
        .await
        .map(|count| count > 0)
    }

    /// `Ok` when every query prepares against the database now (`/readyz`):
    /// it is up, and the configured tables and columns exist.
    pub async fn ready(&self) -> Result<(), String> {
        let probe = self.bounded(Box::pin(async {
            match self {
                Database::Sqlite(db) => db.ready().await,
                Database::Postgres(db) => db.ready().await,
            }
        }));
        probe.await.map_err(|e| e.to_string())
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for good in ["django_session", "auth_user", "accounts.user", "_x1"] {
            assert!(is_sql_identifier(good), "{good}");
        }
        for bad in ["", "1x", "a;drop", "a b", "a.b.c", "\"x\"", "a.", ".a"] {
            assert!(!is_sql_identifier(bad), "{bad}");
        }
        assert_eq!(quoted("accounts.user"), "\"accounts\".\"user\"");
    }

    #[test]
    fn database_urls() {
        let settings = |url: &str| DjangoSettings {
            database: url.into(),
            secret_key: b"k".to_vec(),
            secret_key_fallbacks: Vec::new(),
            tables: DjangoTables {
                session: "django_session".into(),
                user: "auth_user".into(),
                username_column: "username".into(),
                user_groups: "auth_user_groups".into(),
                user_permissions: "auth_user_user_permissions".into(),
                user_column: "user_id".into(),
                token: "authtoken_token".into(),
            },
            authentication_backends: Vec::new(),
            timeout: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(1),
            negative_cache_ttl: Duration::from_secs(1),
            cache_capacity: 0,
            database_ca_file: None,
        };
        for good in [
            "sqlite:///srv/app/db.sqlite3",
            "postgres://app:secret@127.0.0.1:5432/app",
            "postgresql://app@db/app?connect_timeout=2",
            "postgres://app@/app?host=/run/postgresql",
            "postgres://app@db.internal/app?sslmode=require",
        ] {
            assert!(Target::parse(&settings(good)).is_ok(), "{good}");
        }
        for bad in [
            "sqlite://relative.db",
            "mysql://x",
            "postgres://app@db:notaport/app",
        ] {
            assert!(Target::parse(&settings(bad)).is_err(), "{bad}");
        }
    }
}
