//! Read-only queries against a Django project's database, SQLite or
//! PostgreSQL: one session row, and one user with the names of its groups
//! and its permissions as `user.get_all_permissions()` lists them. Every
//! call is bounded by `[django] timeout`; a failure is `StoreError`, which
//! protected routes answer with 503.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Statement};

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

impl Database {
    /// Checks the URL and prepares the connections (opened on first use,
    /// so the gateway starts while the database is still coming up).
    pub fn new(settings: &DjangoSettings) -> Result<Database, String> {
        let url = settings.database.as_str();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "database {url:?}: a SQLite URL needs an absolute path, sqlite:///path/db.sqlite3"
                ));
            }
            let queries = Queries::new(
                &settings.tables,
                "(julianday(s.expire_date) - 2440587.5) * 86400.0",
            );
            return Ok(Database::Sqlite(Sqlite::new(
                path,
                queries,
                settings.timeout,
            )));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let config: tokio_postgres::Config = url
                .parse()
                .map_err(|e| format!("database: not a PostgreSQL URL: {e}"))?;
            // sslmode=require is TLS with the certificate and host name
            // verified; disable and prefer (the default) are plain, as
            // prefer without verification would protect from nothing.
            let tls = match config.get_ssl_mode() {
                tokio_postgres::config::SslMode::Require => Some(super::tls::RustlsConnect(
                    crate::tls::client::client_config(settings.database_ca_file.as_deref(), true)
                        .map_err(|e| format!("database_ca_file: {e}"))?,
                )),
                _ => {
                    if settings.database_ca_file.is_some() {
                        return Err("database_ca_file is for sslmode=require: add ?sslmode=require to the database URL".into());
                    }
                    None
                }
            };
            return Ok(Database::Postgres(Box::new(Postgres {
                config,
                connected: ArcSwapOption::empty(),
                connecting: tokio::sync::Mutex::new(()),
                tls,
                queries: Queries::new(
                    &settings.tables,
                    "EXTRACT(EPOCH FROM s.expire_date)::float8",
                ),
                timeout: settings.timeout,
            })));
        }
        Err(format!(
            "database {url:?} is neither sqlite:///path nor postgres://..."
        ))
    }

    fn timeout(&self) -> Duration {
        match self {
            Database::Sqlite(db) => db.pool.timeout,
            Database::Postgres(db) => db.timeout,
        }
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout(), call)
            .await
            .unwrap_or(Err(StoreError::Timeout))
    }

    /// The row for session `key`, expired or not.
    pub async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        self.bounded(async {
            match self {
                Database::Sqlite(db) => db.session(key).await,
                Database::Postgres(db) => db.session(key).await,
            }
        })
        .await
    }

    /// User `id` (the session's `_auth_user_id`) with groups and permissions.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        self.bounded(async {
            match self {
                Database::Sqlite(db) => db.user(id).await,
                Database::Postgres(db) => db.user(id).await,
            }
        })
        .await
    }

    /// `Ok` when every query prepares against the database now (`/readyz`):
    /// it is up, and the configured tables and columns exist.
    pub async fn ready(&self) -> Result<(), String> {
        let probe = self.bounded(async {
            match self {
                Database::Sqlite(db) => db.ready().await,
                Database::Postgres(db) => db.connection().await.map(drop),
            }
        });
        probe.await.map_err(|e| e.to_string())
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// SQLite through rusqlite, read-only, on the blocking pool (opening a
/// file and querying both block): a few idle connections are kept.
pub struct Sqlite {
    pool: Arc<SqlitePool>,
}

struct SqlitePool {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
    queries: Queries,
    timeout: Duration,
}

/// Idle SQLite connections kept open.
const SQLITE_IDLE: usize = 4;

impl SqlitePool {
    fn checkout(&self) -> rusqlite::Result<rusqlite::Connection> {
        if let Some(connection) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(connection);
        }
        use rusqlite::config::DbConfig;
        use rusqlite::OpenFlags;
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A "name" that is no column must be an error, not a string.
        connection.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
        connection.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
        // Wait for Django's writers rather than failing at once.
        connection.busy_timeout(self.timeout)?;
        Ok(connection)
    }

    fn checkin(&self, connection: rusqlite::Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < SQLITE_IDLE {
                idle.push(connection);
            }
        }
    }
}

impl Sqlite {
    fn new(path: &str, queries: Queries, timeout: Duration) -> Sqlite {
        Sqlite {
            pool: Arc::new(SqlitePool {
                path: path.to_string(),
                idle: Mutex::new(Vec::new()),
                queries,
                timeout,
            }),
        }
    }

    /// Runs `work` with a connection on the blocking pool; the connection
    /// goes back to the idle list only when the work succeeded.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection, &Queries) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let connection = pool.checkout()?;
            let result = work(&connection, &pool.queries);
            if result.is_ok() {
                pool.checkin(connection);
            }
            result
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
    }

    /// Every statement prepares: the tables and columns exist.
    async fn ready(&self) -> Result<(), StoreError> {
        self.with(|connection, queries| {
            for sql in queries.all() {
                connection.prepare_cached(sql)?;
            }
            Ok(())
        })
        .await
    }

    async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        let key = key.to_string();
        self.with(move |connection, queries| {
            use rusqlite::OptionalExtension;
            connection
                .prepare_cached(&queries.session)?
                .query_row([&key], |row| {
                    Ok(SessionRow {
                        data: row.get(0)?,
                        expires_at: row.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
                    })
                })
                .optional()
        })
        .await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let id = sqlite_user_key(id);
        self.with(move |connection, queries| {
            use rusqlite::OptionalExtension;
            // One read transaction for the three reads: one consistent
            // snapshot, and SQLite locks and re-reads its header once.
            let snapshot = connection.unchecked_transaction()?;
            let Some(mut user) = connection
                .prepare_cached(&queries.user)?
                .query_row([&id], |row| {
                    Ok(UserRow {
                        username: row.get(0)?,
                        password: row.get(1)?,
                        active: row.get(2)?,
                        staff: row.get(3)?,
                        superuser: row.get(4)?,
                        groups: Vec::new(),
                        permissions: Vec::new(),
                    })
                })
                .optional()?
            else {
                return Ok(None);
            };
            let strings = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
                let mut statement = connection.prepare_cached(sql)?;
                let rows = statement.query_map(params, |row| row.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            };
            user.groups = strings(&queries.groups, &[&id])?;
            user.permissions = if user.superuser {
                strings(&queries.all_permissions, &[])?
            } else {
                strings(&queries.permissions, &[&id])?
            };
            snapshot.commit()?;
            Ok(Some(user))
        })
        .await
    }
}

/// PostgreSQL through tokio-postgres: one connection (it pipelines
/// concurrent queries), its statements prepared once, reconnected on the
/// next call after it breaks.
pub struct Postgres {
    config: tokio_postgres::Config,
    connected: ArcSwapOption<Connected>,
    /// Only one task reconnects at a time.
    connecting: tokio::sync::Mutex<()>,
    /// `sslmode=require`: verified TLS; otherwise plain.
    tls: Option<super::tls::RustlsConnect>,
    queries: Queries,
    timeout: Duration,
}

struct Connected {
    client: tokio_postgres::Client,
    session: Statement,
    user: Statement,
    groups: Statement,
    permissions: Statement,
    all_permissions: Statement,
}

/// A user id bound as the type of the user table's primary key.
enum UserId {
    Small(i16),
    Int(i32),
    Big(i64),
    Uuid(uuid::Uuid),
    Text(String),
}

/// The primary key types the PostgreSQL user query binds.
const KEY_TYPES: [Type; 7] = [
    Type::INT2,
    Type::INT4,
    Type::INT8,
    Type::UUID,
    Type::TEXT,
    Type::VARCHAR,
    Type::BPCHAR,
];

impl UserId {
    fn for_column(column: &Type, id: &str) -> Option<UserId> {
        match *column {
            Type::INT2 => id.parse().ok().map(UserId::Small),
            Type::INT4 => id.parse().ok().map(UserId::Int),
            Type::INT8 => id.parse().ok().map(UserId::Big),
            Type::UUID => uuid::Uuid::parse_str(id).ok().map(UserId::Uuid),
            _ => Some(UserId::Text(id.to_string())),
        }
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            UserId::Small(id) => id,
            UserId::Int(id) => id,
            UserId::Big(id) => id,
            UserId::Uuid(id) => id,
            UserId::Text(id) => id,
        }
    }
}

/// `_auth_user_id` as Django's SQLite backend stores that key: a UUID
/// (kept in the session as `str(uuid)`, with dashes) is a 32-digit hex
/// string in the table; any other key is compared as it is.
fn sqlite_user_key(id: &str) -> String {
    match uuid::Uuid::try_parse(id) {
        Ok(uuid) if id.len() == 36 => uuid.simple().to_string(),
        _ => id.to_string(),
    }
}

/// Drives a connection until it ends, and says why it did.
async fn watch<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(error) = connection.await {
        tracing::warn!(%error, "Django database connection ended");
    }
}

impl Postgres {
    /// A failed query: the connection is dropped, so the next call
    /// reconnects and prepares afresh (after a restore or a migration the
    /// old statements would fail for good).
    fn failed(&self, error: tokio_postgres::Error) -> StoreError {
        self.connected.store(None);
        unavailable(error)
    }

    async fn connection(&self) -> Result<Arc<Connected>, StoreError> {
        if let Some(connected) = self.connected.load_full() {
            if !connected.client.is_closed() {
                return Ok(connected);
            }
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(connected) = self.connected.load_full() {
            if !connected.client.is_closed() {
                return Ok(connected);
            }
        }
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) = self
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(unavailable)?;
                tokio::spawn(watch(connection));
                client
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(unavailable)?;
                tokio::spawn(watch(connection));
                client
            }
        };
        let queries = &self.queries;
        let (expiry, session, user, groups, permissions, all_permissions) = tokio::try_join!(
            client.prepare(&queries.expiry_column),
            client.prepare(&queries.session),
            client.prepare(&queries.user),
            client.prepare(&queries.groups),
            client.prepare(&queries.permissions),
            client.prepare(&queries.all_permissions),
        )
        .map_err(unavailable)?;
        let expiry_type = expiry.columns().first().map(|c| c.type_().clone());
        if expiry_type != Some(Type::TIMESTAMPTZ) {
            // Local times read as UTC would keep sessions alive for hours.
            return Err(StoreError::Unavailable(
                "django_session.expire_date is not a timestamp with time zone: Django must run with USE_TZ = True".into(),
            ));
        }
        let connected = Arc::new(Connected {
            client,
            session,
            user,
            groups,
            permissions,
            all_permissions,
        });
        if let Some(id_type) = connected.user.params().first() {
            if !KEY_TYPES.contains(id_type) {
                return Err(StoreError::Unavailable(format!(
                    "the user table's primary key is {id_type}; integer, UUID and text keys are supported"
                )));
            }
        }
        self.connected.store(Some(Arc::clone(&connected)));
        Ok(connected)
    }

    async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        let connected = self.connection().await?;
        let row = connected
            .client
            .query_opt(&connected.session, &[&key])
            .await
            .map_err(|e| self.failed(e))?;
        row.map(|row| {
            Ok(SessionRow {
                data: row.try_get(0).map_err(unavailable)?,
                expires_at: row
                    .try_get::<_, Option<f64>>(1)
                    .map_err(unavailable)?
                    .unwrap_or(0.0),
            })
        })
        .transpose()
    }

    async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let connected = self.connection().await?;
        let Some(id_type) = connected.user.params().first() else {
            return Ok(None);
        };
        let Some(id) = UserId::for_column(id_type, id) else {
            // Not a valid key of that type: no such user.
            return Ok(None);
        };
        let client = &connected.client;
        let bind = [id.as_sql()];
        let Some(row) = client
            .query_opt(&connected.user, &bind)
            .await
            .map_err(|e| self.failed(e))?
        else {
            return Ok(None);
        };
        let superuser: bool = row.try_get(4).map_err(unavailable)?;
        let strings = |rows: Vec<tokio_postgres::Row>| -> Result<Vec<String>, StoreError> {
            rows.iter()
                .map(|r| r.try_get(0).map_err(unavailable))
                .collect()
        };
        // Sent together: tokio-postgres pipelines them on the connection.
        let (groups, permissions) = if superuser {
            tokio::join!(
                client.query(&connected.groups, &bind),
                client.query(&connected.all_permissions, &[])
            )
        } else {
            tokio::join!(
                client.query(&connected.groups, &bind),
                client.query(&connected.permissions, &bind)
            )
        };
        Ok(Some(UserRow {
            username: row.try_get(0).map_err(unavailable)?,
            password: row.try_get(1).map_err(unavailable)?,
            active: row.try_get(2).map_err(unavailable)?,
            staff: row.try_get(3).map_err(unavailable)?,
            superuser,
            groups: strings(groups.map_err(|e| self.failed(e))?)?,
            permissions: strings(permissions.map_err(|e| self.failed(e))?)?,
        }))
    }
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
            tables: DjangoTables::for_user_table("auth_user"),
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
            assert!(Database::new(&settings(good)).is_ok(), "{good}");
        }
        for bad in [
            "sqlite://relative.db",
            "mysql://x",
            "postgres://app@db:notaport/app",
        ] {
            assert!(Database::new(&settings(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sqlite_keys_as_django_stores_them() {
        assert_eq!(
            sqlite_user_key("4f6c9c8e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"),
            "4f6c9c8e1b2a4c3d9e8f0a1b2c3d4e5f"
        );
        assert_eq!(sqlite_user_key("42"), "42");
        assert_eq!(
            sqlite_user_key("4f6c9c8e1b2a4c3d9e8f0a1b2c3d4e5f"),
            "4f6c9c8e1b2a4c3d9e8f0a1b2c3d4e5f"
        );
    }
}
