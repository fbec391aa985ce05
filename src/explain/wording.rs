//! What `explain` says about each step the stages noted: the stages record
//! what they checked and found (`pipeline::trace::Step`), as data; every
//! sentence is here. Runs only when an explanation is built, never on the
//! live path.

use std::borrow::Cow;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::denial::Lack;
use crate::pipeline::check_csrf::CookieState;
use crate::pipeline::trace::{
    AuthorizeStep, BodyStep, CanonicalStep, CredentialStep, CsrfStep, ModeStep, RouteName,
    RouteStep, SessionStep, Step, ThrottleStep,
};
use crate::response::hint::lacking;
use crate::routes::Access;
use crate::session::Session;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The check does not apply to this request.
    Skip,
    /// Something the stage found out, neither pass nor fail.
    Info,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
            Outcome::Info => "info",
        }
    }
}

/// One step as `explain` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepView {
    /// The pipeline stage: `request`, `cors`, `canonical`, `endpoint`,
    /// `route`, `session`, `csrf`, `authorize`, `negotiate`, `body`, `mode`.
    pub stage: Cow<'static, str>,
    /// What was checked, e.g. `origin`, `token`, `routes[2]`.
    pub check: Cow<'static, str>,
    pub outcome: Outcome,
    pub detail: String,
}

fn view(
    stage: &'static str,
    check: impl Into<Cow<'static, str>>,
    outcome: Outcome,
    detail: impl Into<String>,
) -> StepView {
    StepView {
        stage: Cow::Borrowed(stage),
        check: check.into(),
        outcome,
        detail: detail.into(),
    }
}

/// Words one step; `config` names the cookies, headers and prefix.
pub fn step(step: &Step, config: &Config) -> StepView {
    match step {
        Step::HostAssumed { host } => view(
            "request",
            "host",
            Outcome::Info,
            format!("no Host given: assuming {host} (server.listen), as a client dialling the gateway sends"),
        ),
        Step::Preflight => view(
            "cors",
            "preflight",
            Outcome::Pass,
            "a CORS preflight from an allowed origin: answered by the gateway",
        ),
        Step::Canonical(CanonicalStep::Refused(denial)) => {
            view("canonical", "target", Outcome::Fail, denial.detail.clone())
        }
        Step::Canonical(CanonicalStep::Path { sent, canonical }) => view(
            "canonical",
            "path",
            Outcome::Pass,
            format!("{sent} is matched and forwarded as {canonical}"),
        ),
        Step::Endpoint { path } => view(
            "endpoint",
            "internal",
            Outcome::Info,
            format!(
                "{path} is the gateway's own endpoint (under {}): answered here, never forwarded",
                config.server.internal_prefix
            ),
        ),
        Step::Decision {
            ingress,
            method,
            uri,
        } => view(
            "decision",
            *ingress,
            Outcome::Info,
            format!("the ingress's subrequest ({ingress}) asks about {method} {uri}: that request is decided, and answered instead of forwarded"),
        ),
        Step::Route(step) => route(step),
        Step::ClientIp { address, verdict } => match verdict {
            Ok(()) => view(
                "route",
                "client ip",
                Outcome::Pass,
                format!("{address} is admitted by the route's allow_ips and deny_ips"),
            ),
            Err(refusal) => view(
                "route",
                "client ip",
                Outcome::Fail,
                format!("{address} is refused: {refusal}"),
            ),
        },
        Step::Throttle(ThrottleStep::NotCounted(throttles)) => view(
            "throttle",
            "throttle",
            Outcome::Info,
            throttles
                .iter()
                .map(|(throttle, counted_as)| match counted_as {
                    Some(who) => format!("{} {} counts {who}", throttle.kind.as_str(), throttle.rate),
                    None => format!("{} {} does not count this request", throttle.kind.as_str(), throttle.rate),
                })
                .collect::<Vec<_>>()
                .join("; ")
                + " (explain counts nothing; a request past a rate gets 429)",
        ),
        Step::Credentials(step) => credentials(step),
        Step::Session(step) => session(step, config),
        Step::Csrf(step) => csrf(step, config),
        Step::Authorize(step) => authorize(step),
        Step::Body(BodyStep::Within { limit }) => view(
            "body",
            "max_body",
            Outcome::Pass,
            format!("the body is within {limit} bytes"),
        ),
        Step::Body(BodyStep::Refused { limit, denial }) => view(
            "body",
            "max_body",
            Outcome::Fail,
            format!(
                "{} (the route's max_body is {limit} bytes)",
                denial.detail
            ),
        ),
        Step::Negotiated {
            refusal,
            instead_of,
        } => view(
            "negotiate",
            "renderer",
            Outcome::Fail,
            format!(
                "{}: DRF negotiates before it authenticates or checks permissions, so this answers instead of {}",
                match refusal {
                    crate::negotiate::Refusal::UnknownFormat =>
                        "?format= names neither json nor api (DRF's Http404)",
                    crate::negotiate::Refusal::NotAcceptable =>
                        "no renderer (application/json, text/html) matches Accept (DRF's NotAcceptable)",
                },
                instead_of.as_str()
            ),
        ),
        Step::Mode(ModeStep::AlsoDenies(reason)) => view(
            "mode",
            "later",
            Outcome::Info,
            format!("{} would also deny this request", reason.as_str()),
        ),
        Step::Mode(ModeStep::Reported(reason)) => view(
            "mode",
            "report",
            Outcome::Info,
            format!(
                "mode = \"report\": {} is logged and counted as would_deny, and the request is forwarded",
                reason.as_str()
            ),
        ),
        Step::Mode(ModeStep::Stops(reason)) => view(
            "mode",
            "enforce",
            Outcome::Info,
            format!(
                "the gateway stops here with {}; the checks below run only for explain",
                reason.as_str()
            ),
        ),
    }
}

fn route(step: &RouteStep) -> StepView {
    let label = |route: &RouteName| match &route.host {
        Some(host) => format!(
            "routes[{}] {:?} {} (host {host})",
            route.index, route.name, route.pattern
        ),
        None => format!("routes[{}] {:?} {}", route.index, route.name, route.pattern),
    };
    match step {
        RouteStep::HostMisses { route, host } => view(
            "route",
            label(route),
            Outcome::Skip,
            match (host, &route.host) {
                (Some(sent), Some(wanted)) => {
                    format!("the request is for host {sent}, not {wanted}")
                }
                _ => "the request names no host, and the route is for one".to_string(),
            },
        ),
        RouteStep::PathMisses(route) => view(
            "route",
            label(route),
            Outcome::Skip,
            "the path does not fit the pattern",
        ),
        RouteStep::MethodMisses {
            route,
            method,
            methods,
        } => {
            let methods: Vec<&str> = methods.iter().map(http::Method::as_str).collect();
            view(
                "route",
                label(route),
                Outcome::Skip,
                format!(
                    "the path fits, but {method} is not in methods [{}]",
                    methods.join(", ")
                ),
            )
        }
        RouteStep::Matched {
            route,
            access,
            mode,
        } => view(
            "route",
            label(route),
            Outcome::Pass,
            format!(
                "first match{}: decides (access = {:?}, mode = {:?})",
                route
                    .host
                    .as_ref()
                    .map_or(String::new(), |host| format!(" on host {host}")),
                access.as_str(),
                mode.as_str()
            ),
        ),
        RouteStep::Fallback { access } => view(
            "route",
            "default_access",
            Outcome::Pass,
            format!(
                "no route matches: default_access = {:?} decides",
                access.as_str()
            ),
        ),
        RouteStep::Unmatched { method, path } => view(
            "route",
            "default_access",
            Outcome::Fail,
            format!("no route matches {method} {path}, and default_access is \"deny\""),
        ),
    }
}

fn credentials(step: &CredentialStep) -> StepView {
    match step {
        CredentialStep::Classes { list, from_route } => view(
            "credentials",
            "authentication",
            Outcome::Info,
            format!(
                "tries {} in order ({}); the first decides 401 or 403",
                list.describe(),
                if *from_route {
                    "the route's authentication"
                } else {
                    "the top-level authentication"
                }
            ),
        ),
        CredentialStep::Absent(class) => view(
            "credentials",
            class.as_str(),
            Outcome::Info,
            format!(
                "{}: no credential of this kind; the next class is tried",
                class.as_str()
            ),
        ),
        CredentialStep::Authenticated { class, username } => view(
            "credentials",
            class.as_str(),
            Outcome::Pass,
            format!("{} authenticates {username}", class.as_str()),
        ),
        CredentialStep::Refused { class, denial } => view(
            "credentials",
            class.as_str(),
            Outcome::Fail,
            format!(
                "{} refuses the credential: {} (as DRF's AuthenticationFailed, on every route)",
                class.as_str(),
                denial.detail
            ),
        ),
    }
}

fn session(step: &SessionStep, config: &Config) -> StepView {
    match step {
        SessionStep::Anonymous(why) => view(
            "session",
            "cookie",
            Outcome::Info,
            format!(
                "{}: anonymous",
                why.describe(&config.session.cookie_name)
            ),
        ),
        SessionStep::StoreSays(why) => view("session", "store", Outcome::Info, why.clone()),
        SessionStep::Found(user) => view("session", "store", Outcome::Pass, describe_user(user)),
        SessionStep::StoreDown { error } => view(
            "session",
            "store",
            Outcome::Fail,
            format!("the session store did not answer ({error}): only anonymous access works until it does"),
        ),
        SessionStep::Refreshed(user) => view(
            "session",
            "refresh",
            Outcome::Pass,
            format!("the identity provider refreshed the claims: {}", describe_user(user)),
        ),
        SessionStep::RefreshRefused { why } => view(
            "session",
            "refresh",
            Outcome::Fail,
            format!("the claims were due a refresh and {why}: the session was ended, and the request is anonymous"),
        ),
        SessionStep::RefreshUnavailable { why } => view(
            "session",
            "refresh",
            Outcome::Fail,
            format!("the claims are due a refresh and the identity provider did not give one ({why}): only anonymous access works until it does"),
        ),
        SessionStep::RefreshDue => view(
            "session",
            "refresh",
            Outcome::Info,
            "the identity provider's claims are due a refresh; the next request makes it (explain does not spend the refresh token) and is decided on the refreshed claims".to_string(),
        ),
    }
}

/// One line about a session's user.
fn describe_user(session: &Session) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    let left = session
        .expires_at
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs());
    format!(
        "user {}; groups: {}; permissions: {}; staff: {}; superuser: {}; expires in {left}s",
        session.username,
        list(&session.groups),
        list(&session.permissions),
        yes_no(session.staff),
        yes_no(session.superuser)
    )
}

fn csrf(step: &CsrfStep, config: &Config) -> StepView {
    let cookie = &config.csrf.cookie_name;
    match step {
        CsrfStep::FreshCookie { was } => view(
            "csrf",
            "cookie",
            Outcome::Info,
            format!(
                "the response sets a fresh {cookie} cookie (it was {})",
                if *was == CookieState::Absent {
                    "absent"
                } else {
                    "malformed"
                }
            ),
        ),
        CsrfStep::Exempt => view(
            "csrf",
            "exempt",
            Outcome::Skip,
            "the route has csrf = false (like @csrf_exempt)",
        ),
        CsrfStep::NotEnforced => view(
            "csrf",
            "enforce",
            Outcome::Skip,
            "csrf.enforce = \"authenticated\" (DRF) checks only requests the session class authenticated, and this one is not",
        ),
        CsrfStep::WebSocketOrigin { origin } => view(
            "csrf",
            "origin",
            Outcome::Pass,
            format!("WebSocket handshake from {origin}, a trusted origin"),
        ),
        CsrfStep::SafeMethod(method) => view(
            "csrf",
            "method",
            Outcome::Skip,
            format!("{method} is a safe method: Django never CSRF-checks it"),
        ),
        CsrfStep::OriginVerified { origin } => view(
            "csrf",
            "origin",
            Outcome::Pass,
            format!("Origin {origin} is this site or trusted"),
        ),
        CsrfStep::RefererVerified => view(
            "csrf",
            "referer",
            Outcome::Pass,
            "no Origin; HTTPS, and the Referer is this site or trusted",
        ),
        CsrfStep::NoOriginOverHttp => view(
            "csrf",
            "origin",
            Outcome::Skip,
            "no Origin header, and plain HTTP: Django checks no Referer",
        ),
        CsrfStep::CookieWellFormed => view(
            "csrf",
            "cookie",
            Outcome::Pass,
            format!("the {cookie} cookie is well-formed"),
        ),
        CsrfStep::TokenRead(source) => view(
            "csrf",
            "token",
            Outcome::Info,
            format!("token read from {}", source.describe(&config.csrf)),
        ),
        CsrfStep::TokenMatches => view(
            "csrf",
            "token",
            Outcome::Pass,
            format!("the token matches the {cookie} cookie"),
        ),
        CsrfStep::Failed(denial) => view("csrf", "result", Outcome::Fail, denial.detail.clone()),
    }
}

fn authorize(step: &AuthorizeStep) -> StepView {
    match step {
        AuthorizeStep::Open { access } => {
            let why = if *access == Access::Anonymous {
                "anyone may use it"
            } else {
                "reads (GET, HEAD, OPTIONS) are open to everyone"
            };
            view(
                "authorize",
                "access",
                Outcome::Pass,
                format!("access = {:?}: {why}", access.as_str()),
            )
        }
        AuthorizeStep::RouteDenies => view(
            "authorize",
            "access",
            Outcome::Fail,
            "access = \"deny\": nobody may use this route",
        ),
        AuthorizeStep::NoUser { access } => view(
            "authorize",
            "access",
            Outcome::Fail,
            format!(
                "access = {:?} needs a signed-in user, and there is none",
                access.as_str()
            ),
        ),
        AuthorizeStep::UserUnknown => view(
            "authorize",
            "access",
            Outcome::Fail,
            "the session store did not answer, so the user is unknown: fail closed",
        ),
        AuthorizeStep::RankHeld { access, username } => view(
            "authorize",
            "access",
            Outcome::Pass,
            format!("access = {:?}: {username} may", access.as_str()),
        ),
        AuthorizeStep::Lacks(lack) => {
            let check = match lack {
                Lack::Rank { .. } => "access",
                Lack::Permissions { .. } => "permissions",
                Lack::AnyPermission { .. } => "any_permissions",
                Lack::AnyGroup { .. } => "groups",
                Lack::ModelPermission { .. } => "model",
            };
            view("authorize", check, Outcome::Fail, lacking(lack))
        }
        AuthorizeStep::RequirementsHold => view(
            "authorize",
            "requirements",
            Outcome::Pass,
            "permissions, any_permissions and groups hold",
        ),
        AuthorizeStep::ModelUnmapped(method) => view(
            "authorize",
            "model",
            Outcome::Fail,
            format!("model permissions map no permission to {method}"),
        ),
        AuthorizeStep::ModelHeld { method, permission } => view(
            "authorize",
            "model",
            Outcome::Pass,
            format!("{method} needs {permission}, which the user holds"),
        ),
        AuthorizeStep::ModelNotNeeded(method) => view(
            "authorize",
            "model",
            Outcome::Pass,
            format!("{method} needs no model permission"),
        ),
    }
}
