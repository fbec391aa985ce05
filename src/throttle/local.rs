//! The histories of one gateway process (every store but Redis): one
//! sliding history per throttle and client, each dropped once it has been
//! idle for its window (when nothing in it could count any more), and at
//! most `CAPACITY` of them (moka's TinyLFU eviction: as Django's local
//! memory cache culls, an evicted client starts afresh).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use moka::Expiry;

use super::history::{self, Hit};
use super::rate::Rate;

/// Histories kept at most; about 100 bytes each, plus 8 per request in
/// its window.
pub const CAPACITY: u64 = 100_000;

/// Whose requests a history counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ident {
    /// A client address (an anonymous request's, as `crate::client` says).
    Address(IpAddr),
    /// A signed-in user: Django's user id where known, else the username.
    User(Box<str>),
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Address(address) => write!(f, "ip:{address}"),
            Ident::User(user) => write!(f, "user:{user}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    scope: Arc<str>,
    ident: Ident,
}

struct History {
    window: Duration,
    times: Mutex<VecDeque<u64>>,
}

/// Each history lives until it has been idle for its window.
struct IdleForWindow;

impl Expiry<Key, Arc<History>> for IdleForWindow {
    fn expire_after_create(&self, _: &Key, history: &Arc<History>, _: Instant) -> Option<Duration> {
        Some(history.window)
    }

    fn expire_after_read(
        &self,
        _: &Key,
        history: &Arc<History>,
        _: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        Some(history.window)
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
        let window = rate.window();
        let history = self.histories.get_with(key, || {
            Arc::new(History {
                window,
                times: Mutex::new(VecDeque::new()),
            })
        });
        // A poisoned lock only means another request panicked mid-update;
        // the times in it are still times.
        let mut times = history.times.lock().unwrap_or_else(|e| e.into_inner());
        history::hit(&mut times, now_ms(), rate)
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
        let alice = || Ident::User("alice".into());
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
