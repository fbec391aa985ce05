//! Invalidations: one RESP3 connection per node subscribed with
//! `CLIENT TRACKING ON BCAST PREFIX <prefix>`; every push drops the keys it
//! names from the local cache, and while any node's connection is down the
//! cache is emptied and unused.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushKind, Value};

use super::connection::{Topology, MAX_BACKOFF};
use super::Inner;
use crate::session::SessionId;

/// The RESP3 connection invalidations arrive on, for tracker `node`.
async fn open_tracking_connection(
    inner: &Inner,
    node: usize,
    config: &AsyncConnectionConfig,
) -> redis::RedisResult<MultiplexedConnection> {
    match &inner.clients.topology {
        Topology::Sentinel { tracking, .. } => {
            tracking
                .lock()
                .await
                .get_async_connection_with_config(config)
                .await
        }
        _ => {
            let client = inner.clients.tracking[node].clone();
            client
                .get_multiplexed_async_connection_with_config(config)
                .await
        }
    }
}

/// Keeps a RESP3 connection to node `node` subscribed to invalidations of
/// every key under the prefix, and applies them to the cache; reconnects
/// when it drops.
pub(super) async fn track(store: Weak<Inner>, node: usize) {
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(inner) = store.upgrade() else { return };
        let (sender, mut pushes) = tokio::sync::mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_push_sender(sender)
            .set_connection_timeout(Some(inner.timeout))
            .set_response_timeout(Some(inner.timeout));
        let connected = tokio::time::timeout(
            inner.timeout * 4,
            open_tracking_connection(&inner, node, &config),
        )
        .await;
        if let Ok(Ok(mut connection)) = connected {
            let enabled: redis::RedisResult<()> = redis::cmd("CLIENT")
                .arg("TRACKING")
                .arg("ON")
                .arg("BCAST")
                .arg("PREFIX")
                .arg(&inner.prefix)
                .query_async(&mut connection)
                .await;
            match enabled {
                Ok(()) => {
                    // Whatever changed while we were not listening is gone.
                    inner.cache.clear();
                    inner.trackers_up.fetch_add(1, Ordering::AcqRel);
                    delay = Duration::from_millis(100);
                    let prefix = inner.prefix.clone();
                    drop(inner);
                    while let Some(push) = pushes.recv().await {
                        let Some(inner) = store.upgrade() else { return };
                        match push.kind {
                            PushKind::Invalidate => invalidate(&inner, &prefix, &push.data),
                            PushKind::Disconnection => break,
                            _ => {}
                        }
                    }
                    drop(connection);
                    let Some(inner) = store.upgrade() else { return };
                    inner.trackers_up.fetch_sub(1, Ordering::AcqRel);
                    inner.cache.clear();
                    tracing::warn!(
                        "session store: lost Redis invalidations; cache emptied, reconnecting"
                    );
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "session store: CLIENT TRACKING refused; the local cache stays off")
                }
            }
        }
        // Not connected: let go of the store while backing off, so a store
        // dropped meanwhile ends this task at the next attempt.
        drop(inner);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// Applies one invalidation push: the keys that changed, or (nil) all.
fn invalidate(inner: &Inner, prefix: &str, data: &[Value]) {
    match data.first() {
        Some(Value::Array(keys)) => {
            for key in keys {
                let Value::BulkString(bytes) = key else {
                    continue;
                };
                let id = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|k| k.strip_prefix(prefix))
                    .and_then(SessionId::parse);
                if let Some(id) = id {
                    inner.cache.remove(&id);
                }
            }
        }
        _ => inner.cache.clear(),
    }
}
