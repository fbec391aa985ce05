//! `[server]`: the listeners and the runtime (restart-only), and the
//! limits, timeouts, trusted proxies, internal prefix and TLS that apply
//! to every new connection.

use std::net::SocketAddr;
use std::path::Path;

use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use super::values::{bounded, duration, ip_range, socket_addr};
use crate::client::TrustedProxies;
use crate::config::raw::RawServer;
use crate::config::snapshot::ServerSettings;

/// The restart-only part of `[server]`.
pub(super) struct Listeners {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub worker_threads: Option<usize>,
    pub max_connections: usize,
}

pub(super) fn listeners(problems: &mut Problems, raw: &RawServer) -> Listeners {
    let listeners = Listeners {
        listen: socket_addr(problems, &raw.listen, "server.listen"),
        admin_listen: socket_addr(problems, &raw.admin_listen, "server.admin_listen"),
        worker_threads: raw.worker_threads.as_ref().map(|threads| {
            bounded(
                problems,
                Some(threads),
                1,
                1..=1024,
                "server.worker_threads",
            ) as usize
        }),
        max_connections: bounded(
            problems,
            raw.max_connections.as_ref(),
            defaults::MAX_CONNECTIONS,
            1..=10_000_000,
            "server.max_connections",
        ) as usize,
    };
    if listeners.listen == listeners.admin_listen && listeners.listen.port() != 0 {
        problems.at(
            raw.admin_listen.span(),
            "server.admin_listen must differ from server.listen",
        );
    }
    listeners
}

pub(super) fn server(problems: &mut Problems, raw: &RawServer, base: &Path) -> ServerSettings {
    ServerSettings {
        header_read_timeout: duration(
            problems,
            raw.header_read_timeout.as_ref(),
            defaults::HEADER_READ_TIMEOUT,
        ),
        idle_timeout: duration(problems, raw.idle_timeout.as_ref(), defaults::IDLE_TIMEOUT),
        shutdown_timeout: duration(
            problems,
            raw.shutdown_timeout.as_ref(),
            defaults::SHUTDOWN_TIMEOUT,
        ),
        body_read_timeout: duration(
            problems,
            raw.body_read_timeout.as_ref(),
            defaults::BODY_READ_TIMEOUT,
        ),
        trusted_proxies: TrustedProxies(
            raw.trusted_proxies
                .iter()
                .filter_map(|entry| ip_range(problems, entry))
                .collect(),
        ),
        internal_prefix: internal_prefix(problems, raw.internal_prefix.as_ref()),
        max_header_bytes: bounded(
            problems,
            raw.max_header_bytes.as_ref(),
            defaults::MAX_HEADER_BYTES,
            8_192..=16_777_216,
            "server.max_header_bytes",
        ) as usize,
        max_headers: bounded(
            problems,
            raw.max_headers.as_ref(),
            defaults::MAX_HEADERS,
            16..=10_000,
            "server.max_headers",
        ) as usize,
        max_concurrent_streams: bounded(
            problems,
            raw.max_concurrent_streams.as_ref(),
            defaults::MAX_CONCURRENT_STREAMS,
            1..=100_000,
            "server.max_concurrent_streams",
        ) as u32,
        tls: raw.tls.as_ref().and_then(|tls| {
            let files = tls.get_ref();
            let resolve = |file: &str| base.join(file);
            match crate::tls::server::load(&resolve(&files.cert), &resolve(&files.key)) {
                Ok(config) => Some(config),
                Err(why) => {
                    problems.at(tls.span(), format!("server.tls: {why}"));
                    None
                }
            }
        }),
    }
}

fn internal_prefix(problems: &mut Problems, value: Option<&Spanned<String>>) -> String {
    let Some(value) = value else {
        return defaults::INTERNAL_PREFIX.to_string();
    };
    let prefix = value.get_ref();
    let canonical = crate::canonical::canonicalize(prefix).ok();
    if prefix.len() < 2 || prefix.ends_with('/') || canonical.as_deref() != Some(prefix.as_str()) {
        problems.at(
            value.span(),
            format!("server.internal_prefix {prefix:?} must be a canonical path like \"/_portcullis\", without a trailing slash"),
        );
    }
    prefix.clone()
}
