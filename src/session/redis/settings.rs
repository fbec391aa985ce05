//! `[session] store = "redis"`, compiled: the settings as written (compared
//! on reload, key by key) and the clients built from them.

use std::time::Duration;

use super::connection::Clients;

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

impl RedisSettings {
    /// The keys set differently here than in `running`, as the file names them.
    pub fn changed_keys(&self, running: &RedisSettings) -> Vec<&'static str> {
        // Taken apart without `..`: a new field must be compared here.
        let RedisSettings {
            url,
            cluster_urls,
            sentinel,
            tls_ca,
            key_prefix,
            timeout,
            cache_ttl,
            negative_cache_ttl,
            cache_capacity,
        } = self;
        [
            ("session.redis_url", *url != running.url),
            (
                "session.redis_cluster_urls",
                *cluster_urls != running.cluster_urls,
            ),
            ("session.redis_sentinel", *sentinel != running.sentinel),
            ("session.redis_tls_ca_file", *tls_ca != running.tls_ca),
            ("session.key_prefix", *key_prefix != running.key_prefix),
            ("session.redis_timeout", *timeout != running.timeout),
            ("session.cache_ttl", *cache_ttl != running.cache_ttl),
            (
                "session.negative_cache_ttl",
                *negative_cache_ttl != running.negative_cache_ttl,
            ),
            (
                "session.cache_size",
                *cache_capacity != running.cache_capacity,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// The Redis settings with the clients built for them (connecting
/// nothing): what the config holds, so that starting the store cannot fail
/// on a setting.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub settings: RedisSettings,
    pub(super) clients: Clients,
}

impl RedisConfig {
    /// Builds the clients; `Err` names the setting that is wrong.
    pub fn new(settings: RedisSettings) -> Result<RedisConfig, String> {
        let clients = Clients::build(&settings)?;
        Ok(RedisConfig { settings, clients })
    }
}

/// Two configs are the same when their settings are: the clients are only
/// built from them.
impl PartialEq for RedisConfig {
    fn eq(&self, other: &RedisConfig) -> bool {
        self.settings == other.settings
    }
}

impl Eq for RedisConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RedisSettings {
        RedisSettings {
            url: "redis://127.0.0.1:6379/0".into(),
            cluster_urls: Vec::new(),
            sentinel: None,
            tls_ca: None,
            key_prefix: "p:".into(),
            timeout: Duration::from_millis(250),
            cache_ttl: Duration::from_secs(1),
            negative_cache_ttl: Duration::from_secs(1),
            cache_capacity: 10,
        }
    }

    #[test]
    fn every_field_is_named_when_it_changes() {
        type Change = fn(&mut RedisSettings);
        let cases: [(Change, &str); 9] = [
            (
                |s| s.url = "redis://127.0.0.1:6380/0".into(),
                "session.redis_url",
            ),
            (
                |s| s.cluster_urls = vec!["redis://127.0.0.1:7000".into()],
                "session.redis_cluster_urls",
            ),
            (
                |s| {
                    s.sentinel = Some(SentinelSettings {
                        master: "m".into(),
                        urls: vec!["redis://127.0.0.1:26379".into()],
                    })
                },
                "session.redis_sentinel",
            ),
            (
                |s| s.tls_ca = Some(b"pem".to_vec()),
                "session.redis_tls_ca_file",
            ),
            (|s| s.key_prefix = "q:".into(), "session.key_prefix"),
            (
                |s| s.timeout = Duration::from_secs(1),
                "session.redis_timeout",
            ),
            (
                |s| s.cache_ttl = Duration::from_secs(2),
                "session.cache_ttl",
            ),
            (
                |s| s.negative_cache_ttl = Duration::from_secs(2),
                "session.negative_cache_ttl",
            ),
            (|s| s.cache_capacity = 0, "session.cache_size"),
        ];
        for (change, key) in cases {
            let mut next = settings();
            change(&mut next);
            assert_eq!(next.changed_keys(&settings()), [key]);
        }
        assert!(settings().changed_keys(&settings()).is_empty());
    }

    #[test]
    fn a_bad_url_is_refused_when_the_config_is_built() {
        let mut bad = settings();
        bad.url = "http://not-redis".into();
        let why = RedisConfig::new(bad).unwrap_err();
        assert!(why.starts_with("redis_url:"), "{why}");
        assert!(RedisConfig::new(settings()).is_ok());
    }
}
