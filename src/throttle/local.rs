//! The histories of one gateway process (every store but Redis): one
//! sliding history per throttle and client, each dropped once it has been
//! idle for its window (when nothing in it could count any more), and
//! room for at most `CAPACITY` request times in all, each history weighed
//! by the most it can hold (its rate), so no rate and no number of client
//! addresses can grow it past that (moka's TinyLFU eviction: as Django's
//! local-memory cache culls, an evicted client starts afresh).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use moka::Expiry;

use super::history::{self, Hit};
use super::rate::Rate;

/// Request times kept at most, over every history (8 bytes each, plus
/// about 100 per history): 64 MiB of times.
pub const CAPACITY: u64 = 8 * 1024 * 1024;

/// Whose requests a history counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ident {
    /// A client address (an anonymous request's, as `crate::client` says).
    Address(IpAddr),
    /// A signed-in user by Django's user id (DRF keys by `user.pk`).
    UserId(Box<str>),
    /// A signed-in user the store knows by name only (the gateway's own
    /// users, admin-API sessions, bearer JWTs' subjects).
    Username(Box<str>),
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Address(address) => write!(f, "ip:{address}"),
            Ident::UserId(id) => write!(f, "user:id:{id}"),
            Ident::Username(name) => write!(f, "user:name:{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    scope: Arc<str>,
    ident: Ident,
}

struct History {
    /// The window of the rate last applied, in ms (a reload may change
    /// it): how long the history must outlive its last use.
    window_ms: AtomicU64,
    /// The most times it holds: its rate's request count, when made.
    bound: u32,
    times: Mutex<VecDeque<u64>>,
}

impl History {
    fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms.load(Ordering::Relaxed))
    }
}

/// Each history lives until it has been idle for its window.
struct IdleForWindow;

impl Expiry<Key, Arc<History>> for IdleForWindow {
    fn expire_after_create(&self, _: &Key, history: &Arc<History>, _: Instant) -> Option<Duration> {
        Some(history.window())
    }

    fn expire_after_read(
        &self,
        _: &Key,
        history: &Arc<History>,
        _: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        Some(history.window())
    }
}

/// The process's throttle histories.
#[derive(Clone)]
pub struct LocalHistories {
    histories: Cache<Key, Arc<History>>,
}

impl std::fmt::Debug for LocalHistories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHistories")
            .field("histories", &self.histories.entry_count())
            .finish()
    }
}

impl Default for LocalHistories {
    fn default() -> LocalHistories {
        LocalHistories {
            histories: Cache::builder()
                .max_capacity(CAPACITY)
                .weigher(|_: &Key, history: &Arc<History>| history.bound)
                .expire_after(IdleForWindow)
                .build(),
        }
    }
}

/// Milliseconds on the process's monotonic clock: a wall-clock step
/// neither frees nor blocks anyone.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl LocalHistories {
    /// One request of `ident` against the throttle `scope` at `rate`.
    pub fn hit(&self, scope: &Arc<str>, ident: Ident, rate: Rate) -> Hit {
        let key = Key {
            scope: Arc::clone(scope),
            ident,
        };
        let window_ms = u64::try_from(rate.window().as_millis()).unwrap_or(u64::MAX);
        let history = self.histories.get_with(key, || {
            Arc::new(History {
                window_ms: AtomicU64::new(window_ms),
                bound: rate.requests,
                times: Mutex::new(VecDeque::new()),
            })
        });
        history.window_ms.store(window_ms, Ordering::Relaxed);
        // A poisoned lock only means another request panicked mid-update;
        // the times in it are still times.
        let mut times = history.times.lock().unwrap_or_else(|e| e.into_inner());
        let hit = history::hit(&mut times, now_ms(), rate);
        // A burst's times leave the window; their room goes with them.
        let kept = times.len();
        if times.capacity() > 2 * kept + 16 {
            times.shrink_to(kept + 8);
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_client_and_scope_apart() {
        let histories = LocalHistories::default();
        let rate: Rate = "2/minute".parse().unwrap();
        let (anon, user): (Arc<str>, Arc<str>) = ("anon".into(), "user".into());
        let alice = || Ident::Username("alice".into());
        let here = || Ident::Address([127, 0, 0, 1].into());
        assert_eq!(histories.hit(&anon, here(), rate), Hit::Allowed);
        assert_eq!(histories.hit(&anon, here(), rate), Hit::Allowed);
        assert!(matches!(
            histories.hit(&anon, here(), rate),
            Hit::Refused(Some(_))
        ));
        assert_eq!(histories.hit(&user, here(), rate), Hit::Allowed);
        assert_eq!(histories.hit(&anon, alice(), rate), Hit::Allowed);
    }
}
