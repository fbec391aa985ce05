//! Users named by an API credential rather than a session: the owner of a
//! DRF token (`authtoken_token`) and the user a simplejwt token's id
//! claim names, resolved with the same rules as a session's user (active,
//! groups, permissions) and cached like sessions.

use std::sync::Arc;
use std::time::SystemTime;

use super::{user_session, DjangoStore};
use crate::session::{CredentialUser, Session, SessionId, StoreError, MAX_SESSION_TTL};

impl DjangoStore {
    /// DRF's `TokenAuthentication.authenticate_credentials(key)`.
    pub async fn token_user(&self, key: &str) -> Result<CredentialUser, StoreError> {
        let digest = SessionId::digest_of(b"portcullis django token", key.as_bytes());
        if let Some(answer) = self.cached(&digest) {
            return Ok(answer);
        }
        // DRF's key column is 40 characters: a longer key finds nothing
        // (and never reaches the database).
        let user_id = match key.chars().count() <= 40 {
            true => self.inner.database.token_user_id(key).await?,
            false => None,
        };
        let answer = match user_id {
            Some(user_id) => self.user_answer(user_id).await?,
            None => CredentialUser::Unknown,
        };
        self.remember(digest, &answer);
        Ok(answer)
    }

    /// simplejwt's `user_model.objects.get(id=user_id)`, then `is_active`.
    pub async fn user_by_id(&self, user_id: &str) -> Result<CredentialUser, StoreError> {
        let digest = SessionId::digest_of(b"portcullis django user", user_id.as_bytes());
        if let Some(answer) = self.cached(&digest) {
            return Ok(answer);
        }
        let answer = self.user_answer(user_id.to_string()).await?;
        self.remember(digest, &answer);
        Ok(answer)
    }

    /// simplejwt's `check_blacklist`: a `BlacklistedToken` whose
    /// outstanding token has this `jti`. Asked every time: a blacklisting
    /// takes effect at once.
    pub async fn jti_blacklisted(&self, jti: &str) -> Result<bool, StoreError> {
        self.inner.database.jti_blacklisted(jti).await
    }

    async fn user_answer(&self, user_id: String) -> Result<CredentialUser, StoreError> {
        let Some(mut user) = self.inner.database.user(&user_id).await? else {
            return Ok(CredentialUser::Unknown);
        };
        if !user.active {
            return Ok(CredentialUser::Inactive);
        }
        user.groups.sort_unstable();
        user.permissions.sort_unstable();
        match user_session(user_id, user, None) {
            Ok(new) => {
                let now = SystemTime::now();
                Ok(CredentialUser::Found(Arc::new(Session::new(
                    new,
                    now,
                    now + MAX_SESSION_TTL,
                ))))
            }
            Err(refusal) => {
                tracing::warn!(why = %refusal.describe(), "Django user refused: a name cannot be an identity header");
                Ok(CredentialUser::Unknown)
            }
        }
    }

    fn cached(&self, digest: &SessionId) -> Option<CredentialUser> {
        let answer = self.inner.credential_cache.as_ref()?.get(digest)?;
        Some(answer.map_or(CredentialUser::Unknown, CredentialUser::Found))
    }

    /// Found and unknown are cached; inactive is rare and asked afresh.
    fn remember(&self, digest: SessionId, answer: &CredentialUser) {
        let Some(cache) = &self.inner.credential_cache else {
            return;
        };
        match answer {
            CredentialUser::Found(user) => cache.insert(digest, Some(Arc::clone(user))),
            CredentialUser::Unknown => cache.insert(digest, None),
            CredentialUser::Inactive => {}
        }
    }
}
