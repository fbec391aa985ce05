//! Compiled access rules: what a `[[routes]]` entry means once validated,
//! and the table that finds the route deciding a request.

pub mod host;
pub mod ip_rules;
pub mod matcher;
pub mod pattern;

use std::str::FromStr;

use http::Method;

use crate::upstream::UpstreamId;
pub use host::HostPattern;
use ip_rules::IpRules;
use matcher::Matcher;
pub use pattern::Pattern;

/// DRF-style access levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// AllowAny: no session needed.
    Anonymous,
    /// IsAuthenticated.
    Authenticated,
    /// IsAuthenticatedOrReadOnly: GET, HEAD, OPTIONS open to everyone.
    AuthenticatedOrReadOnly,
    /// IsAdminUser: the session's user is staff.
    Staff,
    /// The session's user is a superuser.
    Superuser,
    /// Nobody.
    Deny,
}

impl Access {
    pub const NAMES: &'static str =
        "anonymous, authenticated, authenticated_or_read_only, staff, superuser, deny";

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Anonymous => "anonymous",
            Access::Authenticated => "authenticated",
            Access::AuthenticatedOrReadOnly => "authenticated_or_read_only",
            Access::Staff => "staff",
            Access::Superuser => "superuser",
            Access::Deny => "deny",
        }
    }
}

impl FromStr for Access {
    type Err = ();
    fn from_str(s: &str) -> Result<Access, ()> {
        Ok(match s {
            "anonymous" => Access::Anonymous,
            "authenticated" => Access::Authenticated,
            "authenticated_or_read_only" => Access::AuthenticatedOrReadOnly,
            "staff" => Access::Staff,
            "superuser" => Access::Superuser,
            "deny" => Access::Deny,
            _ => return Err(()),
        })
    }
}

/// Whether a route's decisions are carried out, or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Denials are answered (the default).
    Enforce,
    /// Dry run: a request that would be denied is forwarded anyway, and
    /// logged and counted as `would_deny` with its reason.
    Report,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }
}

impl FromStr for Mode {
    type Err = ();
    fn from_str(s: &str) -> Result<Mode, ()> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "report" => Ok(Mode::Report),
            _ => Err(()),
        }
    }
}

/// The permissions DjangoModelPermissions asks for, per method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPermissions {
    /// `app_label.add_model`, for POST.
    pub add: Box<str>,
    /// `app_label.change_model`, for PUT and PATCH.
    pub change: Box<str>,
    /// `app_label.delete_model`, for DELETE.
    pub delete: Box<str>,
}

/// What a user must have beyond the access level. Empty means nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    pub all_permissions: Vec<Box<str>>,
    pub any_permissions: Vec<Box<str>>,
    pub any_groups: Vec<Box<str>>,
    pub model: Option<ModelPermissions>,
}

impl Requirements {
    pub fn is_empty(&self) -> bool {
        self.all_permissions.is_empty()
            && self.any_permissions.is_empty()
            && self.any_groups.is_empty()
            && self.model.is_none()
    }
}

/// One compiled `[[routes]]` entry.
#[derive(Debug)]
pub struct Route {
    pub name: std::sync::Arc<str>,
    pub pattern: Pattern,
    pub methods: Option<Box<[Method]>>,
    pub access: Access,
    pub requirements: Requirements,
    /// `csrf = false`: never CSRF-checked (Django's `@csrf_exempt`).
    pub csrf_exempt: bool,
    /// `max_body`: larger request bodies get 413 and are never forwarded.
    pub max_body: Option<u64>,
    /// The route's `mode`, or the global one.
    pub mode: Mode,
    /// The view's `authentication_classes`; `None`: the top-level list.
    pub authentication: Option<crate::credentials::AuthClasses>,
    /// `allow_ips` and `deny_ips`: the client addresses that may use it.
    pub ip_rules: IpRules,
    /// DRF's throttles for this route, in the order DRF asks them.
    pub throttles: Box<[crate::throttle::Throttle]>,
    /// `host`: the request hosts the route is for; `None`: every host.
    pub host: Option<HostPattern>,
    /// `upstream`: where the route forwards; `None`: the default `[upstream]`.
    pub upstream: Option<UpstreamId>,
}

/// Every route in file order, plus what applies when none matches.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    matcher: Matcher,
    /// Applies when no route matches; `None` means deny (`no_route`).
    fallback: Option<Route>,
    /// The global `mode`: whether `no_route` is enforced or reported.
    unmatched_mode: Mode,
    /// Some route has a `host`: only then is the request's host looked at.
    by_host: bool,
}

/// How a route fared against a request, for `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMiss {
    /// The route has a `host`, and the request is for another host.
    Host,
    /// The path does not fit the pattern.
    Path,
    /// The path fits, but the method is not in the route's `methods`.
    Method,
    /// This route decides the request.
    Matched,
}

/// Which rule decides a request.
#[derive(Debug, Clone, Copy)]
pub enum Selected<'a> {
    Route(&'a Route),
    /// No route matched and `default_access` allows something.
    Fallback(&'a Route),
    /// No route matched: denied.
    NoRoute,
}

impl RouteTable {
    /// `throttles` are the fallback route's (`[throttle]`'s rates).
    pub fn new(
        routes: Vec<Route>,
        default_access: Access,
        mode: Mode,
        throttles: Box<[crate::throttle::Throttle]>,
    ) -> RouteTable {
        let matcher = Matcher::new(
            routes
                .iter()
                .map(|r| (&r.pattern, r.methods.as_deref(), r.host.as_ref())),
        );
        let by_host = routes.iter().any(|r| r.host.is_some());
        let fallback = (default_access != Access::Deny).then(|| Route {
            name: "default".into(),
            // Invariant: "/**" is a valid pattern literal.
            pattern: Pattern::parse("/**").expect("static pattern"),
            methods: None,
            access: default_access,
            requirements: Requirements::default(),
            csrf_exempt: false,
            max_body: None,
            mode,
            authentication: None,
            ip_rules: IpRules::default(),
            throttles,
            host: None,
            upstream: None,
        });
        RouteTable {
            routes,
            matcher,
            fallback,
            unmatched_mode: mode,
            by_host,
        }
    }

    /// Whether a request no route matches is denied or only reported.
    pub fn unmatched_mode(&self) -> Mode {
        self.unmatched_mode
    }

    /// Why each route before the deciding one did not decide `method`
    /// `path` on `host` (the request's Host), in file order, ending with
    /// the one that did: what `explain` prints. Matches with
    /// `Pattern::matches`, which the property tests hold to the same
    /// answers as the trie `select` uses.
    pub fn explain(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
    ) -> Vec<(&Route, RouteMiss)> {
        let host = host.and_then(host::host_name);
        let mut seen = Vec::new();
        for route in &self.routes {
            let host_misses = route
                .host
                .as_ref()
                .is_some_and(|pattern| !host.is_some_and(|h| pattern.matches(h)));
            let miss = if host_misses {
                RouteMiss::Host
            } else if !route.pattern.matches(path) {
                RouteMiss::Path
            } else if route.methods.as_ref().is_some_and(|m| !m.contains(method)) {
                RouteMiss::Method
            } else {
                RouteMiss::Matched
            };
            seen.push((route, miss));
            if miss == RouteMiss::Matched {
                break;
            }
        }
        seen
    }

    /// The route deciding `method` `canonical_path` for a request that
    /// names no host (routes with a `host` never match it).
    pub fn select(&self, method: &Method, canonical_path: &str) -> Selected<'_> {
        self.select_on(method, None, canonical_path)
    }

    /// The route deciding `method` `canonical_path` sent to `host` (the
    /// request's Host or `:authority`, as sent: its port and a trailing
    /// dot are ignored here).
    pub fn select_on(
        &self,
        method: &Method,
        host: Option<&str>,
        canonical_path: &str,
    ) -> Selected<'_> {
        // Without host routes the host is never read: nothing to pay. A
        // value that is no host matches no host route (and `select_route`
        // refuses it before this: `refuses_host`).
        let host = host.filter(|_| self.by_host).and_then(host::host_name);
        match self.matcher.find(method, host, canonical_path) {
            Some(index) => Selected::Route(&self.routes[index as usize]),
            None => match &self.fallback {
                Some(route) => Selected::Fallback(route),
                None => Selected::NoRoute,
            },
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// With host routes, a Host (`:authority`) that is not a host name,
    /// IPv4 or bracketed IPv6 address with an optional numeric port: 400
    /// `bad_host` rather than a guess at which routes it is for.
    pub fn refuses_host(&self, host: Option<&str>) -> bool {
        self.by_host && host.is_some_and(|raw| host::host_name(raw).is_none())
    }
}
