//! The failed-login throttle: failures are counted per client address and
//! per username (GCRA via the `governor` crate); once either is over its
//! quota, every login attempt for it is refused with 429 until the quota
//! has room again, as DRF's throttles answer.

use std::net::IpAddr;
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
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when this address or username is currently throttled.
    pub fn check(&self, address: IpAddr, username: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let wait = [Key::Address(address), Key::Username(username.to_string())]
            .iter()
            .filter_map(|key| self.blocked.get(key).map(|until| *until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed login; `Err(wait)` when that put either key over
    /// its quota (this attempt is answered 429 too).
    pub fn failed(&self, address: IpAddr, username: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut longest = None;
        let by_address = self
            .by_address
            .check_key(&address)
            .err()
            .map(|n| (Key::Address(address), n));
        let by_username = self
            .by_username
            .check_key(&username.to_string())
            .err()
            .map(|n| (Key::Username(username.to_string()), n));
        for (key, not_until) in by_address.into_iter().chain(by_username) {
            let wait = not_until
                .wait_time_from(self.clock.now())
                .max(Duration::from_secs(1));
            self.blocked.insert(key, now + wait);
            longest = longest.max(Some(wait));
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

/// DRF's `Throttled` message: `Request was throttled. Expected available in
/// N seconds.` (N rounded up; "second" when it is 1).
pub fn throttled_message(wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    format!("Request was throttled. Expected available in {seconds} {unit}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn failures_past_the_quota_block_the_address_and_the_username() {
        let t = LoginThrottle::new(NonZeroU32::new(3).unwrap(), Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.check(HOME, "alice").is_ok());
            assert!(t.failed(HOME, "alice").is_ok());
        }
        let wait = t.failed(HOME, "alice").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert!(t.check(HOME, "bob").is_err(), "the address is blocked");
        let elsewhere: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(
            t.check(elsewhere, "alice").is_err(),
            "the username is blocked"
        );
        assert!(t.check(elsewhere, "bob").is_ok());
    }

    #[test]
    fn drf_wording() {
        assert_eq!(
            throttled_message(Duration::from_millis(12_200)),
            "Request was throttled. Expected available in 13 seconds."
        );
        assert_eq!(
            throttled_message(Duration::from_secs(1)),
            "Request was throttled. Expected available in 1 second."
        );
    }
}
