//! `Gateway`: the state every request shares — the current config snapshot
//! (swappable), the session store and the upstream client.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use crate::auth::throttle::LoginThrottle;
use crate::config::runtime::StoreKind;
use crate::config::Runtime;
use crate::pipeline::forward::Upstream;
use crate::session::{MemoryStore, RedisStore, Store};

/// How often the memory store drops expired sessions, and the login
/// throttle expired blocks.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    store: Store,
    upstream: Upstream,
    login_throttle: Arc<LoginThrottle>,
    /// Bounds concurrent argon2 checks to the CPUs we have, so sign-in
    /// attempts cannot pile up memory-hard work (about 19 MiB each).
    password_checks: Arc<Semaphore>,
}

impl Gateway {
    /// Builds the shared state for `runtime`. Must run inside a Tokio runtime
    /// (the memory store starts its expiry sweeper).
    pub fn new(runtime: Runtime) -> Gateway {
        let store = match &runtime.session.store {
            StoreKind::Memory => {
                let memory = MemoryStore::new();
                memory.spawn_sweeper(SWEEP_EVERY);
                Store::Memory(memory)
            }
            StoreKind::Redis(settings) => {
                // Invariant: the config compiler already opened these settings.
                let redis = RedisStore::new(settings).expect("validated redis settings");
                redis.start();
                Store::Redis(redis)
            }
        };
        let upstream = Upstream::new(&runtime.upstream);
        let login_throttle = Arc::new(LoginThrottle::new(
            runtime.login.max_failures,
            runtime.login.failure_window,
        ));
        spawn_throttle_sweeper(&login_throttle);
        Gateway {
            runtime: ArcSwap::from_pointee(runtime),
            store,
            upstream,
            login_throttle,
            password_checks: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
        }
    }

    /// The current config snapshot; hold it for the whole request.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub fn login_throttle(&self) -> &LoginThrottle {
        &self.login_throttle
    }

    pub fn password_checks(&self) -> &Arc<Semaphore> {
        &self.password_checks
    }
}

/// Drops expired throttle state every `SWEEP_EVERY` until the gateway goes.
fn spawn_throttle_sweeper(throttle: &Arc<LoginThrottle>) {
    let throttle = Arc::downgrade(throttle);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_EVERY);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(throttle) = throttle.upgrade() else {
                return;
            };
            throttle.sweep();
        }
    });
}
