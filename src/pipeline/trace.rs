//! What `explain` shows: each stage notes what it checked and what it found,
//! as data (`Step`); `explain` words it (`explain::wording`). Live traffic
//! runs with the trace off, where a note costs one branch and nothing is
//! built; `explain` runs the very same stages with it on.

use std::sync::Arc;

use http::Method;

use super::check_csrf::{CookieState, TokenSource};
use crate::credentials::{AuthClass, AuthClasses};
use crate::denial::{Denial, Lack, NoSession, Reason};
use crate::routes::{Access, Mode};
use crate::session::Session;

/// One noted check: what was checked, and what was found.
#[derive(Debug, Clone)]
pub enum Step {
    /// `explain` only: the described request has no Host, so it gets the
    /// one a client dialling `server.listen` sends.
    HostAssumed {
        host: String,
    },
    /// Intake: a CORS preflight from an allowed origin, answered here.
    Preflight,
    /// The decision listener: the ingress's subrequest asks about this
    /// request, which the stages then decide.
    Decision {
        ingress: &'static str,
        method: String,
        uri: String,
    },
    Canonical(CanonicalStep),
    /// Stage 2: the canonical path is one of the gateway's own endpoints.
    Endpoint {
        path: String,
    },
    Route(RouteStep),
    /// Stage 3: the route's `allow_ips` and `deny_ips` on the client's
    /// address (the peer, or what `server.trusted_proxies` say it is).
    ClientIp {
        address: std::net::IpAddr,
        verdict: Result<(), crate::denial::IpRefusal>,
    },
    Credentials(CredentialStep),
    Session(SessionStep),
    Throttle(ThrottleStep),
    Csrf(CsrfStep),
    Authorize(AuthorizeStep),
    Body(BodyStep),
    Mode(ModeStep),
    /// DRF negotiates the renderer before it authenticates or checks
    /// permissions: its 404 or 406 replaces this denial.
    Negotiated {
        refusal: crate::negotiate::Refusal,
        instead_of: Reason,
    },
}

/// Stage 6: the route's throttles.
#[derive(Debug, Clone)]
pub enum ThrottleStep {
    /// `explain` counts nothing: the throttles that apply, each with whom
    /// it would count (`None`: it does not count this request, e.g. an
    /// anonymous-only throttle and a signed-in user).
    NotCounted(Vec<(crate::throttle::Throttle, Option<String>)>),
}

/// Stage 1: the canonical path and Host.
#[derive(Debug, Clone)]
pub enum CanonicalStep {
    /// The request line or Host is refused.
    Refused(Denial),
    /// The path as sent, and the canonical one matched and forwarded.
    Path { sent: String, canonical: String },
}

/// One `[[routes]]` entry, as `explain` names it.
#[derive(Debug, Clone)]
pub struct RouteName {
    pub index: usize,
    pub name: String,
    pub pattern: String,
    /// The route's `host`, if it has one.
    pub host: Option<String>,
}

/// Stage 3: each route before the deciding one, and what decided.
#[derive(Debug, Clone)]
pub enum RouteStep {
    /// The route has a `host`, and the request is for another (or none).
    HostMisses {
        route: RouteName,
        host: Option<String>,
    },
    /// The path does not fit the route's pattern.
    PathMisses(RouteName),
    /// The path fits, but the method is not one of the route's `methods`.
    MethodMisses {
        route: RouteName,
        method: Method,
        methods: Vec<Method>,
    },
    /// The first route that fits decides.
    Matched {
        route: RouteName,
        access: Access,
        mode: Mode,
    },
    /// No route fits: `default_access` decides.
    Fallback { access: Access },
    /// No route fits, and `default_access` is "deny".
    Unmatched { method: Method, path: String },
}

/// Stage 4: the authentication classes tried, in order (DRF's
/// `_authenticate`).
#[derive(Debug, Clone)]
pub enum CredentialStep {
    /// The list tried: the route's `authentication`, or the top level's.
    Classes { list: AuthClasses, from_route: bool },
    /// This class found no credential of its kind (no `Authorization`
    /// header, or another scheme): the next one is tried.
    Absent(AuthClass),
    /// This class authenticated the request; later ones are not tried.
    Authenticated { class: AuthClass, username: String },
    /// This class refused the credential (DRF's `AuthenticationFailed`):
    /// the request ends here, whatever the route allows.
    Refused { class: AuthClass, denial: Denial },
}

/// Stage 4: who the request is from.
#[derive(Debug, Clone)]
pub enum SessionStep {
    /// No session: the request is anonymous.
    Anonymous(NoSession),
    /// The store's own account of why it has no such session.
    StoreSays(String),
    /// The store found the session.
    Found(Arc<Session>),
    /// The store did not answer.
    StoreDown { error: String },
    /// The provider's claims were due and were refreshed.
    Refreshed(Arc<Session>),
    /// The provider refused to refresh the claims: the session was ended.
    RefreshRefused { why: String },
    /// The provider could not refresh the claims now.
    RefreshUnavailable { why: String },
    /// The claims are due a refresh, which `explain` does not make (it
    /// would spend the session's refresh token).
    RefreshDue,
}

/// Stage 5: Django's CSRF checks.
#[derive(Debug, Clone)]
pub enum CsrfStep {
    /// The response hands out a new csrftoken cookie; the request's was
    /// absent or malformed.
    FreshCookie { was: CookieState },
    /// The route has `csrf = false`.
    Exempt,
    /// `enforce = "authenticated"`, and the request has no session.
    NotEnforced,
    /// A WebSocket handshake's Origin passed the Origin rule.
    WebSocketOrigin { origin: String },
    /// A safe method: never checked.
    SafeMethod(Method),
    /// The Origin is this site or trusted.
    OriginVerified { origin: String },
    /// No Origin, HTTPS, and the Referer is this site or trusted.
    RefererVerified,
    /// No Origin over plain HTTP: no Referer check either.
    NoOriginOverHttp,
    /// The csrftoken cookie (or session secret) is well-formed.
    CookieWellFormed,
    /// Where the token was read from.
    TokenRead(TokenSource),
    /// The token matches the secret.
    TokenMatches,
    /// The check failed with this denial.
    Failed(Denial),
}

/// Stage 6: the route's access level and requirements.
#[derive(Debug, Clone)]
pub enum AuthorizeStep {
    /// `anonymous`, or a read on `authenticated_or_read_only`.
    Open { access: Access },
    /// `access = "deny"`.
    RouteDenies,
    /// The level needs a signed-in user, and there is none.
    NoUser { access: Access },
    /// The store did not answer, so the user is unknown.
    UserUnknown,
    /// The user holds the access level.
    RankHeld { access: Access, username: String },
    /// The user lacks something the route requires.
    Lacks(Lack),
    /// `permissions`, `any_permissions` and `groups` hold.
    RequirementsHold,
    /// Model permissions map no permission to this method.
    ModelUnmapped(Method),
    /// The method needs no model permission.
    ModelNotNeeded(Method),
    /// The method's model permission is held.
    ModelHeld { method: Method, permission: String },
}

/// Stage 6: the route's `max_body`.
#[derive(Debug, Clone)]
pub enum BodyStep {
    Within { limit: u64 },
    Refused { limit: u64, denial: Denial },
}

/// What the route's mode made of a denial.
#[derive(Debug, Clone)]
pub enum ModeStep {
    /// `mode = "report"`: logged and counted as would_deny, forwarded.
    Reported(Reason),
    /// Enforced: the gateway stops here (explain goes on).
    Stops(Reason),
    /// A denial after the first one, which already decided.
    AlsoDenies(Reason),
}

macro_rules! step_from {
    ($($kind:ident => $variant:ident),* $(,)?) => {
        $(impl From<$kind> for Step {
            fn from(step: $kind) -> Step {
                Step::$variant(step)
            }
        })*
    };
}

step_from! {
    CanonicalStep => Canonical,
    RouteStep => Route,
    CredentialStep => Credentials,
    SessionStep => Session,
    CsrfStep => Csrf,
    AuthorizeStep => Authorize,
    BodyStep => Body,
    ModeStep => Mode,
}

/// The notes of one request, when someone asked for them.
#[derive(Debug, Default)]
pub struct Trace {
    steps: Option<Vec<Step>>,
    /// Denials carry their `cause` (for the fix text).
    causes: bool,
}

impl Trace {
    /// Live traffic: nothing is recorded.
    pub const fn off() -> Trace {
        Trace {
            steps: None,
            causes: false,
        }
    }

    /// Live traffic with `[diagnostics] debug`: no notes, but denials
    /// carry the cause their hint names.
    pub const fn causes_only() -> Trace {
        Trace {
            steps: None,
            causes: true,
        }
    }

    /// Live traffic: off, or with `[diagnostics] debug` the causes only.
    pub const fn live(debug: bool) -> Trace {
        if debug {
            Trace::causes_only()
        } else {
            Trace::off()
        }
    }

    /// `explain`: every stage's notes are kept.
    pub fn on() -> Trace {
        Trace {
            steps: Some(Vec::new()),
            causes: true,
        }
    }

    pub fn is_on(&self) -> bool {
        self.steps.is_some()
    }

    /// Whether denials should carry their cause; building it costs an
    /// allocation a plain live denial does without.
    pub fn wants_causes(&self) -> bool {
        self.causes
    }

    /// Records a step; `make` runs only when the trace is on.
    #[inline]
    pub fn note<S: Into<Step>>(&mut self, make: impl FnOnce() -> S) {
        if let Some(steps) = &mut self.steps {
            steps.push(make().into());
        }
    }

    pub fn into_steps(self) -> Vec<Step> {
        self.steps.unwrap_or_default()
    }
}
