//! `Gateway`: the state every request shares — the current config snapshot
//! (swappable), the session store and the upstream client.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::runtime::StoreKind;
use crate::config::Runtime;
use crate::pipeline::forward::Upstream;
use crate::session::{MemoryStore, Store};

/// How often the memory store drops expired sessions.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    store: Store,
    upstream: Upstream,
}

impl Gateway {
    /// Builds the shared state for `runtime`. Must run inside a Tokio runtime
    /// (the memory store starts its expiry sweeper).
    pub fn new(runtime: Runtime) -> Gateway {
        let store = match runtime.session.store {
            StoreKind::Memory => {
                let memory = MemoryStore::new();
                memory.spawn_sweeper(SWEEP_EVERY);
                Store::Memory(memory)
            }
        };
        let upstream = Upstream::new(&runtime.upstream);
        Gateway {
            runtime: ArcSwap::from_pointee(runtime),
            store,
            upstream,
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
}
