//! Validation: turns the raw TOML structs into the config snapshot,
//! collecting every problem (with its place in the file) instead of
//! stopping at the first.

use std::net::SocketAddr;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use http::uri::{Scheme, Uri};
use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::raw::{RawConfig, RawCsrf, RawIdentity, RawRoute};
use super::snapshot::*;
use super::ConfigError;
use crate::csrf::settings::{CsrfEnforce, CsrfSettings};
use crate::identity::IdentityHeaders;
use crate::routes::{Access, Mode, ModelPermissions, Pattern, Requirements, Route, RouteTable};
use crate::session::record::unsafe_value_reason;
use crate::session::redis::{RedisSettings, SentinelSettings};
use crate::session::MAX_SESSION_TTL;
use crate::upstream::UpstreamSettings;

/// Headers the gateway or HTTP itself owns; none may be an identity header.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "cookie",
    "set-cookie",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

mod django;
mod users;

/// Problems found so far, placed in `source` (the main config, or with
/// `file` set, a users file).
struct Problems<'s> {
    source: &'s str,
    file: Option<String>,
    errors: Vec<ConfigError>,
    /// Suspicious but loadable: `check` prints them, `serve` logs them.
    warnings: Vec<ConfigError>,
}

impl Problems<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        if let Some(variable) = super::environment::variable_at(span.start, self.source.len()) {
            // An environment override: name the variable, not a line.
            self.errors.push(ConfigError {
                file: self.file.clone(),
                location: None,
                message: format!("{variable} (environment): {}", message.into()),
            });
            return;
        }
        let location = Some(line_column(self.source, span.start));
        self.errors.push(ConfigError {
            file: self.file.clone(),
            location,
            message: message.into(),
        });
    }

    fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        let location = Some(line_column(self.source, span.start));
        self.warnings.push(ConfigError {
            file: self.file.clone(),
            location,
            message: message.into(),
        });
    }

    fn anywhere(&mut self, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            location: None,
            message: message.into(),
        });
    }
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Compiles config text; `base` is the directory a relative `users_file`
/// is read from.
pub fn compile(
    source: &str,
    base: &std::path::Path,
    overrides: &super::environment::Overrides,
) -> Result<Config, Vec<ConfigError>> {
    let mut problems = Problems {
        source,
        file: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut raw: RawConfig = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let location = e.span().map(|s| line_column(source, s.start));
            let mut message = e.message().trim_end().to_string();
            for key in ["default_access", "mode"] {
                if message.contains(&format!("unknown field `{key}`")) {
                    // A classic TOML trap: a top-level key written below a
                    // [table] header belongs to that table.
                    message.push_str(&format!(
                        "; {key} is a top-level key: put it above the first [table]"
                    ));
                }
            }
            return Err(vec![ConfigError {
                file: None,
                location,
                message,
            }]);
        }
    };

    overrides.apply(&mut raw, source.len());
    let server = ServerSettings {
        listen: socket_addr(&mut problems, &raw.server.listen, "server.listen"),
        admin_listen: socket_addr(
            &mut problems,
            &raw.server.admin_listen,
            "server.admin_listen",
        ),
        header_read_timeout: duration(
            &mut problems,
            raw.server.header_read_timeout.as_ref(),
            "10s",
        ),
        idle_timeout: duration(&mut problems, raw.server.idle_timeout.as_ref(), "75s"),
        shutdown_timeout: duration(&mut problems, raw.server.shutdown_timeout.as_ref(), "30s"),
        body_read_timeout: duration(&mut problems, raw.server.body_read_timeout.as_ref(), "30s"),
        trusted_proxies: crate::client::TrustedProxies(
            raw.server
                .trusted_proxies
                .iter()
                .filter_map(|entry| ip_range(&mut problems, entry))
                .collect(),
        ),
        internal_prefix: internal_prefix(&mut problems, raw.server.internal_prefix.as_ref()),
        max_header_bytes: bounded(
            &mut problems,
            raw.server.max_header_bytes.as_ref(),
            65_536,
            8_192..=16_777_216,
            "server.max_header_bytes",
        ) as usize,
        max_headers: bounded(
            &mut problems,
            raw.server.max_headers.as_ref(),
            100,
            16..=10_000,
            "server.max_headers",
        ) as usize,
        max_connections: bounded(
            &mut problems,
            raw.server.max_connections.as_ref(),
            10_000,
            1..=10_000_000,
            "server.max_connections",
        ) as usize,
        max_concurrent_streams: bounded(
            &mut problems,
            raw.server.max_concurrent_streams.as_ref(),
            256,
            1..=100_000,
            "server.max_concurrent_streams",
        ) as u32,
        worker_threads: raw.server.worker_threads.as_ref().map(|threads| {
            bounded(
                &mut problems,
                Some(threads),
                1,
                1..=1024,
                "server.worker_threads",
            ) as usize
        }),
        tls: raw.server.tls.as_ref().and_then(|tls| {
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
    };
    if server.listen == server.admin_listen && server.listen.port() != 0 {
        problems.at(
            raw.server.admin_listen.span(),
            "server.admin_listen must differ from server.listen",
        );
    }

    let upstream = upstream(&mut problems, &raw, base);
    let session = SessionSettings {
        store: store_kind(&mut problems, &raw, base),
        cookie_name: cookie_name(&mut problems, raw.session.cookie_name.as_ref(), "sessionid"),
        ttl: session_ttl(&mut problems, raw.session.ttl.as_ref()),
        sliding: raw.session.sliding.unwrap_or(false),
        max_age: raw.session.max_age.as_ref().map(|max_age| {
            let max_age_value = duration(&mut problems, Some(max_age), "14d");
            if max_age_value > MAX_SESSION_TTL {
                problems.at(max_age.span(), "session.max_age must be at most 100 years");
            }
            max_age_value
        }),
    };
    let users = users::users(
        &mut problems,
        &raw.users,
        raw.session.users_file.as_ref(),
        base,
    );
    let login = users::login(&mut problems, &raw.login);
    let admin = AdminSettings {
        token: admin_token(&mut problems, &raw),
    };
    let identity = identity(&mut problems, &raw.identity, base);
    let csrf = csrf(&mut problems, &raw.csrf);
    if let (Some(flag), false) = (
        raw.csrf.use_sessions.as_ref().filter(|u| *u.get_ref()),
        matches!(session.store, StoreKind::Django(_)),
    ) {
        problems.at(
            flag.span(),
            "csrf.use_sessions reads the secret from Django's session: it needs session.store = \"django\"",
        );
    }
    let cors = cors(&mut problems, &raw.cors);
    if csrf.cookie_name == session.cookie_name {
        problems.anywhere("csrf.cookie_name and session.cookie_name must differ");
    }

    let default_access = match &raw.default_access {
        None => Access::Deny,
        Some(value) => access(&mut problems, value),
    };
    let mode = match &raw.mode {
        None => Mode::Enforce,
        Some(value) => mode(&mut problems, value),
    };
    let routes = routes(&mut problems, &raw.routes, mode, &server.internal_prefix);
    if let (Some(value), Mode::Report) = (&raw.mode, mode) {
        problems.warn(
            value.span(),
            "mode = \"report\": nothing is enforced; requests that would be denied are forwarded (and counted as would_deny)",
        );
    }
    let diagnostics = diagnostics(&mut problems, &raw.diagnostics);

    if !problems.errors.is_empty() {
        // Warnings are worth seeing while fixing the errors too.
        problems
            .errors
            .extend(problems.warnings.into_iter().map(|mut warning| {
                warning.message.insert_str(0, "warning: ");
                warning
            }));
        // Report in file order; problems without a place come first.
        problems.errors.sort_by_key(|e| e.location);
        return Err(problems.errors);
    }
    Ok(Config {
        server,
        upstream: upstream.expect("upstream is Some when there are no errors"),
        session,
        admin,
        identity,
        csrf,
        cors,
        routes: RouteTable::new(routes, default_access, mode),
        users,
        login,
        diagnostics,
        warnings: problems.warnings,
    })
}

fn store_kind(problems: &mut Problems, config: &RawConfig, base: &std::path::Path) -> StoreKind {
    let raw = &config.session;
    let is_django = raw.store.as_ref().is_some_and(|s| s.get_ref() == "django");
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
    match raw.store.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("memory", _)) => {
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
        Some(("redis", _)) => {
            let url = raw.redis_url.as_ref();
            let settings = RedisSettings {
                url: url.map_or_else(
                    || "redis://127.0.0.1:6379/0".to_string(),
                    |u| u.get_ref().clone(),
                ),
                cluster_urls: raw
                    .redis_cluster_urls
                    .iter()
                    .map(|u| u.get_ref().clone())
                    .collect(),
                tls_ca: raw.redis_tls_ca_file.as_ref().and_then(|file| {
                    match std::fs::read(file.get_ref()) {
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
                    || "portcullis:session:".to_string(),
                    |p| p.get_ref().clone(),
                ),
                timeout: duration(problems, raw.redis_timeout.as_ref(), "250ms"),
                cache_ttl: duration(problems, raw.cache_ttl.as_ref(), "1s"),
                negative_cache_ttl: duration(problems, raw.negative_cache_ttl.as_ref(), "1s"),
                cache_capacity: raw.cache_size.as_ref().map_or(100_000, |s| *s.get_ref()),
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
            if let Err(why) = crate::session::RedisStore::new(&settings) {
                problems.at(url.map_or(0..0, |u| u.span()), format!("session.{why}"));
            }
            if settings.key_prefix.is_empty() || settings.key_prefix.contains(char::is_whitespace) {
                problems.at(
                    raw.key_prefix.as_ref().map_or(0..0, |p| p.span()),
                    "session.key_prefix must be non-empty, without spaces",
                );
            }
            StoreKind::Redis(settings)
        }
        Some(("django", _)) => {
            if let Some(key) = redis_keys.iter().find_map(|k| k.as_ref()) {
                problems.at(
                    key.span(),
                    "this is a Redis setting, but session.store is not \"redis\"",
                );
            }
            django::settings(problems, config, base).map_or(StoreKind::Memory, StoreKind::Django)
        }
        Some((other, span)) => {
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

fn cors(problems: &mut Problems, raw: &super::raw::RawCors) -> crate::cors::CorsSettings {
    for origin in &raw.allowed_origins {
        let valid = crate::csrf::origin::urlsplit(origin.get_ref()).is_ok_and(|s| {
            !s.scheme.is_empty() && !s.netloc.is_empty() && s.path.is_empty() && s.query.is_empty()
        });
        if !valid || origin.get_ref() == "*" {
            problems.at(
                origin.span(),
                format!(
                    "cors.allowed_origins: {:?} is not an origin like \"https://app.example.com\"",
                    origin.get_ref()
                ),
            );
        }
    }
    let mut list = |values: Option<&Vec<String>>, default: &str| -> HeaderValue {
        let text = values.map_or_else(|| default.to_string(), |v| v.join(", "));
        HeaderValue::from_str(&text).unwrap_or_else(|_| {
            problems.anywhere(format!("cors: {text:?} is not a valid header value"));
            HeaderValue::from_static("")
        })
    };
    let allowed_methods = list(
        raw.allowed_methods.as_ref(),
        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    );
    let allowed_headers = list(
        raw.allowed_headers.as_ref(),
        "Content-Type, X-CSRFToken, X-Requested-With",
    );
    let expose_headers =
        (!raw.expose_headers.is_empty()).then(|| list(Some(&raw.expose_headers), ""));
    crate::cors::CorsSettings {
        allowed_origins: raw
            .allowed_origins
            .iter()
            .map(|o| o.get_ref().clone())
            .collect(),
        allow_credentials: raw.allow_credentials.unwrap_or(false),
        allowed_methods,
        allowed_headers,
        expose_headers,
        max_age: duration(problems, raw.max_age.as_ref(), "10m"),
    }
}

/// An integer setting within `range`, or `default` when unset.
fn bounded(
    problems: &mut Problems,
    value: Option<&Spanned<u64>>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    key: &str,
) -> u64 {
    let Some(value) = value else { return default };
    if !range.contains(value.get_ref()) {
        problems.at(
            value.span(),
            format!(
                "{key} must be between {} and {}",
                range.start(),
                range.end()
            ),
        );
        return default;
    }
    *value.get_ref()
}

fn socket_addr(problems: &mut Problems, value: &Spanned<String>, key: &str) -> SocketAddr {
    value.get_ref().parse().unwrap_or_else(|_| {
        problems.at(
            value.span(),
            format!(
                "{key} = {:?} is not an IP address and port (e.g. \"127.0.0.1:8080\")",
                value.get_ref()
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// `10.0.0.0/8`, `::1/128`, or a single address.
fn ip_range(problems: &mut Problems, entry: &Spanned<String>) -> Option<ipnet::IpNet> {
    let text = entry.get_ref();
    let parsed = text
        .parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
    match parsed {
        Ok(net) => Some(net.trunc()),
        Err(_) => {
            problems.at(
                entry.span(),
                format!("{text:?} is not an IP address or CIDR range (e.g. \"10.0.0.0/8\")"),
            );
            None
        }
    }
}

fn session_ttl(problems: &mut Problems, value: Option<&Spanned<String>>) -> Duration {
    duration(problems, value, "14d")
}

fn duration(problems: &mut Problems, value: Option<&Spanned<String>>, default: &str) -> Duration {
    let Some(value) = value else {
        // Invariant: every default passed here is a valid humantime literal.
        return humantime::parse_duration(default).expect("valid default duration");
    };
    match humantime::parse_duration(value.get_ref()) {
        // Capped so deadlines computed as `now + d` can never overflow.
        Ok(d) if d > MAX_SESSION_TTL => {
            problems.at(value.span(), "duration must be at most 100 years");
            Duration::from_secs(1)
        }
        Ok(d) if d > Duration::ZERO => d,
        Ok(_) => {
            problems.at(value.span(), "duration must be greater than zero");
            Duration::from_secs(1)
        }
        Err(e) => {
            problems.at(
                value.span(),
                format!(
                    "{:?} is not a duration ({e}); write e.g. \"500ms\", \"30s\", \"14d\"",
                    value.get_ref()
                ),
            );
            Duration::from_secs(1)
        }
    }
}

fn upstream(
    problems: &mut Problems,
    raw: &RawConfig,
    base: &std::path::Path,
) -> Option<UpstreamSettings> {
    let url = &raw.upstream.url;
    let connect_timeout = duration(problems, raw.upstream.connect_timeout.as_ref(), "2s");
    let timeout = duration(problems, raw.upstream.timeout.as_ref(), "30s");
    let parsed = match url.get_ref().parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            problems.at(
                url.span(),
                format!("upstream.url {:?} is not a URL: {e}", url.get_ref()),
            );
            return None;
        }
    };
    let scheme = match parsed.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
        _ => {
            problems.at(
                url.span(),
                "upstream.url must start with http:// or https://",
            );
            return None;
        }
    };
    let ca_file = raw
        .upstream
        .ca_file
        .as_ref()
        .map(|f| base.join(f.get_ref()));
    let tls = match crate::tls::client::client_config(ca_file.as_deref(), scheme == Scheme::HTTPS) {
        Ok(config) => config,
        Err(why) => {
            let span = raw
                .upstream
                .ca_file
                .as_ref()
                .map_or(url.span(), |f| f.span());
            problems.at(span, format!("upstream.ca_file: {why}"));
            return None;
        }
    };
    let Some(authority) = parsed.authority().cloned() else {
        problems.at(
            url.span(),
            "upstream.url needs a host, e.g. http://127.0.0.1:8000",
        );
        return None;
    };
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        problems.at(
            url.span(),
            "upstream.url must not have a path or query: requests are forwarded with their own canonical path",
        );
        return None;
    }
    Some(UpstreamSettings {
        scheme,
        authority,
        connect_timeout,
        timeout,
        tls,
    })
}

fn cookie_name(problems: &mut Problems, value: Option<&Spanned<String>>, default: &str) -> String {
    let Some(value) = value else {
        return default.to_string();
    };
    let name = value.get_ref();
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !is_token {
        problems.at(value.span(), format!("{name:?} is not a valid cookie name"));
    }
    name.clone()
}

fn admin_token(problems: &mut Problems, raw: &RawConfig) -> AdminToken {
    match (&raw.admin.token, &raw.admin.token_env) {
        (Some(token), None) if !token.get_ref().is_empty() => AdminToken::new(token.get_ref()),
        (Some(token), None) => {
            problems.at(token.span(), "admin.token must not be empty");
            AdminToken::new("")
        }
        (None, Some(var)) => match std::env::var(var.get_ref()) {
            Ok(token) if !token.is_empty() => AdminToken::new(&token),
            _ => {
                problems.at(
                    var.span(),
                    format!(
                        "admin.token_env names {:?}, which is not set or is empty",
                        var.get_ref()
                    ),
                );
                AdminToken::new("")
            }
        },
        (Some(_), Some(var)) => {
            problems.at(var.span(), "set admin.token or admin.token_env, not both");
            AdminToken::new("")
        }
        (None, None) => {
            problems.anywhere("[admin] needs token or token_env");
            AdminToken::new("")
        }
    }
}

fn header_name(
    problems: &mut Problems,
    value: Option<&Spanned<String>>,
    default: &'static str,
) -> HeaderName {
    let Some(value) = value else {
        return HeaderName::from_static(default);
    };
    match HeaderName::from_str(value.get_ref()) {
        Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => {
            problems.at(
                value.span(),
                format!(
                    "{:?} is owned by HTTP or the gateway; pick another header name",
                    value.get_ref()
                ),
            );
            name
        }
        Ok(name) => name,
        Err(_) => {
            problems.at(
                value.span(),
                format!("{:?} is not a valid header name", value.get_ref()),
            );
            HeaderName::from_static(default)
        }
    }
}

fn internal_prefix(problems: &mut Problems, value: Option<&Spanned<String>>) -> String {
    let Some(value) = value else {
        return "/_portcullis".to_string();
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

fn csrf(problems: &mut Problems, raw: &RawCsrf) -> CsrfSettings {
    let header_name = header_name(problems, raw.header_name.as_ref(), "x-csrftoken");
    if header_name.as_str().contains('_') {
        problems.at(
            raw.header_name.as_ref().map_or(0..0, |h| h.span()),
            "csrf.header_name must not contain '_' (such headers are dropped, as nginx does)",
        );
    }
    let trusted_origins = {
        let entries: Vec<String> = raw
            .trusted_origins
            .iter()
            .map(|o| o.get_ref().clone())
            .collect();
        match crate::csrf::origin::TrustedOrigins::parse(&entries) {
            Ok(trusted) => trusted,
            Err(message) => {
                let span = raw.trusted_origins.first().map_or(0..0, |o| o.span());
                problems.at(span, format!("csrf.trusted_origins: {message}"));
                Default::default()
            }
        }
    };
    let enforce = match raw
        .enforce
        .as_ref()
        .map(|e| (e.get_ref().as_str(), e.span()))
    {
        None | Some(("authenticated", _)) => CsrfEnforce::Authenticated,
        Some(("always", _)) => CsrfEnforce::Always,
        Some((other, span)) => {
            problems.at(
                span,
                format!("csrf.enforce {other:?}: expected \"authenticated\" or \"always\""),
            );
            CsrfEnforce::Authenticated
        }
    };
    let cookie_samesite = match raw
        .cookie_samesite
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("Lax", _)) => cookie::SameSite::Lax,
        Some(("Strict", _)) => cookie::SameSite::Strict,
        Some(("None", _)) => cookie::SameSite::None,
        Some((other, span)) => {
            problems.at(
                span,
                format!("csrf.cookie_samesite {other:?}: expected \"Lax\", \"Strict\" or \"None\""),
            );
            cookie::SameSite::Lax
        }
    };
    let cookie_domain = raw.cookie_domain.as_ref().map(|domain| {
        let text = domain.get_ref();
        let valid = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            problems.at(
                domain.span(),
                format!("csrf.cookie_domain {text:?} is not a domain name"),
            );
        }
        text.clone()
    });
    let form_body_limit = match &raw.form_body_limit {
        None => 2_621_440,
        Some(limit) if *limit.get_ref() >= 1024 && *limit.get_ref() <= 64 * 1024 * 1024 => {
            *limit.get_ref() as usize
        }
        Some(limit) => {
            problems.at(
                limit.span(),
                "csrf.form_body_limit must be between 1024 and 67108864 bytes",
            );
            2_621_440
        }
    };
    CsrfSettings {
        cookie_name: cookie_name(problems, raw.cookie_name.as_ref(), "csrftoken"),
        header_label: django_header_label(header_name.as_str()),
        header_name,
        trusted_origins,
        enforce,
        cookie_domain,
        cookie_secure: raw.cookie_secure.unwrap_or(false),
        cookie_samesite,
        legacy_messages: raw.legacy_messages.unwrap_or(false),
        websocket_origin_check: raw.websocket_origin_check.unwrap_or(true),
        form_body_limit,
        use_sessions: raw.use_sessions.as_ref().is_some_and(|u| *u.get_ref()),
    }
}

/// How Django names a header in CSRF messages: `HttpHeaders.parse_header_name`
/// (Python's `str.title()`), quoted by `repr`: "X-CSRFToken" → "'X-Csrftoken'".
fn django_header_label(name: &str) -> String {
    let mut label = String::with_capacity(name.len() + 2);
    label.push('\'');
    let mut previous_cased = false;
    for c in name.chars() {
        if c.is_ascii_alphabetic() {
            label.push(if previous_cased {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            });
            previous_cased = true;
        } else {
            label.push(c);
            previous_cased = false;
        }
    }
    label.push('\'');
    label
}

fn identity(problems: &mut Problems, raw: &RawIdentity, base: &std::path::Path) -> IdentityHeaders {
    let identity = IdentityHeaders {
        user: header_name(problems, raw.user.as_ref(), "x-remote-user"),
        groups: header_name(problems, raw.groups.as_ref(), "x-remote-groups"),
        permissions: header_name(problems, raw.permissions.as_ref(), "x-remote-permissions"),
        extra_strip: raw
            .strip
            .iter()
            .map(|name| header_name(problems, Some(name), "x-remote-user"))
            .collect(),
        sign: raw
            .sign
            .as_ref()
            .and_then(|sign| signer(problems, sign, base)),
    };
    if identity.user == identity.groups
        || identity.user == identity.permissions
        || identity.groups == identity.permissions
    {
        problems
            .anywhere("[identity] user, groups and permissions must be three different headers");
    }
    identity
}

fn signer(
    problems: &mut Problems,
    sign: &Spanned<super::raw::RawSign>,
    base: &std::path::Path,
) -> Option<std::sync::Arc<crate::identity::assertion::Signer>> {
    let raw = sign.get_ref();
    let ttl_text = raw.ttl.as_deref().unwrap_or("30s");
    let ttl = match humantime::parse_duration(ttl_text) {
        Ok(ttl) if ttl >= Duration::from_secs(1) && ttl <= Duration::from_secs(3600) => ttl,
        _ => {
            problems.at(
                sign.span(),
                format!("identity.sign.ttl {ttl_text:?} must be a duration from 1s to 1h"),
            );
            return None;
        }
    };
    let path = base.join(&raw.key_file);
    let key = match std::fs::read(&path) {
        Ok(key) => key,
        Err(e) => {
            problems.at(
                sign.span(),
                format!(
                    "cannot read identity.sign.key_file {:?}: {e}",
                    path.display()
                ),
            );
            return None;
        }
    };
    match crate::identity::assertion::Signer::load(&raw.algorithm, &key, ttl, raw.audience.clone())
    {
        Ok(signer) => Some(std::sync::Arc::new(signer)),
        Err(why) => {
            problems.at(sign.span(), format!("identity.sign: {why}"));
            None
        }
    }
}

fn access(problems: &mut Problems, value: &Spanned<String>) -> Access {
    value.get_ref().parse().unwrap_or_else(|_| {
        problems.at(
            value.span(),
            format!(
                "unknown access level {:?}; expected one of {}",
                value.get_ref(),
                Access::NAMES
            ),
        );
        Access::Deny
    })
}

fn mode(problems: &mut Problems, value: &Spanned<String>) -> Mode {
    value.get_ref().parse().unwrap_or_else(|_| {
        problems.at(
            value.span(),
            format!(
                "unknown mode {:?}; expected \"enforce\" or \"report\"",
                value.get_ref()
            ),
        );
        Mode::Enforce
    })
}

fn diagnostics(problems: &mut Problems, raw: &super::raw::RawDiagnostics) -> Diagnostics {
    let expose_reason = match raw
        .expose_reason
        .as_ref()
        .map(|e| (e.get_ref().as_str(), e.span()))
    {
        None | Some(("header", _)) => true,
        Some(("off", _)) => false,
        Some((other, span)) => {
            problems.at(
                span,
                format!("diagnostics.expose_reason {other:?}: expected \"header\" or \"off\""),
            );
            true
        }
    };
    Diagnostics {
        expose_reason,
        debug: raw.debug.unwrap_or(false),
    }
}

/// Permission strings as Django's `user.has_perm` takes them:
/// `app_label.codename`.
fn permissions(problems: &mut Problems, values: &[Spanned<String>]) -> Vec<Box<str>> {
    for value in values {
        if !is_permission(value.get_ref()) {
            // A warning: sessions made through the admin API may carry
            // any strings, but no Django user ever holds such a permission.
            problems.warn(
                value.span(),
                format!(
                    "permission {:?} is not \"app_label.codename\", the form Django's user.has_perm takes (e.g. \"lifeapp.change_life\")",
                    value.get_ref()
                ),
            );
        }
    }
    names(problems, values, "permission")
}

fn is_permission(text: &str) -> bool {
    let Some((app_label, codename)) = text.split_once('.') else {
        return false;
    };
    let identifier = app_label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && app_label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    identifier
        && !codename.is_empty()
        && codename.len() <= 100
        && !codename.contains(char::is_whitespace)
}

fn names(problems: &mut Problems, values: &[Spanned<String>], what: &str) -> Vec<Box<str>> {
    values
        .iter()
        .map(|value| {
            if let Some(why) = unsafe_value_reason(value.get_ref(), true) {
                problems.at(value.span(), format!("{what} {:?} {why}", value.get_ref()));
            }
            value.get_ref().as_str().into()
        })
        .collect()
}

fn model_permissions(problems: &mut Problems, value: &Spanned<String>) -> Option<ModelPermissions> {
    let text = value.get_ref();
    let valid_part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match text.split_once('.') {
        Some((app, model)) if valid_part(app) && valid_part(model) => Some(ModelPermissions {
            add: format!("{app}.add_{model}").into(),
            change: format!("{app}.change_{model}").into(),
            delete: format!("{app}.delete_{model}").into(),
        }),
        _ => {
            problems.at(
                value.span(),
                format!("model {text:?} must be \"app_label.model_name\" in lower case, as in Django's permission codenames (e.g. \"lifeapp.life\")"),
            );
            None
        }
    }
}

fn methods(problems: &mut Problems, value: &Spanned<Vec<String>>) -> Option<Box<[Method]>> {
    let mut out = Vec::new();
    for text in value.get_ref() {
        match Method::from_bytes(text.as_bytes()) {
            Ok(m) if text.bytes().all(|b| !b.is_ascii_lowercase()) => out.push(m),
            _ => problems.at(
                value.span(),
                format!(
                    "{text:?} is not an HTTP method; methods are case-sensitive (e.g. \"GET\")"
                ),
            ),
        }
    }
    if value.get_ref().is_empty() {
        problems.at(
            value.span(),
            "methods must list at least one method (leave it out to match every method)",
        );
    }
    Some(out.into_boxed_slice())
}

fn routes(
    problems: &mut Problems,
    raw: &[RawRoute],
    global_mode: Mode,
    internal_prefix: &str,
) -> Vec<Route> {
    let internal = Pattern::parse(&format!("{internal_prefix}/**")).ok();
    let mut compiled: Vec<(Route, Range<usize>)> = Vec::with_capacity(raw.len());
    for (i, route) in raw.iter().enumerate() {
        let name: Box<str> = match &route.name {
            Some(name) if name.get_ref().trim().is_empty() => {
                problems.at(name.span(), "route name must not be empty");
                format!("routes[{i}]").into()
            }
            Some(name) => name.get_ref().as_str().into(),
            None => format!("routes[{i}]").into(),
        };
        if let Some(first) = compiled.iter().find(|(r, _)| r.name == name) {
            let (line, _) = line_column(problems.source, first.1.start);
            problems.at(
                route.path.span(),
                format!("route name {name:?} is already used by the route on line {line}"),
            );
        }
        let pattern = match Pattern::parse(route.path.get_ref()) {
            Ok(p) => p,
            Err(e) => {
                problems.at(route.path.span(), format!("route {name:?}: {e}"));
                continue;
            }
        };
        let access = access(problems, &route.access);
        let requirements = Requirements {
            all_permissions: permissions(problems, &route.permissions),
            any_permissions: permissions(problems, &route.any_permissions),
            any_groups: names(problems, &route.groups, "group"),
            model: route
                .model
                .as_ref()
                .and_then(|m| model_permissions(problems, m)),
        };
        if matches!(access, Access::Anonymous | Access::Deny) && !requirements.is_empty() {
            problems.at(
                route.access.span(),
                format!(
                    "route {name:?}: permissions, any_permissions, groups and model have no effect with access = \"{}\"",
                    access.as_str()
                ),
            );
        }
        let methods = route.methods.as_ref().and_then(|m| methods(problems, m));
        let route_compiled = Route {
            name,
            pattern,
            methods,
            access,
            requirements,
            csrf_exempt: route.csrf == Some(false),
            max_body: route.max_body.as_ref().map(|limit| *limit.get_ref()),
            mode: route
                .mode
                .as_ref()
                .map_or(global_mode, |value| mode(problems, value)),
        };
        if internal
            .as_ref()
            .is_some_and(|i| i.covers(&route_compiled.pattern))
        {
            problems.at(
                route.path.span(),
                format!(
                    "route {:?} can never match: {internal_prefix}/* is the gateway's own endpoints, answered before any route",
                    route_compiled.name
                ),
            );
        }
        if route_compiled.access == Access::Anonymous {
            let catch_all = compiled.iter().find(|(r, _)| {
                r.pattern.segments == [crate::routes::pattern::Segment::Rest]
                    && !shadows(r, &route_compiled)
            });
            if let Some((earlier, _)) = catch_all {
                problems.warn(
                    route.path.span(),
                    format!(
                        "anonymous route {:?} comes after the catch-all {:?} ({}): only methods the catch-all does not take reach it; put specific routes before catch-alls",
                        route_compiled.name,
                        earlier.name,
                        earlier.pattern.as_str()
                    ),
                );
            }
        }
        if let (Some(value), Mode::Report) = (&route.mode, route_compiled.mode) {
            problems.warn(
                value.span(),
                format!(
                    "route {:?} has mode = \"report\": it enforces nothing; requests it would deny are forwarded (and counted as would_deny)",
                    route_compiled.name
                ),
            );
        }
        if let Some((earlier, _)) = compiled.iter().find(|(r, _)| shadows(r, &route_compiled)) {
            problems.at(
                route.path.span(),
                format!(
                    "route {:?} can never match: every request it covers is already matched by the earlier route {:?} ({})",
                    route_compiled.name,
                    earlier.name,
                    earlier.pattern.as_str()
                ),
            );
        }
        compiled.push((route_compiled, route.path.span()));
    }
    compiled.into_iter().map(|(route, _)| route).collect()
}

/// True when `earlier` matches every request `later` could match.
fn shadows(earlier: &Route, later: &Route) -> bool {
    let methods_covered = match (&earlier.methods, &later.methods) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(mine), Some(theirs)) => theirs.iter().all(|m| mine.contains(m)),
    };
    methods_covered && earlier.pattern.covers(&later.pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_labels_like_django() {
        assert_eq!(django_header_label("x-csrftoken"), "'X-Csrftoken'");
        assert_eq!(django_header_label("x-xsrf-token"), "'X-Xsrf-Token'");
        assert_eq!(django_header_label("x-csrf2token"), "'X-Csrf2Token'");
    }

    #[test]
    fn line_column_counts_from_one() {
        let s = "a\nbc\nd";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 3), (2, 2));
        assert_eq!(line_column(s, 5), (3, 1));
    }
}
