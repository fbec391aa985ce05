//! Stage 3, after the route is chosen: its `allow_ips` and `deny_ips` on
//! the client's address (the peer, or what `server.trusted_proxies` make
//! of X-Forwarded-For). Before anyone is authenticated, like nginx's
//! `allow` and `deny`: a refused address gets 403 whoever it claims to be.

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
    let trusted = &context.config.server.trusted_proxies;
    let address = crate::client::client_address(context.peer.ip(), headers, trusted);
    let verdict = rules.admits(address);
    trace.note(|| Step::ClientIp { address, verdict });
    verdict.map_err(|refusal| {
        Denial::ip_not_allowed().because(trace.wants_causes(), || Cause::IpNotAllowed {
            address,
            refusal,
        })
    })
}
