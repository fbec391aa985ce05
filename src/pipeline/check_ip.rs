//! Stage 3, after the route is chosen: its `allow_ips` and `deny_ips` on
//! the client's address (the peer, or what `server.trusted_proxies` make
//! of X-Forwarded-For). Before anyone is authenticated, like nginx's
//! `allow` and `deny`: a refused address gets 403 whoever it claims to be.

use std::net::IpAddr;

use http::HeaderMap;

use super::trace::{Step, Trace};
use super::Context;
use crate::denial::{Cause, Denial};
use crate::routes::Route;

/// `Err(ip_not_allowed)` when `route`'s address rules refuse the client.
pub fn check(
    context: &Context<'_>,
    headers: &HeaderMap,
    route: &Route,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let rules = &route.ip_rules;
    if rules.is_empty() {
        return Ok(());
    }
    let resolved = client_address(context, headers);
    let peer = context.peer.ip();
    let address = resolved.unwrap_or(peer.to_canonical());
    let verdict = match resolved {
        Some(client) => rules.admits(client),
        None => Err(crate::denial::IpRefusal::Unresolved),
    };
    trace.note(|| Step::ClientIp { address, verdict });
    verdict.map_err(|refusal| {
        Denial::ip_not_allowed().because(trace.wants_causes(), || Cause::IpNotAllowed {
            address,
            refusal,
        })
    })
}

/// The client's address as the gateway may believe it: the peer, or what
/// `server.trusted_proxies` (on the decision listener, with
/// `decision.client_address`, the ingress) make of X-Forwarded-For;
/// `None` when the request came through one of them and no client can be
/// read from it (or Envoy named none by IP).
pub(super) fn client_address(context: &Context<'_>, headers: &HeaderMap) -> Option<IpAddr> {
    let trusted = &context.config.server.trusted_proxies;
    let peer = context.peer.ip();
    if context.peer_is_ingress {
        // An ingress passes the client's own X-Forwarded-For through
        // unless it is set up to append or set it: believed only when the
        // operator says it is (`decision.client_address`).
        let named = context
            .config
            .decision
            .as_ref()
            .is_some_and(|decision| decision.client_from_forwarded_for);
        named
            .then(|| crate::client::resolved_client(peer, headers, trusted, true))
            .flatten()
    } else {
        crate::client::resolved_client(peer, headers, trusted, false)
    }
    .filter(|address| !address.is_unspecified())
}
