//! The Redis session store, shared by every replica and by any other
//! service that writes sessions (see `schema` for the JSON).
//!
//! - One key per session, `<prefix><id>`, with a Redis TTL ending at its
//!   expiry; one set per user, `<prefix>user:<username>`, so revoking a
//!   user's sessions needs no SCAN.
//! - One Redis (`redis_url`), a Redis Cluster (`redis_cluster_urls`), or
//!   the master that Redis Sentinel names (`redis_sentinel`), re-resolved
//!   when the connection to it breaks (failover).
//! - Lookups go through a bounded local cache (`cache`). It is only used
//!   while every node's invalidations are being received on a dedicated
//!   RESP3 connection (`CLIENT TRACKING ON BCAST PREFIX <prefix>`), so a
//!   change made anywhere — through any replica, or a plain `DEL` — drops
//!   the entry here within a round trip. When such a connection drops, the
//!   cache is emptied and nothing is cached until it is back.
//! - Every call is bounded by `redis_timeout`; a failed or slow call is a
//!   `StoreError`, which protected routes turn into 503 (fail closed).
//! - The gateway starts with Redis unreachable (not ready) and connects in
//!   the background; the connections reconnect by themselves later.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::RedisConnectionInfo;
use redis::{
    AsyncConnectionConfig, Client, Cmd, Pipeline, ProtocolVersion, PushKind, RedisFuture, Value,
};
use tokio::sync::Mutex as AsyncMutex;

use super::cache::SessionCache;
use super::{schema, Session, SessionId, SessionStore, StoreError};

#[derive(Clone, Debug)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// Where the sessions live.
enum Topology {
    Single(Box<Client>),
    /// Redis Cluster: keys spread over the masters' hash slots.
    Cluster(Box<ClusterClient>),
    /// The master Redis Sentinel names: one client for data, one (RESP3)
    /// for invalidations; each resolves the master when it connects.
    Sentinel {
        data: Box<AsyncMutex<SentinelClient>>,
        tracking: Box<AsyncMutex<SentinelClient>>,
    },
}

/// A connection for data commands, to one Redis or to a cluster.
#[derive(Clone)]
enum DataConnection {
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

struct Inner {
    topology: Topology,
    /// Every node, spoken to in RESP3 for invalidation pushes (every
    /// master, in a cluster: a key's invalidation comes from its master).
    /// Empty for Sentinel, whose one tracker resolves the master itself.
    tracking_clients: Vec<Client>,
    /// A `connect` task is running (Sentinel reconnects through it).
    connecting: AtomicBool,
    /// `cache_size = 0` turns the local cache off: every lookup asks Redis.
    cache_enabled: bool,
    connection: ArcSwapOption<DataConnection>,
    prefix: String,
    timeout: Duration,
    cache: SessionCache,
    /// How many tracking connections receive invalidations now; answers
    /// may be cached only while all of them do.
    trackers_up: AtomicUsize,
    /// Why the store is not usable, for `/readyz` and logs.
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("connected", &self.connection.load().is_some())
            .field("trackers_up", &self.trackers_up.load(Ordering::Relaxed))
            .finish()
    }
}

impl Inner {
    fn cache_on(&self) -> bool {
        self.cache_enabled && self.trackers_up.load(Ordering::Acquire) == self.tracker_count()
    }

    fn tracker_count(&self) -> usize {
        match self.topology {
            Topology::Sentinel { .. } => 1,
            _ => self.tracking_clients.len(),
        }
    }
}

/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

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

impl RedisStore {
    /// Checks the settings; connects nothing yet (see `start`).
    pub fn new(settings: &RedisSettings) -> Result<RedisStore, String> {
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
                data: Box::new(AsyncMutex::new(client(ProtocolVersion::RESP2)?)),
                tracking: Box::new(AsyncMutex::new(client(ProtocolVersion::RESP3)?)),
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
        let tracking_clients = nodes
            .iter()
            .map(|client| resp3(client, settings.tls_ca.as_deref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("redis_url: {e}"))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                topology,
                tracking_clients,
                connecting: AtomicBool::new(false),
                cache_enabled: settings.cache_capacity > 0,
                connection: ArcSwapOption::empty(),
                prefix: settings.key_prefix.clone(),
                timeout: settings.timeout,
                cache: SessionCache::new(
                    settings.cache_capacity,
                    settings.cache_ttl,
                    settings.negative_cache_ttl,
                ),
                trackers_up: AtomicUsize::new(0),
                last_error: Mutex::new(Some("connecting".into())),
            }),
        })
    }

    /// Starts connecting, and listening for invalidations, in the
    /// background; all of it stops when the store is dropped. Needs Tokio.
    pub fn start(&self) {
        spawn_connect(&self.inner);
        for node in 0..self.inner.tracker_count() {
            tokio::spawn(track(Arc::downgrade(&self.inner), node));
        }
    }

    /// `Ok` when Redis answers a PING within the timeout.
    pub async fn ready(&self) -> Result<(), String> {
        let mut connection = self.connection().map_err(|e| e.to_string())?;
        self.bounded(async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        })
        .await
        .map(drop)
        .map_err(|e| e.to_string())
    }

    /// Counts cache hits and misses into these counters (metrics).
    pub fn count_cache_answers(
        &self,
        hits: prometheus_client::metrics::counter::Counter,
        misses: prometheus_client::metrics::counter::Counter,
    ) {
        self.inner.cache.count_answers(hits, misses);
    }

    /// True while every node's invalidations flow and the cache is in use.
    pub fn cache_on(&self) -> bool {
        self.inner.cache_on()
    }

    fn is_cluster(&self) -> bool {
        matches!(self.inner.topology, Topology::Cluster(_))
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.inner.prefix, id.as_str())
    }

    fn user_key(&self, username: &str) -> String {
        format!("{}user:{username}", self.inner.prefix)
    }

    fn connection(&self) -> Result<DataConnection, StoreError> {
        match &*self.inner.connection.load() {
            Some(connection) => Ok(DataConnection::clone(connection)),
            None => Err(StoreError::Unavailable(
                self.inner
                    .last_error
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_else(|| "not connected".into()),
            )),
        }
    }

    /// Runs one Redis exchange within `redis_timeout`.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                self.connection_lost_if(&error);
                Err(StoreError::Unavailable(error.to_string()))
            }
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// With Sentinel, a broken connection or a demoted master (READONLY)
    /// means: ask the sentinels again. The other topologies reconnect by
    /// themselves.
    fn connection_lost_if(&self, error: &redis::RedisError) {
        let lost = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.code() == Some("READONLY");
        if lost && matches!(self.inner.topology, Topology::Sentinel { .. }) {
            self.inner.connection.store(None);
            spawn_connect(&self.inner);
        }
    }

    async fn fetch(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut connection = self.connection()?;
        let key = self.key(id);
        let raw: Option<Vec<u8>> = self
            .bounded(async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        match schema::decode(&raw) {
            Ok(session) => Ok(Some(session)),
            Err(error) => {
                tracing::warn!(%error, "a stored session is unreadable; treated as no session");
                Ok(None)
            }
        }
    }

    /// Writes `session` under `id` with a TTL ending at its expiry, and
    /// files it under its user.
    async fn write(&self, id: &SessionId, session: &Session) -> Result<(), StoreError> {
        let ttl_ms = ttl_millis(session.expires_at);
        let user_key = self.user_key(&session.username);
        let mut set = redis::cmd("SET");
        set.arg(self.key(id))
            .arg(schema::encode(session))
            .arg("PX")
            .arg(ttl_ms);
        let mut add = redis::cmd("SADD");
        add.arg(&user_key).arg(id.as_str());
        // A new set gets the session's TTL; an existing one only grows.
        let mut expire_new = redis::cmd("PEXPIRE");
        expire_new.arg(&user_key).arg(ttl_ms).arg("NX");
        let mut expire_longer = redis::cmd("PEXPIRE");
        expire_longer.arg(&user_key).arg(ttl_ms).arg("GT");
        self.run_all(vec![set, add, expire_new, expire_longer])
            .await
            .map(drop)
    }

    /// Runs `commands`: as one transaction on a single Redis; one by one in
    /// a cluster, where their keys live in different slots (and nodes).
    /// Returns each command's integer reply (0 where it has none).
    async fn run_all(&self, commands: Vec<Cmd>) -> Result<Vec<i64>, StoreError> {
        let mut connection = self.connection()?;
        if !self.is_cluster() {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for command in commands {
                pipe.add_command(command);
            }
            let replies: Vec<Value> = self
                .bounded(async move { pipe.query_async(&mut connection).await })
                .await?;
            return Ok(replies.iter().map(integer).collect());
        }
        let mut replies = Vec::with_capacity(commands.len());
        for command in commands {
            let mut connection = connection.clone();
            let reply: Value = self
                .bounded(async move { command.query_async(&mut connection).await })
                .await?;
            replies.push(integer(&reply));
        }
        Ok(replies)
    }
}

fn integer(reply: &Value) -> i64 {
    match reply {
        Value::Int(n) => *n,
        _ => 0,
    }
}

/// Milliseconds from now until `expires_at`, at least 1 (Redis refuses 0).
fn ttl_millis(expires_at: SystemTime) -> u64 {
    let left = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl SessionStore for RedisStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>, StoreError> {
        if let Some(answer) = self.inner.cache.get(id) {
            return Ok(answer);
        }
        let found = self
            .fetch(id)
            .await?
            .filter(|s| !s.is_expired(SystemTime::now()))
            .map(Arc::new);
        if self.inner.cache_on() {
            self.inner.cache.insert(*id, found.clone());
        }
        Ok(found)
    }

    async fn insert(&self, id: SessionId, session: Session) -> Result<Arc<Session>, StoreError> {
        self.write(&id, &session).await?;
        self.inner.cache.remove(&id);
        Ok(Arc::new(session))
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let key = self.key(id);
        let raw: Option<Vec<u8>> = self
            .bounded(async move {
                redis::cmd("GETDEL")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        self.inner.cache.remove(id);
        let Some(raw) = raw else { return Ok(false) };
        if let Ok(session) = schema::decode(&raw) {
            let mut connection = self.connection()?;
            let user_key = self.user_key(&session.username);
            let member = id.as_str().to_string();
            self.bounded(async move {
                redis::cmd("SREM")
                    .arg(user_key)
                    .arg(member)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await?;
        }
        Ok(true)
    }

    async fn remove_user(&self, username: &str) -> Result<usize, StoreError> {
        let mut connection = self.connection()?;
        let members_key = self.user_key(username);
        let ids: Vec<String> = self
            .bounded(async move {
                redis::cmd("SMEMBERS")
                    .arg(members_key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let ids: Vec<SessionId> = ids.iter().filter_map(|i| SessionId::parse(i)).collect();
        // One DEL per key: in a cluster the keys are in different slots.
        let mut deletes: Vec<Cmd> = ids
            .iter()
            .map(|id| {
                self.inner.cache.remove(id);
                let mut delete = redis::cmd("DEL");
                delete.arg(self.key(id));
                delete
            })
            .collect();
        let session_deletes = deletes.len();
        let mut set = redis::cmd("DEL");
        set.arg(self.user_key(username));
        deletes.push(set);
        let counts = self.run_all(deletes).await?;
        Ok(counts[..session_deletes]
            .iter()
            .map(|&n| usize::try_from(n).unwrap_or(0))
            .sum())
    }

    async fn renew(
        &self,
        id: &SessionId,
        expires_at: SystemTime,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let Some(current) = self.fetch(id).await? else {
            return Ok(None);
        };
        let renewed = current.with_expiry(expires_at);
        self.write(id, &renewed).await?;
        self.inner.cache.remove(id);
        Ok(Some(Arc::new(renewed)))
    }
}

async fn open_data_connection(inner: &Inner) -> redis::RedisResult<DataConnection> {
    match &inner.topology {
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
fn spawn_connect(inner: &Arc<Inner>) {
    if !inner.connecting.swap(true, Ordering::AcqRel) {
        tokio::spawn(connect(Arc::downgrade(inner)));
    }
}

/// The RESP3 connection invalidations arrive on, for tracker `node`.
async fn open_tracking_connection(
    inner: &Inner,
    node: usize,
    config: &AsyncConnectionConfig,
) -> redis::RedisResult<MultiplexedConnection> {
    match &inner.topology {
        Topology::Sentinel { tracking, .. } => {
            tracking
                .lock()
                .await
                .get_async_connection_with_config(config)
                .await
        }
        _ => {
            let client = inner.tracking_clients[node].clone();
            client
                .get_multiplexed_async_connection_with_config(config)
                .await
        }
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

/// Keeps a RESP3 connection to node `node` subscribed to invalidations of
/// every key under the prefix, and applies them to the cache; reconnects
/// when it drops.
async fn track(store: Weak<Inner>, node: usize) {
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
        drop(store.upgrade());
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
/// `redis_sentinel = { master = "...", urls = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelSettings {
    pub master: String,
    pub urls: Vec<String>,
}

/// `[session] store = "redis"`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    pub url: String,
    /// Redis Cluster seed nodes; when set, `url` is not used.
    pub cluster_urls: Vec<String>,
    /// Redis Sentinel; when set, `url` is not used.
    pub sentinel: Option<SentinelSettings>,
    /// PEM certificates trusted for `rediss://` (else the system's roots).
    pub tls_ca: Option<Vec<u8>>,
    pub key_prefix: String,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    pub cache_capacity: u64,
}
