//! The Redis session store, shared by every replica and by any other
//! service that writes sessions (see `schema` for the JSON).
//!
//! - One key per session, `<prefix><id>`, with a Redis TTL ending at its
//!   expiry; one set per user, `<prefix>user:<username>`, so revoking a
//!   user's sessions needs no SCAN.
//! - Lookups go through a bounded local cache (`cache`). It is only filled
//!   while a second connection receives Redis's own invalidations
//!   (`CLIENT TRACKING ON BCAST PREFIX <prefix>`, RESP3 pushes), so a change
//!   made anywhere — through any replica, or a plain `DEL` — drops the
//!   entry here within a round trip. When that connection is down, the
//!   cache is emptied and nothing new is cached until it is back.
//! - Every call is bounded by `redis_timeout`; a failed or slow call is a
//!   `StoreError`, which protected routes turn into 503 (fail closed).
//! - The gateway starts with Redis unreachable (not ready) and connects in
//!   the background; the connection manager reconnects by itself later.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, ProtocolVersion, PushKind, Value};

use super::cache::SessionCache;
use super::{schema, Session, SessionId, SessionStore, StoreError};
use crate::config::runtime::RedisSettings;

#[derive(Clone, Debug)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// The same server, spoken to in RESP3 for invalidation pushes.
    tracking_client: Client,
    connection: ArcSwapOption<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    cache: SessionCache,
    /// Invalidations are flowing: answers may be cached.
    tracking: AtomicBool,
    /// Why the store is not usable, for `/readyz` and logs.
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("connected", &self.connection.load().is_some())
            .field("tracking", &self.tracking.load(Ordering::Relaxed))
            .finish()
    }
}

/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl RedisStore {
    /// Checks the settings; connects nothing yet (see `start`).
    pub fn new(settings: &RedisSettings) -> Result<RedisStore, String> {
        let client = Client::open(settings.url.as_str()).map_err(|e| format!("redis_url: {e}"))?;
        let info = client.get_connection_info().clone();
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let tracking_client =
            Client::open(info.set_redis_settings(resp3)).map_err(|e| format!("redis_url: {e}"))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                tracking_client,
                connection: ArcSwapOption::empty(),
                prefix: settings.key_prefix.clone(),
                timeout: settings.timeout,
                cache: SessionCache::new(
                    settings.cache_capacity,
                    settings.cache_ttl,
                    settings.negative_cache_ttl,
                ),
                tracking: AtomicBool::new(false),
                last_error: Mutex::new(Some("connecting".into())),
            }),
        })
    }

    /// Starts connecting, and listening for invalidations, in the
    /// background; both stop when the store is dropped. Needs Tokio.
    pub fn start(&self) {
        tokio::spawn(connect(Arc::downgrade(&self.inner)));
        tokio::spawn(track(Arc::downgrade(&self.inner)));
    }

    /// `Ok` when Redis answers a PING within the timeout.
    pub async fn ready(&self) -> Result<(), String> {
        let mut connection = self.connection().map_err(|e| e.to_string())?;
        let pong: Result<String, StoreError> = self
            .bounded(async move { redis::cmd("PING").query_async(&mut connection).await })
            .await;
        match pong {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// True while invalidations flow and the local cache is in use.
    pub fn cache_on(&self) -> bool {
        self.inner.tracking.load(Ordering::Acquire)
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.inner.prefix, id.as_str())
    }

    fn user_key(&self, username: &str) -> String {
        format!("{}user:{username}", self.inner.prefix)
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        match &*self.inner.connection.load() {
            Some(manager) => Ok(ConnectionManager::clone(manager)),
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
            Ok(Err(error)) => Err(StoreError::Unavailable(error.to_string())),
            Err(_) => Err(StoreError::Timeout),
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
        let mut connection = self.connection()?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.key(id))
            .arg(schema::encode(session))
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .cmd("SADD")
            .arg(self.user_key(&session.username))
            .arg(id.as_str())
            .ignore()
            // A new set gets the session's TTL; an existing one only grows.
            .cmd("PEXPIRE")
            .arg(self.user_key(&session.username))
            .arg(ttl_ms)
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(self.user_key(&session.username))
            .arg(ttl_ms)
            .arg("GT")
            .ignore();
        self.bounded(async move { pipe.query_async::<()>(&mut connection).await })
            .await
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
        if self.inner.tracking.load(Ordering::Acquire) {
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
        let user_key = self.user_key(username);
        let members_key = user_key.clone();
        let ids: Vec<String> = self
            .bounded(async move {
                redis::cmd("SMEMBERS")
                    .arg(members_key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let ids: Vec<SessionId> = ids.iter().filter_map(|i| SessionId::parse(i)).collect();
        let mut connection = self.connection()?;
        let mut delete = redis::cmd("DEL");
        for id in &ids {
            delete.arg(self.key(id));
            self.inner.cache.remove(id);
        }
        let removed: usize = if ids.is_empty() {
            0
        } else {
            self.bounded(async move { delete.query_async(&mut connection).await })
                .await?
        };
        let mut connection = self.connection()?;
        self.bounded(async move {
            redis::cmd("DEL")
                .arg(user_key)
                .query_async::<()>(&mut connection)
                .await
        })
        .await?;
        Ok(removed)
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

/// Connects the data connection, retrying with backoff until it works;
/// after that the connection manager reconnects by itself.
async fn connect(store: Weak<Inner>) {
    let mut delay = Duration::from_millis(100);
    let mut logged = false;
    loop {
        let Some(inner) = store.upgrade() else { return };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(inner.timeout))
            .set_response_timeout(Some(inner.timeout))
            .set_number_of_retries(2)
            .set_max_delay(MAX_BACKOFF);
        let attempt = tokio::time::timeout(
            inner.timeout * 4,
            ConnectionManager::new_with_config(inner.client.clone(), config),
        )
        .await;
        match attempt {
            Ok(Ok(manager)) => {
                inner.connection.store(Some(Arc::new(manager)));
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

/// Keeps a RESP3 connection subscribed to invalidations of every key under
/// the prefix, and applies them to the cache; reconnects when it drops.
async fn track(store: Weak<Inner>) {
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
            inner
                .tracking_client
                .get_multiplexed_async_connection_with_config(&config),
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
                    inner.tracking.store(true, Ordering::Release);
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
                    inner.tracking.store(false, Ordering::Release);
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
