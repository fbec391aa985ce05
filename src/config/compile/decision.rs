//! `[decision]`: the decision endpoint's listener (restart-only), the
//! ingress proxies it answers, and Envoy's path prefix.

use std::net::SocketAddr;

use super::defaults;
use super::problems::Problems;
use super::values::{ip_range, socket_addr};
use crate::client::TrustedProxies;
use crate::config::raw::RawConfig;
use crate::ingress::DecisionSettings;

/// The listener and the settings, when the file has `[decision]`.
pub(super) fn decision(
    problems: &mut Problems,
    raw: &RawConfig,
) -> Option<(SocketAddr, DecisionSettings)> {
    let section = raw.decision.as_ref()?;
    let decision = section.get_ref();
    let listen = match &decision.listen {
        Some(listen) => socket_addr(problems, listen, "decision.listen"),
        None => defaults::DECISION_LISTEN
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9902))),
    };
    let trusted_ingress = match &decision.trusted_ingress {
        Some(list) => TrustedProxies(
            list.iter()
                .filter_map(|entry| ip_range(problems, entry))
                .collect(),
        ),
        None => TrustedProxies(
            defaults::DECISION_TRUSTED_INGRESS
                .iter()
                .filter_map(|range| range.parse().ok())
                .collect(),
        ),
    };
    let prefix = decision
        .envoy_path_prefix
        .as_ref()
        .map_or(defaults::DECISION_ENVOY_PATH_PREFIX, |p| {
            p.get_ref().as_str()
        });
    let well_formed = prefix.len() > 1
        && prefix.starts_with('/')
        && !prefix.ends_with('/')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if !well_formed {
        let span = decision
            .envoy_path_prefix
            .as_ref()
            .map_or(section.span(), |p| p.span());
        problems.at(
            span,
            "decision.envoy_path_prefix must be a path like \"/ext_authz\" (not \"/\", no trailing '/'): an ingress subrequest without its own headers is read as Envoy's only under it",
        );
    }
    let client_from_forwarded_for = match decision.client_address.as_ref() {
        None => defaults::DECISION_CLIENT_ADDRESS == "x-forwarded-for",
        Some(value) => match value.get_ref().as_str() {
            "x-forwarded-for" => true,
            "none" => false,
            other => {
                problems.at(
                    value.span(),
                    format!("decision.client_address {other:?}: expected \"x-forwarded-for\" (the ingress appends or sets it) or \"none\""),
                );
                false
            }
        },
    };
    Some((
        listen,
        DecisionSettings {
            trusted_ingress,
            envoy_path_prefix: prefix.to_string(),
            client_from_forwarded_for,
        },
    ))
}
