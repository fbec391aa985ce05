//! Gives the heap's free memory back to the system after a flood of
//! connections. glibc's malloc keeps freed pages that are not at the top of
//! a heap, so after 3,000 connections come and go the process would stay at
//! its peak size for good; `malloc_trim` releases them. It walks the heap
//! and briefly holds the allocator's locks, so it runs only after the open
//! connection count has fallen by `FLOOD` since the last trim, on the
//! blocking pool, at most every `CHECK_EVERY`.

use std::sync::Arc;
use std::time::Duration;

use portcullis::Gateway;

const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Connections that must have closed since the peak before trimming pays.
const FLOOD: i64 = 1000;

pub(crate) fn spawn(gateway: &Arc<Gateway>) {
    let gateway = Arc::downgrade(gateway);
    tokio::spawn(async move {
        let mut peak = 0i64;
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        loop {
            ticks.tick().await;
            let Some(gateway) = gateway.upgrade() else {
                return;
            };
            let open = gateway.metrics().open_connections.get();
            peak = peak.max(open);
            if peak - open >= FLOOD {
                peak = open;
                let _ = tokio::task::spawn_blocking(trim).await;
            }
        }
    });
}

/// The one unsafe call in portcullis, allowed here: `malloc_trim` is a
/// plain C function with no pointer arguments and no preconditions; it is
/// safe to call at any time from any thread (glibc only).
#[allow(unsafe_code)]
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: no arguments beyond the padding to keep; no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
