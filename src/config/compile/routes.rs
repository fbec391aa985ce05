//! `[[routes]]` and the top-level `default_access` and `mode`: access
//! levels, requirements, methods, hosts, upstreams, and the routes an
//! earlier one makes dead.

use std::ops::Range;

use http::Method;
use toml::Spanned;

use super::defaults;
use super::problems::{line_column, Problems};
use crate::config::raw::RawRoute;
use crate::routes::ip_rules::IpRules;
use crate::routes::{Access, HostPattern, Mode, ModelPermissions, Pattern, Requirements, Route};
use crate::session::record::unsafe_value_reason;
use crate::upstream::{UpstreamId, Upstreams};

pub(super) fn access(problems: &mut Problems, value: &Spanned<String>) -> Access {
    value.get_ref().parse().unwrap_or_else(|_| {
        problems.at(
            value.span(),
            format!(
                "unknown access level {:?}; expected one of {}",
                value.get_ref(),
                Access::NAMES
            ),
        );
        Access::Deny
    })
}

pub(super) fn mode(problems: &mut Problems, value: &Spanned<String>) -> Mode {
    value.get_ref().parse().unwrap_or_else(|_| {
        problems.at(
            value.span(),
            format!(
                "unknown mode {:?}; expected \"enforce\" or \"report\"",
                value.get_ref()
            ),
        );
        Mode::Enforce
    })
}

/// Permission strings as Django's `user.has_perm` takes them:
/// `app_label.codename`.
fn permissions(problems: &mut Problems, values: &[Spanned<String>]) -> Vec<Box<str>> {
    for value in values {
        if !is_permission(value.get_ref()) {
            // A warning: sessions made through the admin API may carry
            // any strings, but no Django user ever holds such a permission.
            problems.warn(
                value.span(),
                format!(
                    "permission {:?} is not \"app_label.codename\", the form Django's user.has_perm takes (e.g. \"lifeapp.change_life\")",
                    value.get_ref()
                ),
            );
        }
    }
    names(problems, values, "permission")
}

fn is_permission(text: &str) -> bool {
    let Some((app_label, codename)) = text.split_once('.') else {
        return false;
    };
    let identifier = app_label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && app_label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    identifier
        && !codename.is_empty()
        && codename.len() <= 100
        && !codename.contains(char::is_whitespace)
}

pub(super) fn names(
    problems: &mut Problems,
    values: &[Spanned<String>],
    what: &str,
) -> Vec<Box<str>> {
    values
        .iter()
        .map(|value| {
            if let Some(why) = unsafe_value_reason(value.get_ref(), true) {
                problems.at(value.span(), format!("{what} {:?} {why}", value.get_ref()));
            }
            value.get_ref().as_str().into()
        })
        .collect()
}

fn model_permissions(problems: &mut Problems, value: &Spanned<String>) -> Option<ModelPermissions> {
    let text = value.get_ref();
    let valid_part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match text.split_once('.') {
        Some((app, model)) if valid_part(app) && valid_part(model) => Some(ModelPermissions {
            add: format!("{app}.add_{model}").into(),
            change: format!("{app}.change_{model}").into(),
            delete: format!("{app}.delete_{model}").into(),
        }),
        _ => {
            problems.at(
                value.span(),
                format!("model {text:?} must be \"app_label.model_name\" in lower case, as in Django's permission codenames (e.g. \"lifeapp.life\")"),
            );
            None
        }
    }
}

fn methods(problems: &mut Problems, value: &Spanned<Vec<String>>) -> Option<Box<[Method]>> {
    let mut out = Vec::new();
    for text in value.get_ref() {
        match Method::from_bytes(text.as_bytes()) {
            Ok(m) if text.bytes().all(|b| !b.is_ascii_lowercase()) => out.push(m),
            _ => problems.at(
                value.span(),
                format!(
                    "{text:?} is not an HTTP method; methods are case-sensitive (e.g. \"GET\")"
                ),
            ),
        }
    }
    if value.get_ref().is_empty() {
        problems.at(
            value.span(),
            "methods must list at least one method (leave it out to match every method)",
        );
    }
    Some(out.into_boxed_slice())
}

/// A route's `allow_ips` and `deny_ips`, each entry an address or a CIDR
/// range.
fn ip_rules(
    problems: &mut Problems,
    route: &RawRoute,
    name: &str,
    trusted_proxies: &crate::client::TrustedProxies,
) -> IpRules {
    let ranges = |problems: &mut Problems, list: &[Spanned<String>]| {
        list.iter()
            .filter_map(|entry| {
                super::values::ip_range(problems, entry).map(|net| (entry.span(), net))
            })
            .collect::<Vec<_>>()
    };
    let allow = match &route.allow_ips {
        Some(list) if list.get_ref().is_empty() => {
            problems.at(
                list.span(),
                format!("route {name:?}: allow_ips = [] admits no address; use access = \"deny\" to close a route, or leave allow_ips out to admit every address"),
            );
            Vec::new()
        }
        Some(list) => ranges(problems, list.get_ref()),
        None => Vec::new(),
    };
    let deny = ranges(problems, &route.deny_ips);
    // An address inside trusted_proxies is taken for a proxy and skipped
    // in X-Forwarded-For: a client there is never seen as itself.
    for (span, range) in allow.iter().chain(&deny) {
        let overlapping = trusted_proxies
            .0
            .iter()
            .find(|proxy| proxy.contains(&range.network()) || range.contains(&proxy.network()));
        if let Some(proxy) = overlapping {
            problems.warn(
                span.clone(),
                format!("route {name:?}: {range} overlaps server.trusted_proxies ({proxy}): an address in both counts as a proxy, never as a client, so this rule never sees a client there"),
            );
        }
    }
    let nets =
        |list: Vec<(Range<usize>, ipnet::IpNet)>| list.into_iter().map(|(_, net)| net).collect();
    IpRules {
        allow: nets(allow),
        deny: nets(deny),
    }
}

/// The name a route is known by in messages.
fn route_name_for(route: &RawRoute, index: usize) -> String {
    route
        .name
        .as_ref()
        .map_or_else(|| format!("routes[{index}]"), |n| n.get_ref().clone())
}

/// A route's `host`, checked.
fn host(problems: &mut Problems, value: &Spanned<String>, name: &str) -> Option<HostPattern> {
    HostPattern::parse(value.get_ref())
        .map_err(|why| {
            problems.at(
                value.span(),
                format!("route {name:?}: host {:?} {why}", value.get_ref()),
            );
        })
        .ok()
}

/// The upstreams routes may name, and whether `[upstream]` (the default) exists.
pub(super) struct UpstreamNames<'a> {
    /// Every upstream's name, in `Upstreams`' order.
    pub(super) names: Vec<Option<&'a str>>,
    /// `[upstream]` exists: routes without `upstream` forward there.
    pub(super) has_default: bool,
}

impl UpstreamNames<'_> {
    /// The names, for messages: `"a", "b"`.
    pub(super) fn listed(&self) -> String {
        // A name given twice (itself an error) is listed once.
        let mut names: Vec<String> = Vec::new();
        for name in self.names.iter().flatten().map(|n| format!("{n:?}")) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        match names.is_empty() {
            true => "none".into(),
            false => names.join(", "),
        }
    }
}

/// A route's `upstream`, resolved to the upstream it names; `None` for
/// `[upstream]`. A route that `forwards` (any but an enforced `access =
/// "deny"`) to nowhere is an error.
fn upstream(
    problems: &mut Problems,
    route: &RawRoute,
    name: &str,
    upstreams: &UpstreamNames<'_>,
    forwards: bool,
) -> Option<UpstreamId> {
    match &route.upstream {
        Some(value) => {
            let id = Upstreams::id_of(&upstreams.names, value.get_ref());
            if id.is_none() {
                problems.at(
                    value.span(),
                    format!(
                        "route {name:?}: no upstream is named {:?}; the named upstreams: {}",
                        value.get_ref(),
                        upstreams.listed()
                    ),
                );
            }
            id
        }
        None => {
            if forwards && !upstreams.has_default {
                problems.at(
                    route.path.span(),
                    format!(
                        "route {name:?} names no upstream and there is no [upstream] to default to: add upstream = \"...\" (the named upstreams: {})",
                        upstreams.listed()
                    ),
                );
            }
            None
        }
    }
}

/// Where routes may forward, for `routes`.
pub(super) struct RouteContext<'a> {
    /// The top-level `mode`, for routes without their own.
    pub(super) global_mode: Mode,
    /// `server.internal_prefix`: no route can match under it.
    pub(super) internal_prefix: &'a str,
    /// `server.trusted_proxies`, which address rules must not overlap.
    pub(super) trusted_proxies: &'a crate::client::TrustedProxies,
    /// The upstreams a route's `upstream` may name.
    pub(super) upstreams: UpstreamNames<'a>,
    /// `[throttle]`'s rates, which routes start from.
    pub(super) throttles: &'a super::throttle::Defaults,
}

pub(super) fn routes(
    problems: &mut Problems,
    raw: &[RawRoute],
    context: &RouteContext<'_>,
) -> Vec<Route> {
    let RouteContext {
        global_mode,
        internal_prefix,
        trusted_proxies,
        throttles,
        ..
    } = *context;
    let internal = Pattern::parse(&format!("{internal_prefix}/**")).ok();
    let mut compiled: Vec<(Route, Range<usize>)> = Vec::with_capacity(raw.len());
    for (i, route) in raw.iter().enumerate() {
        let name: std::sync::Arc<str> = match &route.name {
            Some(name) if name.get_ref().trim().is_empty() => {
                problems.at(name.span(), "route name must not be empty");
                format!("routes[{i}]").into()
            }
            Some(name) => name.get_ref().as_str().into(),
            None => format!("routes[{i}]").into(),
        };
        if let Some(first) = compiled.iter().find(|(r, _)| r.name == name) {
            let (line, _) = line_column(problems.source, first.1.start);
            problems.at(
                route.path.span(),
                format!("route name {name:?} is already used by the route on line {line}"),
            );
        }
        let pattern = match Pattern::parse(route.path.get_ref()) {
            Ok(p) => p,
            Err(e) => {
                problems.at(route.path.span(), format!("route {name:?}: {e}"));
                continue;
            }
        };
        let access = access(problems, &route.access);
        let requirements = Requirements {
            all_permissions: permissions(problems, &route.permissions),
            any_permissions: permissions(problems, &route.any_permissions),
            any_groups: names(problems, &route.groups, "group"),
            model: route
                .model
                .as_ref()
                .and_then(|m| model_permissions(problems, m)),
        };
        if matches!(access, Access::Anonymous | Access::Deny) && !requirements.is_empty() {
            problems.at(
                route.access.span(),
                format!(
                    "route {name:?}: permissions, any_permissions, groups and model have no effect with access = \"{}\"",
                    access.as_str()
                ),
            );
        }
        let methods = route.methods.as_ref().and_then(|m| methods(problems, m));
        let ip_rules = ip_rules(problems, route, &name, trusted_proxies);
        let throttles = throttles.for_route(problems, route.throttle.as_ref(), &name);
        let host = match &route.host {
            None => None,
            Some(value) => match host(problems, value, &name) {
                Some(pattern) => Some(pattern),
                // Compiled for every host instead, it would make later
                // routes look dead: skipped, as a bad path is.
                None => continue,
            },
        };
        let mode = route
            .mode
            .as_ref()
            .map_or(global_mode, |value| mode(problems, value));
        let forwards = !(access == Access::Deny && mode == Mode::Enforce);
        let upstream = upstream(problems, route, &name, &context.upstreams, forwards);
        let route_compiled = Route {
            name,
            pattern,
            methods,
            access,
            requirements,
            csrf_exempt: !route.csrf.unwrap_or(defaults::ROUTE_CSRF),
            max_body: route.max_body.as_ref().map(|limit| *limit.get_ref()),
            mode,
            authentication: route.authentication.as_ref().map(|list| {
                super::credentials::classes(
                    problems,
                    list,
                    &format!("route {:?} authentication", route_name_for(route, i)),
                )
            }),
            ip_rules,
            throttles,
            host,
            upstream,
        };
        if internal
            .as_ref()
            .is_some_and(|i| i.covers(&route_compiled.pattern))
        {
            problems.at(
                route.path.span(),
                format!(
                    "route {:?} can never match: {internal_prefix}/* is the gateway's own endpoints, answered before any route",
                    route_compiled.name
                ),
            );
        }
        if route_compiled.access == Access::Anonymous {
            let catch_all = compiled.iter().find(|(r, _)| {
                r.pattern.segments == [crate::routes::pattern::Segment::Rest]
                    && host_covered(r, &route_compiled)
                    && !shadows(r, &route_compiled)
            });
            if let Some((earlier, _)) = catch_all {
                problems.warn(
                    route.path.span(),
                    format!(
                        "anonymous route {:?} comes after the catch-all {:?} ({}): only methods the catch-all does not take reach it; put specific routes before catch-alls",
                        route_compiled.name,
                        earlier.name,
                        earlier.pattern.as_str()
                    ),
                );
            }
        }
        if let (Some(value), Mode::Report) = (&route.mode, route_compiled.mode) {
            problems.warn(
                value.span(),
                format!(
                    "route {:?} has mode = \"report\": it enforces nothing; requests it would deny are forwarded (and counted as would_deny)",
                    route_compiled.name
                ),
            );
        }
        if let Some((earlier, _)) = compiled.iter().find(|(r, _)| shadows(r, &route_compiled)) {
            problems.at(
                route.path.span(),
                format!(
                    "route {:?} can never match: every request it covers is already matched by the earlier route {:?} ({}{})",
                    route_compiled.name,
                    earlier.name,
                    earlier.pattern.as_str(),
                    earlier
                        .host
                        .as_ref()
                        .map_or_else(String::new, |host| format!(", host {host}"))
                ),
            );
        }
        compiled.push((route_compiled, route.path.span()));
    }
    compiled.into_iter().map(|(route, _)| route).collect()
}

/// True when `earlier` matches every request `later` could match.
fn shadows(earlier: &Route, later: &Route) -> bool {
    let methods_covered = match (&earlier.methods, &later.methods) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(mine), Some(theirs)) => theirs.iter().all(|m| mine.contains(m)),
    };
    methods_covered && host_covered(earlier, later) && earlier.pattern.covers(&later.pattern)
}

/// True when `earlier` is for every host `later` is for.
fn host_covered(earlier: &Route, later: &Route) -> bool {
    match (&earlier.host, &later.host) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(mine), Some(theirs)) => mine.covers(theirs),
    }
}
