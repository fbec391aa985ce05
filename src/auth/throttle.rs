//! The failed-login throttle: failures are counted per client address (an
//! IPv6 client by its /64, which one host usually owns whole) and per
//! username (GCRA via the `governor` crate); once either is over its quota,
//! every login attempt for it is refused with 429 until the quota has room
//! again, as DRF's throttles answer. Only one password check per address and
//! per username runs at a time, so a burst of parallel guesses cannot all be
//! checked before the first failure is counted.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Username(String),
}

pub struct LoginThrottle {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_username: DefaultKeyedRateLimiter<String>,
    /// Keys over their quota, and until when.
    blocked: DashMap<Key, Instant>,
    /// Keys with a password check running now.
    in_flight: DashMap<Key, ()>,
    /// The clock the limiters measure with (std's monotonic clock).
    clock: DefaultClock,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("blocked", &self.blocked.len())
            .finish()
    }
}

impl LoginThrottle {
    /// Allows `max_failures` failures at once, refilled evenly over `window`.
    pub fn new(max_failures: NonZeroU32, window: Duration) -> LoginThrottle {
        let period = window / max_failures.get();
        // Invariant: the config compiler keeps window/max_failures above zero.
        let quota = Quota::with_period(period.max(Duration::from_millis(1)))
            .expect("non-zero period")
            .allow_burst(max_failures);
        LoginThrottle {
            by_address: RateLimiter::keyed(quota),
            by_username: RateLimiter::keyed(quota),
            blocked: DashMap::new(),
            in_flight: DashMap::new(),
            clock: DefaultClock::default(),
        }
    }

    /// Starts a login attempt: `Err(wait)` when the address or username is
    /// throttled, or already has a password check running (then `wait` is
    /// a second). The returned `Attempt` holds both keys until dropped.
    pub fn begin(&self, address: IpAddr, username: &str) -> Result<Attempt<'_>, Duration> {
        let keys = [
            Key::Address(address_key(address)),
            Key::Username(username.to_string()),
        ];
        let now = Instant::now();
        let blocked_for = keys
            .iter()
            .filter_map(|key| self.blocked.get(key).map(|until| *until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = blocked_for {
            return Err(wait);
        }
        for (taken, key) in keys.iter().enumerate() {
            // The entry's shard lock must be released before any `remove`
            // below (the other key may share the shard): decide first.
            let claimed = match self.in_flight.entry(key.clone()) {
                dashmap::Entry::Vacant(slot) => {
                    slot.insert(());
                    true
                }
                dashmap::Entry::Occupied(_) => false,
            };
            if !claimed {
                for earlier in &keys[..taken] {
                    self.in_flight.remove(earlier);
                }
                return Err(BUSY_WAIT);
            }
        }
        Ok(Attempt {
            throttle: self,
            keys,
        })
    }

    /// Counts a failure for `keys`; `Err(wait)` when that put either over
    /// its quota (the failing attempt is answered 429 too).
    fn count_failure(&self, keys: &[Key; 2]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut longest = None;
        for key in keys {
            let outcome = match key {
                Key::Address(address) => self.by_address.check_key(address),
                Key::Username(name) => self.by_username.check_key(name),
            };
            if let Err(not_until) = outcome {
                let wait = not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1));
                self.blocked.insert(key.clone(), now + wait);
                longest = longest.max(Some(wait));
            }
        }
        match longest {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Forgets state that no longer matters (expired blocks, idle keys).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.blocked.retain(|_, until| *until > now);
        self.by_address.retain_recent();
        self.by_username.retain_recent();
    }
}

/// Retry hint for an attempt refused because another is still running.
const BUSY_WAIT: Duration = Duration::from_secs(1);

/// One login attempt in progress; frees its keys when dropped.
pub struct Attempt<'t> {
    throttle: &'t LoginThrottle,
    keys: [Key; 2],
}

impl Attempt<'_> {
    /// The password was wrong: count it. `Err(wait)` when this failure put
    /// the address or username over its quota.
    pub fn failed(self) -> Result<(), Duration> {
        self.throttle.count_failure(&self.keys)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        for key in &self.keys {
            self.throttle.in_flight.remove(key);
        }
    }
}

/// IPv4 addresses count one by one; IPv6 addresses by their /64, which a
/// single host or customer usually owns whole (one client could otherwise
/// use a fresh address per guess).
fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn failures_past_the_quota_block_the_address_and_the_username() {
        let t = LoginThrottle::new(NonZeroU32::new(3).unwrap(), Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.begin(HOME, "alice").unwrap().failed().is_ok());
        }
        let wait = t.begin(HOME, "alice").unwrap().failed().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert!(t.begin(HOME, "bob").is_err(), "the address is blocked");
        let elsewhere: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(
            t.begin(elsewhere, "alice").is_err(),
            "the username is blocked"
        );
        assert!(t.begin(elsewhere, "bob").is_ok());
    }

    #[test]
    fn one_check_at_a_time_per_address_and_per_username() {
        let t = LoginThrottle::new(NonZeroU32::new(5).unwrap(), Duration::from_secs(60));
        let first = t.begin(HOME, "alice").unwrap();
        assert_eq!(t.begin(HOME, "bob").err(), Some(BUSY_WAIT), "same address");
        let elsewhere: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(
            t.begin(elsewhere, "alice").err(),
            Some(BUSY_WAIT),
            "same username"
        );
        assert!(t.begin(elsewhere, "bob").is_ok(), "and nothing left held");
        drop(first);
        assert!(t.begin(HOME, "alice").is_ok());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(address_key(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
    }
}
