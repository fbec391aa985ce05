//! Upgraded (WebSocket) connections in flight: spliced in background tasks
//! that hyper's graceful shutdown does not see, so they are counted here
//! and shutdown waits for them (up to `shutdown_timeout`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Upgrades {
    open: AtomicUsize,
    closed: Notify,
}

/// One upgraded connection; counted until dropped.
pub struct UpgradeGuard(Arc<Upgrades>);

impl Upgrades {
    pub fn track(self: &Arc<Self>) -> UpgradeGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        UpgradeGuard(Arc::clone(self))
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves when no upgraded connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for UpgradeGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}
