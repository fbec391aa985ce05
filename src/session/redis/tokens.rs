//! API tokens in Redis (`POST /tokens`): one key per token,
//! `<prefix>token:<digest of its key>`, apart from every session key (a
//! session id never contains ':'), so no cookie can name a token; and
//! `token:<digest>` in the user's set beside their session ids, so
//! revoking a user revokes their tokens too. Not cached locally: a
//! revocation on any replica counts at once.

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
        let ttl_ms = ttl_millis(user.expires_at);
        let user_key = self.user_key(&user.username);
        let mut set = redis::cmd("SET");
        set.arg(self.token_key(digest))
            .arg(schema::encode(user))
            .arg("PX")
            .arg(ttl_ms);
        let mut add = redis::cmd("SADD");
        add.arg(&user_key).arg(token_member(digest));
        // As for sessions: a new set gets the TTL, an existing one only grows.
        let mut expire_new = redis::cmd("PEXPIRE");
        expire_new.arg(&user_key).arg(ttl_ms).arg("NX");
        let mut expire_longer = redis::cmd("PEXPIRE");
        expire_longer.arg(&user_key).arg(ttl_ms).arg("GT");
        self.run_all(vec![set, add, expire_new, expire_longer])
            .await
            .map(drop)
    }

    /// Revokes a token; `false` when there was none.
    pub async fn remove_token(&self, digest: &SessionId) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let key = self.token_key(digest);
        let removed: Option<Vec<u8>> = self
            .bounded(async move {
                redis::cmd("GETDEL")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let Some(raw) = removed else { return Ok(false) };
        if let Ok(user) = schema::decode(&raw) {
            let mut connection = self.connection()?;
            let user_key = self.user_key(&user.username);
            let member = token_member(digest);
            self.bounded(async move {
                redis::cmd("SREM")
                    .arg(user_key)
                    .arg(member)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await?;
        }
        Ok(true)
    }

    /// The key of a `token:<digest>` member of a user's set.
    pub(super) fn token_key_of_member(&self, member: &str) -> Option<String> {
        let digest = SessionId::parse(member.strip_prefix(TOKEN_MEMBER)?)?;
        Some(self.token_key(&digest))
    }
}

/// How a user's set names one of their tokens (a session id has no ':').
const TOKEN_MEMBER: &str = "token:";

fn token_member(digest: &SessionId) -> String {
    format!("{TOKEN_MEMBER}{}", digest.as_str())
}
