//! DRF's throttles in front of the upstream: `AnonRateThrottle`,
//! `UserRateThrottle` and `ScopedRateThrottle`, with DRF's rates
//! (`rate`), its sliding history and `wait()` (`history`), kept in the
//! process (`local`) or, when the session store is Redis, in Redis, so
//! that every replica counts the same requests.

pub mod history;
pub mod local;
pub mod rate;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::session::{Store, StoreError};
pub use history::Hit;
pub use local::{Ident, LocalHistories};
pub use rate::Rate;

/// Which DRF class a throttle is, which decides whom it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `AnonRateThrottle`: anonymous requests only, by client address.
    Anon,
    /// `UserRateThrottle`: a signed-in user by user, anyone else by address.
    User,
    /// `ScopedRateThrottle`: as `User`, in a history shared by every route
    /// with the same scope.
    Scoped,
}

impl Kind {
    /// Its name in the config (`anon`, `user`, `scope`) and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Anon => "anon",
            Kind::User => "user",
            Kind::Scoped => "scope",
        }
    }
}

/// One compiled throttle of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// Whom it counts.
    pub kind: Kind,
    /// The history's name (DRF's cache key `throttle_<scope>_<ident>`):
    /// `anon` and `user` for the top-level rates, which every route using
    /// them shares; `route/<route>/anon` and `route/<route>/user` for a
    /// route's own; `scope/<name>` for a scoped one.
    pub scope: Arc<str>,
    /// At most this many requests in any period.
    pub rate: Rate,
}

/// Who a request is from, as throttles count.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// No user: counted by this client address.
    Anonymous(IpAddr),
    /// A signed-in user with a Django user id (DRF's `user.pk`).
    UserId(&'a str),
    /// A signed-in user the store knows by name only.
    Username(&'a str),
}

/// The throttle that refused a request, with the longest wait of all that
/// did (DRF's `check_throttles` answers with the longest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The refusing throttle with the longest wait.
    pub throttle: Throttle,
    /// `None` when no refusing throttle can say (DRF then names no time).
    pub wait: Option<Duration>,
}

impl Throttle {
    /// Whether this throttle counts `who`'s requests, and as whom.
    pub fn ident(&self, who: Who<'_>) -> Option<Ident> {
        match (self.kind, who) {
            (_, Who::Anonymous(address)) => Some(Ident::Address(address)),
            (Kind::Anon, Who::UserId(_) | Who::Username(_)) => None,
            (_, Who::UserId(id)) => Some(Ident::UserId(id.into())),
            (_, Who::Username(name)) => Some(Ident::Username(name.into())),
        }
    }
}

/// DRF's `check_throttles`: every throttle is asked (each records the
/// request it lets through, even when another refuses it), and the
/// request is refused when any refuses. Redis keeps the histories when it
/// is the session store; its failure is an error (nothing is let through
/// uncounted).
pub async fn check(
    throttles: &[Throttle],
    who: Who<'_>,
    store: &Store,
    local: &LocalHistories,
) -> Result<Option<Refused>, StoreError> {
    let mut refused: Option<Refused> = None;
    for throttle in throttles {
        let Some(ident) = throttle.ident(who) else {
            continue;
        };
        let hit = match store {
            Store::Redis(redis) => {
                let window = u64::try_from(throttle.rate.window().as_millis()).unwrap_or(u64::MAX);
                let name = format!("{}:{ident}", throttle.scope);
                let answer = redis
                    .slide_window(&name, throttle.rate.requests, window)
                    .await?;
                if answer.allowed {
                    Hit::Allowed
                } else {
                    Hit::Refused(history::wait(
                        throttle.rate,
                        answer.count,
                        Duration::from_millis(answer.oldest_leaves_in_ms),
                    ))
                }
            }
            Store::Memory(_) | Store::Django(_) => local.hit(&throttle.scope, ident, throttle.rate),
        };
        if let Hit::Refused(wait) = hit {
            // `max(durations)` over the ones that have a wait.
            let longer = refused
                .as_ref()
                .is_none_or(|so_far| wait.is_some() && wait > so_far.wait);
            if longer {
                refused = Some(Refused {
                    throttle: throttle.clone(),
                    wait,
                });
            }
        }
    }
    Ok(refused)
}
