//! API tokens in Redis (`POST /tokens`): one key per token,
//! `<prefix>token:<digest of its key>`, apart from every session key (a
//! session id never contains ':'), so no cookie can name a token. Not
//! cached locally: a revocation on any replica counts at once.

use std::time::SystemTime;

use super::{schema, ttl_millis, RedisStore};
use crate::session::{Session, SessionId, StoreError};

impl RedisStore {
    fn token_key(&self, digest: &SessionId) -> String {
        format!("{}token:{}", self.inner.prefix, digest.as_str())
    }

    /// The user of the token whose key has `digest`, if it is live.
    pub async fn token(&self, digest: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut connection = self.connection()?;
        let key = self.token_key(digest);
        let raw: Option<Vec<u8>> = self
            .bounded(async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        match schema::decode(&raw) {
            Ok(user) if !user.is_expired(SystemTime::now()) => Ok(Some(user)),
            Ok(_) => Ok(None),
            Err(error) => {
                tracing::warn!(%error, "a stored API token is unreadable; treated as no token");
                Ok(None)
            }
        }
    }

    pub async fn insert_token(&self, digest: &SessionId, user: &Session) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        let mut set = redis::cmd("SET");
        set.arg(self.token_key(digest))
            .arg(schema::encode(user))
            .arg("PX")
            .arg(ttl_millis(user.expires_at));
        self.bounded(async move { set.query_async::<()>(&mut connection).await })
            .await
    }

    /// Revokes a token; `false` when there was none.
    pub async fn remove_token(&self, digest: &SessionId) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let key = self.token_key(digest);
        let removed: i64 = self
            .bounded(async move {
                redis::cmd("DEL")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }
}
