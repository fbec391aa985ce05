//! PostgreSQL through tokio-postgres: one pipelined connection, statements
//! prepared once, reconnected (and re-prepared) after a failure; TLS with
//! rustls for `sslmode=require`.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Statement};

use super::{unavailable, Queries, SessionRow, UserRow};
use crate::session::django::settings::DjangoSettings;
use crate::session::django::tls::RustlsConnect;
use crate::session::StoreError;

/// PostgreSQL through tokio-postgres: one connection (it pipelines
/// concurrent queries), its statements prepared once, reconnected on the
/// next call after it breaks.
pub struct Postgres {
    config: tokio_postgres::Config,
    connected: ArcSwapOption<Connected>,
    /// Only one task reconnects at a time.
    connecting: tokio::sync::Mutex<()>,
    /// `sslmode=require`: verified TLS; otherwise plain.
    tls: Option<RustlsConnect>,
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

/// A PostgreSQL URL and its TLS, checked when the config is compiled.
#[derive(Clone)]
pub struct PostgresTarget {
    config: tokio_postgres::Config,
    tls: Option<RustlsConnect>,
}

impl PostgresTarget {
    /// Checks `url` and the TLS settings.
    pub(super) fn parse(url: &str, settings: &DjangoSettings) -> Result<PostgresTarget, String> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| format!("database: not a PostgreSQL URL: {e}"))?;
        // sslmode=require is TLS with the certificate and host name
        // verified; disable and prefer (the default) are plain, as
        // prefer without verification would protect from nothing.
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => {
                let tls =
                    crate::tls::client::client_config(settings.database_ca_file.as_ref(), true)
                        .map_err(|e| format!("database_ca_file: {e}"))?;
                Some(RustlsConnect(tls))
            }
            _ => {
                if settings.database_ca_file.is_some() {
                    return Err("database_ca_file is for sslmode=require: add ?sslmode=require to the database URL".into());
                }
                None
            }
        };
        Ok(PostgresTarget { config, tls })
    }
}

impl Postgres {
    /// The connections to `target`; connects nothing yet.
    pub(super) fn open(target: &PostgresTarget, settings: &DjangoSettings) -> Postgres {
        Postgres {
            config: target.config.clone(),
            connected: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(()),
            tls: target.tls.clone(),
            queries: Queries::new(
                &settings.tables,
                "EXTRACT(EPOCH FROM s.expire_date)::float8",
            ),
            timeout: settings.timeout,
        }
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Connected, with every query prepared (a wrong table or column
    /// fails here).
    pub(super) async fn ready(&self) -> Result<(), StoreError> {
        self.connection().await.map(drop)
    }

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

    pub(super) async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
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

    /// Prepared per call (one more round trip): the answer is cached by
    /// the store, and a project without DRF's token table stays ready.
    pub(super) async fn token_user_id(&self, key: &str) -> Result<Option<String>, StoreError> {
        let connected = self.connection().await?;
        let row = connected
            .client
            .query_opt(self.queries.token_user.as_str(), &[&key])
            .await
            .map_err(|e| self.failed(e))?;
        row.map(|row| row.try_get(0).map_err(unavailable))
            .transpose()
    }

    /// `SELECT COUNT(*) ... $1` for the query `pick` names (prepared per
    /// call, like the token query).
    pub(super) async fn count(
        &self,
        pick: fn(&Queries) -> &String,
        value: &str,
    ) -> Result<i64, StoreError> {
        let connected = self.connection().await?;
        let row = connected
            .client
            .query_one(pick(&self.queries).as_str(), &[&value])
            .await
            .map_err(|e| self.failed(e))?;
        row.try_get(0).map_err(unavailable)
    }

    pub(super) async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
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
