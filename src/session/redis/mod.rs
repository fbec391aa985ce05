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

mod connection;
mod refresh;
mod settings;
mod sliding_log;
mod tokens;
mod tracking;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use redis::{Cmd, Value};

use super::cache::SessionCache;
use super::{schema, Session, SessionId, SessionStore, StoreError};
use connection::{spawn_connect, Clients, DataConnection, Topology};
pub use refresh::RedisClaim;
pub use settings::{RedisConfig, RedisSettings, SentinelSettings};
pub use sliding_log::LogAnswer;

#[derive(Clone, Debug)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    clients: Clients,
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
        self.clients.tracker_count()
    }
}

impl RedisStore {
    /// The store for `config`, whose clients the config compiler built;
    /// connects nothing yet (see `start`).
    pub fn new(config: &RedisConfig) -> RedisStore {
        let settings = &config.settings;
        RedisStore {
            inner: Arc::new(Inner {
                clients: config.clients.clone(),
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
        }
    }

    /// Starts connecting, and listening for invalidations, in the
    /// background; all of it stops when the store is dropped. Needs Tokio.
    pub fn start(&self) {
        spawn_connect(&self.inner);
        for node in 0..self.inner.tracker_count() {
            tokio::spawn(tracking::track(Arc::downgrade(&self.inner), node));
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
        matches!(self.inner.clients.topology, Topology::Cluster(_))
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
        if lost && matches!(self.inner.clients.topology, Topology::Sentinel { .. }) {
            self.inner.connection.store(None);
            spawn_connect(&self.inner);
        }
    }

    async fn fetch(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.fetch_record(self.key(id)).await
    }

    /// The record (a session, or an API token's user) under `key`; an
    /// unreadable one counts as none.
    async fn fetch_record(&self, key: String) -> Result<Option<Session>, StoreError> {
        Ok(self.fetch_raw(key).await?.map(|(_, session)| session))
    }

    /// The record under `key` as stored, and as read; an unreadable one
    /// counts as none.
    async fn fetch_raw(&self, key: String) -> Result<Option<(Vec<u8>, Session)>, StoreError> {
        let mut connection = self.connection()?;
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
            Ok(session) => Ok(Some((raw, session))),
            Err(error) => {
                tracing::warn!(%error, "a stored session or token is unreadable; treated as none");
                Ok(None)
            }
        }
    }

    /// Writes `session` under `id` with a TTL ending at its expiry, and
    /// files it under its user.
    async fn write(&self, id: &SessionId, session: &Session) -> Result<(), StoreError> {
        self.write_record(self.key(id), id.as_str().to_string(), session)
            .await
    }

    /// Writes `record` under `key` with a TTL ending at its expiry, and
    /// files `member` (how the user's set names it) under its user.
    async fn write_record(
        &self,
        key: String,
        member: String,
        record: &Session,
    ) -> Result<(), StoreError> {
        let ttl_ms = ttl_millis(record.expires_at);
        let user_key = self.user_key(&record.username);
        let mut set = redis::cmd("SET");
        set.arg(key)
            .arg(schema::encode(record))
            .arg("PX")
            .arg(ttl_ms);
        let mut add = redis::cmd("SADD");
        add.arg(&user_key).arg(member);
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

impl RedisStore {
    /// Deletes the record under `key` and its `member` entry in its user's
    /// set; `false` when there was none.
    async fn remove_record(&self, key: String, member: String) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let raw: Option<Vec<u8>> = self
            .bounded(async move {
                redis::cmd("GETDEL")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let Some(raw) = raw else { return Ok(false) };
        if let Ok(record) = schema::decode(&raw) {
            let mut connection = self.connection()?;
            let user_key = self.user_key(&record.username);
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
        let removed = self
            .remove_record(self.key(id), id.as_str().to_string())
            .await;
        self.inner.cache.remove(id);
        removed
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
        // Session ids, and the user's API tokens (`token:<digest>`).
        let keys: Vec<String> = ids
            .iter()
            .filter_map(|member| match SessionId::parse(member) {
                Some(id) => {
                    self.inner.cache.remove(&id);
                    Some(self.key(&id))
                }
                None => self.token_key_of_member(member),
            })
            .collect();
        // One DEL per key: in a cluster the keys are in different slots.
        let mut deletes: Vec<Cmd> = keys
            .iter()
            .map(|key| {
                let mut delete = redis::cmd("DEL");
                delete.arg(key);
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
        let Some((read, current)) = self.fetch_raw(self.key(id)).await? else {
            return Ok(None);
        };
        let renewed = current.with_expiry(expires_at);
        // Only over the record read: a refresh written meanwhile (new
        // claims, a rotated refresh token) wins, and the renewal waits for
        // the next request.
        let written = self.compare_and_set(id, &read, &renewed).await?;
        self.inner.cache.remove(id);
        if !written {
            return Ok(None);
        }
        // The user's set lives at least as long as the session.
        let ttl_ms = ttl_millis(expires_at);
        let user_key = self.user_key(&renewed.username);
        let mut expire_longer = redis::cmd("PEXPIRE");
        expire_longer.arg(&user_key).arg(ttl_ms).arg("GT");
        self.run_all(vec![expire_longer]).await?;
        Ok(Some(Arc::new(renewed)))
    }
}
