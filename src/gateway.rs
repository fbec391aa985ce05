//! `Gateway`: the state every request shares — the current config snapshot
//! (swappable, with the upstream client), the session store, the login
//! throttle, metrics, the upgraded connections in flight, and the span
//! exporter's start and last flush.

use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use crate::auth::throttle::LoginThrottle;
use crate::config::startup::StoreKind;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::reload::{ReloadError, ReloadReport};
use crate::session::{DjangoStore, MemoryStore, RedisStore, Store};

/// How often the memory store drops expired sessions, and the login
/// throttle expired blocks.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub struct Gateway {
    config: ArcSwap<Config>,
    store: Store,
    login_throttle: Arc<LoginThrottle>,
    /// The routes' throttle histories when they are kept in the process
    /// (every store but Redis); they outlive reloads.
    throttle_histories: crate::throttle::LocalHistories,
    /// Bounds concurrent argon2 checks to the CPUs we have, so sign-in
    /// attempts cannot pile up memory-hard work (about 19 MiB each).
    password_checks: Arc<Semaphore>,
    /// The file the config came from, for reloads.
    config_file: Mutex<Option<PathBuf>>,
    /// Serialises reloads (SIGHUP and `POST /reload` may race).
    reloading: Mutex<()>,
    /// Shutting down: `/readyz` says not ready so traffic moves away.
    draining: AtomicBool,
    metrics: Arc<Metrics>,
    upgrades: Arc<crate::connection::upgrades::Upgrades>,
}

impl Gateway {
    /// Builds the shared state for `config`. Must run inside a Tokio runtime
    /// (the memory store starts its expiry sweeper).
    pub fn new(config: Config) -> Gateway {
        let metrics = Arc::new(Metrics::new());
        let store = match &config.startup.store {
            StoreKind::Memory => {
                let memory = MemoryStore::new();
                memory.spawn_sweeper(SWEEP_EVERY);
                Store::Memory(memory)
            }
            StoreKind::Redis(settings) => {
                let redis = RedisStore::new(settings);
                redis.count_cache_answers(metrics.cache_hits.clone(), metrics.cache_misses.clone());
                redis.start();
                Store::Redis(redis)
            }
            StoreKind::Django(settings) => {
                let django = DjangoStore::new(settings);
                django
                    .count_cache_answers(metrics.cache_hits.clone(), metrics.cache_misses.clone());
                Store::Django(django)
            }
        };
        let login_throttle = Arc::new(LoginThrottle::new(
            config.startup.login_throttle.max_failures,
            config.startup.login_throttle.failure_window,
        ));
        spawn_throttle_sweeper(&login_throttle);
        start_exporter(&config, &metrics);
        Gateway {
            config: ArcSwap::from_pointee(config),
            store,
            login_throttle,
            throttle_histories: crate::throttle::LocalHistories::default(),
            password_checks: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            config_file: Mutex::new(None),
            reloading: Mutex::new(()),
            draining: AtomicBool::new(false),
            metrics,
            upgrades: Arc::default(),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Upgraded connections in flight (waited for on shutdown).
    pub fn upgrades(&self) -> &Arc<crate::connection::upgrades::Upgrades> {
        &self.upgrades
    }

    /// Remembers the file the config came from, so it can be reloaded.
    pub fn set_config_file(&self, path: PathBuf) {
        if let Ok(mut file) = self.config_file.lock() {
            *file = Some(path);
        }
    }

    /// Re-reads the config file and swaps it in (see `reload`).
    pub fn reload(&self) -> Result<(Arc<Config>, ReloadReport), ReloadError> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let path = self
            .config_file
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .ok_or(ReloadError::NoConfigFile)?;
        let current = self.config();
        let (next, report) = match crate::reload::prepare(&path, &current) {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::error!("config reload refused; the old config keeps serving:\n{error}");
                self.metrics.reload_result(false);
                return Err(error);
            }
        };
        start_exporter(&next, &self.metrics);
        let next = Arc::new(next);
        self.config.store(Arc::clone(&next));
        self.metrics.reload_result(true);
        tracing::info!(file = %path.display(), "config reloaded");
        next.log_warnings(&path);
        for setting in &report.needs_restart {
            tracing::warn!(
                setting,
                "changed in the file, but only a restart applies it; the running value stays"
            );
        }
        Ok((next, report))
    }

    /// Sends the spans still queued (`[telemetry]`), waiting at most the
    /// export timeout: for a shutdown, once requests have drained.
    pub async fn flush_telemetry(&self) {
        if let Some(telemetry) = &self.config().telemetry {
            telemetry.exporter.flush().await;
        }
    }

    /// Marks the gateway as shutting down (`/readyz` turns 503).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The current config snapshot; hold it for the whole request.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The routes' throttle histories kept in this process.
    pub fn throttle_histories(&self) -> &crate::throttle::LocalHistories {
        &self.throttle_histories
    }

    pub fn login_throttle(&self) -> &LoginThrottle {
        &self.login_throttle
    }

    pub fn password_checks(&self) -> &Arc<Semaphore> {
        &self.password_checks
    }
}

/// Starts `config`'s span exporter (`[telemetry]`), unless it is the
/// running one a reload kept.
fn start_exporter(config: &Config, metrics: &Metrics) {
    if let Some(telemetry) = &config.telemetry {
        telemetry.exporter.start(&metrics.telemetry);
    }
}

/// Drops expired throttle state every `SWEEP_EVERY` until the gateway goes.
fn spawn_throttle_sweeper(throttle: &Arc<LoginThrottle>) {
    let throttle = Arc::downgrade(throttle);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_EVERY);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(throttle) = throttle.upgrade() else {
                return;
            };
            throttle.sweep();
        }
    });
}
