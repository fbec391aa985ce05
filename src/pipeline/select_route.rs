//! Stage 3: the first `[[routes]]` entry (file order) matching the canonical
//! path and method decides the request; no match is a denial unless
//! `default_access` says otherwise.

use http::Method;

use super::trace::{RouteName, RouteStep, Trace};
use crate::denial::{Cause, Denial};
use crate::routes::{Route, RouteMiss, RouteTable, Selected};

pub fn select<'r>(
    table: &'r RouteTable,
    method: &Method,
    canonical_path: &str,
    trace: &mut Trace,
) -> Result<&'r Route, Denial> {
    let selected = table.select(method, canonical_path);
    if trace.is_on() {
        note_routes(table, method, canonical_path, trace);
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
fn note_routes(table: &RouteTable, method: &Method, path: &str, trace: &mut Trace) {
    for (index, (route, miss)) in table.explain(method, path).into_iter().enumerate() {
        let name = RouteName {
            index,
            name: route.name.to_string(),
            pattern: route.pattern.as_str().to_string(),
        };
        trace.note(|| match miss {
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
