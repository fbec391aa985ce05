//! Connections to Redis: the topology (one Redis, a Cluster, or the master
//! Sentinel names) with the clients the config compiler builds for it, the
//! data connection every command uses, and reconnecting with backoff.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::RedisConnectionInfo;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, ProtocolVersion, RedisFuture, Value};
use tokio::sync::Mutex as AsyncMutex;

use super::settings::RedisSettings;
use super::Inner;

/// Where the sessions live.
#[derive(Clone)]
pub(super) enum Topology {
    Single(Box<Client>),
    /// Redis Cluster: keys spread over the masters' hash slots.
    Cluster(Box<ClusterClient>),
    /// The master Redis Sentinel names: one client for data, one (RESP3)
    /// for invalidations; each resolves the master when it connects.
    Sentinel {
        data: Arc<AsyncMutex<SentinelClient>>,
        tracking: Arc<AsyncMutex<SentinelClient>>,
    },
}

/// A connection for data commands, to one Redis or to a cluster.
#[derive(Clone)]
pub(super) enum DataConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(MultiplexedConnection),
}

impl ConnectionLike for DataConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            DataConnection::Single(c) => c.req_packed_command(cmd),
            DataConnection::Cluster(c) => c.req_packed_command(cmd),
            DataConnection::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            DataConnection::Single(c) => c.req_packed_commands(cmd, offset, count),
            DataConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            DataConnection::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            DataConnection::Single(c) => c.get_db(),
            DataConnection::Cluster(c) => c.get_db(),
            DataConnection::Sentinel(c) => c.get_db(),
        }
    }
}

/// The clients for one set of Redis settings: built (connecting nothing)
/// when the config is compiled, so a bad URL or certificate is a config
/// error and building the store from them cannot fail.
#[derive(Clone)]
pub struct Clients {
    pub(super) topology: Topology,
    /// Every node, spoken to in RESP3 for invalidation pushes (every
    /// master, in a cluster: a key's invalidation comes from its master).
    /// Empty for Sentinel, whose one tracker resolves the master itself.
    pub(super) tracking: Vec<Client>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let topology = match self.topology {
            Topology::Single(_) => "single",
            Topology::Cluster(_) => "cluster",
            Topology::Sentinel { .. } => "sentinel",
        };
        f.debug_struct("Clients")
            .field("topology", &topology)
            .field("tracking", &self.tracking.len())
            .finish()
    }
}

impl Clients {
    /// The clients `settings` describe; `Err` names the setting that is wrong.
    pub(super) fn build(settings: &RedisSettings) -> Result<Clients, String> {
        let (topology, nodes) = if let Some(sentinel) = &settings.sentinel {
            let client = |protocol: ProtocolVersion| {
                let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(
                    RedisConnectionInfo::default().set_protocol(protocol),
                );
                SentinelClient::build(
                    sentinel.urls.clone(),
                    sentinel.master.clone(),
                    Some(node),
                    SentinelServerType::Master,
                )
                .map_err(|e| format!("redis_sentinel: {e}"))
            };
            let topology = Topology::Sentinel {
                data: Arc::new(AsyncMutex::new(client(ProtocolVersion::RESP2)?)),
                tracking: Arc::new(AsyncMutex::new(client(ProtocolVersion::RESP3)?)),
            };
            (topology, Vec::new())
        } else if settings.cluster_urls.is_empty() {
            let info = redis::IntoConnectionInfo::into_connection_info(settings.url.as_str())
                .map_err(|e| format!("redis_url: {e}"))?;
            let client = open_client(info, settings.tls_ca.as_deref())
                .map_err(|e| format!("redis_url: {e}"))?;
            (Topology::Single(Box::new(client.clone())), vec![client])
        } else {
            let nodes = settings
                .cluster_urls
                .iter()
                .map(|url| {
                    Client::open(url.as_str())
                        .map_err(|e| format!("redis_cluster_urls: {url:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let cluster = ClusterClient::builder(settings.cluster_urls.clone())
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                .build()
                .map_err(|e| format!("redis_cluster_urls: {e}"))?;
            (Topology::Cluster(Box::new(cluster)), nodes)
        };
        let tracking = nodes
            .iter()
            .map(|client| resp3(client, settings.tls_ca.as_deref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("redis_url: {e}"))?;
        Ok(Clients { topology, tracking })
    }

    /// How many tracking connections invalidations arrive on.
    pub(super) fn tracker_count(&self) -> usize {
        match self.topology {
            Topology::Sentinel { .. } => 1,
            _ => self.tracking.len(),
        }
    }
}

/// Longest pause between connection attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A client for `info`, trusting `ca` (PEM) for `rediss://` when given.
fn open_client(info: redis::ConnectionInfo, ca: Option<&[u8]>) -> redis::RedisResult<Client> {
    match ca {
        Some(ca) => Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.to_vec()),
            },
        ),
        None => Client::open(info),
    }
}

/// The same server as `client`, spoken to in RESP3 (for pushes).
fn resp3(client: &Client, ca: Option<&[u8]>) -> Result<Client, String> {
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    open_client(info.set_redis_settings(settings), ca).map_err(|e| e.to_string())
}

pub(super) async fn open_data_connection(inner: &Inner) -> redis::RedisResult<DataConnection> {
    match &inner.clients.topology {
        Topology::Single(client) => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(inner.timeout))
                .set_response_timeout(Some(inner.timeout))
                .set_number_of_retries(2)
                .set_max_delay(MAX_BACKOFF);
            Ok(DataConnection::Single(
                ConnectionManager::new_with_config(Client::clone(client), config).await?,
            ))
        }
        Topology::Cluster(client) => Ok(DataConnection::Cluster(
            client.get_async_connection().await?,
        )),
        Topology::Sentinel { data, .. } => {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(inner.timeout))
                .set_response_timeout(Some(inner.timeout));
            let connection = data
                .lock()
                .await
                .get_async_connection_with_config(&config)
                .await?;
            Ok(DataConnection::Sentinel(connection))
        }
    }
}

/// Starts `connect` unless one is already running.
pub(super) fn spawn_connect(inner: &Arc<Inner>) {
    if !inner.connecting.swap(true, Ordering::AcqRel) {
        tokio::spawn(connect(Arc::downgrade(inner)));
    }
}

/// Connects the data connection, retrying with backoff until it works;
/// after that it reconnects by itself.
async fn connect(store: Weak<Inner>) {
    let mut delay = Duration::from_millis(100);
    let mut logged = false;
    loop {
        let Some(inner) = store.upgrade() else { return };
        match tokio::time::timeout(inner.timeout * 4, open_data_connection(&inner)).await {
            Ok(Ok(connection)) => {
                inner.connection.store(Some(Arc::new(connection)));
                inner.connecting.store(false, Ordering::Release);
                if let Ok(mut last) = inner.last_error.lock() {
                    *last = None;
                }
                tracing::info!("session store: connected to Redis");
                return;
            }
            Ok(Err(error)) => note_failure(
                &inner,
                &mut logged,
                format!("cannot connect to Redis: {error}"),
            ),
            Err(_) => note_failure(
                &inner,
                &mut logged,
                "cannot connect to Redis: timed out".into(),
            ),
        }
        drop(inner);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

fn note_failure(inner: &Inner, logged: &mut bool, why: String) {
    if !*logged {
        tracing::warn!("session store not ready: {why}; retrying in the background");
        *logged = true;
    }
    if let Ok(mut last) = inner.last_error.lock() {
        *last = Some(why);
    }
}
