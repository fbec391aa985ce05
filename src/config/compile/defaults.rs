//! Every default value of the config file, named once. The compiler reads
//! them from here, and `ALL` lists them by the key the reference
//! (docs/configuration.md, docs/django.md) documents them under; a test
//! checks the two agree, so the documented default is the running one.

/// A default as the file would write it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// A humantime duration string, `"10s"`.
    Duration(&'static str),
    Text(&'static str),
    Integer(u64),
    /// A number with a fraction, `1.0`.
    Float(f64),
    Bool(bool),
    /// A list of strings. (Lists that default to none are not listed: an
    /// absent list is empty.)
    List(&'static [&'static str]),
}

impl Default {
    /// The value as a TOML literal: `"10s"`, `65536`, `false`, `["a","b"]`.
    pub fn toml(self) -> String {
        let quoted = |text: &str| format!("{text:?}");
        match self {
            Default::Duration(text) | Default::Text(text) => quoted(text),
            Default::Integer(n) => n.to_string(),
            // `{:?}` keeps the fraction: 1.0, not 1 (an integer in TOML).
            Default::Float(x) => format!("{x:?}"),
            Default::Bool(flag) => flag.to_string(),
            Default::List(items) => {
                let items: Vec<String> = items.iter().map(|item| quoted(item)).collect();
                format!("[{}]", items.join(","))
            }
        }
    }
}

/// Declares each default as a constant of its kind and lists them all in
/// `ALL` with their documented keys, from one line per default.
macro_rules! defaults {
    ($($(#[doc = $doc:literal])* $name:ident: $kind:ident = $value:expr => $key:literal;)*) => {
        $($(#[doc = $doc])* pub const $name: defaults!(@type $kind) = $value;)*
        /// Every default above, by its documented key.
        pub const ALL: &[(&str, Default)] = &[$(($key, Default::$kind($name)),)*];
    };
    (@type Duration) => { &'static str };
    (@type Text) => { &'static str };
    (@type Integer) => { u64 };
    (@type Float) => { f64 };
    (@type Bool) => { bool };
    (@type List) => { &'static [&'static str] };
}

defaults! {
    MODE: Text = "enforce" => "mode";
    AUTHENTICATION: List = &["session"] => "authentication";

    TOKEN_KEYWORD: Text = "Token" => "token.keyword";

    DECISION_LISTEN: Text = "127.0.0.1:9902" => "decision.listen";
    DECISION_TRUSTED_INGRESS: List = &["127.0.0.1/32", "::1/128"] => "decision.trusted_ingress";
    DECISION_ENVOY_PATH_PREFIX: Text = "/ext_authz" => "decision.envoy_path_prefix";
    DECISION_CLIENT_ADDRESS: Text = "none" => "decision.client_address";

    JWT_ALGORITHM: Text = "HS256" => "jwt.algorithm";
    JWT_LEEWAY: Integer = 0 => "jwt.leeway";
    JWT_USER_ID_CLAIM: Text = "user_id" => "jwt.user_id_claim";
    JWT_USER_ID_FIELD: Text = "id" => "jwt.user_id_field";
    JWT_AUTH_HEADER_TYPES: List = &["Bearer"] => "jwt.auth_header_types";
    JWT_TOKEN_TYPE_CLAIM: Text = "token_type" => "jwt.token_type_claim";
    JWT_JTI_CLAIM: Text = "jti" => "jwt.jti_claim";
    JWT_STATELESS: Bool = false => "jwt.stateless";
    JWT_TOKEN_CLASSES: List = &["access"] => "jwt.token_classes";
    JWT_BLACKLIST: Bool = false => "jwt.blacklist";

    EXPOSE_REASON: Text = "header" => "diagnostics.expose_reason";
    DEBUG: Bool = false => "diagnostics.debug";
    SELF_EXPLAIN: Bool = false => "diagnostics.self_explain";

    HEADER_READ_TIMEOUT: Duration = "10s" => "server.header_read_timeout";
    IDLE_TIMEOUT: Duration = "75s" => "server.idle_timeout";
    BODY_READ_TIMEOUT: Duration = "30s" => "server.body_read_timeout";
    SHUTDOWN_TIMEOUT: Duration = "30s" => "server.shutdown_timeout";
    INTERNAL_PREFIX: Text = "/_portcullis" => "server.internal_prefix";
    MAX_HEADER_BYTES: Integer = 65_536 => "server.max_header_bytes";
    MAX_HEADERS: Integer = 100 => "server.max_headers";
    MAX_CONNECTIONS: Integer = 10_000 => "server.max_connections";
    MAX_CONCURRENT_STREAMS: Integer = 256 => "server.max_concurrent_streams";

    UPSTREAM_CONNECT_TIMEOUT: Duration = "2s" => "upstream.connect_timeout";
    UPSTREAM_TIMEOUT: Duration = "30s" => "upstream.timeout";

    SESSION_STORE: Text = "memory" => "session.store";
    SESSION_COOKIE_NAME: Text = "sessionid" => "session.cookie_name";
    /// Django's `SESSION_COOKIE_AGE`.
    SESSION_TTL: Duration = "14d" => "session.ttl";
    SESSION_SLIDING: Bool = false => "session.sliding";
    REDIS_URL: Text = "redis://127.0.0.1:6379/0" => "session.redis_url";
    REDIS_KEY_PREFIX: Text = "portcullis:session:" => "session.key_prefix";
    REDIS_TIMEOUT: Duration = "250ms" => "session.redis_timeout";
    REDIS_CACHE_TTL: Duration = "1s" => "session.cache_ttl";
    REDIS_NEGATIVE_CACHE_TTL: Duration = "1s" => "session.negative_cache_ttl";
    REDIS_CACHE_SIZE: Integer = 100_000 => "session.cache_size";

    IDENTITY_USER: Text = "X-Remote-User" => "identity.user";
    IDENTITY_GROUPS: Text = "X-Remote-Groups" => "identity.groups";
    IDENTITY_PERMISSIONS: Text = "X-Remote-Permissions" => "identity.permissions";
    IDENTITY_AUTH: Text = "X-Remote-Auth" => "identity.auth";
    ASSERTION_TTL: Duration = "30s" => "identity.sign.ttl";

    USER_STAFF: Bool = false => "users.staff";
    USER_SUPERUSER: Bool = false => "users.superuser";
    USER_ACTIVE: Bool = true => "users.active";

    LOGIN_REDIRECT_BROWSERS: Bool = false => "login.redirect_browsers";
    LOGIN_MAX_FAILURES: Integer = 5 => "login.max_failures";
    LOGIN_FAILURE_WINDOW: Duration = "5m" => "login.failure_window";

    CSRF_ENFORCE: Text = "authenticated" => "csrf.enforce";
    /// Django's `CSRF_COOKIE_NAME`.
    CSRF_COOKIE_NAME: Text = "csrftoken" => "csrf.cookie_name";
    /// Django's `CSRF_HEADER_NAME` (`HTTP_X_CSRFTOKEN`).
    CSRF_HEADER_NAME: Text = "X-CSRFToken" => "csrf.header_name";
    CSRF_COOKIE_SECURE: Bool = false => "csrf.cookie_secure";
    CSRF_COOKIE_SAMESITE: Text = "Lax" => "csrf.cookie_samesite";
    CSRF_LEGACY_MESSAGES: Bool = false => "csrf.legacy_messages";
    CSRF_WEBSOCKET_ORIGIN_CHECK: Bool = true => "csrf.websocket_origin_check";
    /// Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MiB).
    CSRF_FORM_BODY_LIMIT: Integer = 2_621_440 => "csrf.form_body_limit";
    CSRF_USE_SESSIONS: Bool = false => "csrf.use_sessions";

    CORS_ALLOW_CREDENTIALS: Bool = false => "cors.allow_credentials";
    CORS_ALLOWED_METHODS: List = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] => "cors.allowed_methods";
    CORS_ALLOWED_HEADERS: List = &["Content-Type", "X-CSRFToken", "X-Requested-With"] => "cors.allowed_headers";
    CORS_MAX_AGE: Duration = "10m" => "cors.max_age";

    ROUTE_CSRF: Bool = true => "routes.csrf";

    DJANGO_AUTHENTICATION_BACKENDS: List = &["django.contrib.auth.backends.ModelBackend"] => "django.authentication_backends";
    DJANGO_SESSION_TABLE: Text = "django_session" => "django.session_table";
    DJANGO_USER_TABLE: Text = "auth_user" => "django.user_table";
    DJANGO_USERNAME_COLUMN: Text = "username" => "django.username_column";
    DJANGO_USER_COLUMN: Text = "user_id" => "django.user_column";
    DJANGO_TOKEN_TABLE: Text = "authtoken_token" => "django.token_table";
    DJANGO_TIMEOUT: Duration = "1s" => "django.timeout";
    DJANGO_CACHE_TTL: Duration = "1s" => "django.cache_ttl";
    DJANGO_NEGATIVE_CACHE_TTL: Duration = "1s" => "django.negative_cache_ttl";
    DJANGO_CACHE_SIZE: Integer = 100_000 => "django.cache_size";

    BEARER_ALGORITHMS: List = &["RS256", "ES256"] => "bearer.algorithms";
    /// The one claim every issuer sets, unique and stable per user.
    BEARER_USERNAME_CLAIM: Text = "sub" => "bearer.username_claim";
    BEARER_LEEWAY: Duration = "60s" => "bearer.leeway";
    BEARER_JWKS_CACHE_TTL: Duration = "10m" => "bearer.jwks_cache_ttl";
    BEARER_JWKS_REFETCH_INTERVAL: Duration = "30s" => "bearer.jwks_refetch_interval";
    BEARER_TIMEOUT: Duration = "5s" => "bearer.timeout";
    OIDC_SCOPES: List = &["openid", "profile", "email"] => "oidc.scopes";
    OIDC_REDIRECT_PATH: Text = "/oidc/callback" => "oidc.redirect_path";
    OIDC_NAME: Text = "your identity provider" => "oidc.name";
    OIDC_USERNAME_CLAIM: Text = "preferred_username" => "oidc.username_claim";
    OIDC_GROUPS_CLAIM: Text = "groups" => "oidc.groups_claim";
    OIDC_LEEWAY: Duration = "60s" => "oidc.leeway";
    OIDC_TIMEOUT: Duration = "10s" => "oidc.timeout";

    TELEMETRY_SERVICE_NAME: Text = "portcullis" => "telemetry.service_name";
    TELEMETRY_SAMPLE_RATIO: Float = 1.0 => "telemetry.sample_ratio";
    TELEMETRY_TRUST_PARENT: Text = "always" => "telemetry.trust_parent";
    /// The OpenTelemetry BatchSpanProcessor's defaults.
    TELEMETRY_MAX_QUEUE_SIZE: Integer = 2048 => "telemetry.max_queue_size";
    TELEMETRY_MAX_EXPORT_BATCH_SIZE: Integer = 512 => "telemetry.max_export_batch_size";
    TELEMETRY_SCHEDULED_DELAY: Duration = "5s" => "telemetry.scheduled_delay";
    TELEMETRY_EXPORT_TIMEOUT: Duration = "10s" => "telemetry.export_timeout";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented defaults: every `| key | default | meaning |` table
    /// of the reference, each literal default (one backticked TOML value)
    /// by `section.key`.
    fn documented() -> Vec<(String, toml::Value, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut found = Vec::new();
        for file in ["docs/configuration.md", "docs/django.md"] {
            let text = std::fs::read_to_string(root.join(file)).expect("the reference is readable");
            let mut section = String::new();
            let mut in_table = false;
            for (number, line) in text.lines().enumerate() {
                let place = format!("{file}:{}", number + 1);
                if let Some(heading) = line.strip_prefix("### ") {
                    section = heading
                        .trim_matches('`')
                        .trim_matches(|c| c == '[' || c == ']')
                        .to_string();
                    if section == "top level" {
                        section.clear();
                    }
                    in_table = false;
                    continue;
                }
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                if cells.len() < 4 {
                    in_table = false;
                    continue;
                }
                // A reference table: `key` and `default` columns; the key
                // column may name a subsection (`sign` key, `[django]` key).
                if cells[2] == "default" && cells[1].ends_with("key") {
                    in_table = true;
                    let sub = cells[1].trim_end_matches("key").trim().trim_matches('`');
                    if sub == "sign" {
                        section = "identity.sign".into();
                    } else if sub == "[django]" {
                        section = "django".into();
                    }
                    continue;
                }
                if !in_table || cells[1].starts_with("---") {
                    continue;
                }
                let (key, default) = (cells[1], cells[2]);
                let Some(key) = key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
                    continue;
                };
                if key.contains('`') {
                    // Several keys in one row (`a` / `b`): not a single default.
                    continue;
                }
                let Some(literal) = default
                    .strip_prefix('`')
                    .and_then(|d| d.strip_suffix('`'))
                    .filter(|d| !d.contains('`'))
                else {
                    continue;
                };
                let Ok(parsed) = toml::from_str::<toml::Table>(&format!("v = {literal}")) else {
                    continue;
                };
                if parsed["v"].as_array().is_some_and(Vec::is_empty) {
                    // An absent list is an empty one (serde's default).
                    continue;
                }
                let full = if section.is_empty() {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                found.push((full, parsed["v"].clone(), place));
            }
        }
        found
    }

    #[test]
    fn documented_defaults_are_the_code_defaults() {
        let documented = documented();
        assert!(
            documented.len() > 50,
            "the reference tables were not found: {documented:?}"
        );
        for (key, value, place) in &documented {
            let Some((_, default)) = ALL.iter().find(|(k, _)| k == key) else {
                panic!("{place}: {key} documents a default the code does not name in defaults.rs");
            };
            let code: toml::Table =
                toml::from_str(&format!("v = {}", default.toml())).expect("a TOML literal");
            assert_eq!(
                &code["v"],
                value,
                "{place}: {key} is documented as {value} but defaults to {}",
                default.toml()
            );
        }
        for (key, default) in ALL {
            assert!(
                documented.iter().any(|(k, _, _)| k == key),
                "{key} = {} is not documented in docs/configuration.md or docs/django.md",
                default.toml()
            );
        }
    }

    #[test]
    fn every_duration_default_parses() {
        for (key, default) in ALL {
            if let Default::Duration(text) = default {
                assert!(humantime::parse_duration(text).is_ok(), "{key} = {text:?}");
            }
        }
    }
}
