//! `[session] store = "django"`: the sessions a Django project writes
//! itself, read from its database (never written), so its users reach the
//! services behind the gateway with the login they already have. A
//! session counts when Django would accept it in `auth.get_user`: a valid
//! `session_data` signature (current key or a fallback), a future
//! `expire_date`, a listed `_auth_user_backend`, an active user, and an
//! `_auth_user_hash` that still matches the user's password hash.

mod credential_users;
pub mod database;
pub mod settings;
pub mod signing;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value};

use self::database::{Database, SessionRow, UserRow};
use self::settings::DjangoConfig;
use self::signing::{KeyRing, SigningError, AUTH_HASH_SALT, SESSION_SALT};
use super::cache::SessionCache;
use super::record::unsafe_identity_value;
use super::{NewSession, Session, SessionId, SessionStore, StoreError};

/// The keys Django keeps in a logged-in session.
const USER_ID: &str = "_auth_user_id";
const BACKEND: &str = "_auth_user_backend";
const HASH: &str = "_auth_user_hash";
const CSRF_SECRET: &str = "_csrftoken";

#[derive(Clone)]
pub struct DjangoStore {
    inner: Arc<Inner>,
}

struct Inner {
    database: Database,
    session_keys: KeyRing,
    hash_keys: KeyRing,
    backends: Vec<String>,
    cache: Option<SessionCache>,
    /// Users found by an API credential (a DRF token, a simplejwt user
    /// id), by a digest of that credential; same lifetimes as `cache`.
    credential_cache: Option<SessionCache>,
}

impl std::fmt::Debug for DjangoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DjangoStore")
            .field("database", &self.inner.database)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// Why a Django session is not a signed-in user, for the log and `explain`.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NoSuchSession,
    Expired,
    Signature(SigningError),
    NoUser,
    Backend,
    UnknownUser,
    Inactive,
    /// `_auth_user_hash` is missing or no longer matches (the password
    /// changed, or the key rotated past the fallbacks).
    Hash,
    UnsendableName(String),
}

impl Refusal {
    /// What happened, in Django's terms, for `explain`.
    pub fn describe(&self) -> String {
        match self {
            Refusal::NoSuchSession => "django_session has no such session_key (signed out, or never made)".into(),
            Refusal::Expired => "Django's session has expired (its expire_date is past)".into(),
            Refusal::Signature(SigningError::BadSignature) => "its session_data is not signed with SECRET_KEY or any of secret_key_fallbacks (Django logs \"Session data corrupted\")".into(),
            Refusal::Signature(SigningError::Malformed(what)) => format!("its session_data is signed but unreadable ({what})"),
            Refusal::NoUser => "the session has no _auth_user_id: nobody is signed in to it".into(),
            Refusal::Backend => "its _auth_user_backend is not in django.authentication_backends".into(),
            Refusal::UnknownUser => "its _auth_user_id names no user".into(),
            Refusal::Inactive => "the user is inactive (is_active is false)".into(),
            Refusal::Hash => "_auth_user_hash no longer matches the user's password hash: the password changed since sign-in, or SECRET_KEY changed without the old key in secret_key_fallbacks".into(),
            Refusal::UnsendableName(why) => format!("{why} Names must be printable ASCII to be sent as identity headers"),
        }
    }
}

impl DjangoStore {
    /// The store for `config`, whose database target the config compiler
    /// checked; connects nothing yet.
    pub fn new(config: &DjangoConfig) -> DjangoStore {
        let settings = &config.settings;
        let fallbacks = &settings.secret_key_fallbacks;
        DjangoStore {
            inner: Arc::new(Inner {
                database: Database::open(&config.target, settings),
                session_keys: KeyRing::for_signer(SESSION_SALT, &settings.secret_key, fallbacks),
                hash_keys: KeyRing::new(AUTH_HASH_SALT, &settings.secret_key, fallbacks),
                backends: settings.authentication_backends.clone(),
                cache: (settings.cache_capacity > 0).then(|| {
                    SessionCache::new(
                        settings.cache_capacity,
                        settings.cache_ttl,
                        settings.negative_cache_ttl,
                    )
                }),
                credential_cache: (settings.cache_capacity > 0).then(|| {
                    SessionCache::new(
                        settings.cache_capacity,
                        settings.cache_ttl,
                        settings.negative_cache_ttl,
                    )
                }),
            }),
        }
    }

    /// Counts cache hits and misses into these counters (metrics).
    pub fn count_cache_answers(&self, hits: Counter, misses: Counter) {
        if let Some(cache) = &self.inner.cache {
            cache.count_answers(hits, misses);
        }
    }

    pub fn cache_on(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// `Ok` when the session table can be read now (`/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        self.inner.database.ready().await
    }

    /// Why session `id` is no signed-in user, asked afresh (for `explain`,
    /// after `get` said "none"); `None` when it now is one, or the database
    /// did not answer.
    pub async fn why_not(&self, id: &SessionId) -> Option<String> {
        match self.resolve(id).await {
            Ok(Err(refusal)) => Some(refusal.describe()),
            _ => None,
        }
    }

    /// Asks the database: the signed-in user of session `id`, or why not.
    async fn resolve(&self, id: &SessionId) -> Result<Result<Session, Refusal>, StoreError> {
        let Some(row) = self.inner.database.session(id.as_str()).await? else {
            return Ok(Err(Refusal::NoSuchSession));
        };
        let SessionRow { data, expires_at } = row;
        // NULL, negative or unrepresentable (PostgreSQL's 'infinity'):
        // no session Django would keep is like that.
        let Some(expires_at) = Duration::try_from_secs_f64(expires_at)
            .ok()
            .and_then(|since_epoch| UNIX_EPOCH.checked_add(since_epoch))
            .filter(|at| *at <= UNIX_EPOCH + super::MAX_SESSION_TTL * 2)
        else {
            return Ok(Err(Refusal::Expired));
        };
        if expires_at <= SystemTime::now() {
            return Ok(Err(Refusal::Expired));
        }
        let dict = match self.inner.session_keys.loads(&data) {
            Ok(dict) => dict,
            Err(error) => return Ok(Err(Refusal::Signature(error))),
        };
        let Some(user_id) = user_id(&dict) else {
            return Ok(Err(Refusal::NoUser));
        };
        let backend = dict.get(BACKEND).and_then(Value::as_str);
        if !backend.is_some_and(|b| self.inner.backends.iter().any(|listed| listed == b)) {
            return Ok(Err(Refusal::Backend));
        }
        let Some(user) = self.inner.database.user(&user_id).await? else {
            return Ok(Err(Refusal::UnknownUser));
        };
        Ok(self.signed_in(&dict, user_id, user, expires_at))
    }

    /// The rest of `get_user`, once the user row is known.
    fn signed_in(
        &self,
        dict: &Map<String, Value>,
        user_id: String,
        mut user: UserRow,
        expires_at: SystemTime,
    ) -> Result<Session, Refusal> {
        // In code-point order whatever the database's collation, so the
        // headers are the same from SQLite and PostgreSQL.
        user.groups.sort_unstable();
        user.permissions.sort_unstable();
        // ModelBackend.user_can_authenticate.
        if !user.active {
            return Err(Refusal::Inactive);
        }
        let hash = dict.get(HASH).and_then(Value::as_str).unwrap_or("");
        if hash.is_empty()
            || !self
                .inner
                .hash_keys
                .hex_digest_matches(user.password.as_bytes(), hash)
        {
            return Err(Refusal::Hash);
        }
        let csrf_secret = dict
            .get(CSRF_SECRET)
            .and_then(Value::as_str)
            .map(str::to_string);
        let new = user_session(user_id, user, csrf_secret)?;
        // Django does not record when a session began.
        Ok(Session::new(new, expires_at, expires_at))
    }
}

/// An active user's row as what the other stages read; refused when a
/// name could not be sent as an identity header.
fn user_session(
    user_id: String,
    user: UserRow,
    csrf_secret: Option<String>,
) -> Result<NewSession, Refusal> {
    if let Some(why) = unsafe_identity_value(
        &user.username,
        Some(&user_id),
        &user.groups,
        &user.permissions,
    ) {
        return Err(Refusal::UnsendableName(why));
    }
    Ok(NewSession {
        username: user.username,
        user_id: Some(user_id),
        groups: user.groups,
        permissions: user.permissions,
        staff: user.staff,
        superuser: user.superuser,
        csrf_secret,
        oidc: None,
    })
}

/// `_auth_user_id` as Django stores it: the primary key as a string (a
/// number from older code is accepted as `pk.to_python` would).
fn user_id(dict: &Map<String, Value>) -> Option<String> {
    match dict.get(USER_ID)? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

impl SessionStore for DjangoStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>, StoreError> {
        if let Some(answer) = self.inner.cache.as_ref().and_then(|cache| cache.get(id)) {
            return Ok(answer);
        }
        let answer = match self.resolve(id).await? {
            Ok(session) => Some(Arc::new(session)),
            Err(refusal) => {
                match &refusal {
                    // Django logs this one as a security warning too.
                    Refusal::Signature(SigningError::BadSignature) => {
                        tracing::warn!("Django session data corrupted (bad signature); anonymous")
                    }
                    Refusal::NoSuchSession | Refusal::Expired => {}
                    // The user is signed in to Django but cannot be sent on.
                    Refusal::UnsendableName(why) => {
                        tracing::warn!(%why, "Django user refused: a name cannot be an identity header")
                    }
                    other => tracing::info!(why = ?other, "Django session is not a signed-in user"),
                }
                None
            }
        };
        if let Some(cache) = &self.inner.cache {
            cache.insert(*id, answer.clone());
        }
        Ok(answer)
    }

    async fn insert(&self, _id: SessionId, _session: Session) -> Result<Arc<Session>, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn remove(&self, _id: &SessionId) -> Result<bool, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn remove_user(&self, _username: &str) -> Result<usize, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn renew(
        &self,
        _id: &SessionId,
        _expires_at: SystemTime,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        Err(StoreError::ReadOnly)
    }
}
