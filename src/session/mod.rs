//! Session stores: where the gateway looks up who a session cookie belongs
//! to. `SessionStore` is the contract every backend (memory, Redis,
//! Django's own database) fulfils; `Store` picks one at startup without a
//! boxed future per lookup on the hot path.

pub mod cache;
pub mod cookie;
pub mod django;
pub mod id;
pub mod memory;
pub mod record;
pub mod redis;
pub mod replace;
pub mod schema;
pub mod state;
pub mod token_key;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use django::DjangoStore;
pub use id::SessionId;
pub use memory::MemoryStore;
pub use record::{NewSession, ProviderTokens, Session};
pub use redis::RedisStore;
pub use replace::RefreshClaim;

/// The longest a session may live: far beyond any sane setting, and well
/// inside what timestamps can represent.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A store could not answer. Protected routes fail closed on this (503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("session store timed out")]
    Timeout,
    /// The Django store: Django makes and ends its sessions, never us.
    #[error("the django session store is read-only: Django creates and ends its sessions")]
    ReadOnly,
}

/// The user an API credential (a DRF token, a simplejwt user id) names,
/// as a store answers.
#[derive(Debug, Clone)]
pub enum CredentialUser {
    Found(Arc<Session>),
    /// The user exists but is inactive (Django's `is_active` is false).
    Inactive,
    /// No such token, or no such user.
    Unknown,
}

/// The operations the pipeline and the admin API need from a session store.
pub trait SessionStore: Send + Sync {
    /// The live session for `id`; `None` when unknown or expired.
    fn get(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Arc<Session>>, StoreError>> + Send;

    /// Stores `session` under `id`, replacing nothing (ids are fresh).
    fn insert(
        &self,
        id: SessionId,
        session: Session,
    ) -> impl Future<Output = Result<Arc<Session>, StoreError>> + Send;

    /// Revokes one session; `false` when there was none.
    fn remove(&self, id: &SessionId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every session of `username`; returns how many there were.
    fn remove_user(&self, username: &str)
        -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Moves the expiry of a live session (sliding sessions); `None` when
    /// it is gone.
    fn renew(
        &self,
        id: &SessionId,
        expires_at: SystemTime,
    ) -> impl Future<Output = Result<Option<Arc<Session>>, StoreError>> + Send;
}

/// The store chosen by `[session] store`.
#[derive(Debug, Clone)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
    Django(DjangoStore),
}

impl Store {
    /// Its kind and, for Redis, whether the local cache is on (`/readyz`).
    pub fn describe(&self) -> (&'static str, Option<bool>) {
        match self {
            Store::Memory(_) => ("memory", None),
            Store::Redis(store) => ("redis", Some(store.cache_on())),
            Store::Django(store) => ("django", Some(store.cache_on())),
        }
    }

    /// `Ok` when the store can answer now (`/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(store) => store.ready().await,
            Store::Django(store) => store.ready().await,
        }
    }

    /// Why the store has no signed-in user for `id`, when it can say more
    /// than "none" (the Django store: a bad signature, a changed password…).
    pub async fn why_not(&self, id: &SessionId) -> Option<String> {
        match self {
            Store::Django(store) => store.why_not(id).await,
            Store::Memory(_) | Store::Redis(_) => None,
        }
    }

    /// Makes a session with a brand-new id that expires after `ttl`.
    pub async fn create(
        &self,
        new: NewSession,
        ttl: Duration,
    ) -> Result<(SessionId, Arc<Session>), StoreError> {
        let now = SystemTime::now();
        let session = Session::new(new, now, now + ttl);
        let id = SessionId::generate();
        let session = self.insert(id, session).await?;
        Ok((id, session))
    }
}

/// API tokens (DRF's `TokenAuthentication`): Django's own table with the
/// Django store; made and revoked through the admin API, and kept as a
/// digest of the key, with the memory and Redis stores.
impl Store {
    /// The user of the DRF token `key`.
    pub async fn token_user(&self, key: &str) -> Result<CredentialUser, StoreError> {
        let digest = || token_key::key_digest(key);
        let found = match self {
            Store::Memory(store) => store.token(&digest()),
            Store::Redis(store) => store.token(&digest()).await?.map(Arc::new),
            Store::Django(store) => return store.token_user(key).await,
        };
        Ok(found.map_or(CredentialUser::Unknown, CredentialUser::Found))
    }

    /// The Django user with primary key `id` (simplejwt's user lookup).
    pub async fn django_user(&self, id: &str) -> Result<CredentialUser, StoreError> {
        match self {
            Store::Django(store) => store.user_by_id(id).await,
            // The config compiler allows `[jwt] stateless = false` only
            // with the Django store.
            Store::Memory(_) | Store::Redis(_) => Err(StoreError::Unavailable(
                "looking a JWT's user up needs session.store = \"django\"".into(),
            )),
        }
    }

    /// simplejwt's blacklist: is the token with this `jti` blacklisted?
    pub async fn jti_blacklisted(&self, jti: &str) -> Result<bool, StoreError> {
        match self {
            Store::Django(store) => store.jti_blacklisted(jti).await,
            // The config compiler allows `[jwt] blacklist` only with the
            // Django store.
            Store::Memory(_) | Store::Redis(_) => Err(StoreError::Unavailable(
                "simplejwt's blacklist is in Django's database: it needs session.store = \"django\"".into(),
            )),
        }
    }

    /// Makes an API token for `new`, living `ttl`; returns its key (shown
    /// once, never stored) and its id (the digest it is kept under).
    pub async fn create_token(
        &self,
        new: NewSession,
        ttl: Duration,
    ) -> Result<(String, SessionId, Arc<Session>), StoreError> {
        let key = token_key::generate_key();
        let digest = token_key::key_digest(&key);
        let now = SystemTime::now();
        let user = Session::new(new, now, now + ttl);
        let user = match self {
            Store::Memory(store) => store.insert_token(digest, user),
            Store::Redis(store) => {
                store.insert_token(&digest, &user).await?;
                Arc::new(user)
            }
            Store::Django(_) => return Err(StoreError::ReadOnly),
        };
        Ok((key, digest, user))
    }

    /// Revokes the token with id `digest`; `false` when there was none.
    pub async fn remove_token(&self, digest: &SessionId) -> Result<bool, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.remove_token(digest)),
            Store::Redis(store) => store.remove_token(digest).await,
            Store::Django(_) => Err(StoreError::ReadOnly),
        }
    }
}

impl SessionStore for Store {
    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>, StoreError> {
        match self {
            Store::Memory(store) => store.get(id).await,
            Store::Redis(store) => store.get(id).await,
            Store::Django(store) => store.get(id).await,
        }
    }

    async fn insert(&self, id: SessionId, session: Session) -> Result<Arc<Session>, StoreError> {
        match self {
            Store::Memory(store) => store.insert(id, session).await,
            Store::Redis(store) => store.insert(id, session).await,
            Store::Django(store) => store.insert(id, session).await,
        }
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        match self {
            Store::Memory(store) => store.remove(id).await,
            Store::Redis(store) => store.remove(id).await,
            Store::Django(store) => store.remove(id).await,
        }
    }

    async fn remove_user(&self, username: &str) -> Result<usize, StoreError> {
        match self {
            Store::Memory(store) => store.remove_user(username).await,
            Store::Redis(store) => store.remove_user(username).await,
            Store::Django(store) => store.remove_user(username).await,
        }
    }

    async fn renew(
        &self,
        id: &SessionId,
        expires_at: SystemTime,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        match self {
            Store::Memory(store) => store.renew(id, expires_at).await,
            Store::Redis(store) => store.renew(id, expires_at).await,
            Store::Django(store) => store.renew(id, expires_at).await,
        }
    }
}
