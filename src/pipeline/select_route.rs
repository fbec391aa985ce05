//! Stage 3: the first `[[routes]]` entry (file order) matching the canonical
//! path and method decides the request; no match is a denial unless
//! `default_access` says otherwise.

use http::Method;

use super::trace::{Outcome, Step, Trace};
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
            trace.note(|| {
                Step::new(
                    "route",
                    "default_access",
                    Outcome::Pass,
                    format!(
                        "no route matches: default_access = {:?} decides",
                        route.access.as_str()
                    ),
                )
            });
            Ok(route)
        }
        Selected::NoRoute => {
            trace.note(|| {
                Step::new(
                    "route",
                    "default_access",
                    Outcome::Fail,
                    format!(
                        "no route matches {method} {canonical_path}, and default_access is \"deny\""
                    ),
                )
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
        let label = format!(
            "routes[{index}] {:?} {}",
            route.name,
            route.pattern.as_str()
        );
        let (outcome, why) = match miss {
            RouteMiss::Path => (
                Outcome::Skip,
                "the path does not fit the pattern".to_string(),
            ),
            RouteMiss::Method => {
                let methods: Vec<&str> =
                    route.methods.iter().flatten().map(Method::as_str).collect();
                (
                    Outcome::Skip,
                    format!(
                        "the path fits, but {method} is not in methods [{}]",
                        methods.join(", ")
                    ),
                )
            }
            RouteMiss::Matched => (
                Outcome::Pass,
                format!(
                    "first match: decides (access = {:?}, mode = {:?})",
                    route.access.as_str(),
                    route.mode.as_str()
                ),
            ),
        };
        trace.note(|| Step::new("route", label, outcome, why));
    }
}
