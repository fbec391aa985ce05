//! The in-process cache in front of a remote session store: parsed sessions
//! for `cache_ttl` (never past their own expiry), and "no such session"
//! answers for `negative_ttl`, so a client spraying random ids costs no
//! store query each. Bounded in size (moka, TinyLFU eviction).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use moka::sync::Cache;
use moka::Expiry;
use prometheus_client::metrics::counter::Counter;

use super::{Session, SessionId};

/// A cached answer: a session, or "none".
pub type Cached = Option<Arc<Session>>;

struct Lifetimes {
    positive: Duration,
    negative: Duration,
}

impl Expiry<SessionId, Cached> for Lifetimes {
    fn expire_after_create(
        &self,
        _id: &SessionId,
        value: &Cached,
        _now: Instant,
    ) -> Option<Duration> {
        Some(match value {
            None => self.negative,
            Some(session) => {
                let left = session
                    .expires_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                self.positive.min(left)
            }
        })
    }
}

#[derive(Clone)]
pub struct SessionCache {
    entries: Cache<SessionId, Cached>,
    /// Counters of hits and misses (metrics), once set.
    answers: Arc<OnceLock<(Counter, Counter)>>,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl SessionCache {
    pub fn new(capacity: u64, positive: Duration, negative: Duration) -> SessionCache {
        SessionCache {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(Lifetimes { positive, negative })
                .build(),
            answers: Arc::default(),
        }
    }

    /// Counts every `get` as a hit or a miss into these counters.
    pub fn count_answers(&self, hits: Counter, misses: Counter) {
        let _ = self.answers.set((hits, misses));
    }

    /// `Some(answer)` on a hit (the answer may be "no session").
    pub fn get(&self, id: &SessionId) -> Option<Cached> {
        let answer = self.entries.get(id);
        if let Some((hits, misses)) = self.answers.get() {
            if answer.is_some() { hits } else { misses }.inc();
        }
        answer
    }

    pub fn insert(&self, id: SessionId, answer: Cached) {
        self.entries.insert(id, answer);
    }

    pub fn remove(&self, id: &SessionId) {
        self.entries.invalidate(id);
    }

    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::NewSession;

    #[test]
    fn positive_and_negative_answers() {
        let cache = SessionCache::new(100, Duration::from_secs(5), Duration::from_secs(5));
        let (a, b) = (SessionId::generate(), SessionId::generate());
        assert!(cache.get(&a).is_none());
        cache.insert(a, None);
        assert!(matches!(cache.get(&a), Some(None)));
        let now = SystemTime::now();
        let session = Arc::new(Session::new(
            NewSession::default(),
            now,
            now + Duration::from_secs(60),
        ));
        cache.insert(b, Some(session));
        assert!(matches!(cache.get(&b), Some(Some(_))));
        cache.remove(&b);
        assert!(cache.get(&b).is_none());
        cache.clear();
        assert!(cache.get(&a).is_none());
    }

    #[test]
    fn a_session_is_never_cached_past_its_expiry() {
        let cache = SessionCache::new(100, Duration::from_secs(60), Duration::from_secs(60));
        let id = SessionId::generate();
        let now = SystemTime::now();
        cache.insert(
            id,
            Some(Arc::new(Session::new(NewSession::default(), now, now))),
        );
        assert!(cache.get(&id).is_none());
    }
}
