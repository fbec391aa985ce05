//! `[session]`: the cookie, lifetimes, and the store (memory, Redis in one
//! of its three topologies, or Django's database via `django`).

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::defaults;
use super::django;
use super::problems::Problems;
use super::values::{cookie_name, duration};
use crate::config::raw::{RawConfig, RawSession};
use crate::config::snapshot::SessionSettings;
use crate::config::startup::StoreKind;
use crate::session::redis::{RedisConfig, RedisSettings, SentinelSettings};
use crate::session::MAX_SESSION_TTL;

pub(super) fn store_kind(problems: &mut Problems, config: &RawConfig, base: &Path) -> StoreKind {
    let raw = &config.session;
    let is_django = raw
        .store
        .as_ref()
        .map_or(defaults::SESSION_STORE, |s| s.get_ref())
        == "django";
    if let (Some(django), false) = (&config.django, is_django) {
        problems.at(
            django.span(),
            "[django] is used only with session.store = \"django\"",
        );
    }
    let redis_keys = [
        &raw.redis_url,
        &raw.key_prefix,
        &raw.redis_timeout,
        &raw.cache_ttl,
        &raw.negative_cache_ttl,
    ];
    let store = raw
        .store
        .as_ref()
        .map_or((defaults::SESSION_STORE, 0..0), |s| {
            (s.get_ref().as_str(), s.span())
        });
    match store {
        ("memory", _) => {
            let misplaced = redis_keys
                .iter()
                .find_map(|k| k.as_ref())
                .or(raw.redis_cluster_urls.first());
            if let (None, Some(sentinel)) = (&misplaced, &raw.redis_sentinel) {
                problems.at(
                    sentinel.span(),
                    "this is a Redis setting, but session.store is not \"redis\"",
                );
            }
            if let Some(key) = misplaced {
                problems.at(
                    key.span(),
                    "this is a Redis setting, but session.store is not \"redis\"",
                );
            }
            StoreKind::Memory
        }
        ("redis", _) => {
            let url = raw.redis_url.as_ref();
            let settings = RedisSettings {
                url: url.map_or_else(|| defaults::REDIS_URL.to_string(), |u| u.get_ref().clone()),
                cluster_urls: raw
                    .redis_cluster_urls
                    .iter()
                    .map(|u| u.get_ref().clone())
                    .collect(),
                tls_ca: raw.redis_tls_ca_file.as_ref().and_then(|file| {
                    match std::fs::read(base.join(file.get_ref())) {
                        Ok(pem) => Some(pem),
                        Err(e) => {
                            problems.at(
                                file.span(),
                                format!(
                                    "cannot read session.redis_tls_ca_file {:?}: {e}",
                                    file.get_ref()
                                ),
                            );
                            None
                        }
                    }
                }),
                sentinel: raw.redis_sentinel.as_ref().map(|s| SentinelSettings {
                    master: s.get_ref().master.clone(),
                    urls: s.get_ref().urls.clone(),
                }),
                key_prefix: raw.key_prefix.as_ref().map_or_else(
                    || defaults::REDIS_KEY_PREFIX.to_string(),
                    |p| p.get_ref().clone(),
                ),
                timeout: duration(
                    problems,
                    raw.redis_timeout.as_ref(),
                    defaults::REDIS_TIMEOUT,
                ),
                cache_ttl: duration(problems, raw.cache_ttl.as_ref(), defaults::REDIS_CACHE_TTL),
                negative_cache_ttl: duration(
                    problems,
                    raw.negative_cache_ttl.as_ref(),
                    defaults::REDIS_NEGATIVE_CACHE_TTL,
                ),
                cache_capacity: raw
                    .cache_size
                    .as_ref()
                    .map_or(defaults::REDIS_CACHE_SIZE, |s| *s.get_ref()),
            };
            let topologies = [
                url.is_some(),
                !raw.redis_cluster_urls.is_empty(),
                raw.redis_sentinel.is_some(),
            ];
            if topologies.iter().filter(|set| **set).count() > 1 {
                problems.anywhere("set only one of session.redis_url, session.redis_cluster_urls and session.redis_sentinel");
            }
            if let Some(sentinel) = &raw.redis_sentinel {
                if sentinel.get_ref().urls.is_empty() || sentinel.get_ref().master.is_empty() {
                    problems.at(
                        sentinel.span(),
                        "session.redis_sentinel needs a master name and at least one sentinel url",
                    );
                }
            }
            if settings.key_prefix.is_empty() || settings.key_prefix.contains(char::is_whitespace) {
                problems.at(
                    raw.key_prefix.as_ref().map_or(0..0, |p| p.span()),
                    "session.key_prefix must be non-empty, without spaces",
                );
            }
            match RedisConfig::new(settings) {
                Ok(config) => StoreKind::Redis(config),
                Err(why) => {
                    problems.at(url.map_or(0..0, |u| u.span()), format!("session.{why}"));
                    StoreKind::Memory
                }
            }
        }
        ("django", _) => {
            if let Some(key) = redis_keys.iter().find_map(|k| k.as_ref()) {
                problems.at(
                    key.span(),
                    "this is a Redis setting, but session.store is not \"redis\"",
                );
            }
            django::settings(problems, config, base).map_or(StoreKind::Memory, StoreKind::Django)
        }
        (other, span) => {
            problems.at(
                span,
                format!(
                    "unknown session store {other:?}; expected \"memory\", \"redis\" or \"django\""
                ),
            );
            StoreKind::Memory
        }
    }
}

/// `[session]` but the store: the cookie and the lifetimes.
pub(super) fn session(problems: &mut Problems, raw: &RawSession) -> SessionSettings {
    SessionSettings {
        cookie_name: cookie_name(
            problems,
            raw.cookie_name.as_ref(),
            defaults::SESSION_COOKIE_NAME,
        ),
        ttl: session_ttl(problems, raw.ttl.as_ref()),
        sliding: raw.sliding.unwrap_or(defaults::SESSION_SLIDING),
        max_age: raw.max_age.as_ref().map(|max_age| {
            let max_age_value = duration(problems, Some(max_age), defaults::SESSION_TTL);
            if max_age_value > MAX_SESSION_TTL {
                problems.at(max_age.span(), "session.max_age must be at most 100 years");
            }
            max_age_value
        }),
    }
}

fn session_ttl(problems: &mut Problems, value: Option<&Spanned<String>>) -> Duration {
    duration(problems, value, defaults::SESSION_TTL)
}
