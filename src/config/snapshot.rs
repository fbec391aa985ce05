//! The compiled configuration snapshot every request reads: validated,
//! typed, immutable. A reload builds a new one and swaps it in whole.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;

use super::startup::Startup;
use crate::csrf::settings::CsrfSettings;
use crate::identity::IdentityHeaders;
use crate::routes::RouteTable;
use crate::upstream::{NamedUpstream, Upstreams};

/// One compiled config file. `startup` is what only a restart applies
/// (see `startup.rs`); every other field applies to the next connection
/// or request once a reload swaps this snapshot in.
#[derive(Debug)]
pub struct Config {
    pub startup: Startup,
    pub server: ServerSettings,
    /// `[upstream]` and `[[upstreams]]`, each with its pooled client.
    pub upstreams: Upstreams,
    pub session: SessionSettings,
    pub admin: AdminSettings,
    pub identity: IdentityHeaders,
    pub csrf: CsrfSettings,
    pub cors: crate::cors::CorsSettings,
    pub routes: RouteTable,
    /// DRF's authentication classes and their settings.
    pub authentication: crate::credentials::Authentication,
    /// `[decision]`: the ingress subrequests the decision listener answers.
    pub decision: Option<crate::ingress::DecisionSettings>,
    pub users: crate::auth::users::UserTable,
    pub login: LoginSettings,
    pub diagnostics: Diagnostics,
    /// `[bearer]`: the verifier of bearer JWTs from its issuer (a reload
    /// keeps its key cache when the keys are fetched the same way).
    pub bearer: Option<crate::credentials::bearer::BearerVerifier>,
    /// `[oidc]`: sign-in through an OpenID provider (a reload keeps what
    /// discovery found when the provider is the same).
    pub oidc: Option<crate::oidc::Oidc>,
    /// `[telemetry]`: spans exported over OTLP/HTTP (a reload keeps the
    /// running exporter when the export settings are the same).
    pub telemetry: Option<crate::telemetry::Telemetry>,
    /// Things `check` warns about but that do not stop the config loading.
    pub warnings: Vec<super::ConfigError>,
}

impl Config {
    /// Where a request `route` decides is forwarded (`None`: no route
    /// matched): the route's `upstream`, else `[upstream]`.
    #[inline]
    pub fn upstream_for(&self, route: Option<&crate::routes::Route>) -> Option<&NamedUpstream> {
        self.upstreams.for_route(route.and_then(|r| r.upstream))
    }

    /// Why this config must not serve: the example admin token on an admin
    /// listener others can reach (anyone could use it). Checked at start
    /// and on every reload.
    pub fn exposed_example_token(&self) -> Option<String> {
        let admin = self.startup.admin_listen;
        (self.admin.token.is_default() && !admin.ip().is_loopback()).then(|| {
            format!("admin.token is the example value \"change-me\" and the admin API listens on {admin}: set a secret (PORTCULLIS_ADMIN_TOKEN, admin.token or admin.token_env)")
        })
    }

    /// Logs what `check` would warn about, placed in `origin` (the config
    /// file): at start and after every reload.
    pub fn log_warnings(&self, origin: &std::path::Path) {
        let origin = origin.display().to_string();
        for warning in &self.warnings {
            tracing::warn!("{}", warning.placed(&origin, ""));
        }
    }
}

/// `[diagnostics]`: what a denial tells the client about why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnostics {
    /// Send `X-Portcullis-Reason` (and show the code on HTML pages).
    pub expose_reason: bool,
    /// Add the fix text as `hint` to JSON denial bodies.
    pub debug: bool,
    /// `<prefix>/explain` answers `explain` for the caller's own request.
    pub self_explain: bool,
}

#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// Browsers that need a user are sent to the login page.
    pub redirect_browsers: bool,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub trusted_proxies: crate::client::TrustedProxies,
    /// Prefix of the gateway's own endpoints, e.g. "/_portcullis".
    pub internal_prefix: String,
    /// TLS on `listen`, loaded from `[server.tls]`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_concurrent_streams: u32,
}

/// An address a client on this host can dial for a listen address: a
/// wildcard (`0.0.0.0`, `::`) means this host's loopback.
pub fn dialable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], listen.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, listen.port()))
        }
        _ => listen,
    }
}

impl ServerSettings {
    /// True when `peer` is a configured proxy whose forwarding headers count.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.contains(peer)
    }
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub ttl: Duration,
    pub sliding: bool,
    pub max_age: Option<Duration>,
}

impl SessionSettings {
    /// The lifetime a new session gets for a requested ttl: capped by
    /// `max_age`.
    pub fn lifetime(&self, requested: Duration) -> Duration {
        self.max_age.map_or(requested, |cap| requested.min(cap))
    }
}

#[derive(Debug)]
pub struct AdminSettings {
    pub token: AdminToken,
}

/// The admin bearer token. Compared in constant time; never printed.
pub struct AdminToken(Box<[u8]>);

impl AdminToken {
    pub fn new(token: &str) -> AdminToken {
        AdminToken(token.as_bytes().into())
    }

    /// Constant-time for equal lengths; the length itself is not secret.
    pub fn verify(&self, presented: &[u8]) -> bool {
        self.0.ct_eq(presented).into()
    }

    /// The token itself, for `portcullis explain` to call the admin API
    /// with (never logged).
    pub fn secret(&self) -> &[u8] {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        &*self.0 == b"change-me"
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}
