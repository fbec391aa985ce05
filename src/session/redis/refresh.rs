//! Replacing a session in Redis while it is live, for the OpenID
//! provider's refresh (`crate::oidc::refresh`): the new record only where
//! the old one still is (`SET … XX`: a session ended meanwhile stays
//! ended), and a claim key, `<prefix>refresh:<id>`, that lets one replica
//! at a time spend the session's refresh token (providers rotate refresh
//! tokens: a second refresh with the same one is refused, and would end
//! the session). Sliding renewal writes only over the record it read
//! (compare-and-set), so it never puts back a refresh token the provider
//! has already rotated away.

use std::time::Duration;

use super::{ttl_millis, RedisStore};
use crate::session::{schema, Session, SessionId, StoreError};

/// Writes `ARGV[2]` (TTL `ARGV[3]` ms) only while the key still holds
/// exactly `ARGV[1]`: 1 when written.
const COMPARE_AND_SET: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";

/// Deletes the claim only while it is still ours (`ARGV[1]`): a claim that
/// outlived its hold and was taken by another replica is not ours to drop.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) end return 0";

/// One replica's right to refresh one session, until released or `hold`
/// has passed.
#[derive(Debug)]
pub struct RedisClaim {
    key: String,
    token: String,
}

impl RedisStore {
    fn claim_key(&self, id: &SessionId) -> String {
        // ':' never occurs in a session id: no cookie can name this key.
        format!("{}refresh:{}", self.inner.prefix, id.as_str())
    }

    /// The longest one call may take (`redis_timeout`).
    pub fn call_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The session under `id` read from Redis itself, past the local cache
    /// (which may still hold the record another replica just replaced).
    pub async fn get_uncached(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.fetch(id).await
    }

    /// Writes `session` over the live record of `id`; `false` when there is
    /// none any more (signed out, revoked, expired).
    pub async fn replace(&self, id: &SessionId, session: &Session) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let mut set = redis::cmd("SET");
        set.arg(self.key(id))
            .arg(schema::encode(session))
            .arg("PX")
            .arg(ttl_millis(session.expires_at))
            .arg("XX");
        let written: Option<String> = self
            .bounded(async move { set.query_async(&mut connection).await })
            .await?;
        self.inner.cache.remove(id);
        Ok(written.is_some())
    }

    /// Writes `renewed` under `id` only while Redis still holds `read`, the
    /// record it was made from; `false` when something else wrote first.
    pub(super) async fn compare_and_set(
        &self,
        id: &SessionId,
        read: &[u8],
        renewed: &Session,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let mut eval = redis::cmd("EVAL");
        eval.arg(COMPARE_AND_SET)
            .arg(1)
            .arg(self.key(id))
            .arg(read)
            .arg(schema::encode(renewed))
            .arg(ttl_millis(renewed.expires_at));
        let written: i64 = self
            .bounded(async move { eval.query_async(&mut connection).await })
            .await?;
        Ok(written == 1)
    }

    /// Takes the claim to refresh `id` for at most `hold`; `None` while
    /// another replica holds it.
    pub async fn claim_refresh(
        &self,
        id: &SessionId,
        hold: Duration,
    ) -> Result<Option<RedisClaim>, StoreError> {
        let claim = RedisClaim {
            key: self.claim_key(id),
            token: SessionId::generate().as_str().to_string(),
        };
        let mut connection = self.connection()?;
        let mut set = redis::cmd("SET");
        set.arg(&claim.key)
            .arg(&claim.token)
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX).max(1));
        let taken: Option<String> = self
            .bounded(async move { set.query_async(&mut connection).await })
            .await?;
        Ok(taken.map(|_| claim))
    }

    /// Whether another replica's claim on `id` is still held.
    pub async fn refresh_claimed(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let key = self.claim_key(id);
        let exists: i64 = self
            .bounded(async move {
                redis::cmd("EXISTS")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(exists == 1)
    }

    /// Lets go of a claim (a failure only leaves it to expire).
    pub async fn release_refresh(&self, claim: RedisClaim) {
        let released = async {
            let mut connection = self.connection()?;
            let mut eval = redis::cmd("EVAL");
            eval.arg(RELEASE).arg(1).arg(&claim.key).arg(&claim.token);
            self.bounded(async move { eval.query_async::<i64>(&mut connection).await })
                .await
        };
        if let Err(error) = released.await {
            tracing::warn!(%error, "session store: a refresh claim was not released; it expires by itself");
        }
    }
}
