//! Replacing a live session in place, for the OpenID provider's refresh
//! (`crate::oidc::refresh`), and the claim that lets one replica at a time
//! refresh one session. The memory store is one process, whose refreshes
//! the refresher already runs one at a time; Redis is shared, so the claim
//! is a key there (`redis::RedisClaim`). Django's store is Django's: it is
//! never written.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::redis::RedisClaim;
use super::{Session, SessionId, SessionStore, Store, StoreError};

/// The right to refresh one session, until released (or, in Redis, until
/// its hold runs out).
#[derive(Debug)]
pub enum RefreshClaim {
    /// This process is the only one that could refresh it.
    Local,
    Redis(RedisClaim),
}

impl Store {
    /// The longest one store call may take (Redis's `redis_timeout`; the
    /// memory store never waits).
    pub fn call_timeout(&self) -> std::time::Duration {
        match self {
            Store::Redis(store) => store.call_timeout(),
            Store::Memory(_) | Store::Django(_) => std::time::Duration::ZERO,
        }
    }

    /// The session under `id` as the store holds it now, past any local
    /// cache; `None` when unknown or expired.
    pub async fn get_uncached(&self, id: &SessionId) -> Result<Option<Arc<Session>>, StoreError> {
        match self {
            Store::Redis(store) => Ok(store
                .get_uncached(id)
                .await?
                .filter(|s| !s.is_expired(SystemTime::now()))
                .map(Arc::new)),
            Store::Memory(_) | Store::Django(_) => self.get(id).await,
        }
    }

    /// Puts `session` in place of the live session `id`, keeping its id
    /// (the browser's cookie); `None` when that session has ended meanwhile.
    pub async fn replace(
        &self,
        id: &SessionId,
        session: Session,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.replace(id, session)),
            Store::Redis(store) => Ok(store
                .replace(id, &session)
                .await?
                .then(|| Arc::new(session))),
            Store::Django(_) => Err(StoreError::ReadOnly),
        }
    }

    /// Takes the claim to refresh `id` for at most `hold`; `None` while
    /// another replica holds it.
    pub async fn claim_refresh(
        &self,
        id: &SessionId,
        hold: Duration,
    ) -> Result<Option<RefreshClaim>, StoreError> {
        match self {
            Store::Redis(store) => Ok(store
                .claim_refresh(id, hold)
                .await?
                .map(RefreshClaim::Redis)),
            Store::Memory(_) | Store::Django(_) => Ok(Some(RefreshClaim::Local)),
        }
    }

    /// Whether another replica still holds the claim on `id`.
    pub async fn refresh_claimed(&self, id: &SessionId) -> Result<bool, StoreError> {
        match self {
            Store::Redis(store) => store.refresh_claimed(id).await,
            Store::Memory(_) | Store::Django(_) => Ok(false),
        }
    }

    /// Lets go of a claim.
    pub async fn release_refresh(&self, claim: RefreshClaim) {
        if let (Store::Redis(store), RefreshClaim::Redis(claim)) = (self, claim) {
            store.release_refresh(claim).await;
        }
    }
}
