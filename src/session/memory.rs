//! The in-process session store: a sharded concurrent map (dashmap), so
//! lookups from every worker thread never contend on one global lock.
//! Expiry is checked on every read and swept in the background.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;

use super::{Session, SessionId, SessionStore, StoreError};

type Map = DashMap<SessionId, Arc<Session>>;

/// Sessions of this process only: lost on restart, not shared by replicas.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    sessions: Arc<Map>,
    /// API tokens (`POST /tokens`), by the digest of their key: a
    /// namespace of their own, so no cookie can ever name one.
    tokens: Arc<Map>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Removes expired sessions every `every` until the store is dropped.
    /// Needs a Tokio runtime.
    pub fn spawn_sweeper(&self, every: Duration) {
        let sessions: Weak<Map> = Arc::downgrade(&self.sessions);
        let tokens: Weak<Map> = Arc::downgrade(&self.tokens);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let (Some(sessions), Some(tokens)) = (sessions.upgrade(), tokens.upgrade()) else {
                    return;
                };
                sweep(&sessions, SystemTime::now());
                sweep(&tokens, SystemTime::now());
            }
        });
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The user of the API token whose key has `digest`, if it is live.
    pub fn token(&self, digest: &SessionId) -> Option<Arc<Session>> {
        let found = self.tokens.get(digest).map(|e| Arc::clone(e.value()))?;
        (!found.is_expired(SystemTime::now())).then_some(found)
    }

    pub fn insert_token(&self, digest: SessionId, user: Session) -> Arc<Session> {
        let user = Arc::new(user);
        self.tokens.insert(digest, Arc::clone(&user));
        user
    }

    /// Puts `session` in place of the live session `id`; `None` when there
    /// is none (signed out, revoked, expired).
    pub fn replace(&self, id: &SessionId, session: Session) -> Option<Arc<Session>> {
        let mut entry = self.sessions.get_mut(id)?;
        if entry.value().is_expired(SystemTime::now()) {
            return None;
        }
        let session = Arc::new(session);
        *entry.value_mut() = Arc::clone(&session);
        Some(session)
    }

    /// Revokes a token; `false` when there was none.
    pub fn remove_token(&self, digest: &SessionId) -> bool {
        self.tokens.remove(digest).is_some()
    }
}

fn sweep(sessions: &Map, now: SystemTime) -> usize {
    let before = sessions.len();
    sessions.retain(|_, session| !session.is_expired(now));
    before.saturating_sub(sessions.len())
}

impl SessionStore for MemoryStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>, StoreError> {
        let now = SystemTime::now();
        let found = self.sessions.get(id).map(|entry| Arc::clone(entry.value()));
        match found {
            Some(session) if session.is_expired(now) => {
                self.sessions.remove_if(id, |_, s| s.is_expired(now));
                Ok(None)
            }
            other => Ok(other),
        }
    }

    async fn insert(&self, id: SessionId, session: Session) -> Result<Arc<Session>, StoreError> {
        let session = Arc::new(session);
        self.sessions.insert(id, Arc::clone(&session));
        Ok(session)
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.sessions.remove(id).is_some())
    }

    async fn renew(
        &self,
        id: &SessionId,
        expires_at: SystemTime,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let Some(mut entry) = self.sessions.get_mut(id) else {
            return Ok(None);
        };
        let renewed = Arc::new(entry.value().with_expiry(expires_at));
        *entry.value_mut() = Arc::clone(&renewed);
        Ok(Some(renewed))
    }

    async fn remove_user(&self, username: &str) -> Result<usize, StoreError> {
        // A full pass is fine for an admin call on an in-process map; the
        // Redis store keeps a per-user index instead.
        let before = self.sessions.len() + self.tokens.len();
        self.sessions
            .retain(|_, session| session.username != username);
        // Offboarding revokes the user's API tokens too.
        self.tokens.retain(|_, user| user.username != username);
        Ok(before.saturating_sub(self.sessions.len() + self.tokens.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::NewSession;

    fn session(username: &str, ttl: Duration) -> Session {
        let now = SystemTime::now();
        Session::new(
            NewSession {
                username: username.into(),
                ..NewSession::default()
            },
            now,
            now + ttl,
        )
    }

    #[tokio::test]
    async fn expired_sessions_are_anonymous_and_dropped() {
        let store = MemoryStore::new();
        let id = SessionId::generate();
        store
            .insert(id, session("alice", Duration::ZERO))
            .await
            .unwrap();
        assert!(store.get(&id).await.unwrap().is_none());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn remove_user_revokes_only_that_user() {
        let store = MemoryStore::new();
        for name in ["alice", "alice", "bob"] {
            store
                .insert(
                    SessionId::generate(),
                    session(name, Duration::from_secs(60)),
                )
                .await
                .unwrap();
        }
        let digest = SessionId::generate();
        store.insert_token(digest, session("alice", Duration::from_secs(60)));
        assert_eq!(store.remove_user("alice").await.unwrap(), 3);
        assert_eq!(store.len(), 1);
        assert!(store.token(&digest).is_none(), "her token is revoked too");
    }

    #[test]
    fn tokens_live_apart_from_sessions() {
        let store = MemoryStore::new();
        let digest = SessionId::generate();
        store.insert_token(digest, session("bot", Duration::from_secs(60)));
        assert!(store.token(&digest).is_some());
        assert!(store.is_empty(), "a token is no session");
        assert!(store.remove_token(&digest));
        assert!(store.token(&digest).is_none());
        store.insert_token(digest, session("bot", Duration::ZERO));
        assert!(store.token(&digest).is_none(), "expired");
    }

    #[test]
    fn sweep_drops_only_expired() {
        let map = Map::default();
        map.insert(
            SessionId::generate(),
            Arc::new(session("a", Duration::ZERO)),
        );
        map.insert(
            SessionId::generate(),
            Arc::new(session("b", Duration::from_secs(60))),
        );
        assert_eq!(sweep(&map, SystemTime::now()), 1);
        assert_eq!(map.len(), 1);
    }
}
