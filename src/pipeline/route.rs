//! Stage 2: the first `[[routes]]` entry (file order) matching the canonical
//! path and method decides the request; no match is a denial unless
//! `default_access` says otherwise.

use http::Method;

use super::denial::Denial;
use crate::routes::{Route, RouteTable, Selected};

pub fn select<'r>(
    table: &'r RouteTable,
    method: &Method,
    canonical_path: &str,
) -> Result<&'r Route, Denial> {
    match table.select(method, canonical_path) {
        Selected::Route(route) | Selected::Fallback(route) => Ok(route),
        Selected::NoRoute => Err(Denial::no_route()),
    }
}
