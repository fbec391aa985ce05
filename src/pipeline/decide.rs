//! Stages 1–6 (`decide`): the canonical target, the gateway's own
//! endpoints, the route, the session, CSRF, permissions and the body
//! limit, with report mode's held denials. Forwards nothing: what it
//! allows, `dispatch` sends on, and `explain` reports.

use http::request::Parts;

use super::check_csrf::CookieState;
use super::trace::{BodyStep, CanonicalStep, CsrfStep, ModeStep, Step, Trace};
use crate::canonical::{self, Target};
use crate::csrf::settings::CsrfEnforce;
use crate::csrf::token::Secret;
use crate::denial::{Cause, Denial, Reason};
use crate::negotiate::Refusal;
use crate::routes::{Mode, Route};
use crate::session::state::{AuthClass, SessionState};

use super::{
    authenticate, authorize, check_csrf, check_ip, check_throttle, endpoints, lookup_session,
    select_route,
};
use super::{Context, Work};

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
pub(super) struct CanonicalRequest<'a, 'p> {
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
    if crate::headers::head_size(parts) > config.server.max_header_bytes {
        let denial = Denial::headers_too_large();
        work.trace.note(|| CanonicalStep::Refused(denial.clone()));
        decision.verdict = Verdict::Deny(denial);
        return decision;
    }
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
    let routed = select_route::Routed {
        method: &parts.method,
        host: target.host,
        path: &target.path,
    };
    let route = match select_route::select(&config.routes, routed, trace) {
        Ok(route) => Some(route),
        Err(denial) => {
            let mode = config.routes.unmatched_mode();
            let denial = negotiated_first(parts, mode, denial, trace);
            held.settle(mode, denial, trace)?;
            None
        }
    };
    decision.route = route;
    if let Some(route) = route {
        if let Err(denial) = check_ip::check(context, &parts.headers, route, trace) {
            held.settle(route.mode, denial, trace)?;
        }
    }
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
    let classes = authenticate::classes_for(context, route);
    let from_route = route.is_some_and(|r| r.authentication.is_some());
    let session =
        authenticate::authenticate(context, &parts.headers, classes, from_route, trace).await;
    if let (SessionState::Authenticated(user, AuthClass::Session), true) = (&session, context.live)
    {
        work.cookies.session =
            lookup_session::renew_if_due(context, &parts.headers, user, https).await;
    }
    // DRF's 401 or 403: the first class's authenticate header decides.
    let challenge = config.authentication.challenge(classes.first());
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
        reported: mode == Mode::Report,
    };
    if let Err(denial) = check_csrf::check(&csrf_request, &mut work.body, trace).await {
        // Django's own middleware (`enforce = "always"`) checks before any view.
        let denial = match config.csrf.enforce {
            CsrfEnforce::Authenticated => negotiated_first(parts, mode, denial, trace),
            CsrfEnforce::Always => denial,
        };
        held.settle(mode, denial, trace)?;
    }
    // A refused credential is answered before any permission is looked
    // at, on every route (DRF's `perform_authentication`).
    if let SessionState::Refused(denial) = session {
        // DRF negotiates the renderer before it authenticates.
        let denial = negotiated_first(parts, mode, denial.as_ref().clone(), trace);
        held.settle(mode, denial.challenged(challenge), trace)?;
    }
    if let Some(route) = route {
        if let Err(denial) = authorize::authorize(route, &parts.method, session, trace) {
            let denial = negotiated_first(parts, mode, denial, trace);
            held.settle(mode, denial.challenged(challenge), trace)?;
        }
        // DRF throttles only what authentication and permissions let
        // through: a request refused before is never counted. (DRF also
        // refuses one no renderer suits before counting it; the gateway
        // counts it, since the upstream may be no DRF view and serve it.)
        if held.is_clear() && !route.throttles.is_empty() {
            let throttled =
                check_throttle::check(context, &parts.headers, route, session, trace).await;
            if let Err(denial) = throttled {
                held.settle(mode, denial, trace)?;
            }
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

/// DRF negotiates the renderer in `APIView.initial` before it
/// authenticates (where `SessionAuthentication` checks CSRF) and checks
/// permissions, so a request it would refuse there gets the negotiation's
/// refusal instead: 404 for a `?format=` naming no renderer, 406 when no
/// renderer matches `Accept` (`crate::negotiate`). The store being down
/// is the gateway's own answer, and stays; so does a denial `mode =
/// "report"` forwards (it is counted under its own reason, and the
/// upstream negotiates).
fn negotiated_first(parts: &Parts, mode: Mode, denial: Denial, trace: &mut Trace) -> Denial {
    let own_answer = matches!(
        denial.reason,
        Reason::SessionStoreUnavailable | Reason::OidcUnavailable
    );
    if own_answer || mode == Mode::Report {
        return denial;
    }
    let Err(refusal) = crate::negotiate::select_renderer(&parts.headers, parts.uri.query()) else {
        return denial;
    };
    trace.note(|| Step::Negotiated {
        refusal,
        instead_of: denial.reason,
    });
    match refusal {
        Refusal::UnknownFormat => Denial::unknown_format(),
        Refusal::NotAcceptable => Denial::not_acceptable(),
    }
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

    /// Nothing denied, enforced or reported, so far.
    fn is_clear(&self) -> bool {
        self.denied.is_none() && self.would_deny.is_none()
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
