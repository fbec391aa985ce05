//! API tokens in Redis (`POST /tokens`): one key per token,
//! `<prefix>token:<digest of its key>`, apart from every session key (a
//! session id never contains ':'), so no cookie can name a token; and
//! `token:<digest>` in the user's set beside their session ids, so
//! revoking a user revokes their tokens too. Not cached locally: a
//! revocation on any replica counts at once.

use std::time::SystemTime;

use super::RedisStore;
use crate::session::{Session, SessionId, StoreError};

impl RedisStore {
    fn token_key(&self, digest: &SessionId) -> String {
        format!("{}token:{}", self.inner.prefix, digest.as_str())
    }

    /// The user of the token whose key has `digest`, if it is live.
    pub async fn token(&self, digest: &SessionId) -> Result<Option<Session>, StoreError> {
        let found = self.fetch_record(self.token_key(digest)).await?;
        Ok(found.filter(|user| !user.is_expired(SystemTime::now())))
    }

    pub async fn insert_token(&self, digest: &SessionId, user: &Session) -> Result<(), StoreError> {
        self.write_record(self.token_key(digest), token_member(digest), user)
            .await
    }

    /// Revokes a token; `false` when there was none.
    pub async fn remove_token(&self, digest: &SessionId) -> Result<bool, StoreError> {
        self.remove_record(self.token_key(digest), token_member(digest))
            .await
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
