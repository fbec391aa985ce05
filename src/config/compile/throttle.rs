//! `[throttle]` and routes' `throttle = { ... }`: DRF's rates, compiled
//! into each route's list of throttles (the fallback route's too).

use std::collections::BTreeMap;
use std::sync::Arc;

use toml::Spanned;

use super::problems::Problems;
use crate::config::raw::{RawRouteThrottle, RawThrottle};
use crate::throttle::{Kind, Rate, Throttle};

/// `[throttle]` compiled: the rates every route starts from.
#[derive(Debug, Default)]
pub(super) struct Defaults {
    anon: Option<Rate>,
    user: Option<Rate>,
    /// `None`: the scope's rate is "none" (DRF: not throttled).
    scopes: BTreeMap<String, Option<Rate>>,
    /// Scopes whose rate `check` refused.
    refused_scopes: std::collections::BTreeSet<String>,
}

/// A rate, or `None` for "none" (DRF's rate of `None`: no throttling).
fn rate(problems: &mut Problems, value: &Spanned<String>, what: &str) -> Option<Rate> {
    if value.get_ref() == "none" {
        return None;
    }
    value
        .get_ref()
        .parse()
        .map_err(|why| problems.at(value.span(), format!("{what}: {why}")))
        .ok()
}

pub(super) fn defaults(problems: &mut Problems, raw: &RawThrottle) -> Defaults {
    let mut scopes = BTreeMap::new();
    let mut refused_scopes = std::collections::BTreeSet::new();
    for (name, value) in &raw.scopes {
        if !is_scope_name(name) {
            problems.at(
                value.span(),
                format!(
                    "throttle.scopes: {name:?} is not a scope name (letters, digits, '_' and '-')"
                ),
            );
        }
        let is_none = value.get_ref() == "none";
        match rate(problems, value, &format!("throttle.scopes.{name}")) {
            Some(rate) => drop(scopes.insert(name.clone(), Some(rate))),
            None if is_none => drop(scopes.insert(name.clone(), None)),
            None => drop(refused_scopes.insert(name.clone())),
        }
    }
    Defaults {
        anon: raw
            .anon
            .as_ref()
            .and_then(|v| rate(problems, v, "throttle.anon")),
        user: raw
            .user
            .as_ref()
            .and_then(|v| rate(problems, v, "throttle.user")),
        scopes,
        refused_scopes,
    }
}

/// The top-level throttle of `kind` at `rate`, in the history every
/// route using it shares (named by the kind).
fn shared(kind: Kind, rate: Option<Rate>) -> Option<Throttle> {
    rate.map(|rate| Throttle {
        kind,
        scope: kind.as_str().into(),
        rate,
    })
}

fn is_scope_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Defaults {
    /// The throttles a route without `throttle` has (and the fallback).
    pub(super) fn for_every_route(&self) -> Box<[Throttle]> {
        [shared(Kind::Anon, self.anon), shared(Kind::User, self.user)]
            .into_iter()
            .flatten()
            .collect()
    }

    /// A route's throttles, in DRF's order: anon, user, scoped. Its own
    /// `anon` or `user` rate replaces the default of that kind and counts
    /// this route's requests alone.
    pub(super) fn for_route(
        &self,
        problems: &mut Problems,
        raw: Option<&Spanned<RawRouteThrottle>>,
        route: &str,
    ) -> Box<[Throttle]> {
        let Some(raw) = raw else {
            return self.for_every_route();
        };
        let raw = raw.get_ref();
        let kind_rate = |problems: &mut Problems,
                         kind: Kind,
                         own: &Option<Spanned<String>>,
                         default: Option<Rate>| {
            match own {
                None => shared(kind, default),
                Some(value) => rate(
                    problems,
                    value,
                    &format!("route {route:?} throttle.{}", kind.as_str()),
                )
                .map(|rate| Throttle {
                    kind,
                    scope: format!("route/{route}/{}", kind.as_str()).into(),
                    rate,
                }),
            }
        };
        let anon = kind_rate(problems, Kind::Anon, &raw.anon, self.anon);
        let user = kind_rate(problems, Kind::User, &raw.user, self.user);
        let scoped = raw.scope.as_ref().and_then(|scope| {
            let name = scope.get_ref();
            match self.scopes.get(name) {
                Some(Some(rate)) => Some(Throttle {
                    kind: Kind::Scoped,
                    scope: Arc::from(format!("scope/{name}")),
                    rate: *rate,
                }),
                Some(None) => None,
                // Its rate was refused already: not reported twice.
                None if self.refused_scopes.contains(name) => None,
                None => {
                    let known = self.scopes.keys().map(String::as_str).collect::<Vec<_>>();
                    problems.at(
                        scope.span(),
                        format!(
                            "route {route:?}: no rate is set for the throttle scope {name:?} (DRF: \"No default throttle rate set for '{name}' scope\"); add it under [throttle.scopes]{}",
                            if known.is_empty() {
                                String::new()
                            } else {
                                format!(" (set: {})", known.join(", "))
                            }
                        ),
                    );
                    None
                }
            }
        });
        [anon, user, scoped].into_iter().flatten().collect()
    }
}
