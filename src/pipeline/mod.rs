//! The request pipeline: every proxied request goes through these stages,
//! in this order. Each stage either lets the request continue or returns a
//! `Denial` the gateway answers with itself. Start reading here.
//!
//! 1. `canonical`  one canonical method and path (or 400); the same ones are matched and forwarded
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
//! Stages 1–6 are `decide`, which `explain` runs too (with a `trace` on and
//! nothing written), so what it reports is what the gateway does. A route
//! in `mode = "report"` forwards a request `decide` would deny, and logs and
//! counts it as `would_deny`.
//!
//! On the way out: a denial is JSON, or HTML for a browser (or a redirect
//! to the login page, with `[login] redirect_browsers`); a request without
//! a valid csrftoken cookie (safe methods) or with a malformed one gets a
//! fresh cookie, as Django does; a renewed sliding session gets its cookie.

pub mod authorize;
pub mod check_csrf;
pub mod endpoints;
pub mod forward;
pub mod lookup_session;
pub mod observe;
pub mod select_route;
pub mod trace;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
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
use observe::AccessLog;
use trace::{Outcome, Step, Trace};

/// Cookies the response sets on the way out.
#[derive(Default)]
pub struct OutgoingCookies {
    pub csrf: Option<HeaderValue>,
    pub session: Option<HeaderValue>,
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
    canonical::canonicalize_method(&mut parts);
    let mut log = AccessLog::start(&parts);
    // CORS: a preflight from an allowed origin is answered here (it has no
    // cookies, so no session could be found for it).
    if let Some(preflight) = config.cors.preflight(&parts.method, &parts.headers) {
        log.finish(preflight.status(), gateway.metrics());
        return preflight;
    }
    let cors_origin = config.cors.allowed_origin(&parts.headers);
    let html = crate::negotiate::prefers_html(&parts.headers);
    let method = parts.method.clone();
    let target = parts.uri.path_and_query().cloned();
    let mut cookies = OutgoingCookies::default();
    let context = Context {
        config: &config,
        store: gateway.store(),
        peer: connection.peer,
        tls: connection.tls,
        lookup_timing: Some(&gateway.metrics().session_lookup),
        live: true,
    };
    let body = ForwardBody::new(body, config.server.body_read_timeout);
    let result = run(gateway, &context, parts, body, html, &mut log, &mut cookies).await;
    let response = match result {
        Ok(response) => response,
        Err(denial) => {
            log.denied(&denial);
            deny(&config, &denial, &method, html, target.as_ref())
        }
    };
    let response = finish(&config, response, cookies, cors_origin);
    log.finish(response.status(), gateway.metrics());
    response
}

/// The gateway's answer to a denied request: a redirect to the login page
/// (`[login] redirect_browsers`), or the denial itself.
pub fn deny(
    config: &Config,
    denial: &Denial,
    method: &Method,
    html: bool,
    target: Option<&PathAndQuery>,
) -> Response<ProxyBody> {
    match login_redirect(config, denial, method, html, target) {
        Some(redirect) => redirect,
        None => response::denial(denial, html, config),
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
fn login_redirect(
    config: &Config,
    denial: &Denial,
    method: &Method,
    html: bool,
    target: Option<&PathAndQuery>,
) -> Option<Response<ProxyBody>> {
    let wanted = config.login.redirect_browsers
        && html
        && denial.reason == Reason::NotAuthenticated
        && matches!(*method, Method::GET | Method::HEAD);
    if !wanted {
        return None;
    }
    let next = target.map_or("/", PathAndQuery::as_str);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    let location = format!("{}/login?{query}", config.server.internal_prefix);
    Some(crate::reply::redirect(StatusCode::FOUND, &location))
}

/// What `decide` works with besides the request.
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

/// Stages 1–6: canonical path, the gateway's endpoints, route, session,
/// CSRF, permissions and body limit. Forwards nothing; what it allows,
/// `run` forwards, and `explain` reports.
pub async fn decide<'r, 'p>(
    context: &Context<'r>,
    parts: &'p Parts,
    body: &mut ForwardBody,
    cookies: &mut OutgoingCookies,
    trace: &mut Trace,
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
            trace.note(|| {
                Step::new(
                    "canonical",
                    "target",
                    Outcome::Fail,
                    denial.detail.to_string(),
                )
            });
            decision.verdict = Verdict::Deny(denial);
            return decision;
        }
    };
    trace.note(|| {
        Step::new(
            "canonical",
            "path",
            Outcome::Pass,
            format!(
                "{} is matched and forwarded as {}",
                parts.uri.path(),
                target.path
            ),
        )
    });
    let verdict = checks(context, parts, &target, body, cookies, trace, &mut decision).await;
    decision.target = Some(target);
    decision.verdict = verdict.unwrap_or_else(Verdict::Deny);
    decision
}

async fn checks<'r>(
    context: &Context<'r>,
    parts: &Parts,
    target: &Target<'_>,
    body: &mut ForwardBody,
    cookies: &mut OutgoingCookies,
    trace: &mut Trace,
    decision: &mut Decision<'r, '_>,
) -> Result<Verdict, Denial> {
    let config = context.config;
    if endpoints::is_internal(config, &target.path) {
        trace.note(|| {
            Step::new(
                "endpoint",
                "internal",
                Outcome::Info,
                format!(
                    "{} is the gateway's own endpoint (under {}): answered here, never forwarded",
                    target.path, config.server.internal_prefix
                ),
            )
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
    let hand_out = !config.csrf.use_sessions;
    if hand_out && !exempt && !answered && check_csrf::needs_new_cookie(&parts.method, &csrf_cookie)
    {
        trace.note(|| {
            Step::new(
                "csrf",
                "cookie",
                Outcome::Info,
                format!(
                    "the response sets a fresh {} cookie (it was {})",
                    config.csrf.cookie_name,
                    if csrf_cookie == CookieState::Absent {
                        "absent"
                    } else {
                        "malformed"
                    }
                ),
            )
        });
        cookies.csrf = Some(crate::csrf::cookie::set_cookie(
            &config.csrf,
            &Secret::generate(),
            https,
        ));
    }
    let session = lookup_session::lookup(
        context.store,
        &config.session.cookie_name,
        &parts.headers,
        context.lookup_timing,
        trace,
    )
    .await;
    if let (SessionState::Authenticated(user), true) = (&session, context.live) {
        cookies.session = lookup_session::renew_if_due(
            context.store,
            &config.session,
            &parts.headers,
            user,
            https,
        )
        .await;
    }
    let session = &*decision.session.insert(session);
    let csrf_cookie = if config.csrf.use_sessions {
        let state = check_csrf::session_secret_state(session);
        decision.csrf_cookie = state;
        state
    } else {
        csrf_cookie
    };
    let csrf_request = check_csrf::Request {
        exempt,
        enforce: config.csrf.enforce,
        session,
        https,
        host: target.host,
        cookie: csrf_cookie,
    };
    if let Err(denial) = check_csrf::check(&config.csrf, parts, body, csrf_request, trace).await {
        held.settle(mode, denial, trace)?;
    }
    if let Some(route) = route {
        if let Err(denial) = authorize::authorize(route, &parts.method, session, trace) {
            held.settle(mode, denial, trace)?;
        }
        if let Some(limit) = route.max_body {
            if let Err(denial) = crate::body::enforce_limit(&parts.headers, body, limit).await {
                trace.note(|| {
                    Step::new(
                        "body",
                        "max_body",
                        Outcome::Fail,
                        format!("{} (the route's max_body is {limit} bytes)", denial.detail),
                    )
                });
                // A limit, not an access decision: enforced in every mode.
                let denial = denial.because(trace.wants_causes(), || Cause::BodyLimit(limit));
                held.settle(Mode::Enforce, denial, trace)?;
            } else {
                trace.note(|| {
                    Step::new(
                        "body",
                        "max_body",
                        Outcome::Pass,
                        format!("the body is within {limit} bytes"),
                    )
                });
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
        let reported = mode == Mode::Report && denial.reason.is_reportable();
        if self.denied.is_some() || (self.would_deny.is_some() && reported) {
            trace.note(|| {
                Step::new(
                    "mode",
                    "later",
                    Outcome::Info,
                    format!("{} would also deny this request", denial.reason.as_str()),
                )
            });
            return Ok(());
        }
        if reported {
            trace.note(|| Step::new("mode", "report", Outcome::Info, format!("mode = \"report\": {} is logged and counted as would_deny, and the request is forwarded", denial.reason.as_str())));
            self.would_deny = Some(denial);
            return Ok(());
        }
        if !trace.is_on() {
            return Err(denial);
        }
        trace.note(|| {
            Step::new(
                "mode",
                "enforce",
                Outcome::Info,
                format!(
                    "the gateway stops here with {}; the checks below run only for explain",
                    denial.reason.as_str()
                ),
            )
        });
        self.denied = Some(denial);
        Ok(())
    }

    fn verdict(self) -> Verdict {
        match (self.denied, self.would_deny) {
            (Some(denial), _) => Verdict::Deny(denial),
            (None, Some(denial)) => Verdict::WouldDeny(denial),
            (None, None) => Verdict::Forward,
        }
    }
}

/// What the upstream is told about a request `decide` let through.
pub struct Forwarding<'a> {
    pub session: &'a SessionState,
    pub route: Option<&'a Route>,
    pub from_trusted_proxy: bool,
    /// `mode = "report"`: the denial this request was let through despite.
    pub would_deny: Option<Reason>,
}

/// Stages 7–8 on the request head, for a request `decide` let through: the
/// upstream URI and Host, X-Forwarded-*, every client claim to an identity
/// removed, then the session's identity set, and the signed assertion.
pub fn prepare_upstream_head(
    context: &Context<'_>,
    parts: &mut Parts,
    uri: http::Uri,
    host: Option<HeaderValue>,
    forwarding: &Forwarding<'_>,
) {
    let config = context.config;
    parts.uri = uri;
    let scheme = if context.tls { "https" } else { "http" };
    forward::prepare_headers(
        parts,
        host,
        context.peer,
        forwarding.from_trusted_proxy,
        scheme,
    );
    crate::identity::headers::strip_client_claims(&mut parts.headers, &config.identity);
    if let SessionState::Authenticated(user) = forwarding.session {
        crate::identity::headers::inject(&mut parts.headers, &config.identity, user);
    }
    if let Some(signer) = &config.identity.sign {
        let subject = crate::identity::assertion::Subject {
            session: forwarding.session,
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

async fn run<'r>(
    gateway: &Gateway,
    context: &Context<'r>,
    mut parts: Parts,
    mut body: ForwardBody,
    html: bool,
    log: &mut AccessLog<'r>,
    cookies: &mut OutgoingCookies,
) -> Result<Response<ProxyBody>, Denial> {
    let config = context.config;
    // With `[diagnostics] debug`, denials carry the cause their hint names.
    let mut trace = if config.diagnostics.debug {
        Trace::causes_only()
    } else {
        Trace::off()
    };
    let decision = decide(context, &parts, &mut body, cookies, &mut trace).await;
    if let Some(target) = &decision.target {
        log.path(&target.path);
    }
    if let Some(route) = decision.route {
        log.route(&route.name);
    }
    let mut would_deny = None;
    match decision.verdict {
        Verdict::Deny(denial) => return Err(denial),
        Verdict::WouldDeny(denial) => {
            log.would_deny(&denial);
            would_deny = Some(denial.reason);
        }
        Verdict::Forward => {}
        Verdict::Endpoint => {
            let Some(target) = &decision.target else {
                return Err(Denial::bad_path());
            };
            let exchange = endpoints::Exchange {
                gateway,
                config,
                parts: &parts,
                body: &mut body,
                peer: context.peer,
                https: decision.https,
                host: target.host,
                cookie: decision.csrf_cookie,
                html,
            };
            return endpoints::handle(exchange, &target.path).await;
        }
    }
    let Some(target) = decision.target else {
        return Err(Denial::bad_path());
    };
    let uri = forward::upstream_uri(&config.upstream, &target.path, &parts.uri)?;
    let host = target.host.and_then(|h| HeaderValue::from_str(h).ok());
    let session = decision
        .session
        .unwrap_or(SessionState::Anonymous(NoSession::NoCookie));
    let forwarding_route = decision.route;
    let from_trusted_proxy = decision.from_trusted_proxy;
    // An upgrade (WebSocket) keeps its protocol headers and the client's
    // side of the connection, decided on exactly like any request above.
    let upgrade = upgrade::requested(&parts.headers)
        .and_then(|protocol| Some((protocol, upgrade::take_client_side(&mut parts)?)));
    let forwarding = Forwarding {
        session: &session,
        route: forwarding_route,
        from_trusted_proxy,
        would_deny,
    };
    prepare_upstream_head(context, &mut parts, uri, host, &forwarding);
    log.forwarding();
    let stalled = body.stalled_flag();
    let response = match upgrade {
        None => {
            gateway
                .upstream()
                .send(Request::from_parts(parts, body), config.upstream.timeout)
                .await
        }
        Some((protocol, client_side)) => {
            upgrade::restore_headers(&mut parts.headers, protocol.clone());
            let raw = gateway
                .upstream()
                .exchange(Request::from_parts(parts, body), config.upstream.timeout)
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
