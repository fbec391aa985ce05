//! The issuer's keys as the verifier holds them: fetched from the JWKS URL
//! (hyper-util's pooled client over the same rustls/ring stack the
//! upstream uses), kept for `jwks_cache_ttl`, fetched again early for an
//! unknown `kid` but at most once per `jwks_refetch_interval`, and kept
//! when a fetch fails (stale-if-error). A cached key is found without any
//! lock: the key set is an `ArcSwap` snapshot, replaced whole. Fetches are
//! single-flight: one in progress, every other caller that needs it waits
//! for its result. Keys past their TTL that still fit a token are used at
//! once while the fetch runs in the background, so neither the routine
//! refresh nor an issuer outage makes requests wait on the issuer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use jsonwebtoken::Algorithm;

use super::keys::{parse_jwks, Key};
use super::problem::{BearerError, BearerProblem};

/// The largest JWKS document read; a real one is a few KiB.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The key set at one moment, and what the last fetch attempt did.
#[derive(Default)]
struct Snapshot {
    keys: Vec<Arc<Key>>,
    /// When `keys` were fetched (last successful fetch).
    fetched_at: Option<Instant>,
    /// When the last fetch was tried, successful or not (rate limit).
    attempted_at: Option<Instant>,
    /// Why the last attempt failed; `None` after a success.
    error: Option<String>,
    /// Counts attempts, so a caller that waited for a fetch can tell one
    /// happened meanwhile and not start another.
    generation: u64,
}

impl Snapshot {
    fn fitting(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<Key>> {
        self.keys
            .iter()
            .filter(|key| key.fits(kid, alg))
            .cloned()
            .collect()
    }
}

/// When a token names a key the cache lacks, may the keys be fetched again
/// before `jwks_refetch_interval` has passed?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refetch {
    /// Not sooner: anyone can send a token naming an unknown `kid`.
    RateLimited,
    /// At once (still one fetch at a time): the token came straight from
    /// the issuer's token endpoint over its own TLS connection, not from a
    /// client, so an unknown `kid` means the issuer rotated its keys.
    Immediate,
}

/// The cache of one issuer's keys and the client that fetches them.
pub(super) struct KeyCache {
    url: Uri,
    ttl: Duration,
    refetch_interval: Duration,
    timeout: Duration,
    client: HttpsClient,
    state: arc_swap::ArcSwap<Snapshot>,
    /// Held by the one fetch in progress (owned by its task, so a caller
    /// that goes away does not cancel a fetch others wait for).
    in_flight: Arc<tokio::sync::Mutex<()>>,
}

impl KeyCache {
    /// An empty cache for the JWKS at `url`, fetched over `tls`; nothing
    /// is fetched until a token needs a key (or `prefetch`).
    pub fn new(
        url: Uri,
        ttl: Duration,
        refetch_interval: Duration,
        timeout: Duration,
        tls: &rustls::ClientConfig,
    ) -> KeyCache {
        let connector = crate::tls::client::http_connector(timeout, tls);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        KeyCache {
            url,
            ttl,
            refetch_interval,
            timeout,
            client,
            state: arc_swap::ArcSwap::from_pointee(Snapshot::default()),
            in_flight: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The keys that may verify a token with `kid` and `alg`: from the
    /// cache when it has one (past the TTL, a fetch starts behind the
    /// request); otherwise after a fetch, when the rate limit allows one
    /// (`Refetch::Immediate` waives it: the token came from the issuer
    /// itself). None fitting: `UnknownKey`, or `IssuerUnavailable` when
    /// the last fetch failed (the key may well exist; we cannot tell).
    pub async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
        refetch: Refetch,
    ) -> Result<Vec<Arc<Key>>, BearerError> {
        let now = Instant::now();
        let snapshot = self.state.load();
        let fitting = snapshot.fitting(kid, alg);
        let fresh = snapshot
            .fetched_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.ttl);
        if fresh && !fitting.is_empty() {
            return Ok(fitting);
        }
        let may_fetch = refetch == Refetch::Immediate
            || snapshot
                .attempted_at
                .is_none_or(|at| now.saturating_duration_since(at) >= self.refetch_interval);
        if !may_fetch {
            return answer(&snapshot, fitting);
        }
        let seen = snapshot.generation;
        if !fitting.is_empty() {
            // Past the TTL but usable: refresh behind this request.
            self.refresh_in_background(seen);
            return Ok(fitting);
        }
        drop(snapshot);
        self.refresh(seen).await;
        let snapshot = self.state.load();
        let fitting = snapshot.fitting(kid, alg);
        answer(&snapshot, fitting)
    }

    /// Fetches now, unless a fetch is in progress (then waits for it) or
    /// the rate limit forbids; returns how many keys are cached after.
    pub async fn prefetch(self: &Arc<Self>) -> Result<usize, String> {
        let snapshot = self.state.load_full();
        let may_fetch = snapshot
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_fetch {
            self.refresh(snapshot.generation).await;
        }
        let snapshot = self.state.load();
        match &snapshot.error {
            Some(error) => Err(error.clone()),
            None => Ok(snapshot.keys.len()),
        }
    }

    /// One fetch, single-flight: a caller that waited while another
    /// fetched (the generation moved) uses that result instead.
    async fn refresh(self: &Arc<Self>, seen: u64) {
        let guard = Arc::clone(&self.in_flight).lock_owned().await;
        if self.state.load().generation != seen {
            return;
        }
        let cache = Arc::clone(self);
        let task = tokio::spawn(async move {
            let _guard = guard;
            cache.fetch_and_store().await;
        });
        // A failed join is a fetch task that panicked or was cancelled at
        // shutdown; the snapshot is then unchanged and callers answer from it.
        let _ = task.await;
    }

    /// Starts a fetch unless one is in progress (then it will do) or one
    /// happened since `seen`; never waits.
    fn refresh_in_background(self: &Arc<Self>, seen: u64) {
        let Ok(guard) = Arc::clone(&self.in_flight).try_lock_owned() else {
            return;
        };
        if self.state.load().generation != seen {
            return;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let _guard = guard;
            cache.fetch_and_store().await;
        });
    }

    async fn fetch_and_store(&self) {
        let attempted = Instant::now();
        let previous = self.state.load_full();
        let next = match self.fetch().await {
            Ok((keys, skipped)) => {
                tracing::info!(
                    url = %self.url,
                    keys = keys.len(),
                    skipped,
                    "bearer: fetched the issuer's JWKS"
                );
                if keys.is_empty() {
                    tracing::warn!(url = %self.url, "bearer: the issuer's JWKS holds no usable key; every token is refused");
                }
                Snapshot {
                    keys: keys.into_iter().map(Arc::new).collect(),
                    fetched_at: Some(attempted),
                    attempted_at: Some(attempted),
                    error: None,
                    generation: previous.generation + 1,
                }
            }
            Err(error) => {
                tracing::warn!(
                    url = %self.url,
                    %error,
                    cached_keys = previous.keys.len(),
                    "bearer: fetching the issuer's JWKS failed; the cached keys stay in use"
                );
                Snapshot {
                    keys: previous.keys.clone(),
                    fetched_at: previous.fetched_at,
                    attempted_at: Some(attempted),
                    error: Some(error),
                    generation: previous.generation + 1,
                }
            }
        };
        self.state.store(Arc::new(next));
    }

    /// GET the JWKS: 200 only, at most `MAX_JWKS_BYTES`, within `timeout`.
    async fn fetch(&self) -> Result<(Vec<Key>, usize), String> {
        let request = Request::get(self.url.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .body(Empty::new())
            .map_err(|e| format!("JWKS {}: {e}", self.url))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| crate::tls::client::error_chain(&e))?;
            if response.status() != StatusCode::OK {
                return Err(format!("answered {}", response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            parse_jwks(&body)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(why)) => Err(format!("JWKS {}: {why}", self.url)),
            Err(_elapsed) => Err(format!(
                "JWKS {}: no answer within {:?}",
                self.url, self.timeout
            )),
        }
    }
}

fn answer(snapshot: &Snapshot, fitting: Vec<Arc<Key>>) -> Result<Vec<Arc<Key>>, BearerError> {
    if !fitting.is_empty() {
        return Ok(fitting);
    }
    match &snapshot.error {
        Some(error) => Err(BearerError::IssuerUnavailable(error.clone())),
        None if snapshot.attempted_at.is_none() => Err(BearerError::IssuerUnavailable(
            "the issuer's JWKS has not been fetched yet".into(),
        )),
        None => Err(BearerError::Invalid(BearerProblem::UnknownKey)),
    }
}
