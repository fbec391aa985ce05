//! SQLite, read-only through rusqlite on the blocking pool: a few idle
//! connections kept, the user, groups and permissions read in one
//! transaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{unavailable, Queries, SessionRow, UserRow};
use crate::session::StoreError;

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
    pub(super) fn timeout(&self) -> Duration {
        self.pool.timeout
    }

    pub(super) fn new(path: &str, queries: Queries, timeout: Duration) -> Sqlite {
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
    pub(super) async fn ready(&self) -> Result<(), StoreError> {
        self.with(|connection, queries| {
            for sql in queries.all() {
                connection.prepare_cached(sql)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
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

    pub(super) async fn token_user_id(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.with(move |connection, queries| {
            use rusqlite::OptionalExtension;
            connection
                .prepare_cached(&queries.token_user)?
                .query_row([&key], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// `SELECT COUNT(*) ... $1` for the query `pick` names.
    pub(super) async fn count(
        &self,
        pick: fn(&Queries) -> &String,
        value: &str,
    ) -> Result<i64, StoreError> {
        let value = value.to_string();
        self.with(move |connection, queries| {
            connection
                .prepare_cached(pick(queries))?
                .query_row([&value], |row| row.get(0))
        })
        .await
    }

    pub(super) async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
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

/// `_auth_user_id` as Django's SQLite backend stores that key: a UUID
/// (kept in the session as `str(uuid)`, with dashes) is a 32-digit hex
/// string in the table; any other key is compared as it is.
fn sqlite_user_key(id: &str) -> String {
    match uuid::Uuid::try_parse(id) {
        Ok(uuid) if id.len() == 36 => uuid.simple().to_string(),
        _ => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
