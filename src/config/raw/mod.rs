//! The configuration file exactly as written: serde structs that mirror the
//! TOML, reject unknown keys, and keep source spans so `compile` can point at
//! the line a problem is on. Nothing here is validated beyond its TOML type.

mod credentials;

use serde::Deserialize;
use toml::Spanned;

pub use credentials::{RawBearer, RawJwt, RawOidc, RawStrings, RawToken};

/// The whole `portcullis.toml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// What happens to a request no `[[routes]]` entry matches: an access
    /// level (see `RawRoute::access`). Deny unless set here, explicitly.
    pub default_access: Option<Spanned<String>>,
    /// "enforce" (default) or "report": a dry run in which a request that
    /// would be denied is forwarded anyway, and logged and counted as
    /// `would_deny` with its reason. Each route may set its own.
    pub mode: Option<Spanned<String>>,
    /// DRF's `DEFAULT_AUTHENTICATION_CLASSES`: the classes tried, in order,
    /// on every route that does not name its own: "session", "token",
    /// "jwt", "bearer" (default ["session"]).
    pub authentication: Option<Spanned<Vec<Spanned<String>>>>,
    /// DRF's `TokenAuthentication` (`Authorization: Token <key>`).
    pub token: Option<RawToken>,
    /// djangorestframework-simplejwt: `SIMPLE_JWT`, lower-cased.
    pub jwt: Option<Spanned<RawJwt>>,
    /// Listener addresses.
    pub server: RawServer,
    /// The default backend: where routes without `upstream =` (and
    /// `default_access`) forward. Required unless `[[upstreams]]` exist.
    pub upstream: Option<RawUpstream>,
    /// More backends, by name, for routes that say `upstream = "name"`.
    #[serde(default)]
    pub upstreams: Vec<RawUpstream>,
    /// Where sessions live and how the session cookie is read.
    #[serde(default)]
    pub session: RawSession,
    /// The admin API (session management, health) on `server.admin_listen`.
    pub admin: RawAdmin,
    /// Names of the identity headers injected for authenticated requests.
    #[serde(default)]
    pub identity: RawIdentity,
    /// Django-compatible CSRF protection.
    #[serde(default)]
    pub csrf: RawCsrf,
    /// CORS for front-ends on other origins.
    #[serde(default)]
    pub cors: RawCors,
    /// Access rules, evaluated in file order; the first match decides.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// People who can sign in at the gateway (`/_portcullis/login`).
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// The gateway's sign-in: pages, redirects, throttling.
    #[serde(default)]
    pub login: RawLogin,
    /// What a denial tells the client about why.
    #[serde(default)]
    pub diagnostics: RawDiagnostics,
    /// The Django project whose sessions are read (`session.store = "django"`).
    pub django: Option<Spanned<RawDjango>>,
    /// The decision endpoint for an ingress's auth subrequests (nginx
    /// `auth_request`, Traefik/Caddy forward auth, Envoy `ext_authz`).
    pub decision: Option<Spanned<RawDecision>>,
    /// Bearer JWTs from an OIDC provider or any issuer publishing a JWKS.
    pub bearer: Option<Spanned<RawBearer>>,
    /// Sign-in through an OpenID provider.
    pub oidc: Option<Spanned<RawOidc>>,
    /// DRF-style throttling defaults (`[throttle]`).
    #[serde(default)]
    pub throttle: RawThrottle,
    /// OpenTelemetry tracing: spans exported to a collector over OTLP/HTTP.
    pub telemetry: Option<Spanned<RawTelemetry>>,
}

/// `[telemetry]`: a span per request (and per upstream call), exported
/// over OTLP/HTTP; W3C `traceparent` continued and sent upstream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The collector's OTLP/HTTP traces URL, used as written
    /// ("http://127.0.0.1:4318/v1/traces"); http or https. Required
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` may give it).
    pub otlp_endpoint: Option<Spanned<String>>,
    /// The resource's `service.name` (default "portcullis").
    pub service_name: Option<Spanned<String>>,
    /// Extra headers on every export, e.g. `{ "x-api-key" = "..." }`.
    pub headers: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    /// PEM of the CA that signed an https collector's certificate
    /// (default the system's roots); relative to this file.
    pub ca_file: Option<Spanned<String>>,
    /// The share of new traces recorded, 0.0 to 1.0 (default 1.0); a
    /// caller's `traceparent` sampled flag decides for its traces.
    pub sample_ratio: Option<Spanned<f64>>,
    /// Whose `traceparent` is continued: "always" (default),
    /// "trusted_proxies" (only from `server.trusted_proxies` or a trusted
    /// ingress) or "never"; any other caller's request starts a trace.
    pub trust_parent: Option<Spanned<String>>,
    /// Most requests' spans waiting to be exported; more are dropped
    /// (default 2048).
    pub max_queue_size: Option<Spanned<u64>>,
    /// Most requests' spans in one export (default 512).
    pub max_export_batch_size: Option<Spanned<u64>>,
    /// Longest a span waits for its batch to fill (default "5s").
    pub scheduled_delay: Option<Spanned<String>>,
    /// Longest one export may take (default "10s").
    pub export_timeout: Option<Spanned<String>>,
}

/// `[decision]`: answer an ingress's auth subrequest with the whole
/// decision, instead of proxying.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecision {
    /// The decision listener (default "127.0.0.1:9902").
    pub listen: Option<Spanned<String>>,
    /// The ingress proxies whose subrequests are answered, as addresses
    /// or CIDR ranges (default loopback only).
    pub trusted_ingress: Option<Vec<Spanned<String>>>,
    /// Envoy HTTP ext_authz's `path_prefix` (default "/ext_authz").
    pub envoy_path_prefix: Option<Spanned<String>>,
    /// Where an HTTP subrequest names the client's address, for routes
    /// with `allow_ips` / `deny_ips`: "x-forwarded-for" (the ingress
    /// appends or sets it) or "none" (default: such routes refuse).
    pub client_address: Option<Spanned<String>>,
}

/// `[django]`: the settings copied from the Django project's `settings.py`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDjango {
    /// `DATABASES["default"]` as a URL: "sqlite:///srv/app/db.sqlite3" or
    /// "postgres://user:password@host:5432/name". Read only, never written.
    pub database: Spanned<String>,
    /// PEM of the CA that signed PostgreSQL's certificate, for
    /// `?sslmode=require` (TLS with the certificate and host name verified)
    /// with a private CA; default the system's roots. Relative to this file.
    pub database_ca_file: Option<Spanned<String>>,
    /// `SECRET_KEY`, inline. Prefer `secret_key_file` or `secret_key_env`.
    pub secret_key: Option<Spanned<String>>,
    /// A file holding `SECRET_KEY` (relative to this file's directory; one
    /// trailing newline is ignored).
    pub secret_key_file: Option<Spanned<String>>,
    /// An environment variable holding `SECRET_KEY`.
    pub secret_key_env: Option<Spanned<String>>,
    /// `SECRET_KEY_FALLBACKS`: older keys that still verify sessions and
    /// `_auth_user_hash`, tried in order.
    #[serde(default)]
    pub secret_key_fallbacks: Vec<Spanned<String>>,
    /// `AUTHENTICATION_BACKENDS` (default Django's, `ModelBackend` only).
    pub authentication_backends: Option<Vec<String>>,
    /// The session table (default "django_session").
    pub session_table: Option<Spanned<String>>,
    /// The user model's table (default "auth_user"; for
    /// `AUTH_USER_MODEL = "accounts.User"` it is "accounts_user").
    pub user_table: Option<Spanned<String>>,
    /// The user model's `USERNAME_FIELD` column (default "username").
    pub username_column: Option<Spanned<String>>,
    /// The user-to-group table (default `<user_table>_groups`).
    pub user_groups_table: Option<Spanned<String>>,
    /// The user-to-permission table (default `<user_table>_user_permissions`).
    pub user_permissions_table: Option<Spanned<String>>,
    /// The column of both tables above naming the user (default "user_id").
    pub user_column: Option<Spanned<String>>,
    /// DRF's `rest_framework.authtoken` table (default "authtoken_token"),
    /// read by the `token` authentication class.
    pub token_table: Option<Spanned<String>>,
    /// Longest any database call may take before it counts as a failure
    /// (default "1s"); protected routes then answer 503.
    pub timeout: Option<Spanned<String>>,
    /// How long a resolved session is reused before asking the database
    /// again (default "1s"): a logout or password change in Django takes
    /// effect at the gateway within it.
    pub cache_ttl: Option<Spanned<String>>,
    /// How long "no such session" is reused (default "1s").
    pub negative_cache_ttl: Option<Spanned<String>>,
    /// Most sessions kept in the cache (default 100000); 0 turns it off.
    pub cache_size: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiagnostics {
    /// "header" (default): every answer the gateway gives instead of the
    /// upstream carries its reason code in `X-Portcullis-Reason`; "off":
    /// it does not (nor does the HTML error page).
    pub expose_reason: Option<Spanned<String>>,
    /// Add a `hint` with the fix to the JSON body of denials, next to
    /// DRF's `detail` (default false: the body is exactly DRF's). For
    /// development: hints name permissions and routes.
    pub debug: Option<bool>,
    /// Answer `<prefix>/explain?method=..&path=..` with `explain` for the
    /// caller's own credentials (default false: it names routes and the
    /// permissions they need).
    pub self_explain: Option<bool>,
}

/// A `users_file`: only `[[users]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsersFile {
    #[serde(default)]
    pub users: Vec<RawUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// The name people sign in with (case-sensitive, as in Django).
    pub username: Spanned<String>,
    /// argon2id PHC string from `portcullis hash-password`.
    pub password_hash: Spanned<String>,
    /// Groups sent in the groups identity header.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// `app_label.codename` permissions.
    #[serde(default)]
    pub permissions: Vec<Spanned<String>>,
    /// Django's `is_staff` (default false).
    pub staff: Option<bool>,
    /// Django's `is_superuser` (default false).
    pub superuser: Option<bool>,
    /// Django's `is_active`: false stops the user signing in (default true).
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogin {
    /// Answer an unauthenticated browser GET on a protected route with a
    /// 302 to the login page (carrying `next`) instead of a 403 (default false).
    pub redirect_browsers: Option<bool>,
    /// Failed logins allowed per client address and per username before
    /// further attempts get 429 (default 5).
    pub max_failures: Option<Spanned<u32>>,
    /// The window those failures are spread over (default "5m").
    pub failure_window: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// `host:port` the proxy listens on; clients talk to this.
    pub listen: Spanned<String>,
    /// `host:port` of the admin API. Keep it on loopback or a private network.
    pub admin_listen: Spanned<String>,
    /// Longest time a client may take to send the request head (default "10s").
    pub header_read_timeout: Option<Spanned<String>>,
    /// How long a connection may sit with no request in flight and no
    /// bytes moving before it is closed (default "75s", as nginx's
    /// keepalive_timeout). For HTTP/1 the wait for the next request head is
    /// also bounded by `header_read_timeout`.
    pub idle_timeout: Option<Spanned<String>>,
    /// Longest wait for the next piece of a request body (default "30s");
    /// a client that stalls longer gets 408.
    pub body_read_timeout: Option<Spanned<String>>,
    /// How long in-flight requests may run after SIGTERM/SIGINT (default "30s").
    pub shutdown_timeout: Option<Spanned<String>>,
    /// Addresses or CIDR ranges of proxies in front of the gateway (load
    /// balancers) whose X-Forwarded-*, Forwarded and X-Real-IP headers are
    /// believed. From anyone else those headers are replaced or dropped.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Path prefix of the gateway's own endpoints (`<prefix>/csrf`), answered
    /// by the gateway and never forwarded (default "/_portcullis").
    pub internal_prefix: Option<Spanned<String>>,
    /// TLS termination on `listen`.
    pub tls: Option<Spanned<RawTls>>,
    /// Largest request head (request line and headers), bytes (default
    /// 65536); larger ones get 431.
    pub max_header_bytes: Option<Spanned<u64>>,
    /// Most request headers (default 100); more get 431.
    pub max_headers: Option<Spanned<u64>>,
    /// Most open client connections (default 10000); further ones wait in
    /// the listen queue until one closes.
    pub max_connections: Option<Spanned<u64>>,
    /// Most concurrent HTTP/2 streams per connection (default 256).
    pub max_concurrent_streams: Option<Spanned<u64>>,
    /// Threads serving requests (default: one per CPU). A sidecar sharing
    /// a pod with its app may want fewer. Read at start only.
    pub worker_threads: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM file: the certificate chain, leaf first.
    pub cert: String,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// What routes call it by (`upstream = "name"`): required in
    /// `[[upstreams]]`, optional in `[upstream]`. Letters, digits, '_'
    /// and '-', starting with a letter.
    pub name: Option<Spanned<String>>,
    /// Base URL of the backend, `http://host:port`, without a path.
    pub url: Spanned<String>,
    /// Longest time to establish a TCP connection to the upstream (default "2s").
    pub connect_timeout: Option<Spanned<String>>,
    /// Longest time from sending the request until the upstream's response
    /// headers arrive (default "30s"); past it the client gets a 504.
    pub timeout: Option<Spanned<String>>,
    /// PEM file of the CA that signed an `https://` upstream's certificate
    /// (default: the system's roots).
    pub ca_file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    /// Session store: "memory" (this process only), "redis" (shared) or
    /// "django" (Django's own sessions, read from its database; see `[django]`).
    pub store: Option<Spanned<String>>,
    /// Name of the cookie carrying the session id (default Django's "sessionid").
    pub cookie_name: Option<Spanned<String>>,
    /// Lifetime of a session created without an explicit ttl (default "14d",
    /// Django's SESSION_COOKIE_AGE).
    pub ttl: Option<Spanned<String>>,
    /// Renew a session's expiry (to now + ttl) when it is used, at most
    /// once a minute (default false).
    pub sliding: Option<bool>,
    /// Absolute cap on a session's life from its creation, renewals included.
    pub max_age: Option<Spanned<String>>,
    /// A TOML file of `[[users]]` entries, so password hashes can live
    /// outside the main config (relative to this file's directory).
    pub users_file: Option<Spanned<String>>,
    /// `redis://host:port/db`, `rediss://…` or `unix:///path` (store = "redis").
    pub redis_url: Option<Spanned<String>>,
    /// Redis Cluster nodes (list every master: each one's invalidations
    /// feed the local cache), instead of `redis_url`.
    #[serde(default)]
    pub redis_cluster_urls: Vec<Spanned<String>>,
    /// Redis Sentinel: `{ master = "mymaster", urls = ["redis://host:26379"] }`,
    /// instead of `redis_url`; the master is found (again, after a
    /// failover) by asking the sentinels.
    pub redis_sentinel: Option<Spanned<RawSentinel>>,
    /// PEM file of the CA that signed the Redis server's certificate, for
    /// `rediss://` with a private CA (default: the system's roots).
    pub redis_tls_ca_file: Option<Spanned<String>>,
    /// Prefix of every session key (default "portcullis:session:").
    pub key_prefix: Option<Spanned<String>>,
    /// Longest any Redis call may take before it counts as a failure
    /// (default "250ms").
    pub redis_timeout: Option<Spanned<String>>,
    /// How long a session read from Redis is kept in the local cache
    /// (default "1s"); revocations reach the cache sooner (invalidations).
    pub cache_ttl: Option<Spanned<String>>,
    /// How long "no such session" is cached (default "1s").
    pub negative_cache_ttl: Option<Spanned<String>>,
    /// Most sessions kept in the local cache (default 100000); 0 turns the
    /// cache off, so every lookup asks Redis.
    pub cache_size: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Bearer token every admin call except `/healthz` must present.
    pub token: Option<Spanned<String>>,
    /// Name of an environment variable holding the token, instead of `token`.
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    /// Header carrying the username (default "X-Remote-User").
    pub user: Option<Spanned<String>>,
    /// Header carrying the user's groups, comma-separated (default "X-Remote-Groups").
    pub groups: Option<Spanned<String>>,
    /// Header carrying `app_label.codename` permissions, comma-separated
    /// (default "X-Remote-Permissions").
    pub permissions: Option<Spanned<String>>,
    /// Header naming the authentication class that authenticated the
    /// request: session, token, jwt or bearer (default "X-Remote-Auth").
    pub auth: Option<Spanned<String>>,
    /// More header names to strip from every client request, on top of the
    /// three above and the well-known identity headers of other proxies.
    #[serde(default)]
    pub strip: Vec<Spanned<String>>,
    /// Sign a short-lived JWT about each forwarded request into
    /// `X-Portcullis-Assertion`, so the upstream can verify it passed the gateway.
    pub sign: Option<Spanned<RawSign>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSign {
    /// "HS256" (shared secret) or "EdDSA" (Ed25519: the upstream needs
    /// only the public key).
    pub algorithm: String,
    /// HS256: a file holding the secret (at least 32 bytes; trailing
    /// whitespace ignored). EdDSA: the Ed25519 private key, PKCS#8 PEM.
    /// Relative to the config file's directory; re-read on reload.
    pub key_file: String,
    /// How long an assertion is valid (default "30s").
    pub ttl: Option<String>,
    /// The `aud` claim, for upstreams that check who a token is for (default: none).
    pub audience: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    /// Exact origins allowed to read responses, `https://app.example.com`.
    #[serde(default)]
    pub allowed_origins: Vec<Spanned<String>>,
    /// Let those origins send cookies (`Access-Control-Allow-Credentials`).
    pub allow_credentials: Option<bool>,
    /// Methods a preflight allows (default GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS).
    pub allowed_methods: Option<Vec<String>>,
    /// Request headers a preflight allows (default Content-Type, X-CSRFToken, X-Requested-With).
    pub allowed_headers: Option<Vec<String>>,
    /// Response headers scripts may read beyond the simple ones.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer (default "10m").
    pub max_age: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSentinel {
    /// The master's name in the sentinels' configuration.
    pub master: String,
    /// Sentinel addresses, `redis://host:26379`.
    pub urls: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsrf {
    /// Cookie holding the CSRF secret (default Django's "csrftoken").
    pub cookie_name: Option<Spanned<String>>,
    /// Header carrying the submitted token (default Django's "X-CSRFToken").
    pub header_name: Option<Spanned<String>>,
    /// Origins trusted for unsafe requests besides this request's own, as
    /// Django's CSRF_TRUSTED_ORIGINS: "https://app.example.com" or
    /// "https://*.example.com" (same scheme only).
    #[serde(default)]
    pub trusted_origins: Vec<Spanned<String>>,
    /// "authenticated" (DRF: only requests with a valid session are checked,
    /// on every route; default) or "always" (Django's middleware: every
    /// unsafe request).
    pub enforce: Option<Spanned<String>>,
    /// Domain attribute of the csrftoken cookie (CSRF_COOKIE_DOMAIN); also
    /// what an HTTPS Referer may match. Default: host-only cookie.
    pub cookie_domain: Option<Spanned<String>>,
    /// Always mark the csrftoken cookie Secure (it is Secure on HTTPS anyway).
    pub cookie_secure: Option<bool>,
    /// SameSite attribute of the csrftoken cookie: "Lax" (default), "Strict", "None".
    pub cookie_samesite: Option<Spanned<String>>,
    /// Use the single pre-Django-4.0 message "CSRF token missing or
    /// incorrect." for every token problem (the seed document's wording).
    pub legacy_messages: Option<bool>,
    /// Refuse WebSocket upgrades whose Origin fails the Origin rule
    /// (cross-site WebSocket hijacking); default true.
    pub websocket_origin_check: Option<bool>,
    /// Most bytes read from the start of a form POST body to find the
    /// `csrfmiddlewaretoken` field (default 2621440, Django's
    /// DATA_UPLOAD_MAX_MEMORY_SIZE). The body is forwarded whole either way.
    pub form_body_limit: Option<Spanned<u64>>,
    /// Django's CSRF_USE_SESSIONS: the secret is the session's `_csrftoken`,
    /// not a cookie, and the gateway hands out no csrftoken cookie (needs
    /// `session.store = "django"`; default false).
    pub use_sessions: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Name shown in logs and in `X-Portcullis-Route`-style diagnostics
    /// (default `routes[N]`).
    pub name: Option<Spanned<String>>,
    /// Path pattern: literal segments, `*` (one segment), `{name}` (one named
    /// segment), and `**` as the last segment (any number, including none).
    pub path: Spanned<String>,
    /// Only these methods match this route (default: every method).
    pub methods: Option<Spanned<Vec<String>>>,
    /// anonymous | authenticated | authenticated_or_read_only | staff | superuser | deny
    pub access: Spanned<String>,
    /// Permissions the user must all hold (`app_label.codename`).
    #[serde(default)]
    pub permissions: Vec<Spanned<String>>,
    /// Permissions of which the user must hold at least one.
    #[serde(default)]
    pub any_permissions: Vec<Spanned<String>>,
    /// Groups of which the user must be in at least one.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// `app_label.model`: DjangoModelPermissions for the request method
    /// (POST add_, PUT/PATCH change_, DELETE delete_).
    pub model: Option<Spanned<String>>,
    /// `false` exempts this route from the CSRF check (e.g. webhooks that
    /// authenticate by signature), like Django's `@csrf_exempt`.
    pub csrf: Option<bool>,
    /// Largest request body this route accepts, bytes; larger ones get 413
    /// and are never forwarded (default: no limit).
    pub max_body: Option<Spanned<u64>>,
    /// "enforce" or "report" for this route (default: the top-level `mode`).
    pub mode: Option<Spanned<String>>,
    /// The view's `authentication_classes` (default the top-level
    /// `authentication`).
    pub authentication: Option<Spanned<Vec<Spanned<String>>>>,
    /// Client addresses (IP or CIDR) that may use this route; any other
    /// gets 403 `ip_not_allowed` (default: every address).
    pub allow_ips: Option<Spanned<Vec<Spanned<String>>>>,
    /// Client addresses (IP or CIDR) refused by this route, even inside
    /// `allow_ips`.
    #[serde(default)]
    pub deny_ips: Vec<Spanned<String>>,
    /// This route's throttles (DRF's `throttle_classes` and
    /// `throttle_scope`): its own `anon` and `user` rates, and a `scope`
    /// from `[throttle.scopes]` (default: the top-level `[throttle]` rates).
    pub throttle: Option<Spanned<RawRouteThrottle>>,
    /// The request host this route is for: "api.example.com", or
    /// "*.example.com" for every name under it (default: every host).
    pub host: Option<Spanned<String>>,
    /// The `[[upstreams]]` entry (by name) this route forwards to
    /// (default: `[upstream]`).
    pub upstream: Option<Spanned<String>>,
}

/// `[throttle]`: DRF's `DEFAULT_THROTTLE_RATES`, applied to every route.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    /// `AnonRateThrottle`'s rate for anonymous requests, by client address
    /// (e.g. "100/day"; default: none).
    pub anon: Option<Spanned<String>>,
    /// `UserRateThrottle`'s rate, by user (anonymous requests by client
    /// address; default: none).
    pub user: Option<Spanned<String>>,
    /// `ScopedRateThrottle`'s rates by scope name, for routes' `scope`.
    #[serde(default)]
    pub scopes: std::collections::BTreeMap<String, Spanned<String>>,
}

/// A route's `throttle = { ... }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteThrottle {
    /// This route's own anonymous rate, or "none" (default: `[throttle] anon`).
    pub anon: Option<Spanned<String>>,
    /// This route's own user rate, or "none" (default: `[throttle] user`).
    pub user: Option<Spanned<String>>,
    /// A name in `[throttle.scopes]`: a history shared by every route
    /// with this scope (DRF's `throttle_scope`).
    pub scope: Option<Spanned<String>>,
}
