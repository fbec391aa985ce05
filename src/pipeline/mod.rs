//! The request pipeline: every proxied request goes through these stages,
//! in this order. Each stage either lets the request continue or returns a
//! `Denial` the gateway answers with itself. Start reading here.
//!
//! 0. `intake`          the method upper-cased; a CORS preflight answered
//!    here; what the answer depends on (HTML or JSON, the CORS origin)
//! 1. `decide`          the head within `max_header_bytes` (or 431); one
//!    canonical path and Host (`crate::canonical`, or 400): the same ones are
//!    matched and forwarded
//! 2. `endpoints`       the gateway's own `/_portcullis/*` (CSRF token,
//!    login, logout), never forwarded
//! 3. `select_route`    first `[[routes]]` entry in file order matching the
//!    Host, path and method; none = deny;
//!    then `check_ip`: the route's `allow_ips` / `deny_ips` on the client's
//!    address (`crate::client`)
//! 4. `authenticate`    the route's authentication classes in order (DRF's
//!    `_authenticate`): `lookup_session` (cookie → id check → store →
//!    sliding renewal), DRF Token, simplejwt; a refused credential ends
//!    the request (401, or 403 when the first class has no challenge)
//! 5. `check_csrf`      Django's CSRF check on unsafe methods, in Django's order
//! 6. `authorize`       access level, groups, permissions, model
//!    permissions; then `check_throttle`, the route's DRF throttles
//!    (`crate::throttle`, 429); then the route's `max_body` (`crate::body`)
//! 7. `dispatch`        identity headers stripped and injected, the signed
//!    assertion (`crate::identity`)
//! 8. `forward`         X-Forwarded-* and hop-by-hop hygiene; `dispatch` sends
//!    on the route's upstream's pooled client (`crate::upstream`), or
//!    splices an upgrade (`upgrade`)
//! 9. `observe`         one access-log line with the decision and reason;
//!    with `[telemetry]`, the request's span (`span`: begun at intake, its
//!    `traceparent` sent upstream by `dispatch`, exported from here)
//!
//! `intake` and stages 1–6 (`decide.rs`) are what `explain` runs too (with a
//! `trace` on and nothing written), so what it reports is what the gateway
//! does. A route in `mode = "report"` forwards a request `decide` would
//! deny, and logs and counts it as `would_deny`.
//!
//! On the way out: a denial is JSON, or HTML for a browser (or a redirect
//! to the login page, with `[login] redirect_browsers`); a request without
//! a valid csrftoken cookie (safe methods) or with a malformed one gets a
//! fresh cookie, as Django does; a renewed sliding session gets its cookie.

pub mod authenticate;
pub mod authorize;
pub mod check_csrf;
pub mod check_ip;
pub mod check_throttle;
mod decide;
pub mod decision;
mod dispatch;
pub mod endpoints;
pub mod forward;
pub mod intake;
pub mod lookup_session;
pub mod observe;
pub mod select_route;
pub mod span;
pub mod trace;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use prometheus_client::metrics::histogram::Histogram;

use crate::body::ForwardBody;
use crate::config::Config;
use crate::denial::{Denial, Reason};
use crate::gateway::Gateway;
use crate::reply::ProxyBody;
use crate::response;
use crate::session::Store;
use intake::{Intake, Reply};
use observe::AccessLog;
use trace::Trace;

pub use decide::{decide, Decision, Verdict};
pub use dispatch::{prepare_upstream_head, Forwarding};

/// Cookies the response sets on the way out.
#[derive(Default)]
pub struct OutgoingCookies {
    pub csrf: Option<HeaderValue>,
    pub session: Option<HeaderValue>,
}

/// One request on its way through, live or explained: where it is
/// decided, its head, what the answer depends on, and what the stages
/// change as they go.
pub struct RequestState<'r> {
    pub context: Context<'r>,
    /// The request head, as intake left it.
    pub parts: Parts,
    pub reply: Reply,
    pub work: Work,
}

/// What the stages change as they go: the body (read ahead into for a
/// form's CSRF token or a size limit), the cookies the response sets, and
/// the trace.
pub struct Work {
    pub body: ForwardBody,
    pub cookies: OutgoingCookies,
    pub trace: Trace,
}

impl Work {
    pub fn new(body: ForwardBody, trace: Trace) -> Work {
        Work {
            body,
            cookies: OutgoingCookies::default(),
            trace,
        }
    }
}

/// Runs one request through the pipeline and always produces a response.
pub async fn handle(
    gateway: &Gateway,
    request: Request<Incoming>,
    connection: crate::connection::Connection,
) -> Response<ProxyBody> {
    // The request keeps this snapshot to the end, even if a reload swaps
    // in a new one meanwhile.
    let config = gateway.config();
    let (mut parts, body) = request.into_parts();
    // With `[diagnostics] debug`, denials carry the cause their hint names.
    let mut trace = Trace::live(config.diagnostics.debug);
    let intake = intake::intake(&config, &mut parts, &mut trace);
    let mut log = AccessLog::start(&parts);
    if let Some(telemetry) = config.telemetry.as_ref() {
        // `client.address`: the client behind any trusted proxies.
        let peer = connection.peer.ip();
        let client =
            crate::client::client_address(peer, &parts.headers, &config.server.trusted_proxies);
        let from_trusted = config.server.is_trusted_proxy(peer);
        log.trace(Some(telemetry), &parts, client, from_trusted);
    }
    let reply = match intake {
        Intake::Request(reply) => reply,
        Intake::Preflight(preflight) => {
            log.finish(preflight.status(), gateway.metrics());
            return preflight;
        }
    };
    let body = ForwardBody::new(body, config.server.body_read_timeout);
    let state = RequestState {
        context: Context::live(gateway, &config, connection),
        parts,
        reply,
        work: Work::new(body, trace),
    };
    let response = dispatch::run(gateway, state, dispatch::Delivery::Proxy, &mut log).await;
    log.finish(response.status(), gateway.metrics());
    response
}

/// The gateway's answer to a denied request: a redirect to the login page
/// (`[login] redirect_browsers`), or the denial itself.
pub fn deny(config: &Config, denial: &Denial, reply: &Reply) -> Response<ProxyBody> {
    match login_redirect(config, denial, reply) {
        Some(redirect) => redirect,
        None => response::denial(denial, reply.html, config),
    }
}

/// What every response gets on its way out: the cookies the stages asked
/// for, and the CORS headers.
pub fn finish(
    config: &Config,
    mut response: Response<ProxyBody>,
    cookies: OutgoingCookies,
    cors_origin: Option<HeaderValue>,
) -> Response<ProxyBody> {
    if let Some(cookie) = cookies.csrf {
        check_csrf::add_cookie_unless_set(response.headers_mut(), &config.csrf, cookie);
    }
    if let Some(cookie) = cookies.session {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    if let Some(origin) = cors_origin {
        config.cors.decorate(response.headers_mut(), origin);
    }
    response
}

/// `[login] redirect_browsers`: a browser GET that needs a user goes to the
/// login page, which sends it back to `next` after signing in.
fn login_redirect(config: &Config, denial: &Denial, reply: &Reply) -> Option<Response<ProxyBody>> {
    let wanted = config.login.redirect_browsers
        && reply.html
        && denial.reason == Reason::NotAuthenticated
        && matches!(reply.method, Method::GET | Method::HEAD);
    if !wanted {
        return None;
    }
    let next = reply.target.as_ref().map_or("/", |target| target.as_str());
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    // With a provider and no local users, straight to the provider; with
    // both, the sign-in page offers both.
    let page = match &config.oidc {
        Some(_) if config.users.is_empty() => "/oidc/login",
        _ => "/login",
    };
    let location = format!("{}{page}?{query}", config.server.internal_prefix);
    Some(crate::reply::redirect(StatusCode::FOUND, &location))
}

/// Where a request is decided: the config snapshot, the session store,
/// the connection. Built by `intake` (`Context::live`, `Context::explain`).
pub struct Context<'a> {
    pub config: &'a Arc<Config>,
    pub store: &'a Store,
    pub peer: SocketAddr,
    /// The request came over TLS on our listener.
    pub tls: bool,
    /// The session lookup histogram; `None` when the lookups are not traffic.
    pub lookup_timing: Option<&'a Histogram>,
    /// False for `explain`: no sliding renewal is written and no identity
    /// assertion signed (explain shows the claims instead).
    pub live: bool,
    /// The peer is an ingress asking on the decision listener (already in
    /// `decision.trusted_ingress`): the client is whom its X-Forwarded-For
    /// names, never the ingress.
    pub peer_is_ingress: bool,
    /// The process's throttle histories (`crate::throttle`); `None` where
    /// nothing is counted (`explain`, `whoami`).
    pub throttles: Option<&'a crate::throttle::LocalHistories>,
}
