//! Stage 3: the first `[[routes]]` entry (file order) matching the canonical
//! path, method and Host decides the request; no match is a denial unless
//! `default_access` says otherwise.

use http::Method;

use super::trace::{CanonicalStep, RouteName, RouteStep, Trace};
use crate::denial::{Cause, Denial};
use crate::routes::{Route, RouteMiss, RouteTable, Selected};

/// The request as routes match it: method, Host (as sent) and canonical path.
#[derive(Clone, Copy)]
pub struct Routed<'a> {
    pub method: &'a Method,
    pub host: Option<&'a str>,
    pub path: &'a str,
}

pub fn select<'r>(
    table: &'r RouteTable,
    request: Routed<'_>,
    trace: &mut Trace,
) -> Result<&'r Route, Denial> {
    let Routed {
        method,
        host,
        path: canonical_path,
    } = request;
    if table.refuses_host(host) {
        let denial = Denial::bad_host();
        trace.note(|| CanonicalStep::Refused(denial.clone()));
        return Err(denial);
    }
    let selected = table.select_on(method, host, canonical_path);
    if trace.is_on() {
        note_routes(table, request, trace);
    }
    match selected {
        Selected::Route(route) => Ok(route),
        Selected::Fallback(route) => {
            trace.note(|| RouteStep::Fallback {
                access: route.access,
            });
            Ok(route)
        }
        Selected::NoRoute => {
            trace.note(|| RouteStep::Unmatched {
                method: method.clone(),
                path: canonical_path.to_string(),
            });
            Err(
                Denial::no_route().because(trace.wants_causes(), || Cause::NoRoute {
                    method: method.clone(),
                    path: canonical_path.to_string(),
                }),
            )
        }
    }
}

/// Why each route before the deciding one passed the request by.
fn note_routes(table: &RouteTable, request: Routed<'_>, trace: &mut Trace) {
    let Routed { method, host, path } = request;
    for (index, (route, miss)) in table.explain(method, host, path).into_iter().enumerate() {
        let name = RouteName {
            index,
            name: route.name.to_string(),
            pattern: route.pattern.as_str().to_string(),
            host: route.host.as_ref().map(ToString::to_string),
        };
        trace.note(|| match miss {
            RouteMiss::Host => RouteStep::HostMisses {
                route: name,
                host: host.map(str::to_string),
            },
            RouteMiss::Path => RouteStep::PathMisses(name),
            RouteMiss::Method => RouteStep::MethodMisses {
                route: name,
                method: method.clone(),
                methods: route.methods.iter().flatten().cloned().collect(),
            },
            RouteMiss::Matched => RouteStep::Matched {
                route: name,
                access: route.access,
                mode: route.mode,
            },
        });
    }
}
