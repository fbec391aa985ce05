//! The request pipeline: every proxied request goes through these stages,
//! in this order. Each stage either lets the request continue or returns a
//! `Denial` the gateway answers with itself. Start reading here.
//!
//! 0. `intake`     the method upper-cased; a CORS preflight answered here;
//!    what the answer depends on (HTML or JSON, the CORS origin)
//! 1. `canonical`  one canonical path and Host (or 400); the same ones are matched and forwarded
//! 2. endpoints    the gateway's own `/_portcullis/*` (CSRF token, login, logout), never forwarded
//! 3. `route`      first matching `[[routes]]` entry in file order; none = deny
//! 4. `session`    session cookie → id format check → store lookup (→ sliding renewal)
//! 5. `csrf`       Django's CSRF check on unsafe methods, in Django's order
//! 6. `authorize`  access level, groups, permissions, model permissions;
//!    then the route's `max_body` (`body`)
//! 7. `identity`   strip every client copy of identity headers, inject ours;
//!    `assertion` signs the identity for the upstream (`[identity] sign`)
//! 8. `forward`    pooled upstream client, hop-by-hop hygiene, X-Forwarded-*
//! 9. `observe`    one access-log line with the decision and reason
//!
//! `intake` and stages 1–6 (`decide`) are what `explain` runs too (with a
//! `trace` on and nothing written), so what it reports is what the gateway
//! does. A route in `mode = "report"` forwards a request `decide` would
//! deny, and logs and counts it as `would_deny`.
//!
//! On the way out: a denial is JSON, or HTML for a browser (or a redirect
//! to the login page, with `[login] redirect_browsers`); a request without
//! a valid csrftoken cookie (safe methods) or with a malformed one gets a
//! fresh cookie, as Django does; a renewed sliding session gets its cookie.

pub mod authorize;
pub mod check_csrf;
pub mod endpoints;
pub mod forward;
pub mod intake;
pub mod lookup_session;
pub mod observe;
pub mod select_route;
pub mod trace;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use prometheus_client::metrics::histogram::Histogram;

use crate::body::ForwardBody;
use crate::canonical::{self, Target};
use crate::config::Config;
use crate::csrf::token::Secret;
use crate::denial::{Cause, Denial, Reason};
use crate::gateway::Gateway;
use crate::reply::ProxyBody;
use crate::response;
use crate::routes::{Mode, Route};
use crate::session::state::{NoSession, SessionState};
use crate::session::Store;
use check_csrf::CookieState;
use intake::{Intake, Reply};
use observe::AccessLog;
use trace::{BodyStep, CanonicalStep, CsrfStep, ModeStep, Step, Trace};

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
    let response = run(gateway, state, &mut log).await;
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
    let location = format!("{}/login?{query}", config.server.internal_prefix);
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
}

/// What stages 1–6 made of one request.
pub struct Decision<'r, 'p> {
    /// Canonical path and Host; `None` when the request line or Host was refused.
    pub target: Option<Target<'p>>,
    /// The deciding route; `None` when none matches (or none was looked for).
    pub route: Option<&'r Route>,
    /// Who the request is from; `None` when the stage was not reached.
    pub session: Option<SessionState>,
    pub https: bool,
    pub from_trusted_proxy: bool,
    pub csrf_cookie: CookieState,
    pub verdict: Verdict,
}

pub enum Verdict {
    /// One of the gateway's own endpoints answers (never forwarded).
    Endpoint,
    Forward,
    /// `mode = "report"`: forwarded, although this would have been denied.
    WouldDeny(Denial),
    Deny(Denial),
}

/// The request as stages 2–6 read it: its head, and the canonical target
/// stage 1 made of it.
#[derive(Clone, Copy)]
struct CanonicalRequest<'a, 'p> {
    parts: &'p Parts,
    target: &'a Target<'p>,
}

/// Stages 1–6: canonical path, the gateway's endpoints, route, session,
/// CSRF, permissions and body limit. Forwards nothing; what it allows,
/// `run` forwards, and `explain` reports.
pub async fn decide<'r, 'p>(
    context: &Context<'r>,
    parts: &'p Parts,
    work: &mut Work,
) -> Decision<'r, 'p> {
    let config = context.config;
    let from_trusted_proxy = config.server.is_trusted_proxy(context.peer.ip());
    let mut decision = Decision {
        target: None,
        route: None,
        session: None,
        https: check_csrf::is_https(&parts.headers, context.tls, from_trusted_proxy),
        from_trusted_proxy,
        csrf_cookie: check_csrf::cookie_state(&parts.headers, &config.csrf),
        verdict: Verdict::Forward,
    };
    let target = match canonical::canonical_target(&parts.headers, &parts.uri) {
        Ok(target) => target,
        Err(denial) => {
            work.trace.note(|| CanonicalStep::Refused(denial.clone()));
            decision.verdict = Verdict::Deny(denial);
            return decision;
        }
    };
    work.trace.note(|| CanonicalStep::Path {
        sent: parts.uri.path().to_string(),
        canonical: target.path.to_string(),
    });
    let request = CanonicalRequest {
        parts,
        target: &target,
    };
    let verdict = checks(context, request, work, &mut decision).await;
    decision.target = Some(target);
    decision.verdict = verdict.unwrap_or_else(Verdict::Deny);
    decision
}

/// Stages 2–6 on a canonical request.
async fn checks<'r>(
    context: &Context<'r>,
    request: CanonicalRequest<'_, '_>,
    work: &mut Work,
    decision: &mut Decision<'r, '_>,
) -> Result<Verdict, Denial> {
    let config = context.config;
    let CanonicalRequest { parts, target } = request;
    let trace = &mut work.trace;
    if endpoints::is_internal(config, &target.path) {
        trace.note(|| Step::Endpoint {
            path: target.path.to_string(),
        });
        return Ok(Verdict::Endpoint);
    }
    let mut held = Held::default();
    let route = match select_route::select(&config.routes, &parts.method, &target.path, trace) {
        Ok(route) => Some(route),
        Err(denial) => {
            held.settle(config.routes.unmatched_mode(), denial, trace)?;
            None
        }
    };
    decision.route = route;
    let mode = route.map_or(config.routes.unmatched_mode(), |r| r.mode);
    let exempt = route.is_some_and(|r| r.csrf_exempt);
    let (https, csrf_cookie) = (decision.https, decision.csrf_cookie);
    // After an enforced denial (explain only) the live request has ended.
    let answered = held.denied.is_some();
    // With CSRF_USE_SESSIONS the secret lives in Django's session: no cookie.
    let hand_out = !config.startup.csrf_use_sessions;
    if hand_out && !exempt && !answered && check_csrf::needs_new_cookie(&parts.method, &csrf_cookie)
    {
        trace.note(|| CsrfStep::FreshCookie { was: csrf_cookie });
        work.cookies.csrf = Some(crate::csrf::cookie::set_cookie(
            &config.csrf,
            &Secret::generate(),
            https,
        ));
    }
    let session = lookup_session::lookup(context, &parts.headers, trace).await;
    if let (SessionState::Authenticated(user), true) = (&session, context.live) {
        work.cookies.session =
            lookup_session::renew_if_due(context, &parts.headers, user, https).await;
    }
    let session = &*decision.session.insert(session);
    let csrf_cookie = if config.startup.csrf_use_sessions {
        let state = check_csrf::session_secret_state(session);
        decision.csrf_cookie = state;
        state
    } else {
        csrf_cookie
    };
    let csrf_request = check_csrf::Request {
        settings: &config.csrf,
        parts,
        exempt,
        enforce: config.csrf.enforce,
        session,
        https,
        host: target.host,
        cookie: csrf_cookie,
    };
    if let Err(denial) = check_csrf::check(&csrf_request, &mut work.body, trace).await {
        held.settle(mode, denial, trace)?;
    }
    if let Some(route) = route {
        if let Err(denial) = authorize::authorize(route, &parts.method, session, trace) {
            held.settle(mode, denial, trace)?;
        }
        if let Some(limit) = route.max_body {
            match crate::body::enforce_limit(&parts.headers, &mut work.body, limit).await {
                Ok(()) => trace.note(|| BodyStep::Within { limit }),
                Err(denial) => {
                    trace.note(|| BodyStep::Refused {
                        limit,
                        denial: denial.clone(),
                    });
                    // A limit, not an access decision: enforced in every mode.
                    let denial = denial.because(trace.wants_causes(), || Cause::BodyLimit(limit));
                    held.settle(Mode::Enforce, denial, trace)?;
                }
            }
        }
    }
    Ok(held.verdict())
}

/// Denials a check returned that did not stop the request (yet): in report
/// mode, the first one is forwarded as `would_deny`; with a trace on, the
/// checks go on after an enforced denial too, so `explain` shows every
/// stage, but the first enforced denial is still the decision.
#[derive(Default)]
struct Held {
    would_deny: Option<Denial>,
    denied: Option<Denial>,
}

impl Held {
    fn settle(&mut self, mode: Mode, denial: Denial, trace: &mut Trace) -> Result<(), Denial> {
        let reason = denial.reason;
        let reported = mode == Mode::Report && reason.is_reportable();
        if self.denied.is_some() || (self.would_deny.is_some() && reported) {
            trace.note(|| ModeStep::AlsoDenies(reason));
            return Ok(());
        }
        if reported {
            trace.note(|| ModeStep::Reported(reason));
            self.would_deny = Some(denial);
            return Ok(());
        }
        if !trace.is_on() {
            return Err(denial);
        }
        trace.note(|| ModeStep::Stops(reason));
        self.denied = Some(denial);
        Ok(())
    }

    #[inline]
    fn verdict(self) -> Verdict {
        match (self.denied, self.would_deny) {
            (Some(denial), _) => Verdict::Deny(denial),
            (None, Some(denial)) => Verdict::WouldDeny(denial),
            (None, None) => Verdict::Forward,
        }
    }
}

/// What the upstream is told about a request `decide` let through.
pub struct Forwarding<'r> {
    /// The upstream's scheme and authority, the canonical path, the
    /// client's query.
    pub uri: Uri,
    /// The Host the request was addressed to.
    pub host: Option<HeaderValue>,
    pub session: SessionState,
    pub route: Option<&'r Route>,
    pub from_trusted_proxy: bool,
    /// `mode = "report"`: the denial this request was let through despite.
    pub would_deny: Option<Reason>,
}

impl<'r> Forwarding<'r> {
    /// What `decision` forwards, for a request that came as `original`;
    /// `Err` when the gateway answers instead (a path it cannot send).
    pub fn new(
        context: &Context<'r>,
        original: &Uri,
        decision: Decision<'r, '_>,
    ) -> Result<Forwarding<'r>, Denial> {
        let target = decision.target.ok_or_else(Denial::bad_path)?;
        let uri = forward::upstream_uri(&context.config.upstream, &target.path, original)?;
        Ok(Forwarding {
            uri,
            host: target.host.and_then(|h| HeaderValue::from_str(h).ok()),
            session: decision
                .session
                .unwrap_or(SessionState::Anonymous(NoSession::NoCookie)),
            route: decision.route,
            from_trusted_proxy: decision.from_trusted_proxy,
            would_deny: match decision.verdict {
                Verdict::WouldDeny(denial) => Some(denial.reason),
                _ => None,
            },
        })
    }
}

/// Stages 7–8 on the request head, for a request `decide` let through: the
/// upstream URI and Host, X-Forwarded-*, every client claim to an identity
/// removed, then the session's identity set, and the signed assertion.
pub fn prepare_upstream_head(context: &Context<'_>, parts: &mut Parts, forwarding: Forwarding<'_>) {
    let config = context.config;
    parts.uri = forwarding.uri;
    let hop = forward::Hop {
        peer: context.peer,
        from_trusted_proxy: forwarding.from_trusted_proxy,
        scheme: if context.tls { "https" } else { "http" },
    };
    forward::prepare_headers(parts, forwarding.host, hop);
    crate::identity::headers::strip_client_claims(&mut parts.headers, &config.identity);
    if let SessionState::Authenticated(user) = &forwarding.session {
        crate::identity::headers::inject(&mut parts.headers, &config.identity, user);
    }
    if let Some(signer) = &config.identity.sign {
        let subject = crate::identity::assertion::Subject {
            session: &forwarding.session,
            route: forwarding.route.map_or("-", |r| &r.name),
            method: parts.method.as_str(),
            path: parts.uri.path(),
            would_deny: forwarding.would_deny.map(Reason::as_str),
        };
        if context.live {
            signer.attach(&mut parts.headers, &subject);
        } else {
            signer.preview(&mut parts.headers, &subject);
        }
    }
}

/// A live request after intake: `decide`, then the gateway's endpoint,
/// the forward, or the denial; the cookies and CORS headers on the way out.
async fn run<'r>(
    gateway: &Gateway,
    state: RequestState<'r>,
    log: &mut AccessLog<'r>,
) -> Response<ProxyBody> {
    let RequestState {
        context,
        parts,
        reply,
        mut work,
    } = state;
    let config = context.config;
    let decision = decide(&context, &parts, &mut work).await;
    if let Some(target) = &decision.target {
        log.path(&target.path);
    }
    if let Some(route) = decision.route {
        log.route(&route.name);
    }
    let result = match decision.verdict {
        Verdict::Deny(denial) => Err(denial),
        Verdict::Endpoint => match &decision.target {
            Some(target) => {
                let exchange = endpoints::Exchange {
                    gateway,
                    config,
                    parts: &parts,
                    body: &mut work.body,
                    peer: context.peer,
                    https: decision.https,
                    host: target.host,
                    cookie: decision.csrf_cookie,
                    html: reply.html,
                };
                endpoints::handle(exchange, &target.path).await
            }
            None => Err(Denial::bad_path()),
        },
        Verdict::Forward | Verdict::WouldDeny(_) => {
            if let Verdict::WouldDeny(denial) = &decision.verdict {
                log.would_deny(denial);
            }
            match Forwarding::new(&context, &parts.uri, decision) {
                Ok(forwarding) => {
                    let upstream = Upstream {
                        parts,
                        body: work.body,
                        forwarding,
                    };
                    forward(gateway, &context, upstream, log).await
                }
                Err(denial) => Err(denial),
            }
        }
    };
    let response = match result {
        Ok(response) => response,
        Err(denial) => {
            log.denied(&denial);
            deny(config, &denial, &reply)
        }
    };
    finish(config, response, work.cookies, reply.cors_origin)
}

/// A request `decide` let through, and what the upstream is told about it.
struct Upstream<'r> {
    parts: Parts,
    body: ForwardBody,
    forwarding: Forwarding<'r>,
}

/// Stages 7–8: the head prepared, the request sent (an upgrade spliced).
async fn forward<'r>(
    gateway: &Gateway,
    context: &Context<'r>,
    upstream: Upstream<'r>,
    log: &mut AccessLog<'r>,
) -> Result<Response<ProxyBody>, Denial> {
    let Upstream {
        mut parts,
        body,
        forwarding,
    } = upstream;
    let upstream = &context.config.upstream;
    // An upgrade (WebSocket) keeps its protocol headers and the client's
    // side of the connection, decided on exactly like any request above.
    let upgrade: Option<(HeaderValue, OnUpgrade)> = upgrade::requested(&parts.headers)
        .and_then(|protocol| Some((protocol, upgrade::take_client_side(&mut parts)?)));
    prepare_upstream_head(context, &mut parts, forwarding);
    log.forwarding();
    let stalled = body.stalled_flag();
    let response = match upgrade {
        None => {
            upstream
                .client
                .send(Request::from_parts(parts, body), upstream.timeout)
                .await
        }
        Some((protocol, client_side)) => {
            upgrade::restore_headers(&mut parts.headers, protocol.clone());
            let raw = upstream
                .client
                .exchange(Request::from_parts(parts, body), upstream.timeout)
                .await?;
            if upgrade::switched(&raw) {
                Ok(upgrade::splice(
                    raw,
                    client_side,
                    protocol,
                    gateway.upgrades().track(),
                ))
            } else {
                Ok(crate::upstream::finish(raw))
            }
        }
    };
    log.upstream_done();
    // The exchange failed because the client stopped sending its body:
    // that is the client's timeout (408), not the upstream's fault.
    match response {
        Err(_) if stalled.load(std::sync::atomic::Ordering::Acquire) => Err(Denial::body_timeout()),
        other => other,
    }
}
